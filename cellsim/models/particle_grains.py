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
The stress-assisted flux and the stress in the overpotential keep the material's scalar
Omega (the lattice table does not change them).

``interface = "bonded"``: one continuous displacement over all grains (the strain still per
grain). ``interface = "cohesive"``: the grains are coloured (touching grains differ) and
every touching pair is a cohesive grain boundary (:mod:`.particle_mechanics`).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.lattice import LATTICE_STRAINS, chemical_strain_tensor
from ..physics.mechanics import TensorEigenstrain

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


def lattice_eigenstrain(name: str, R, c_max: float) -> TensorEigenstrain:
    """eps_ch(c) = R diag(eps_a, eps_a, eps_c)(c / c_max) R^T of the table ``name``."""
    table = LATTICE_STRAINS[name]

    def fn(c):
        ea, ec = table.ufl_strains(c / c_max)
        return chemical_strain_tensor(R, ea, ec)

    return TensorEigenstrain(fn)


def isotropic_start_strain(case, mat, x0: float) -> float:
    """The linear strain of the stress-free swelling of uniform stoichiometry x0 (the start of
    the initial solve): Omega/3 (c - c_ref), or a third of the lattice's volumetric strain."""
    name = case.material.lattice_strain
    if name is None:
        return mat.partial_molar_volume / 3.0 * (x0 * mat.c_max - mat.c_ref)
    return float(LATTICE_STRAINS[name].volumetric(x0)) / 3.0


__all__ = ["grain_names", "grain_rotations", "rotation_field", "submesh_field", "lattice_eigenstrain",
           "isotropic_start_strain", "fill_dg0"]
