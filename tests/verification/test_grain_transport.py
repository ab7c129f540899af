"""Lithium across cohesive interfaces with a concentration per colour block
(``[mechanics] interface_transport = "damaged"``, :mod:`cellsim.models.particle_species`):
the flux through an interface is J = k(d) (c_a - c_b), k(d) = (1 - d)^p k_0 + k_res.

* Bonded = one grain: a 2-grain secondary particle with one orientation (the lattice table,
  both grains the same rotation) and an intact cohesive grain boundary, held at a potential
  for two steps, against the same run with one continuous concentration (same mesh). The
  interface resistance 1/k_0 in series needs the jump c_a - c_b = J/k_0 to pass the boundary
  flux J, and the runs differ by that jump: the largest concentration difference is below
  1.5 times the largest jump, the current's relative difference below the jump over the
  concentration spread; both fall with order 1 in 1/k_0 (fitted over three k_0, slow test)
  while J = k_0 (c_a - c_b) stays put; with the default k_0 (1e3 D/h) both are below 1e-3.
* Fully cracked: a core-shell particle whose core_coating interface has d = 1 is cut off
  from the surface: with k_res = 0 the core keeps its lithium to round-off while the coating
  reacts; with k_res > 0 the core's lithium changes by exactly the residual flux
  dt int k_res (c_coat - c_core) dA (backward Euler, end-of-step values).
* Damage evolving: 4 grains with random orientations charged at 2C from the stress-free
  lattice, the grain boundaries crack and react (crack faces with their own grain's
  concentration): lithium conserved every step (charge passed = lithium lost), and
  ``mpiexec -n 2`` gives the serial diagnostics.
"""

from __future__ import annotations

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.case import case_from_dict  # noqa: E402
from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.materials.base import FARADAY  # noqa: E402
from cellsim.models.particle import ParticleModel  # noqa: E402
from tests.verification.particle_tools import cracking_grains_parallel_vs_serial  # noqa: E402

pytestmark = pytest.mark.mpi

GEOM2 = {"kind": "secondary_particle", "radius": 3e-6, "n_grains": 2, "seed": 1, "mesh_size": 1.5e-6}
GEOM4 = {"kind": "secondary_particle", "radius": 3e-6, "n_grains": 4, "seed": 1, "mesh_size": 1.2e-6}
STRONG = {"normal_strength": 2e8, "shear_strength": 2e8, "fracture_energy_I": 3.0, "fracture_energy_II": 3.0}


def grain_case(transport, k0=None, geom=GEOM2):
    mech = {"interface": "cohesive", "interface_transport": transport, **STRONG}
    if k0 is not None:
        mech["interface_transport_coefficient"] = k0
    return case_from_dict({
        "geometry": geom, "material": {"name": "nmc811_chen2020", "lattice_strain": "nmc811_kondrakov2017",
                                       "diffusivity": 1e-13},
        "physics": {"initial_stoichiometry": 0.5, "stress_assisted_diffusion": False,
                    "stress_in_overpotential": False},
        "mechanics": mech, "discretisation": {"displacement_degree": 1},
        "control": {"mode": "potentiostatic", "potential": 3.9}, "time": {"t_end": 3600.0}})


def run(case, tm, steps=2, dt=60.0):
    m = ParticleModel(case, tm, tm.mesh.comm)
    m.set_control()
    assert m.solve_initial().converged
    for _ in range(steps):
        res = m.step(dt)
        assert res.converged, res.reason
        d = m.diagnostics()
        m.accept()
    m.update_fields()
    return m, d


def one_orientation(tm):
    R = np.array([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])
    tm.info["grain_orientations"] = [{"rotation": R.tolist()}] * len(tm.info["grain_orientations"])
    return tm


def max_abs(comm, a) -> float:
    return comm.allreduce(float(np.max(np.abs(a), initial=0.0)), op=MPI.MAX)


def compare_bonded(k0s):
    """[(k0, concentration difference, relative current difference, largest jump, spread)] of
    damaged runs against the continuous run on the same mesh (2 grains, one orientation)."""
    comm = MPI.COMM_WORLD
    tm = one_orientation(build_mesh(grain_case("continuous").geometry, comm))
    mc, dc = run(grain_case("continuous"), tm)
    spread = comm.allreduce(float(mc.f_c.x.array.max(initial=-np.inf)), op=MPI.MAX) - comm.allreduce(
        float(mc.f_c.x.array.min(initial=np.inf)), op=MPI.MIN)
    out = []
    for k0 in k0s:
        m, d = run(grain_case("damaged", k0), tm)
        assert [b for b in m.block_names if b.startswith("c_")] == ["c_0", "c_1"]
        g = fem.Function(m.f_c.function_space)
        g.interpolate(mc.f_c)  # the continuous field in the blocks' discontinuous space
        e = max_abs(comm, g.x.array - m.f_c.x.array)
        ie = abs(d["current [A]"] - dc["current [A]"]) / abs(dc["current [A]"])
        # the facet-mean jump c_a - c_b = J / k0 on the grain boundary
        tr, it = m.transports[0], m.cohesives[0].itf
        q = ufl.TestFunction(it.V0)
        fj, fa = (fem.assemble_vector(fem.form(f * q("+") * tr.dS, entity_maps=m.entity_maps))
                  for f in ((m.q(tr.a)("+") - m.q(tr.b)("-")), 1.0))
        for v in (fj, fa):
            v.scatter_reverse(dolfinx.la.InsertMode.add)
        jump = max_abs(comm, fj.array[:it._nown] / fa.array[:it._nown])
        out.append((m.k0, e, ie, jump, spread))
    return out


def test_bonded_grain_boundary_equals_one_grain():
    """Default k_0 = 1e3 D/h: concentration within 1e-3 of the spread and current within 1e-3 of
    the continuous run; the difference is the jump J/k_0 (at most 1.5 times the largest one)
    and the current's relative change at most that jump over the concentration spread."""
    ((k0, e, ie, jump, spread),) = compare_bonded([None])
    assert e / spread < 1e-3 and ie < 1e-3, (e / spread, ie)
    assert 0 < e < 1.5 * jump, (e, jump)
    assert ie < jump / spread, (ie, jump / spread)


@pytest.mark.slow
def test_bonded_grain_boundary_converges_with_order_one_in_inverse_k0():
    """k_0 = 3.2e-5, 1.28e-4, 5.12e-4 m/s (about 230, 920 and 3700 D/h): the concentration and
    current differences from the continuous run fall as 1/k_0 (fitted order in (0.9, 1.1)), the
    jump times k_0 (the boundary flux) stays within 10 %."""
    rows = compare_bonded([3.2e-5, 1.28e-4, 5.12e-4])
    k0, e, ie, jump, _ = (np.array(c) for c in zip(*rows))
    for x in (e, ie):
        slope = np.polyfit(np.log(1.0 / k0), np.log(x), 1)[0]
        assert 0.9 < slope < 1.1, (slope, x)
    assert np.all(e < 1.5 * jump), (e, jump)
    assert np.ptp(jump * k0) < 0.1 * np.max(jump * k0), jump * k0


def core_shell_case(k_res):
    return case_from_dict({
        "geometry": {"kind": "core_shell", "core_radius": 3e-6, "coating_thickness": 1e-6, "mesh_size": 1.2e-6},
        "material": {"name": "graphite_chen2020", "diffusivity": 1e-14},
        "physics": {"initial_stoichiometry": 0.5, "stress_assisted_diffusion": False,
                    "stress_in_overpotential": False},
        "mechanics": {"interface": "cohesive", "max_damage": 1.0, "interface_transport_residual": k_res, **STRONG},
        "discretisation": {"displacement_degree": 1},
        "control": {"mode": "potentiostatic", "potential": 0.05}, "time": {"t_end": 3600.0}})


@pytest.mark.parametrize("k_res", [0.0, 1e-9])
def test_fully_cracked_interface_passes_only_the_residual(k_res):
    case = core_shell_case(k_res)
    m = ParticleModel(case, build_mesh(case.geometry, MPI.COMM_WORLD))
    m.set_control()
    assert m.solve_initial().converged
    em = {"entity_maps": m.entity_maps}
    coh = m.cohesives[0]
    core, coat = m.blocks[m.region_colour["core"]], m.blocks[m.region_colour["coating"]]
    f_core = fem.form(m.cs * m.u[m.block_c(core)] * m._dx_block[core.k], **em)
    tr = m.transports[0]
    assert (tr.a, tr.b) == (m.block_c(core), m.block_c(coat))
    f_res = fem.form(k_res * (m.q(tr.a)("+") - m.q(tr.b)("-")) * tr.dS, **em)
    N0, prev = m._assemble(f_core), m.diagnostics()
    for _ in range(3):
        for f in (coh.itf.d, coh.itf.d_inv):
            f.x.array[:] = 1.0
        res = m.step(60.0)
        assert res.converged, res.reason
        d = m.diagnostics()
        N1, leak = m._assemble(f_core), m._assemble(f_res)
        m.accept()
        moved = abs(d["charge passed [C]"] - prev["charge passed [C]"]) / FARADAY
        assert moved > 0
        assert abs(d["lithium balance error [mol]"] - prev["lithium balance error [mol]"]) < 1e-9 * moved
        if k_res == 0.0:
            assert abs(N1 - N0) < 1e-12 * N0, (N1 - N0) / N0
        else:
            assert leak != 0.0
            assert (N1 - N0) == pytest.approx(-60.0 * leak, rel=1e-8)
        N0, prev = N1, d


def test_cracking_grains_conserve_lithium_parallel_equals_serial():
    def balance(prev, d):
        moved = abs(d["charge passed [C]"] - prev["charge passed [C]"]) / FARADAY
        assert abs(d["lithium balance error [mol]"] - prev["lithium balance error [mol]"]) < 1e-9 * moved

    cracking_grains_parallel_vs_serial(
        GEOM4, {"crack_reaction": True, "damage_jump_limit": 1e3},  # fixed steps
        {"mode": "galvanostatic", "c_rate": 2.0, "direction": "delithiation"}, accept_first=False, on_step=balance)


def test_transport_input_errors_name_key_value_and_allowed():
    from cellsim.schema import CaseError

    base = {"geometry": {"kind": "core_shell", "core_radius": 3e-6, "coating_thickness": 1e-6},
            "physics": {"mechanics": True}, "discretisation": {"displacement_degree": 1},
            "control": {"mode": "galvanostatic", "c_rate": 1.0}}
    for mech, words in (({"interface_transport": "open"},
                         r"interface_transport = 'open'.*'damaged' or 'continuous'"),
                        ({"interface_transport_coefficient": -1.0}, r"interface_transport_coefficient = -1.*allowed"),
                        ({"interface_transport_residual": -1.0}, r"interface_transport_residual = -1.*allowed")):
        with pytest.raises(CaseError, match=words):
            case_from_dict({**base, "mechanics": {"interface": "cohesive", **mech}})
    ok = case_from_dict({**base, "mechanics": {"interface": "cohesive"}}).mechanics
    assert (ok.interface_transport, ok.interface_transport_coefficient, ok.interface_transport_residual,
            ok.interface_transport_exponent) == ("damaged", None, 0.0, 1.0)
