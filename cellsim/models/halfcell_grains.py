r"""Secondary (polycrystalline) particles in the half-cell (``[geometry] particle_type =
"secondary"``): the per-grain anisotropic lattice strain of the particles' elasticity.

Every grain ``particle_i_grain_k`` of the mesh is its own region with its crystal
orientation R (rotation of the crystal axes onto the sample axes,
``info['grain_orientations']``, one entry per grain region). The grains of a particle are
one particle for the electrochemistry (one c_s, phi_s field; grouped by
:func:`cellsim.regions.particle_groups`) and, with ``[physics] mechanics = true``, one
continuous displacement: the grain boundaries are bonded. With ``[material]
lattice_strain`` the chemical strain of a grain is

    eps_ch(c) = R [diag(eps_a, eps_a, eps_c)(c / c_max) - diag(eps_a, eps_a, eps_c)(x0)] R^T

(:mod:`cellsim.materials.lattice`, the rotation a DG0 tensor field on the particle submesh,
from :func:`cellsim.models.particle_grains.rotation_field`), relative to the initial
stoichiometry x0 as the isotropic strain of the skeleton is (the electrode is stress-free
as made; free particles are stress-free under any uniform strain anyway). Without it the
material's isotropic Omega/3 (c - c_ref). The stress-assisted flux and the stress in the
overpotential keep the material's scalar Omega.
"""

from __future__ import annotations

import numpy as np

from ..materials.lattice import chemical_strain_tensor, resolve_lattice_strain
from ..physics.mechanics import TensorEigenstrain
from .particle_grains import rotation_field, submesh_field


def grain_regions(tm) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """(cell tags, rotation) of every grain region recorded in the mesh info."""
    out = []
    for o in tm.info.get("grain_orientations") or []:
        name = o.get("region")
        if name not in tm.regions:
            raise ValueError(f"mesh info: grain orientation of region {name!r}, which the mesh does not have")
        out.append((tuple(tm.regions[name]), np.asarray(o["rotation"], dtype=float)))
    return out


def relative_lattice_eigenstrain(name, R, c_max: float, x0: float) -> TensorEigenstrain:
    """eps_ch(c) = R (D(c / c_max) - D(x0)) R^T with D = diag(eps_a, eps_a, eps_c) of the table."""
    table = resolve_lattice_strain(name)
    ea0, ec0 = (float(v) for v in table.strains(x0))

    def fn(c):
        ea, ec = table.ufl_strains(c / c_max)
        return chemical_strain_tensor(R, ea - ea0, ec - ec0)

    return TensorEigenstrain(fn)


def particle_omega(model, x0: float):
    """The chemical-strain argument of the particles' elasticity piece: the material's Omega,
    or (``[material] lattice_strain`` on a secondary-particle mesh) the per-grain lattice
    strain. Sets ``model.R_grain`` (on the particle submesh) and ``model.R_grain_parent`` (on
    the parent mesh; both None without lattice strain)."""
    name = model.case.material.lattice_strain
    model.R_grain = model.R_grain_parent = None
    if name is None:
        return model.mat.partial_molar_volume
    grains = grain_regions(model.tm)
    if not grains:
        raise ValueError(f"material.lattice_strain = '{name}': the mesh has no grains (info "
                         "'grain_orientations'); allowed with geometry particle_type = 'secondary'")
    R = model.R_grain_parent = rotation_field(model.parent, model.tm.cell_tags, [t for t, _ in grains],
                                              [R for _, R in grains])
    # held on the particle submesh: the forms (parent measures, entity maps) and the output
    # expressions on the submesh (stress fields) both take it there
    rp = model.sub["particle"]
    imap = rp.mesh.topology.index_map(rp.mesh.topology.dim)
    cells = rp.entity_map.sub_topology_to_topology(np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32), False)
    model.R_grain = submesh_field(R, rp.mesh, cells)
    return relative_lattice_eigenstrain(name, model.R_grain, model.c_max, x0)


__all__ = ["grain_regions", "relative_lattice_eigenstrain", "particle_omega"]
