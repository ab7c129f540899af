"""Field files of a run: one writer per region (XDMF + VTK), written in parallel.

A field is written as it is when it is

* continuous Lagrange of the same degree as the mesh geometry (point data), or
* a cell-wise constant (discontinuous Lagrange degree 0; cell data), whatever its
  value shape: a DG0 3x3 stress tensor is written with 9 components per cell
  (row-major ``s_xx s_xy s_xz s_yx ...``, a symmetric space is expanded to 9).

XDMF and VTK in DOLFINx 0.11 accept nothing else (checked: "Degree of output
Function must be same as mesh degree", "Function and Mesh dof layouts do not
match", and for VTK "All point-wise Functions written to VTK file must have same
element"), so any other Lagrange field u is converted to continuous Lagrange
v of the mesh degree with the same value shape before writing:

* continuous, higher degree (P2 on a P1 mesh): nodal interpolation,
  v(x_i) = u(x_i), exact at the mesh nodes;
* discontinuous of degree >= 1 (DG1 stress from P2 displacement): lumped L2
  projection, v_i = (int_Omega u phi_i dx) / (int_Omega phi_i dx), a weighted
  average of the cells that meet at node i (point evaluation would take one
  arbitrary cell's value).

The manifest records for each field how it was written (``"written_as"``).
"""

from __future__ import annotations

from pathlib import Path

#: Field name -> SI unit. These names are the contract with post-processing and users
#: (README lists them); :meth:`RunOutput.write_fields` refuses any other name. A physics
#: module that adds a field registers it here (``FIELD_UNITS["name"] = "unit"``).
FIELD_UNITS: dict[str, str] = {
    "lithium_concentration": "mol m-3",  # c_s in the active particles
    "electrolyte_concentration": "mol m-3",  # c_e, salt concentration
    "solid_potential": "V",  # phi_s, electronic potential (Li metal = 0 V)
    "electrolyte_potential": "V",  # phi_e
    "displacement": "m",  # u, vector
    "stress": "Pa",  # Cauchy stress tensor sigma (3x3 or 2x2)
    "hydrostatic_stress": "Pa",  # sigma_h = tr(sigma)/3, positive in tension
    "von_mises_stress": "Pa",  # sqrt(3/2 s:s), s = deviatoric stress
    "interface_damage": "-",  # cohesive damage d in [0, 1]
}


FIELDS_DIR = "fields"


# --------------------------------------------------------------------------------------
# field preparation (DOLFINx)
# --------------------------------------------------------------------------------------
def _same_mesh(a, b) -> bool:
    return a is b or getattr(a, "_cpp_object", a) is getattr(b, "_cpp_object", b)


class _FieldSlot:
    """One output field of a region: the user's Function and what is written for it."""

    def __init__(self, u, msh):
        self.name = u.name
        self.source = u
        self.out = u
        self.location = "point"
        self.written_as = "as computed"
        self._project = None

        V = u.function_space
        ue = V.ufl_element()
        be = getattr(ue, "basix_element", None)
        family = getattr(be, "family", None)
        import basix

        if family is None or family != basix.ElementFamily.P:
            raise ValueError(
                f"field '{self.name}': only Lagrange (continuous or discontinuous) functions "
                f"can be written; got element {ue}. Interpolate it into a Lagrange space first."
            )
        degree = be.degree
        discontinuous = bool(be.discontinuous)
        gdeg = msh.geometry.cmap.degree if not hasattr(msh.geometry, "cmaps") else msh.geometry.cmaps[0].degree
        shape = tuple(V.value_shape)
        self.value_shape = shape
        if discontinuous and degree == 0:
            self.location = "cell"
            return
        if not discontinuous and degree == gdeg:
            return
        import dolfinx.fem as fem

        Vout = fem.functionspace(msh, ("Lagrange", gdeg, shape) if shape else ("Lagrange", gdeg))
        self.out = fem.Function(Vout, name=self.name)
        if not discontinuous:
            self.written_as = f"interpolated into continuous Lagrange P{gdeg}"
            self._project = self._interpolate
        else:
            self.written_as = f"lumped L2 projection onto continuous Lagrange P{gdeg}"
            self._setup_lumped(Vout, degree)
            self._project = self._lumped

    # nodal interpolation (continuous source of higher degree)
    def _interpolate(self):
        self.out.interpolate(self.source)

    # lumped L2 projection: v_i = (u, phi_i) / (1, phi_i)
    def _setup_lumped(self, Vout, degree):
        import ufl
        import dolfinx.fem as fem

        msh = Vout.mesh
        qdeg = degree + Vout.ufl_element().basix_element.degree
        dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": qdeg})
        v = ufl.TestFunction(Vout)
        self._num_form = fem.form(ufl.inner(self.source, v) * dx)
        Vs = fem.functionspace(msh, ("Lagrange", Vout.ufl_element().basix_element.degree))
        w = fem.assemble_vector(fem.form(ufl.TestFunction(Vs) * dx))
        w.scatter_reverse(_insert_add())
        w.scatter_forward()
        self._weights = w.array.copy()
        self._bs = Vout.dofmap.index_map_bs

    def _lumped(self):
        import dolfinx.fem as fem

        num = fem.assemble_vector(self._num_form)
        num.scatter_reverse(_insert_add())
        num.scatter_forward()
        n = self._weights.size
        vals = num.array[: n * self._bs].reshape(n, self._bs) / self._weights[:, None]
        self.out.x.array[: n * self._bs] = vals.ravel()
        self.out.x.scatter_forward()

    def update(self):
        if self._project is not None:
            self._project()

    def describe(self) -> dict:
        return {
            "unit": FIELD_UNITS.get(self.name),
            "location": self.location,
            "value_shape": list(self.value_shape),
            "written_as": self.written_as,
        }


def _insert_add():
    import dolfinx.la as la

    return la.InsertMode.add


class _RegionWriter:
    """The XDMF and VTK files of one region; opened on first use, mesh written first."""

    def __init__(self, outdir: Path, region: str, functions: list):
        import dolfinx.io as io

        if not functions:
            raise ValueError(f"write_fields: region '{region}' has no functions")
        msh = functions[0].function_space.mesh
        names = [f.name for f in functions]
        for f in functions:
            if not _same_mesh(f.function_space.mesh, msh):
                raise ValueError(
                    f"write_fields: region '{region}': field '{f.name}' lives on another mesh "
                    f"than '{functions[0].name}'; all fields of a region must share its mesh"
                )
        self.region = region
        self.mesh = msh
        self.names = names
        self.slots = [_FieldSlot(f, msh) for f in functions]
        self.xdmf_rel = f"{FIELDS_DIR}/{region}.xdmf"
        self.pvd_rel = f"{FIELDS_DIR}/{region}.pvd"
        comm = msh.comm
        self.xdmf = io.XDMFFile(comm, str(outdir / self.xdmf_rel), "w")
        # The region's mesh goes first: functions on a submesh refer to it by xpath.
        self.xdmf.write_mesh(msh)
        self.vtk = io.VTKFile(comm, str(outdir / self.pvd_rel), "w")
        self.times: list[float] = []

    def check(self, t: float, functions: list) -> None:
        """Raise (on every rank alike) if this output time or field set cannot be written."""
        if self.times and not t > self.times[-1]:
            raise ValueError(
                f"write_fields: region '{self.region}': time {t!r} s is not after the last "
                f"output time {self.times[-1]!r} s (output times must increase)"
            )
        names = [f.name for f in functions]
        if sorted(names) != sorted(self.names):
            raise ValueError(
                f"write_fields: region '{self.region}' was opened with fields {sorted(self.names)}, "
                f"now given {sorted(names)}; every output time must carry the same fields"
            )

    def write(self, t: float, functions: list) -> None:
        self.check(t, functions)
        by_name = {f.name: f for f in functions}
        for slot in self.slots:
            if by_name[slot.name] is not slot.source:
                # a new Function object with the same name: rebuild the slot on it
                new = _FieldSlot(by_name[slot.name], self.mesh)
                slot.__dict__.update(new.__dict__)
            slot.update()
        for slot in self.slots:
            self.xdmf.write_function(slot.out, t)
        self.vtk.write_function([s.out for s in self.slots], t)
        self.times.append(float(t))

    def close(self) -> None:
        self.xdmf.close()
        self.vtk.close()

    def describe(self) -> dict:
        return {
            "xdmf": self.xdmf_rel,
            "pvd": self.pvd_rel,
            "times": list(self.times),
            "fields": {s.name: s.describe() for s in self.slots},
        }
