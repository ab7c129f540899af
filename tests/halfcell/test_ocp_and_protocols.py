"""Slow discharge follows the OCP; protocol steps switch on their events; runs stop cleanly.

Geometry: 2D staircase lattice of 2 x 2 disks (radius 2 um) with carbon-binder necks.

* C/100 discharge: the cell voltage equals the open-circuit potential of the mean particle
  stoichiometry, U(x_mean), within 2 mV from SOC 0.95 to the end (beyond x = x_0). Estimated
  departures at C/100 for these particles: surface-to-mean concentration difference
  j r / (4 D) ~ 30 mol m-3 (0.3 - 1 mV through dU/dx), kinetic overpotential RT/F i/i0
  ~ 0.2 mV, electrolyte and solid ohmic drops < 0.01 mV. The first 5 % of the capacity is
  excluded: there the NMC811 OCP is steepest (dU/dx ~ -3 V at x_100) while the surface
  gradient builds up.
* CC-CV-rest cycles: every step ends on its own event, located within its tolerance.
* Clean stops: electrolyte depletion ends the run as 'cut-off' with the reason; a solver that
  cannot converge ends it as 'failed' with the reason in manifest.json.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from mpi4py import MPI

import meshes
from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_case as run_halfcell, run_protocol
from cellsim.case.halfcell import HalfCellCase
from cellsim.materials.chen2020 import NMC811, nmc811_ocp


def small_lattice(comm, h=0.5e-6):
    lay = meshes.square_lattice_2d(pitch=5e-6, radius=2e-6, separator=3e-6, collector=1e-6, neck=0.5e-6)
    return meshes.build(lay, h=h, comm=comm)


def case_of(steps, **kw):
    d = {"model": "halfcell", "protocol": {"steps": steps}, "output": {"fields": False}}
    for k, v in kw.items():
        d[k] = v
    return HalfCellCase.model_validate(d, context={"mesh_given": True})


def test_c100_follows_ocp():
    comm = MPI.COMM_WORLD
    tm = small_lattice(comm)
    case = case_of([{"mode": "cc", "c_rate": 0.01, "until_voltage": 3.55}],
                   time={"dt_initial": 100.0, "dt_max": 20000.0, "max_change": 0.01})
    model = HalfCellModel(case, tm, comm)
    res = run_protocol(case, model, keep_rows=True)
    assert res.status == "completed", res.reason
    assert "until_voltage" in res.reason
    x = np.array([r["mean stoichiometry [-]"] for r in res.rows])
    V = np.array([r["voltage [V]"] for r in res.rows])
    soc = np.array([r["state of charge [-]"] for r in res.rows])
    dev = V - nmc811_ocp(x)
    sel = soc <= 0.95
    # the run covered the whole window x_100 -> x_0 and beyond
    assert x[0] == pytest.approx(NMC811.x_100) and x[-1] > NMC811.x_0
    assert sel.sum() > 30
    worst = float(np.max(np.abs(dev[sel])))
    print(f"C/100: max |V - U(x_mean)| = {1e3 * worst:.3f} mV over SOC <= 0.95 ({sel.sum()} steps)")
    assert worst < 2e-3
    # discharge: V below the OCP (a cathode being lithiated needs a negative overpotential)
    assert np.all(dev[1:] < 0)


def test_cccv_rest_cycles_switch_on_events():
    comm = MPI.COMM_WORLD
    tm = small_lattice(comm, h=0.625e-6)
    steps = [
        {"mode": "cc", "c_rate": 2.0, "until_voltage": 3.9},
        {"mode": "rest", "duration": 100.0},
        {"mode": "cc", "c_rate": 2.0, "direction": "charge", "until_voltage": 4.1},
        {"mode": "cv", "voltage": 4.1, "until_c_rate": 0.5},
    ]
    case = case_of(steps, protocol={"steps": steps, "cycles": 2}, time={"dt_initial": 5.0, "dt_max": 60.0})
    model = HalfCellModel(case, tm, comm)
    res = run_protocol(case, model, keep_rows=True)
    assert res.status == "completed", res.reason
    assert len(res.step_ends) == 8
    rows = res.rows[1:]
    i1c = model.i_1C
    for n in range(1, 9):
        mine = [r for r in rows if r["protocol step [-]"] == n]
        assert mine, n
        last = mine[-1]
        k = (n - 1) % 4
        if k == 0:  # CC discharge to 3.9 V
            assert last["voltage [V]"] == pytest.approx(3.9, abs=1e-4)
            assert all(r["voltage [V]"] >= 3.9 - 1e-4 for r in mine)
            assert all(r["current density [A m-2]"] == pytest.approx(2 * i1c, rel=1e-8) for r in mine)
        elif k == 1:  # rest
            assert sum(r["dt [s]"] for r in mine) == pytest.approx(100.0, rel=1e-12)
            assert all(abs(r["current density [A m-2]"]) < 1e-8 * i1c for r in mine)
            assert mine[-1]["voltage [V]"] > mine[0]["voltage [V]"]  # relaxation after discharge
        elif k == 2:  # CC charge to 4.1 V
            assert last["voltage [V]"] == pytest.approx(4.1, abs=1e-4)
        else:  # CV at 4.1 V until |i| < C/2
            assert all(r["voltage [V]"] == pytest.approx(4.1, abs=1e-12) for r in mine)
            assert all(r["current density [A m-2]"] < 0 for r in mine)  # charging
            assert abs(last["current density [A m-2]"]) == pytest.approx(0.5 * i1c, rel=0.02)
            assert abs(last["current density [A m-2]"]) <= 0.5 * i1c
    assert [r["cycle [-]"] for r in rows][-1] == 2


def test_depletion_and_failure_stop_cleanly(tmp_path):
    comm = MPI.COMM_WORLD
    tm = small_lattice(comm, h=0.625e-6)
    # a tortuous separator (eps^b = 1e-4) limits the salt supply: charging at 1C plates lithium
    # faster than salt can diffuse to the metal, and c_e at the lithium surface collapses
    steps = [{"mode": "cc", "c_rate": 1.0, "direction": "charge", "until_voltage": 4.4}]
    case = case_of(steps, separator={"porosity": 0.1, "bruggeman": 4.0}, physics={"initial_stoichiometry": 0.8},
                   stop={"min_electrolyte_concentration": 100.0}, time={"dt_initial": 0.5, "dt_max": 5.0})
    out = tmp_path / "deplete"
    r = run_halfcell(case, out, comm=comm, tm=tm)
    man = json.loads((out / "manifest.json").read_text())
    print(r.status, r.reason)
    assert r.status == "cut-off" and man["status"] == "cut-off"
    assert "electrolyte depleted" in man["reason"] and "stop.min_electrolyte_concentration" in man["reason"]
    # Newton limited to one iteration cannot converge: dt is halved down to dt_min, then 'failed'
    case2 = case_of([{"mode": "cc", "c_rate": 1.0, "until_voltage": 3.0}], solver={"max_iterations": 1},
                    time={"dt_initial": 1.0, "dt_min": 0.2})
    out2 = tmp_path / "fail"
    r2 = run_halfcell(case2, out2, comm=comm, tm=tm)
    man2 = json.loads((out2 / "manifest.json").read_text())
    assert r2.status == "failed" and man2["status"] == "failed"
    assert "time.dt_min" in man2["reason"] and "Newton did not converge" in man2["reason"]
