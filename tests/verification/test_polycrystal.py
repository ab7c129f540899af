"""A polycrystalline secondary particle in the single-particle model (issue 10): grains as
regions with their orientations, the anisotropic NMC811 lattice strain per grain
(``[material] lattice_strain``), grain boundaries bonded or cohesive.

* all grains one orientation, uniform concentration: zero stress (to solver tolerance) for
  a random rotation, bonded and cohesive, and the displacement is the rotated free strain
  R diag(eps_a, eps_a, eps_c) R^T (x - x_c) computed independently with numpy from the table;
* the grains' own (random) orientations: mismatch stress of the order of E eps (the check
  above can fail);
* cohesive: touching grains get different colours (blocks), every touching pair its
  cohesive term and no other pair one.
All on 4 coarse grains; the same answers on 2 ranks (the assertions are rank-independent).
"""

from __future__ import annotations

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from mpi4py import MPI  # noqa: E402

from cellsim import regions as itf  # noqa: E402
from cellsim.case import case_from_dict  # noqa: E402
from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.geometry.packing import uniform_rotation  # noqa: E402
from cellsim.materials.lattice import NMC811_KONDRAKOV2017 as NMC  # noqa: E402
from cellsim.models.particle import ParticleModel  # noqa: E402
from cellsim.models.particle_mechanics import touching_pairs  # noqa: E402
from tests.verification.particle_tools import cracking_grains_parallel_vs_serial  # noqa: E402

pytestmark = pytest.mark.mpi

X0 = 0.5  # uniform stoichiometry: eps_a = -1.5 %, eps_c = +1.8 % against the lithiated lattice
GEOM = {"kind": "secondary_particle", "radius": 3e-6, "n_grains": 4, "seed": 1, "mesh_size": 1.2e-6}


def grain_case(interface="bonded", lattice="nmc811_kondrakov2017"):
    mat = {"name": "nmc811_chen2020"}
    if lattice:
        mat["lattice_strain"] = lattice
    return case_from_dict({
        "geometry": GEOM, "material": mat,
        "physics": {"initial_stoichiometry": X0, "stress_assisted_diffusion": False,
                    "stress_in_overpotential": False},
        "mechanics": {"interface": interface}, "discretisation": {"displacement_degree": 1},
        "control": {"mode": "flux", "c_rate": 1.0, "direction": "delithiation"}, "time": {"t_end": 3600.0}})


def solved(interface, one_rotation=None):
    case = grain_case(interface)
    tm = build_mesh(case.geometry, MPI.COMM_WORLD)
    if one_rotation is not None:
        tm.info["grain_orientations"] = [{"rotation": one_rotation.tolist()}] * len(tm.info["grain_orientations"])
    m = ParticleModel(case, tm)
    assert m.solve_initial().converged
    return m, m.diagnostics()


def free_strain(R):
    ea, ec = NMC.strains(X0)
    return R @ np.diag([ea, ea, ec]) @ R.T


def fitted_strain(m, names):
    """Symmetric part of the least-squares affine fit u = A x + b of the nodal displacements
    of the blocks ``names`` (all ranks' owned nodes)."""
    xs, us = [], []
    for n in names:
        U = m.u[n]
        V = U.function_space
        nown = V.dofmap.index_map.size_local
        xs.append(V.tabulate_dof_coordinates()[:nown])
        us.append(m.L * U.x.array.reshape(-1, 3)[:nown])
    x = np.concatenate(m.comm.allgather(np.concatenate(xs)))
    u = np.concatenate(m.comm.allgather(np.concatenate(us)))
    A = np.linalg.lstsq(np.c_[x, np.ones(len(x))], u, rcond=None)[0][:3].T
    resid = np.abs(u - (np.c_[x, np.ones(len(x))] @ np.linalg.lstsq(np.c_[x, np.ones(len(x))], u, rcond=None)[0]))
    return 0.5 * (A + A.T), resid.max()


def test_bonded_one_orientation_is_stress_free_with_the_rotated_strain():
    R = uniform_rotation(np.random.default_rng(7))
    m, d = solved("bonded", R)
    eps = free_strain(R)
    scale = m.core.youngs_modulus * np.abs(eps).max()
    assert d["max von Mises stress [Pa]"] < 1e-6 * scale
    assert max(abs(d["max hydrostatic stress [Pa]"]), abs(d["min hydrostatic stress [Pa]"])) < 1e-6 * scale
    sym, resid = fitted_strain(m, ["u"])
    assert np.abs(sym - eps).max() < 1e-7 * np.abs(eps).max()
    assert resid < 1e-7 * np.abs(eps).max() * 3e-6  # affine up to a rigid rotation of order the spring


def test_bonded_random_orientations_give_mismatch_stress():
    m, d = solved("bonded")
    ea, ec = NMC.strains(X0)
    assert d["max von Mises stress [Pa]"] > 0.05 * m.core.youngs_modulus * abs(ec - ea)


def test_cohesive_grain_boundaries_colours_pairs_and_one_orientation():
    R = uniform_rotation(np.random.default_rng(11))
    m, d = solved("cohesive", R)
    names = [f"grain_{i}" for i in range(GEOM["n_grains"])]
    cells = [itf.region_cells(m.tm.cell_tags, m.tm.regions[g]) for g in names]
    # an independent list of touching pairs: any pair with interface facets on some rank
    expect = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            nf = m.comm.allreduce(len(itf.interface_facets(m.mesh, cells[i], cells[j])), op=MPI.SUM)
            if nf:
                expect.append((i, j))
    assert touching_pairs(m.mesh, cells) == expect
    assert len(m.cohesives) == len(expect) >= 3
    col = m.region_colour
    assert all(col[names[i]] != col[names[j]] for i, j in expect)
    assert len(m.blocks) == max(col.values()) + 1 <= len(names)
    eps = free_strain(R)
    scale = m.core.youngs_modulus * np.abs(eps).max()
    assert d["max von Mises stress [Pa]"] < 1e-6 * scale
    assert d["damaged area fraction [-]"] == 0.0
    sym, _ = fitted_strain(m, [b.u for b in m.blocks])
    assert np.abs(sym - eps).max() < 1e-6 * np.abs(eps).max()


def test_grain_input_errors_name_key_value_and_allowed():
    """Refused while the case is read: an unknown lattice table, a lattice strain without
    grains, the stress in the overpotential with cohesive grains."""
    from cellsim.schema import CaseError

    base = {"material": {"name": "nmc811_chen2020"}, "control": {"mode": "flux", "c_rate": 1.0},
            "discretisation": {"displacement_degree": 1}}
    bad = [({"geometry": GEOM, "material": {"name": "nmc811_chen2020", "lattice_strain": "nmc622"}},
            r"lattice_strain.*nmc811_kondrakov2017"),
           ({"geometry": {"kind": "sphere", "radius": 3e-6},
             "material": {"name": "nmc811_chen2020", "lattice_strain": "nmc811_kondrakov2017"}},
            r"material\.lattice_strain = 'nmc811_kondrakov2017' with geometry kind 'sphere'.*secondary_particle"),
           ({"geometry": GEOM, "mechanics": {"interface": "cohesive"}},
            r"stress_in_overpotential = true.*allowed: false"),
           ({"geometry": GEOM, "mechanics": {"crack_reaction": True}},
            r"crack_reaction = true needs mechanics\.interface = 'cohesive' \(got 'bonded'\)"),
           ({"geometry": GEOM, "physics": {"stress_in_overpotential": False},
             "mechanics": {"interface": "cohesive", "crack_reaction": True}},
            r"control\.mode = 'flux' with mechanics\.crack_reaction = true.*allowed: galvanostatic"),
           ({"geometry": {"kind": "core_shell", "core_radius": 3e-6, "coating_thickness": 1e-6},
             "physics": {"stress_in_overpotential": False}, "mechanics": {"interface": "cohesive",
                                                                           "crack_reaction": True},
             "control": {"mode": "galvanostatic", "c_rate": 1.0}},
            r"crack_reaction = true with geometry kind 'core_shell'.*allowed kind: 'secondary_particle'")]
    for over, words in bad:
        with pytest.raises((CaseError, ValueError), match=words):
            case_from_dict({**base, **over})
    assert case_from_dict({**base, "geometry": GEOM}).material.lattice_strain is None  # isotropic default


@pytest.mark.mpi
def test_parallel_equals_serial_cohesive_grains_crack():
    """Cohesive grains with their random orientations, charged from the stress-free lattice
    (x_ref = 1; start x = 0.99) at 2C for three fixed steps: the grain boundaries crack (lagged damage, committed on
    accept), and COMM_WORLD gives the serial (COMM_SELF) diagnostics, lithium conserved."""
    rs = cracking_grains_parallel_vs_serial(
        GEOM, {"damage_jump_limit": 1e3},  # the test's own fixed steps: the damage-jump rejection (a time-step control) off
        {"mode": "flux", "c_rate": 2.0, "direction": "delithiation"})
    assert abs(rs[-1]["lithium balance error [mol]"]) < 1e-9 * abs(rs[-1]["charge passed [C]"]) / 96485.0 + 1e-25


def test_twenty_grains_colour_into_a_handful_of_blocks():
    """The 20-grain secondary particle of cases/mesh_secondary_particle.toml (coarse mesh):
    the grain graph from shared facets equals an independent pair count, the greedy colouring
    separates every touching pair with at most max degree + 1 colours, and a handful (<= 8)."""
    from cellsim.models.particle_mechanics import colour_regions

    case = grain_case()
    geom = case.geometry.model_copy(update={"radius": 5e-6, "n_grains": 20, "seed": 3, "mesh_size": 1.2e-6})
    tm = build_mesh(geom, MPI.COMM_WORLD)
    comm = tm.mesh.comm
    cells = [itf.region_cells(tm.cell_tags, tm.regions[f"grain_{i}"]) for i in range(20)]
    pairs = touching_pairs(tm.mesh, cells)
    expect = [(i, j) for i in range(20) for j in range(i + 1, 20)
              if comm.allreduce(len(itf.interface_facets(tm.mesh, cells[i], cells[j])), op=MPI.SUM)]
    assert pairs == expect and len(pairs) >= 19  # connected: at least a tree
    col = colour_regions(20, pairs)
    deg = max(sum(1 for p in pairs if k in p) for k in range(20))
    assert all(col[i] != col[j] for i, j in pairs)
    assert len(set(col)) <= min(deg + 1, 8)
