"""Cracked grain boundaries of a secondary particle react (``[mechanics] crack_reaction``):
Butler–Volmer on 2 d A of every grain-boundary facet (both faces), the crack electrolyte at
the bath state.

* at a fixed potential and uniform concentration the crack current per area equals the
  outer surface's, so I(d) / I(0) = 1 + 2 d A_gb / A_s, with A_gb the grain-boundary area
  assembled independently from the mesh's facet tags; the reactive-area column is
  A_s + 2 d A_gb;
* under a galvanostatic charge with cracked boundaries the lithium balance holds every step
  (charge passed = lithium lost, to 1e-9 of it) and the cracks carry part of the current.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.mpi

GEOM = {"kind": "secondary_particle", "radius": 3e-6, "n_grains": 4, "seed": 1, "mesh_size": 1.2e-6}


def crack_case(control):
    return case_from_dict({
        "geometry": GEOM, "material": {"name": "nmc811_chen2020", "lattice_strain": "nmc811_kondrakov2017"},
        "physics": {"initial_stoichiometry": 0.9, "stress_assisted_diffusion": False,
                    "stress_in_overpotential": False},
        # fixed steps of the tests' own: the damage-jump rejection (a time-step control) off
        "mechanics": {"interface": "cohesive", "crack_reaction": True, "damage_jump_limit": 1e3},
        "discretisation": {"displacement_degree": 1},
        "control": control, "time": {"t_end": 3600.0}})


def set_damage(m, d):
    for coh in m.cohesives:
        coh.itf.d.x.array[:] = d


def test_crack_current_scales_with_the_cracked_area():
    m = ParticleModel(crack_case({"mode": "potentiostatic", "potential": 3.9}), build_mesh(crack_case(
        {"mode": "potentiostatic", "potential": 3.9}).geometry, MPI.COMM_WORLD))
    assert m.solve_initial().converged
    dS = ufl.Measure("dS", domain=m.mesh, subdomain_data=m.tm.facet_tags)
    a_gb = m._assemble(fem.form(fem.Constant(m.mesh, 1.0) * dS(tuple(m.tm.interfaces["grain_boundary"]))))
    I0 = m.current()
    assert abs(I0) > 0 and m.diagnostics()["crack current [A]"] == 0.0
    for d in (0.25, 1.0):
        set_damage(m, d)
        diag = m.diagnostics()
        assert m.current() / I0 == pytest.approx(1.0 + 2.0 * d * a_gb / m.area, rel=1e-9)
        assert diag["crack current [A]"] / I0 == pytest.approx(2.0 * d * a_gb / m.area, rel=1e-9)
        assert diag["reactive area [m2]"] == pytest.approx(m.area + 2.0 * d * a_gb, rel=1e-12)


def test_cracked_particle_conserves_lithium_under_charge():
    case = crack_case({"mode": "galvanostatic", "c_rate": 2.0, "direction": "delithiation"})
    m = ParticleModel(case, build_mesh(case.geometry, MPI.COMM_WORLD))
    m.set_control()
    assert m.solve_initial().converged
    set_damage(m, 0.5)
    prev = m.diagnostics()
    for _ in range(3):
        res = m.step(20.0)
        assert res.converged, res.reason
        d = m.diagnostics()  # before accept, as the driver: the damage the step reacted with
        m.accept()
        moved = abs(d["charge passed [C]"] - prev["charge passed [C]"]) / FARADAY
        assert abs(d["lithium balance error [mol]"] - prev["lithium balance error [mol]"]) < 1e-9 * moved
        assert d["current [A]"] == pytest.approx(-2.0 * m.one_c_current(), rel=1e-6)
        assert 0.0 < d["crack current [A]"] / d["current [A]"] < 1.0
        prev = d
