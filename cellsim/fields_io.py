"""Field files of a run: VTK XML, one file per region, rank and output time.

Layout (``OUTDIR/fields/``)::

    <region>.pvd                        time series of one region (ParaView, PyVista)
    all_regions.pvd                     every region as one multiblock per time step
    <region>/<region>_<k>.pvtu          output time k (6 digits): the list of pieces
    <region>/<region>_<k>_p<rank>.vtu   the cells one MPI rank owns at time k

Every piece is written by its own rank with VTK's ``vtkXMLUnstructuredGridWriter``
(binary, appended raw, uncompressed by default, 64-bit headers, float64); rank 0
alone writes the small ``.pvtu``/``.pvd`` XML files, after every rank has closed its
piece. A ``.pvd`` is replaced atomically and lists a time only once all of its files
are complete, so a run killed at any moment (SIGKILL included) leaves every listed
output time readable. No rank gathers the mesh.

What is written for each field (the manifest says it per field, ``"written_as"``):

* The grid of a region is the Lagrange space of degree ``p`` = the largest of the
  mesh geometry degree and the field degrees (at most 2), on the region's mesh.
  It is *continuous* (shared nodes) unless a field is discontinuous of degree >= 1;
  then it is the *broken* grid (every cell has its own nodes, as ``DG p``) so that a
  DG1 stress keeps each cell's own values at a node shared by several cells.
* A Lagrange field of degree <= p is interpolated into that grid's space, which is
  exact: the written nodal values are the field's degrees of freedom (and, where p
  exceeds its degree, the exact values of its polynomial at the extra nodes).
  Degree 2 grids are VTK quadratic cells (triangle6, tetra10); VTK draws them curved.
* A cell-wise constant (DG0) field is cell data: one value per cell, as computed.
* Vectors and tensors are written with 3 and 9 components (2D: zero padded; a
  symmetric tensor space is expanded); tensors row-major ``xx xy xz yx ...``.
* Array names carry the unit, ``"lithium_concentration [mol m-3]"`` (what ParaView
  shows in its colour menu and legend); field data ``units`` repeats them.

Metadata in every piece (VTK field data): numbers ``region_id``, ``grid_degree``,
``grid_discontinuous`` (1: broken grid) (Int32) and ``TimeValue`` (Float64); texts
as UTF-8 bytes (UInt8 arrays, since meshio cannot read VTK string arrays; decode with
:func:`field_text`): ``region`` (name),
``length_unit`` (``m``), ``units`` (``"array=unit"`` lines), ``mesh_tags``
(``"name dim tag"`` lines) with ``mesh_tag_ids`` (Int32 pairs dim, tag). Cell data:
``region_id`` (Int32) always, plus the optional cell arrays of
:meth:`RunOutput.write_fields` (e.g. ``particle_id``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .vtk_files import (  # noqa: F401  (field_text is part of the reading API)
    _write_text_atomic, field_text, write_pvd, write_pvtu, write_vtu,
)

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
#: The multiblock series of every region: ``fields/all_regions.pvd``.
ALL_REGIONS = "all_regions"
#: Compression of the .vtu pieces: "none" (default: 25x faster to write than zlib level 1,
#: for 25-35 % more bytes), "zlib" (level 1) or "lz4"; ParaView, PyVista
#: and meshio read "none" and "zlib" (meshio 5.3 does not read lz4).
COMPRESSOR = "none"
#: Highest grid degree written (VTK quadratic cells); higher fields are interpolated.
MAX_GRID_DEGREE = 2

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ARRAY_RE = re.compile(r"^(?P<name>.*\S)\s*\[(?P<unit>[^\[\]]*)\]$")
# VTK cell types of DOLFINx cells: degree 1, and degree 2 where VTK has a quadratic cell
_VTK_LINEAR = {"interval": 3, "triangle": 5, "quadrilateral": 9, "tetrahedron": 10, "hexahedron": 12}
_VTK_QUADRATIC = {"interval": 21, "triangle": 22, "tetrahedron": 24}


def array_name(name: str) -> str:
    """The array name in the files: ``"name [unit]"`` for a field of :data:`FIELD_UNITS`
    (cell arrays such as ``region_id`` keep their plain name)."""
    unit = FIELD_UNITS.get(name)
    return f"{name} [{unit}]" if unit is not None else name


def split_array_name(s: str) -> tuple[str, str | None]:
    """``"stress [Pa]"`` -> ``("stress", "Pa")``; a name without brackets -> ``(s, None)``."""
    m = _ARRAY_RE.match(s.strip())
    if not m:
        return s, None
    return m.group("name"), m.group("unit").strip()


# --------------------------------------------------------------------------------------
# the grid of a region and what goes on it (DOLFINx)
# --------------------------------------------------------------------------------------
def _same_mesh(a, b) -> bool:
    return a is b or getattr(a, "_cpp_object", a) is getattr(b, "_cpp_object", b)


def _geometry_degree(msh) -> int:
    g = msh.geometry
    return g.cmaps[0].degree if hasattr(g, "cmaps") else g.cmap.degree


def _element_info(u):
    """(degree, discontinuous, value_shape, symmetric) of a Lagrange Function; else ValueError."""
    import basix

    V = u.function_space
    ue = V.ufl_element()
    be = getattr(ue, "basix_element", None)
    family = getattr(be, "family", None)
    if family is None or family != basix.ElementFamily.P:
        raise ValueError(
            f"field '{u.name}': only Lagrange (continuous or discontinuous) functions "
            f"can be written; got element {ue}. Interpolate it into a Lagrange space first."
        )
    shape = tuple(int(s) for s in V.value_shape)
    bs = V.dofmap.index_map_bs
    symmetric = bs != int(np.prod(shape)) if shape else False
    return int(be.degree), bool(be.discontinuous), shape, symmetric


def _n_components(shape: tuple) -> int:
    """Components written for a value shape: scalar 1, vector 3, tensor 9."""
    if not shape:
        return 1
    if len(shape) == 1:
        return 3
    return 9


def _pad(vals: np.ndarray, shape: tuple) -> np.ndarray:
    """(n, prod(shape)) values -> (n, 1|3|9) as VTK wants them (zero padded in 2D)."""
    n = vals.shape[0]
    if not shape:
        return vals.reshape(n)
    if len(shape) == 1:
        out = np.zeros((n, 3))
        out[:, : shape[0]] = vals
        return out
    r, c = shape
    out = np.zeros((n, 3, 3))
    out[:, :r, :c] = vals.reshape(n, r, c)
    return out.reshape(n, 9)


class _Grid:
    """The VTK grid of a region on this rank: the nodes of a Lagrange space on the owned
    cells (continuous: shared nodes; broken: ``DG p``, nodes per cell), in VTK order."""

    def __init__(self, msh, degree: int, broken: bool):
        import dolfinx.fem as fem
        from dolfinx import cpp

        self.mesh = msh
        self.degree = degree
        self.broken = broken
        tdim = msh.topology.dim
        self.num_cells = msh.topology.index_map(tdim).size_local
        self.W = fem.functionspace(msh, ("DG" if broken else "Lagrange", degree))
        cell = msh.topology.cell_type
        dofs = np.asarray(self.W.dofmap.list)[: self.num_cells]
        nd = dofs.shape[1]
        perm = np.argsort(cpp.io.perm_vtk(cell, nd))
        conn = dofs[:, perm]
        self.used = np.unique(conn)  # W nodes that owned cells use (no ghost-only nodes)
        local = np.full(int(dofs.max(initial=-1)) + 1, -1, dtype=np.int64)
        local[self.used] = np.arange(self.used.size)
        self.connectivity = local[conn] if conn.size else np.zeros((0, nd), dtype=np.int64)
        self.points = np.ascontiguousarray(self.W.tabulate_dof_coordinates()[self.used], dtype=np.float64)
        name = cell.name
        if degree == 1:
            self.vtk_type = _VTK_LINEAR[name]
        elif degree == 2 and name in _VTK_QUADRATIC:
            self.vtk_type = _VTK_QUADRATIC[name]
        else:  # VTK Lagrange cells (quadrilateral, hexahedron of degree 2)
            self.vtk_type = int(cpp.io.get_vtk_cell_type(cell, tdim))
        self._maps: dict[int, tuple] = {}

    @property
    def kind(self) -> str:
        return f"{'discontinuous (broken)' if self.broken else 'continuous'} Lagrange P{self.degree}"

    def space(self, shape: tuple):
        import dolfinx.fem as fem

        fam = "DG" if self.broken else "Lagrange"
        return fem.functionspace(self.mesh, (fam, self.degree, shape) if shape else (fam, self.degree))

    def node_map(self, V) -> np.ndarray:
        """For each grid point, its node (block) index in space V (same element layout)."""
        key = id(V)
        hit = self._maps.get(key)
        m = hit[1] if hit is not None and hit[0] is V else None  # the space itself is kept:
        if m is None:  # an id is only unique while its object lives
            wl = np.asarray(self.W.dofmap.list)[: self.num_cells]
            vl = np.asarray(V.dofmap.list)[: self.num_cells]
            full = np.full(int(wl.max(initial=-1)) + 1, -1, dtype=np.int64)
            full[wl] = vl
            m = full[self.used]
            self._maps[key] = (V, m)
        return m


class _FieldSlot:
    """One output field of a region: the user's Function and how it goes into the grid."""

    def __init__(self, u, grid: _Grid):
        self.name = u.name
        self.source = u
        self.grid = grid
        degree, disc, shape, symmetric = _element_info(u)
        self.value_shape = shape
        self.ncomp = _n_components(shape)
        self.source_space = f"{'DG' if disc else 'P'}{degree}" + (f" {list(shape)}" if shape else "")
        self._expr = None
        if disc and degree == 0:
            self.location = "cell"
            if symmetric:  # expand to the full tensor, cell by cell (exact)
                self.out = self._target(self._dg0_space(shape), use_expression=True)
                self.written_as = "cell data: DG0 cell values (symmetric tensor expanded)"
            else:
                self.out = u
                self.written_as = "cell data: DG0 cell values as computed"
            return
        self.location = "point"
        same = (not symmetric and degree == grid.degree and disc == grid.broken)
        if same:
            self.out = u
            self.written_as = f"point data: nodal values as computed ({grid.kind} grid)"
            return
        self.out = self._target(grid.space(shape), use_expression=symmetric)
        exact = degree <= grid.degree
        how = "interpolated exactly" if exact else "interpolated (NOT exact: degree above the grid's)"
        self.written_as = f"point data: {self.source_space} {how} into the {grid.kind} grid"

    def _dg0_space(self, shape):
        import dolfinx.fem as fem

        return fem.functionspace(self.grid.mesh, ("DG", 0, shape))

    def _target(self, V, use_expression: bool):
        import dolfinx.fem as fem

        f = fem.Function(V, name=self.name)
        if use_expression:
            self._expr = fem.Expression(self.source, V.element.interpolation_points)
        return f

    def update(self) -> None:
        if self.out is self.source:
            return
        if self._expr is not None:
            self.out.interpolate(self._expr)
        else:
            self.out.interpolate(self.source)

    def values(self) -> np.ndarray:
        """The values to write on this rank: (points, ncomp) or (cells, ncomp), float64."""
        V = self.out.function_space
        bs = V.dofmap.index_map_bs
        arr = np.asarray(self.out.x.array, dtype=np.float64).reshape(-1, bs)
        if self.location == "cell":
            idx = np.asarray(V.dofmap.list)[: self.grid.num_cells, 0]
        else:
            idx = self.grid.node_map(V)
        return np.ascontiguousarray(_pad(arr[idx], self.value_shape))

    def describe(self) -> dict:
        return {
            "unit": FIELD_UNITS.get(self.name),
            "array": array_name(self.name),
            "location": self.location,
            "value_shape": list(self.value_shape),
            "components": self.ncomp,
            "space": self.source_space,
            "written_as": self.written_as,
        }


def _cell_array(name: str, obj, grid: _Grid) -> np.ndarray:
    """Per owned cell values of an optional cell array: a DG0 Function, MeshTags
    (cells without a tag get -1) or an array over the local cells."""
    n = grid.num_cells
    if hasattr(obj, "function_space"):
        deg, disc, shape, _ = _element_info(obj)
        if not (disc and deg == 0 and not shape):
            raise ValueError(f"cell array '{name}': a Function must be scalar DG0")
        if not _same_mesh(obj.function_space.mesh, grid.mesh):
            raise ValueError(f"cell array '{name}' lives on another mesh than the region's fields")
        V = obj.function_space
        vals = np.asarray(obj.x.array)[np.asarray(V.dofmap.list)[:n, 0]]
    elif hasattr(obj, "indices") and hasattr(obj, "values"):
        vals = np.full(n, -1, dtype=np.int64)
        ind = np.asarray(obj.indices)
        keep = ind < n
        vals[ind[keep]] = np.asarray(obj.values)[keep]
    else:
        vals = np.asarray(obj).reshape(-1)
        if vals.size < n:
            raise ValueError(f"cell array '{name}': {vals.size} values for {n} owned cells")
        vals = vals[:n]
    if vals.dtype.kind == "f":
        if np.all(np.isfinite(vals)) and np.all(vals == np.round(vals)):
            return vals.astype(np.int32)
        return vals.astype(np.float64)
    return vals.astype(np.int32)


def parent_cell_values(submesh, entity_map, parent_tags, mapping: dict | None = None,
                       default: int = -1) -> np.ndarray:
    """A cell array for a region submesh from the parent mesh's cell tags.

    For every local cell of ``submesh`` (owned, then ghosts): the value of
    ``parent_tags`` (MeshTags of the parent's cells) at its parent cell, or ``default``
    where untagged; ``mapping`` (tag -> value) renumbers, e.g. the gmsh tags of the
    physical groups ``particle_0, particle_1, ...`` to 0, 1, ... for a ``particle_id``::

        pid = parent_cell_values(sub, emap, tm.cell_tags, {tm.tag("particle_3"): 3, ...})
        out.write_fields(t, fields, cell_arrays={"particle": {"particle_id": pid}})

    ``entity_map`` is the EntityMap that ``dolfinx.mesh.create_submesh`` returned.
    """
    tdim = submesh.topology.dim
    imap = submesh.topology.index_map(tdim)
    n = imap.size_local + imap.num_ghosts
    parent = np.asarray(entity_map.sub_topology_to_topology(np.arange(n, dtype=np.int32), False))
    pim = parent_tags.topology.index_map(tdim) if hasattr(parent_tags, "topology") else None
    npar = (pim.size_local + pim.num_ghosts) if pim is not None else int(parent.max(initial=-1)) + 1
    table = np.full(max(npar, int(parent.max(initial=-1)) + 1), default, dtype=np.int64)
    ind = np.asarray(parent_tags.indices)
    vals = np.asarray(parent_tags.values).astype(np.int64)
    if mapping is not None:
        vals = np.array([mapping.get(int(v), default) for v in vals], dtype=np.int64)
    table[ind] = vals
    return table[parent].astype(np.int32)


def _tag_lines(tag_names) -> list[str]:
    """``{name: (dim, tag)}`` or ``{name: tag}`` -> ``["name dim tag", ...]``."""
    out = []
    for name, v in (tag_names or {}).items():
        if isinstance(v, (tuple, list)) and len(v) == 2:
            out.append(f"{name} {int(v[0])} {int(v[1])}")
        else:
            out.append(f"{name} - {int(v)}")
    return out


class _RegionWriter:
    """The VTK series of one region (collective object: every rank has one per region)."""

    def __init__(self, outdir: Path, region: str, functions: list, region_id: int = 0,
                 cell_arrays: dict | None = None, tag_names: dict | None = None):
        if not functions:
            raise ValueError(f"write_fields: region '{region}' has no functions")
        if region == ALL_REGIONS:
            raise ValueError(f"write_fields: '{ALL_REGIONS}' is reserved (fields/{ALL_REGIONS}.pvd)")
        msh = functions[0].function_space.mesh
        for f in functions:
            if not _same_mesh(f.function_space.mesh, msh):
                raise ValueError(
                    f"write_fields: region '{region}': field '{f.name}' lives on another mesh "
                    f"than '{functions[0].name}'; all fields of a region must share its mesh"
                )
        self.region = region
        self.region_id = int(region_id)
        self.mesh = msh
        self.comm = msh.comm
        self.outdir = Path(outdir)
        self.names = [f.name for f in functions]
        infos = [_element_info(f) for f in functions]
        gdeg = _geometry_degree(msh)
        point_degrees = [d for (d, disc, _, _) in infos if not (disc and d == 0)]
        degree = min(max([gdeg] + point_degrees), MAX_GRID_DEGREE)
        broken = any(disc and d >= 1 for (d, disc, _, _) in infos)
        self.grid = _Grid(msh, degree, broken)
        self.slots = [_FieldSlot(f, self.grid) for f in functions]
        self.tag_lines = _tag_lines(tag_names)
        self.tag_ids = [[int(v[0]), int(v[1])] if isinstance(v, (tuple, list)) else [-1, int(v)]
                        for v in (tag_names or {}).values()]
        self.tag_names = {k: (list(v) if isinstance(v, (tuple, list)) else v) for k, v in (tag_names or {}).items()}
        self.cell_array_names: list[str] = []
        self._cell_arrays: dict = {}
        self.set_cell_arrays(cell_arrays)
        self.pvd_rel = f"{FIELDS_DIR}/{region}.pvd"
        self.dir_rel = f"{FIELDS_DIR}/{region}"
        self.times: list[float] = []
        self.files: list[str] = []  # .pvtu per time, relative to fields/
        self._pending = None
        error = None
        if self.comm.rank == 0:
            try:
                (self.outdir / self.dir_rel).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                error = f"{type(exc).__name__}: {exc}"
        error = self.comm.bcast(error, root=0)  # also the barrier: the folder exists
        if error is not None:
            raise OSError(f"write_fields: cannot create {self.outdir / self.dir_rel}: {error}")

    def set_cell_arrays(self, cell_arrays: dict | None) -> None:
        """Collective: a bad array on one rank (e.g. too short) raises on every rank."""
        arrays = {"region_id": np.full(self.grid.num_cells, self.region_id, dtype=np.int32)}
        error = None
        for name, obj in (cell_arrays or {}).items():
            if not _NAME_RE.fullmatch(str(name)) or name in FIELD_UNITS or name == "region_id":
                error = f"write_fields: cell array name {name!r} is not allowed"
                break
            try:
                arrays[str(name)] = _cell_array(str(name), obj, self.grid)
            except ValueError as exc:
                error = f"write_fields: region '{self.region}', rank {self.comm.rank}: {exc}"
                break
        errors = [e for e in self.comm.allgather(error) if e]
        if errors:
            raise ValueError(errors[0])
        if self.cell_array_names and sorted(arrays) != sorted(self._cell_arrays):
            raise ValueError(
                f"write_fields: region '{self.region}': cell arrays {sorted(self._cell_arrays)} at the first "
                f"output time, now {sorted(arrays)}; every output time must carry the same"
            )
        self._cell_arrays = arrays
        self.cell_array_names = sorted(arrays)

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

    # -- one output time: pieces on every rank, then (rank 0) the summary files -------
    def write_piece(self, t: float, functions: list) -> str | None:
        """Update the fields and write this rank's piece; returns an error text or None.
        Collective only through the interpolations (same order on every rank)."""
        by_name = {f.name: f for f in functions}
        for i, slot in enumerate(self.slots):
            if by_name[slot.name] is not slot.source:  # a new Function with the same name
                self.slots[i] = slot = _FieldSlot(by_name[slot.name], self.grid)
            slot.update()
        k = len(self.times)
        base = f"{self.region}_{k:06d}"
        piece = f"{base}_p{self.comm.rank}.vtu"
        self._pending = (float(t), f"{self.region}/{base}.pvtu",
                         [f"{base}_p{r}.vtu" for r in range(self.comm.size)])
        try:
            pdata = {array_name(s.name): s.values() for s in self.slots if s.location == "point"}
            cdata = {array_name(s.name): s.values() for s in self.slots if s.location == "cell"}
            cdata.update(self._cell_arrays)
            fdata = {
                "region": self.region,
                "region_id": np.int32(self.region_id),
                "TimeValue": np.float64(t),
                "grid_degree": np.int32(self.grid.degree),
                "grid_discontinuous": np.int32(self.grid.broken),
                "length_unit": "m",
                "units": [f"{array_name(s.name)}={FIELD_UNITS.get(s.name, '')}" for s in self.slots],
            }
            if self.tag_lines:
                fdata["mesh_tags"] = self.tag_lines
                fdata["mesh_tag_ids"] = np.array(self.tag_ids, dtype=np.int32)
            write_vtu(self.outdir / self.dir_rel / piece, self.grid.points, self.grid.connectivity,
                      self.grid.vtk_type, pdata, cdata, fdata, compressor=COMPRESSOR)
        except Exception as exc:  # reported to every rank by the caller
            return f"region '{self.region}', rank {self.comm.rank}: {type(exc).__name__}: {exc}"
        return None

    def commit(self) -> None:
        """Rank 0, after every piece of the pending time is on disk: .pvtu, then .pvd."""
        t, pvtu, pieces = self._pending
        pts = [(array_name(s.name), np.float64, s.ncomp) for s in self.slots if s.location == "point"]
        cells = [(array_name(s.name), np.float64, s.ncomp) for s in self.slots if s.location == "cell"]
        cells += [(n, self._cell_arrays[n].dtype, 1) for n in self._cell_arrays]
        write_pvtu(self.outdir / FIELDS_DIR / pvtu, pieces, pts, cells)
        write_pvd(self.outdir / self.pvd_rel,
                  [(tt, f, 0, self.region) for tt, f in zip(self.times + [t], self.files + [pvtu])])

    def done(self) -> None:
        """Every rank: the pending time is written."""
        t, pvtu, _ = self._pending
        self.times.append(t)
        self.files.append(pvtu)
        self._pending = None

    def adopt(self, entry: dict, until: float) -> None:
        """Continue the series a resumed run wrote before (manifest index ``entry``): its
        output times up to ``until`` [s] stay listed; later ones are written again."""
        keep = [(float(t), f) for t, f in zip(entry.get("times", []), entry.get("files", []))
                if float(t) <= until * (1 + 1e-12) + 1e-300]
        prefix = f"{FIELDS_DIR}/"
        self.times = [t for t, _ in keep]
        self.files = [f[len(prefix):] if f.startswith(prefix) else f for _, f in keep]

    def close(self) -> None:
        """Nothing stays open between output times."""

    def describe(self) -> dict:
        return {
            "pvd": self.pvd_rel,
            "format": "VTK XML: .pvd of .pvtu, one .vtu piece per MPI rank (binary, float64)",
            "grid": self.grid.kind,
            "region_id": self.region_id,
            "times": list(self.times),
            "files": [f"{FIELDS_DIR}/{f}" for f in self.files],
            "fields": {s.name: s.describe() for s in self.slots},
            "cell_arrays": list(self.cell_array_names),
            "mesh_tags": dict(self.tag_names),
            "length_unit": "m",
        }


def write_all_regions_pvd(outdir: Path, writers: dict) -> None:
    """Rank 0: ``fields/all_regions.pvd``, every region as a part (block) of each time."""
    ds = []
    for part, (region, w) in enumerate(sorted(writers.items(), key=lambda kv: kv[1].region_id)):
        ds += [(t, f, part, region) for t, f in zip(w.times, w.files)]
    ds.sort(key=lambda d: (d[0], d[2]))
    write_pvd(Path(outdir) / FIELDS_DIR / f"{ALL_REGIONS}.pvd", ds)
