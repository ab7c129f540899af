"""Conservation in every step of a coupled half-cell run, and MPI equals serial.

2D staircase lattice (tests/halfcell/meshes.py): 2 x 2 particles, carbon-binder necks to
the collector, electrolyte, separator, lithium metal on top. Protocol: CC discharge, rest,
CC charge, CV. After every accepted step (Newton atol = 1e-12 I_1C):

* collector current = applied current (CC steps),
* particle/electrolyte interface current = collector current (charge in the solid),
* lithium-metal current = -collector current (charge in the electrolyte),
* lithium gained by the particles = integral of the interface reaction over the step,
* lithium gained by the particles + change of salt in the electrolyte + lithium plated on the
  metal = 0,

each relative to the charge a 1C current passes in the step, below 1e-9. Independently,
the state of charge computed from the particle concentrations falls exactly as the charge
integrated from the collector current (the run did move lithium).
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import meshes
from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_protocol
from cellsim.case.halfcell import HalfCellCase

ERRORS = ["interface current error [-]", "lithium metal current error [-]", "particle lithium error [-]",
          "lithium balance error [-]"]


def make_case(steps, **kw):
    d = {"model": "halfcell", "protocol": {"steps": steps}, "solver": {"atol": 1e-10, "rtol": 1e-14},
         "time": {"dt_initial": 10.0, "dt_max": 60.0}, "output": {"fields": False}}
    d.update(kw)
    return HalfCellCase.model_validate(d, context={"mesh_given": True})


PROTOCOL = [
    {"mode": "cc", "c_rate": 2.0, "duration": 240.0, "until_voltage": 3.0},
    {"mode": "rest", "duration": 60.0},
    {"mode": "cc", "c_rate": 1.0, "direction": "charge", "duration": 120.0},
    {"mode": "cv", "voltage": 4.0, "duration": 120.0},
]


def run(comm, h=1.0e-6, steps=PROTOCOL):
    tm = meshes.build(meshes.square_lattice_2d(), h=h, comm=comm)
    case = make_case(steps)
    model = HalfCellModel(case, tm, comm)
    res = run_protocol(case, model, keep_rows=True)
    return model, res


@pytest.mark.mpi
def test_conservation_every_step():
    model, res = run(MPI.COMM_WORLD)
    assert res.status == "completed", res.reason
    rows = res.rows[1:]
    assert len(rows) >= 15
    modes = {r["protocol step [-]"] for r in rows}
    assert modes == {1, 2, 3, 4}
    worst = {k: max(abs(r[k]) for r in rows) for k in ERRORS + ["applied current error [-]"]}
    if MPI.COMM_WORLD.rank == 0:
        print({k: f"{v:.2e}" for k, v in worst.items()})
    for k, v in worst.items():
        assert v < 1e-9, (k, v)
    # the state of charge follows the charge passed through the collector
    i1c = model.i_1C
    soc0 = res.rows[0]["state of charge [-]"]
    for r in rows:
        q = r["capacity [mA h m-2]"] * 3.6  # C m-2, discharge positive
        assert soc0 - r["state of charge [-]"] == pytest.approx(q / (3600.0 * i1c), abs=1e-9)
    # and it did move lithium: 2C for 240 s then 1C back for 120 s, then CV
    assert res.rows[0]["capacity [mA h m-2]"] == 0.0
    cap_after_cc = [r for r in rows if r["protocol step [-]"] == 1][-1]["capacity [mA h m-2]"]
    assert cap_after_cc == pytest.approx(2.0 * i1c * 240.0 / 3.6, rel=1e-9)
    # rest: no current; CV: the voltage is held
    for r in rows:
        if r["protocol step [-]"] == 2:
            assert abs(r["current density [A m-2]"]) < 1e-9 * i1c
        if r["protocol step [-]"] == 4:
            assert r["voltage [V]"] == pytest.approx(4.0, abs=1e-12)
    # the electrolyte salt content is conserved (lithium metal supplies what the particles take)
    for r in rows:
        assert r["mean electrolyte concentration [mol m-3]"] == pytest.approx(1000.0, rel=1e-10)


@pytest.mark.mpi
def test_parallel_equals_serial():
    """The same run on all ranks and on one rank: voltage, SOC per particle, min c_e agree."""
    steps = [{"mode": "cc", "c_rate": 2.0, "duration": 60.0}, {"mode": "cv", "voltage": 4.05, "duration": 40.0}]
    _, par = run(MPI.COMM_WORLD, steps=steps)
    _, ser = run(MPI.COMM_SELF, steps=steps)
    assert len(par.rows) == len(ser.rows)
    keys = ["voltage [V]", "current density [A m-2]", "min electrolyte concentration [mol m-3]",
            "max lithium concentration [mol m-3]", "lithium metal overpotential [V]"] + [
        k for k in par.rows[0] if k.startswith("soc particle")]
    for a, b in zip(par.rows, ser.rows):
        assert a["time [s]"] == pytest.approx(b["time [s]"], rel=1e-9)
        for k in keys:
            assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12), k


@pytest.mark.mpi
def test_iterative_solver_equals_lu():
    """GMRES + fieldsplit (GAMG on the potentials) gives the LU answer to solver tolerance."""
    steps = [{"mode": "cc", "c_rate": 2.0, "duration": 60.0}, {"mode": "cv", "voltage": 4.05, "duration": 40.0}]
    comm = MPI.COMM_WORLD
    tm = meshes.build(meshes.square_lattice_2d(), h=1.0e-6, comm=comm)
    rows = {}
    for ls in ("mumps", "iterative"):
        case = make_case(steps, solver={"linear_solver": ls, "atol": 1e-10, "rtol": 1e-14, "ksp_rtol": 1e-10})
        model = HalfCellModel(case, tm, comm)
        res = run_protocol(case, model, keep_rows=True)
        assert res.status == "completed", res.reason
        rows[ls] = res.rows
    assert len(rows["mumps"]) == len(rows["iterative"])
    its = [r["krylov iterations [-]"] / max(r["newton iterations [-]"], 1) for r in rows["iterative"][1:]]
    print(f"GMRES iterations per Newton iteration: max {max(its):.1f}, mean {np.mean(its):.1f}")
    assert max(its) < 60  # the preconditioner works (two-group splits need 100-1000)
    for a, b in zip(rows["mumps"], rows["iterative"]):
        assert a["voltage [V]"] == pytest.approx(b["voltage [V]"], abs=1e-9)
        assert a["current density [A m-2]"] == pytest.approx(b["current density [A m-2]"], rel=1e-7, abs=1e-9)
        assert a["min electrolyte concentration [mol m-3]"] == pytest.approx(
            b["min electrolyte concentration [mol m-3]"], rel=1e-9)
        for k in ERRORS:
            assert abs(b[k]) < 1e-9, k
