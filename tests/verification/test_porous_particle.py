"""Porous particle with electrolyte-filled pores (cellsim/models/particle_pores.py).

Checks that can fail:
* salt and charge balances of the pore electrolyte in every step (open channels and closed
  spherical pores), and the current into the solid = outer surface + pore walls;
* capacity at C/100 = solid volume x c_max x the stoichiometry window;
* the limit of a perfect pore electrolyte (transport factor B -> infinity): the porous
  particle tends, at a fitted rate 1/B, to the dense-particle model (an independent
  composition, cellsim/models/particle.py) run on the solid alone with every surface in
  the bath;
* mechanics on: stress free at uniform concentration, balances unchanged;
* `mpiexec -n 2` equals serial.
"""

from __future__ import annotations

import numpy as np
import pytest

from cellsim.case import case_from_dict
from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import mesh as dmesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.geometry.mesh import TaggedMesh, build_mesh  # noqa: E402
from cellsim.materials.base import FARADAY  # noqa: E402
from cellsim.models.particle import ParticleModel  # noqa: E402
from cellsim.models.particle_pores import PorousParticleModel  # noqa: E402
from tests.verification.particle_tools import advance, fitted_order  # noqa: E402

#: coarse geometries (about 1 s per step): three open channels / four closed pores
CHANNELS = {"kind": "porous_particle", "radius": 4e-6, "pore_shape": "channel", "pore_radius": 0.8e-6,
            "porosity": 0.1, "seed": 2, "mesh_size": 1.6e-6, "region_mesh_size": {"pore": 0.4e-6}}
SPHERES = {"kind": "porous_particle", "radius": 4e-6, "pore_shape": "spherical", "pore_radius": 1.0e-6,
           "porosity": 0.06, "seed": 1, "mesh_size": 1.6e-6, "region_mesh_size": {"pore": 0.5e-6}}


def porous_case(geometry=CHANNELS, physics=None, control=None, **extra):
    d = {"geometry": dict(geometry), "material": {"name": "graphite_chen2020"},
         "physics": {"mechanics": False, "stress_assisted_diffusion": False, "stress_in_overpotential": False,
                     "initial_stoichiometry": 0.1, **(physics or {})},
         "control": control or {"mode": "galvanostatic", "c_rate": 5.0}, **extra}
    return case_from_dict(d)


def build(case, comm=MPI.COMM_WORLD, cls=PorousParticleModel, tm=None):
    tm = tm or build_mesh(case.geometry, comm)
    model = cls(case, tm, comm)
    model.set_control()
    res = model.solve_initial()
    assert res.converged, res.reason
    return model


def same_as_serial(case, diags, dt):
    """Under MPI: the distributed run's diagnostics equal a serial run's (COMM_SELF)."""
    if MPI.COMM_WORLD.size == 1:
        return
    ser = advance(build(case, MPI.COMM_SELF), dt, len(diags))
    for a, b in zip(diags, ser):
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-7, abs=1e-12 * (abs(b[k]) + 1) + 1e-22), k


def check_balances(model, diags, dt):
    I = float(model.I_app.value)
    salt_moved = 0.0
    for d in diags:
        # current into the solid = outer surface + pore walls = the applied current
        assert d["outer surface current [A]"] + d["pore wall current [A]"] == pytest.approx(I, rel=1e-9)
        assert d["current [A]"] == pytest.approx(I, rel=1e-9)
        # current through the pores: what enters at the openings reaches the walls
        assert abs(d["pore charge balance error [A]"]) < 1e-9 * abs(I)
        salt_moved += abs(d["pore wall current [A]"]) / FARADAY * dt
        # salt: pore content + what left through walls and openings, every step
        assert abs(d["pore salt balance error [mol]"]) < 1e-9 * max(salt_moved, 1e-6 * I * dt / FARADAY)
        assert abs(d["lithium balance error [mol]"]) < 1e-10 * d["lithium [mol]"]
    return salt_moved


@pytest.mark.mpi
def test_channels_conserve_salt_and_charge_and_parallel_equals_serial():
    """Open channels at 5C: every balance holds each step; the pores carry part of the
    current and lose salt near the walls; COMM_WORLD gives the COMM_SELF answer."""
    case = porous_case()
    model = build(case)
    assert model.has_opening and model.area_opening > 0
    diags = advance(model, 20.0, 3)
    check_balances(model, diags, 20.0)
    d = diags[-1]
    I = float(model.I_app.value)
    # the channels are reactive surface: a real share of the current goes through them
    share = d["pore wall current [A]"] / I
    assert 0.1 < share < 1.0, share
    # lithiation draws salt and potential down inside the channels (bath at the openings)
    assert d["min pore electrolyte concentration [mol m-3]"] < 1000.0 - 1.0
    drop = 1000.0 - d["min pore electrolyte concentration [mol m-3]"]
    # P1 Galerkin is not monotone: an overshoot above the bath, small against the drop
    assert d["max pore electrolyte concentration [mol m-3]"] - 1000.0 < 1e-3 * drop
    assert d["min pore electrolyte potential [V]"] < -1e-5
    same_as_serial(case, diags, 20.0)


@pytest.mark.mpi
def test_closed_pores_pass_no_net_current_and_keep_their_salt():
    """Spherical pores are closed (walls >= min_wall to the surface): no opening, zero net
    current through their walls, constant salt, and a floating pore potential; 2 ranks =
    serial."""
    case = porous_case(SPHERES)
    model = build(case)
    assert not model.has_opening
    diags = advance(model, 20.0, 3)
    check_balances(model, diags, 20.0)
    I = float(model.I_app.value)
    salt0 = model.pore_salt0
    for d in diags:
        assert abs(d["pore wall current [A]"]) < 1e-9 * abs(I)
        assert d["pore salt [mol]"] == pytest.approx(salt0, rel=1e-10)
    # the pore electrolyte floats with the particle (far from the bath's phi_e = 0)
    assert diags[-1]["max pore electrolyte potential [V]"] < -0.05
    same_as_serial(case, diags, 20.0)


def test_capacity_at_c_over_100_is_solid_volume_times_window():
    """C/100 lithiation to the surface cut-off x = 0.9 from x = 0.05: the charge is
    F c_max V_solid (0.9 - 0.05). Tolerance 2e-3 of it: at C/100 the surface leads the mean
    by about (x window) R^2 / (15 D t_rate) < 1e-4 (sphere), and the cut-off is located to
    1e-4 of t_end. The pores hold no active material: the capacity is (1 - porosity) of the
    meshed ball (the coarse test mesh loses 5 % of the CAD volumes to faceting, so the
    discrete volumes are the reference)."""
    from cellsim.simulation import run_protocol

    x0, x1 = 0.05, 0.9
    case = porous_case(physics={"initial_stoichiometry": x0},
                       control={"mode": "galvanostatic", "c_rate": 0.01},
                       time={"t_end": 400000.0, "dt_initial": 600.0, "dt_max": 40000.0, "max_change": 0.12},
                       stop={"max_surface_stoichiometry": x1})
    model = build(case)
    lr = run_protocol(case, model)
    assert lr.status == "cut-off", (lr.status, lr.reason)
    d = model.diagnostics()
    mat = model.core
    q_exact = FARADAY * mat.c_max * model.volume * (x1 - x0)
    assert d["charge passed [C]"] == pytest.approx(q_exact, rel=2e-3)
    assert d["max surface stoichiometry [-]"] - d["min surface stoichiometry [-]"] < 1e-3
    # the pores hold no active material: the capacity is that of the meshed solid only,
    # (1 - porosity) of the meshed ball (outer surface and pores both faceted)
    porosity_h = model.pore_volume / (model.volume + model.pore_volume)
    q_ball = FARADAY * mat.c_max * (model.volume + model.pore_volume) * (x1 - x0)
    assert d["charge passed [C]"] / q_ball == pytest.approx(1 - porosity_h, rel=2e-3)
    assert porosity_h == pytest.approx(model.tm.info["porosity_cad"], rel=0.1)


def solid_alone(model) -> TaggedMesh:
    """The solid submesh of a porous model as a mesh of its own, every boundary facet
    tagged particle_electrolyte (outer surface and pore walls, all in the bath)."""
    sub = model.sub["solid"].mesh
    tdim = sub.topology.dim
    sub.topology.create_connectivity(tdim - 1, tdim)
    facets = dmesh.exterior_facet_indices(sub.topology)
    ft = dmesh.meshtags(sub, tdim - 1, facets, np.full(len(facets), 1, dtype=np.int32))
    ncell = sub.topology.index_map(tdim).size_local + sub.topology.index_map(tdim).num_ghosts
    ct = dmesh.meshtags(sub, tdim, np.arange(ncell, dtype=np.int32), np.full(ncell, 1, dtype=np.int32))
    return TaggedMesh(sub, ct, ft, {"particle": (1,), "particle_0": (1,)}, {"particle_electrolyte": (1,)},
                      {"kind": "porous_particle"})


def test_perfect_pore_electrolyte_tends_to_all_surface_in_the_bath():
    """B -> infinity (pores.transport_factor): phi_e -> 0 and c_e -> c_bath in the channels,
    and the particle potential and concentration tend to those of the dense-particle model
    on the solid alone with all its surface (outer + channel walls) in the bath, with a
    fitted order 1 in 1/B (measured 2026-12: 0.99 for the potential and the concentration;
    at B = 1 these wide channels cost only 52 uV at 5C)."""
    case_b = {B: porous_case(pores={"transport_factor": B}) for B in (10.0, 100.0, 1000.0)}
    tm = build_mesh(case_b[10.0].geometry, MPI.COMM_WORLD)
    runs = {}
    for B, case in case_b.items():
        m = build(case, tm=tm)
        runs[B] = (m, advance(m, 40.0, 1)[-1])
    ref_model = build(case_b[10.0], cls=ParticleModel, tm=solid_alone(runs[10.0][0]))
    ref = advance(ref_model, 40.0, 1)[-1]
    Bs = [10.0, 100.0, 1000.0]
    e_phi = [abs(runs[B][1]["particle potential [V]"] - ref["particle potential [V]"]) for B in Bs]
    e_c = []
    for B in Bs:
        a, b = runs[B][0].X.x.array, ref_model.X.x.array
        num = MPI.COMM_WORLD.allreduce(float(np.sum((a - b) ** 2)))
        den = MPI.COMM_WORLD.allreduce(float(np.sum((b - 0.1) ** 2)))  # x0 = 0.1
        e_c.append(np.sqrt(num / den))
    assert fitted_order(1.0 / np.array(Bs), e_phi) == pytest.approx(1.0, abs=0.15), e_phi
    assert fitted_order(1.0 / np.array(Bs), e_c) == pytest.approx(1.0, abs=0.15), e_c
    assert e_phi[-1] < 1e-4  # V
    d1000 = runs[1000.0][1]
    assert abs(d1000["min pore electrolyte potential [V]"]) < 1e-5
    assert d1000["min pore electrolyte concentration [mol m-3]"] > 1000.0 - 0.05
    print("B, |phi - phi_ref| [V], relative c_s difference:", list(zip(Bs, e_phi, e_c)))


@pytest.mark.mpi
def test_mechanics_stress_free_at_uniform_concentration_then_balances_hold():
    """Mechanics on: the initial (uniform, freely swollen) state has no stress; after 5C
    steps the constrained swelling around the channels stresses the solid, and the
    balances hold as without mechanics."""
    case = porous_case(physics={"mechanics": True, "stress_assisted_diffusion": True,
                                "stress_in_overpotential": True},
                       discretisation={"displacement_degree": 1})
    model = build(case)
    d0 = model.diagnostics()
    scale = model.Es * model.core.partial_molar_volume * model.core.c_max
    assert d0["max von Mises stress [Pa]"] < 1e-8 * scale
    diags = advance(model, 20.0, 2)
    check_balances(model, diags, 20.0)
    assert diags[-1]["max von Mises stress [Pa]"] > 1e-3 * scale
