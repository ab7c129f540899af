r"""The grains of a secondary particle (``[geometry] kind = "secondary_particle"``) in the
single-particle model.

Every Voronoi grain ``grain_i`` of the mesh is its own solid region (same active material),
in region order 0..N-1. Its crystal orientation R_i (rotation of the crystal axes onto the
sample axes, ``info['grain_orientations']`` of the mesh) is held in a DG0 tensor field on
the parent mesh (:func:`rotation_field`). With ``[material] lattice_strain`` the chemical
strain of each grain is the anisotropic lattice strain

    eps_ch = R diag(eps_a(x), eps_a(x), eps_c(x)) R^T,   x = c / c_max,

(:mod:`cellsim.materials.lattice`, as a :class:`cellsim.physics.mechanics.TensorEigenstrain`);
without it the isotropic Omega/3 (c - c_ref) of the material, as in any particle.
With the table, the stress-assisted flux and the stress in the overpotential use the
mechanical part of the chemical potential of the anisotropic strain,

    w = sigma : d eps_ch/dc = sigma : R diag(eps_a'(x), eps_a'(x), eps_c'(x)) R^T / c_max   [J mol-1]

(:func:`coupling_potential`; the table's slopes, piecewise constant), which is Omega sigma_h
for eps_ch = Omega/3 (c - c_ref) I: N = -D grad c + D c/(R T) grad w with w projected onto
P1 (:class:`CouplingProjection`, block ``mu_sigma`` or ``mu_sigma_k`` per colour), and
eta = phi - U - w/F on the surface (w from the surface stress, not projected).

``interface = "bonded"``: one continuous displacement over all grains (the strain still per
grain). ``interface = "cohesive"``: the grains are coloured (touching grains differ) and
every touching pair is a cohesive grain boundary (:mod:`.particle_mechanics`).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.lattice import chemical_strain_tensor, resolve_lattice_strain
from ..physics.mechanics import TensorEigenstrain
from ..physics.term import Term

dolfinx = require_dolfinx()
from dolfinx import fem  # noqa: E402


def grain_names(tm) -> list[str]:
    """grain_0 .. grain_{N-1} of the mesh, in order."""
    n = int(tm.info.get("num_grains", 0)) or sum(1 for k in tm.regions if k.startswith("grain_"))
    return [f"grain_{i}" for i in range(n)]


def grain_rotations(tm) -> list[np.ndarray]:
    """The 3x3 rotation of every grain (crystal -> sample axes), from the mesh info."""
    rots = [np.asarray(o["rotation"], dtype=float) for o in tm.info["grain_orientations"]]
    if len(rots) != len(grain_names(tm)):
        raise ValueError(f"mesh info: {len(rots)} grain orientations for {len(grain_names(tm))} grains")
    return rots


def fill_dg0(f, cells, value) -> None:
    """Set a DG0 (scalar or tensor) Function to ``value`` on local ``cells``."""
    V = f.function_space
    bs = V.dofmap.index_map_bs
    dofs = V.dofmap.list[np.asarray(cells, dtype=np.int32), 0]
    f.x.array.reshape(-1, bs)[dofs] = np.asarray(value, dtype=float).reshape(-1)


def rotation_field(msh, cell_tags, tags_per_grain, rotations):
    """DG0 tensor field on ``msh``: R_i on the cells of grain i (local, owned and ghost)."""
    gdim = msh.geometry.dim
    R = fem.Function(fem.functionspace(msh, ("DG", 0, (gdim, gdim))), name="grain_rotation")
    for tags, Rm in zip(tags_per_grain, rotations):
        cells = np.concatenate([cell_tags.find(t) for t in tags]) if tags else np.zeros(0, np.int32)
        fill_dg0(R, cells, Rm[:gdim, :gdim])
    return R


def submesh_field(field, sub, parent_cells):
    """A DG0 field copied onto a submesh whose cell k is parent cell ``parent_cells[k]``."""
    V = fem.functionspace(sub, field.function_space.ufl_element())
    f = fem.Function(V, name=field.name)
    bs = V.dofmap.index_map_bs
    src = field.function_space.dofmap.list[np.asarray(parent_cells, dtype=np.int32), 0]
    dst = V.dofmap.list[np.arange(len(parent_cells), dtype=np.int32), 0]
    f.x.array.reshape(-1, bs)[dst] = field.x.array.reshape(-1, bs)[src]
    return f


def own_ids(msh, dx, cell_tags, tags):
    """``dx(tags)`` as ``dx((1, ..., n))`` over cell tags of its own (the same cells, the same
    order: tag k of the sorted ``tags`` is id k + 1): regions whose forms differ only in their
    tags (the grains' volumes) then have one form, compiled once."""
    import ufl
    from dolfinx import mesh as dmesh

    tags = sorted(int(t) for t in tags)
    cells = [cell_tags.find(t) for t in tags]
    idx = np.concatenate(cells).astype(np.int32) if cells else np.zeros(0, np.int32)
    val = np.concatenate([np.full(len(c), k + 1, dtype=np.int32) for k, c in enumerate(cells)]) if cells else idx
    order = np.argsort(idx, kind="stable")
    mt = dmesh.meshtags(msh, cell_tags.dim, idx[order], val[order])
    return ufl.Measure("dx", domain=msh, subdomain_data=mt, metadata=dx.metadata())(
        tuple(range(1, len(tags) + 1)))


def lattice_eigenstrain(name: str, R, c_max: float) -> TensorEigenstrain:
    """eps_ch(c) = R diag(eps_a, eps_a, eps_c)(c / c_max) R^T of the table ``name``."""
    table = resolve_lattice_strain(name)

    def fn(c):
        ea, ec = table.ufl_strains(c / c_max)
        return chemical_strain_tensor(R, ea, ec)

    return TensorEigenstrain(fn)


def coupling_potential(name: str, R, c_max: float, sigma, c):
    """w = sigma : d eps_ch/dc [J mol-1] of the lattice table ``name`` (UFL): the derivative of
    :func:`lattice_eigenstrain` with respect to c, taken by UFL."""
    import ufl

    cv = ufl.variable(c)
    eps = lattice_eigenstrain(name, R, c_max)(cv)
    return ufl.inner(sigma, ufl.diff(eps, cv))


class CouplingProjection(Term):
    """The continuous projection w of sigma : d eps_ch/dc of the elasticity term ``el``'s pieces
    (the lattice table ``table``, rotations ``R``), block ``block`` (P1): row
    int (w - sigma : d eps_ch/dc) q dx (J mol-1 m3)."""

    def __init__(self, block: str, el, table: str, R, c_max: float):
        self.block, self.el, self.table, self.R, self.c_max = block, el, table, R, c_max
        self.owns, self.reads = (block,), (el.c, el.ub)

    def residual(self, m):
        c, q = m.q(self.el.c), m.v[self.block]
        F = 0
        for (dx, *_), sig in zip(self.el.pieces, self.el.stresses(m)):
            F = F + (m.q(self.block) - coupling_potential(self.table, self.R, self.c_max, sig, c)) * q * dx
        return {self.block: F}


def isotropic_start_strain(case, mat, x0: float) -> float:
    """The linear strain of the stress-free swelling of uniform stoichiometry x0 (the start of
    the initial solve): Omega/3 (c - c_ref), or a third of the lattice's volumetric strain."""
    name = case.material.lattice_strain
    if name is None:
        return mat.partial_molar_volume / 3.0 * (x0 * mat.c_max - mat.c_ref)
    return float(resolve_lattice_strain(name).volumetric(x0)) / 3.0


__all__ = ["grain_names", "grain_rotations", "rotation_field", "submesh_field", "own_ids",
           "lattice_eigenstrain",
           "coupling_potential", "CouplingProjection",
           "isotropic_start_strain", "fill_dg0"]


# ------------------------------------------------------------------ cracked grain boundaries react
from ..materials.base import FARADAY  # noqa: E402
from ..physics.circuit import ParticlePotential  # noqa: E402
from ..physics.cohesive_term import DebondedReaction  # noqa: E402


class CrackReaction(DebondedReaction):
    r"""Butler–Volmer on a cracked grain boundary (``[mechanics] crack_reaction = true``): both
    crack faces are active material, so the reactive area of a facet of area A and committed
    damage d is 2 d A, at the rate j of the outer surface's law with the crack electrolyte at
    the bath state (c_e of the bath, phi_e = 0: an assumption, the crack's own electrolyte is
    not resolved). The concentration is continuous across the grain boundary, so both faces
    see c("+"): row of c_s: - 2 d j v("+") dS (mol s-1)."""

    def build(self, m):
        if getattr(self, "j", None) is not None:
            return
        super().build(m)
        self.j = 2.0 * self.j


class GrainParticlePotential(ParticlePotential):
    """The particle's current balance with the crack currents added: sum_k F j_k dS_k joins
    F j ds of the outer surface (galvanostatic rows; the potentiostatic row is unchanged)."""

    def __init__(self, *args, cracks=()):
        super().__init__(*args)
        self.cracks = list(cracks)

    def residual(self, m):
        out = super().residual(m)
        q = m.v["phi"]
        for k in self.cracks:
            k.build(m)
            out["phi"] = out["phi"] + (1 - self.cv) * FARADAY * k.j * q("+") * k.measure
        return out


def crack_reactions(model, material, bath_ce) -> list:
    """One :class:`CrackReaction` per cohesive grain boundary pair (phi the particle potential)."""
    return [CrackReaction(material, coh.reaction_measure, coh, c_s="c_s", phi_s="phi", bath_ce=bath_ce,
                          solid_charge_row=False) for coh in model.cohesives]


def cracked_area(model) -> float:
    """sum over grain-boundary facets of 2 d A (both faces; committed damage; collective)."""
    from mpi4py import MPI

    a = 0.0
    for coh in model.cohesives:
        it = coh.itf
        a += 2.0 * float(np.dot(it.area, it.d.x.array[: it._nown]))
    return model.comm.allreduce(a, op=MPI.SUM)
