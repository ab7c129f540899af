r"""Cracked grain boundaries that react in the half-cell (``[mechanics] crack_reaction = true``
with ``grain_boundary = "cohesive"`` and per-colour lithium), a mixin of
:class:`cellsim.models.halfcell.HalfCellModel`.

The crack is inside a particle, where the mesh has no electrolyte. Its electrolyte is lumped
with the electrolyte at the particle's outer surface: for particle i (area A_i of its
``particle_electrolyte`` facets)

    cbar_i = (1/A_i) int_{A_i} c_e dA,    pbar_i = (1/A_i) int_{A_i} phi_e dA,

both crack faces of a grain-boundary facet of committed damage d react at the single
particle's crack rate (:class:`cellsim.models.particle_species.CrackFace`: d j(c_face,
cbar_i, pbar_i, phi_s) on each face, Butler-Volmer of the outer surface with the face's own
grain concentration), so a facet of area A adds 2 d A of reactive area, and the crack current
of the particle

    I_i = sum_faces int F d j dA                                                     [A]

is drawn from the electrolyte uniformly over the particle's outer surface: the electrolyte
rows there get the sink I_i / A_i (charge) and I_i / (F A_i) (salt, with the same t+ row
combination as the surface reaction). Lithium and charge are then conserved exactly: what
the crack faces insert is what the electrolyte loses, whatever the distribution. cbar, pbar
and I are global unknowns, one vector real block each (``crack_ce`` [mol m-3],
``crack_phie`` [V], ``crack_current`` [A], one entry per particle), with the rows

    int_{pe} (chi . cbar - c_e) (chi . w) dA = 0,   int_{pe} (chi . pbar - phi_e) (chi . w) dA = 0,
    int_{pe} (chi . I / chi . A) (chi . w) dA - sum_faces int F d j (chi . w) dA = 0,

chi the DG0 indicator vector of the particles (chi_i = 1 on the cells of particle i; a face
reads chi on the other side of its facet, which is the same particle except on a boundary
between grains of two touching particles, where each face reacts with, and draws its
current from, the neighbour's lumped electrolyte). A particle with cracks but no
particle_electrolyte facet has no electrolyte to lump with: refused.

Columns: ``reactive area [m2]`` (outer surface plus 2 d A of every grain-boundary facet),
``crack current [A]`` and ``crack current density [A m-2]`` (per cross-section).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.base import FARADAY, R_GAS
from ..physics.term import Term, Unknown
from .particle_species import CrackFace

dolfinx = require_dolfinx()
import basix.ufl  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

CRACK_BLOCKS = ("crack_ce", "crack_phie", "crack_current")
CRACK_COLUMNS = ["reactive area [m2]", "crack current [A]", "crack current density [A m-2]"]


class _Lumped:
    """The model as a Butler-Volmer term sees it on a crack face: ``q`` of the crack blocks
    is the face's particle entry chi . value (everything else the model's)."""

    def __init__(self, m, chi):
        self._m, self._chi = m, chi

    def q(self, name):
        val = self._m.q(name)
        return ufl.dot(self._chi, val) if name in CRACK_BLOCKS else val

    def __getattr__(self, key):
        return getattr(self._m, key)


class LumpedCrackFace(CrackFace):
    """One face of a cracked grain boundary against the lumped crack electrolyte of its
    particle: the rate of :class:`CrackFace` with c_e = chi . cbar, phi_e = chi . pbar; rows
    to the face's concentration block and phi_s only (the electrolyte's are the lumped sink of
    :class:`LumpedCrackElectrolyte`)."""

    def __init__(self, material, measure, cohesive, side, chi, c_s, **kw):
        super().__init__(material, measure, cohesive, side, c_s=c_s, phi_s="phi_s", c_e="crack_ce",
                         phi_e="crack_phie", **kw)
        self.chi = chi

    def build(self, m):
        super().build(_Lumped(m, self.chi))

    def residual(self, m):
        self.build(m)
        rs, _ = self._sides()
        j, dA = self.j, self.measure
        return {self.c_s: -m.live * j * rs(m.v[self.c_s]) * dA, self.phi_s: -FARADAY * j * rs(m.v[self.phi_s]) * dA}


class LumpedCrackElectrolyte(Term):
    """The crack blocks' rows and the crack current's sink in the electrolyte (module docstring).
    ``faces``: the LumpedCrackFace terms; ``dG_pe``: particle_electrolyte (particle on "+");
    ``areas``: A_i [m2]; rows in amperes with ``I_ref`` (A) and ``ce_ref`` (mol m-3)."""

    owns = CRACK_BLOCKS

    def __init__(self, faces, chi, dG_pe, areas, I_ref: float, ce_ref: float):
        self.faces, self.chi, self.dG, self.I_ref, self.ce_ref = list(faces), chi, dG_pe, I_ref, ce_ref
        self.areas = np.asarray(areas, dtype=float)
        self.reads = ("c_e", "phi_e") + tuple(f.c_s for f in self.faces)

    def residual(self, m):
        chi = self.chi("+")
        A = fem.Constant(m.parent, self.areas)
        A_i = ufl.dot(chi, A)
        Atot = float(np.sum(self.areas))
        rows = {}
        for name, field, w in (("crack_ce", "c_e", self.I_ref / (self.ce_ref * Atot)),
                               ("crack_phie", "phi_e", self.I_ref * FARADAY / (R_GAS * float(m.T) * Atot))):
            rows[name] = w * (ufl.dot(chi, m.q(name)("+")) - m.q(field)("-")) * ufl.dot(chi, m.v[name]("+")) * self.dG
        wI = m.v["crack_current"]
        I_i = ufl.dot(chi, m.q("crack_current")("+"))
        r = I_i / A_i * ufl.dot(chi, wI("+")) * self.dG
        for f in self.faces:  # drawn from the particle whose electrolyte the face's rate read
            f.build(m)
            _, re_ = f._sides()
            r = r - FARADAY * f.j * ufl.dot(re_(f.chi), wI("+")) * f.measure
        rows["crack_current"] = r
        rows["c_e"] = m.live * I_i / (FARADAY * A_i) * m.v["c_e"]("-") * self.dG
        rows["phi_e"] = I_i / A_i * m.v["phi_e"]("-") * self.dG
        return rows


class HalfCellCrackMixin:
    """The crack terms, their state and bookkeeping."""

    cracks: list = []

    def crack_terms(self, dS) -> list:
        """The crack faces (two per grain-boundary colour pair) and the lumped electrolyte term
        (after the transport terms; collective)."""
        if not self.case.mechanics.crack_reaction:
            self.cracks = []
            return []
        n = len(self.particles)
        parent = self.parent
        V = fem.functionspace(parent, ("DG", 0, (n,)))
        chi = self.crack_chi = fem.Function(V, name="particle_indicator")
        ptag = self._cell_particle_parent  # particle index of every local parent cell (-1: none)
        imap = parent.topology.index_map(parent.topology.dim)
        cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
        dofs = V.dofmap.list[cells, 0]
        sel = ptag[cells] >= 0
        chi.x.array[dofs[sel] * n + ptag[cells][sel]] = 1.0
        em = self.entity_maps
        R = basix.ufl.real_element(parent.basix_cell(), value_shape=(n,), dtype=np.float64)
        VR = fem.functionspace(parent, R)
        # A_i of every particle in one assembly: int chi . w over particle_electrolyte, w in VR
        a = fem.assemble_vector(fem.form(ufl.dot(chi("+"), ufl.TestFunction(VR)("+")) * self.dG_pe, entity_maps=em))
        a.scatter_reverse(dolfinx.la.InsertMode.add)
        owned = VR.dofmap.index_map.size_local * n
        areas = self.comm.allreduce(np.array(a.array[:owned]) if owned else np.zeros(n), op=MPI.SUM)
        if np.any(areas <= 0):
            bad = [self.particles[i][0] for i in np.flatnonzero(areas <= 0)]
            raise ValueError(f"mechanics.crack_reaction = true: {', '.join(bad)} touch(es) no electrolyte (no "
                             "particle_electrolyte facets) to lump the crack electrolyte with; allowed: "
                             "crack_reaction = false for this electrode")
        mat, faces = self.mat, []
        for (a, b, _, tag), coh in zip(self._gb_pairs, self.gb_cohesives):
            for side, k in (("+", a), ("-", b)):
                faces.append(LumpedCrackFace(mat, dS(tag), coh, side, chi, c_s=self.block_c(k)))
        self.crack_areas = areas
        ce0 = self.case.electrolyte.initial_concentration
        lump = LumpedCrackElectrolyte(faces, chi, self.dG_pe, areas, self.I_ref, ce0)
        lump.declared = [Unknown("crack_ce", VR, role="concentration", typical=ce0),
                         Unknown("crack_phie", VR, role="potential"),
                         Unknown("crack_current", VR, scale=self.I_ref, role="current")]
        self.cracks = faces
        return faces + [lump]

    def crack_order(self) -> list[str]:
        return list(CRACK_BLOCKS) if self.cracks else []

    def set_crack_state(self, ce0: float, rng=None) -> None:
        """Crack blocks at the uniform electrolyte (or perturbed around it, for the pattern probe)."""
        if not self.cracks:
            return
        r = (lambda n: 1 + 0.01 * rng.random(n)) if rng is not None else (lambda n: 1.0)
        for name, val in (("crack_ce", ce0), ("crack_phie", 0.01 if rng is not None else 0.0), ("crack_current", 0.0)):
            f = self.u[name]
            f.x.array[:] = val * r(f.x.array.size)

    def crack_current_form(self):
        """sum of the crack faces' F d j dA (UFL; 0 without cracks)."""
        return sum(FARADAY * f.j * f.measure for f in self.cracks)

    def crack_diagnostics(self) -> dict:
        if not self.cracks:
            return {}
        if not hasattr(self, "_f_crack"):
            self._f_crack = fem.form(self.crack_current_form(), entity_maps=self.entity_maps)
        a = sum(2.0 * float(np.dot(c.itf.area, c.itf.d.x.array[: c.itf._nown])) for c in self.gb_cohesives)
        I_c = self._assemble(self._f_crack)
        return {"reactive area [m2]": self.area_pe + self.comm.allreduce(a, op=MPI.SUM), "crack current [A]": I_c,
                "crack current density [A m-2]": I_c / self.area_cross}

    def crack_columns(self) -> list[str]:
        return list(CRACK_COLUMNS) if self.cracks else []


__all__ = ["HalfCellCrackMixin", "LumpedCrackFace", "LumpedCrackElectrolyte", "CRACK_COLUMNS"]
