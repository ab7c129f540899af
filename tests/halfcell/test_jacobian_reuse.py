"""Chord iterations in solves with the step's factors (``cellsim.solver._chord_pays``): a
Newton iteration that cut the residual well keeps its Jacobian for the next iteration.

The same run (2D lattice, CC discharge then CV) with the Jacobian kept where it pays and
with a Jacobian at every iteration (``CELLSIM_JACOBIAN_REUSE=0``): the same steps (the
time-step control sees no slow solve), every diagnostic equal to the Newton tolerance, no
solve above the model's slow_newton, and fewer Jacobians assembled.
"""

from __future__ import annotations

import pytest
from mpi4py import MPI

import meshes
from run_tools import assert_same_rows
from cellsim.case.halfcell import HalfCellCase
from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_protocol

STEPS = [{"mode": "cc", "c_rate": 2.0, "duration": 80.0, "until_voltage": 3.0},
         {"mode": "cv", "voltage": 3.9, "duration": 20.0}]
SKIP = ("wall time", "krylov", "newton")


def _run(monkeypatch, reuse: bool):
    monkeypatch.setenv("CELLSIM_JACOBIAN_REUSE", "1" if reuse else "0")
    case = HalfCellCase.model_validate(
        {"model": "halfcell", "protocol": {"steps": STEPS},
         "time": {"dt_initial": 10.0, "dt_max": 60.0}, "output": {"fields": False}}, context={"mesh_given": True})
    tm = meshes.build(meshes.square_lattice_2d(), h=1.5e-6, comm=MPI.COMM_WORLD)
    model = HalfCellModel(case, tm, MPI.COMM_WORLD)
    s = model.solver
    assert s.chord == reuse
    res = run_protocol(case, model, keep_rows=True)
    out = res.rows, s._jacobians, s.kept_jacobians, model.slow_newton
    model.close()
    assert res.status == "completed", res.reason
    return out


@pytest.mark.mpi
def test_kept_jacobians_same_steps_and_answer(monkeypatch):
    rows0, jac0, kept0, _ = _run(monkeypatch, False)
    rows1, jac1, kept1, slow = _run(monkeypatch, True)
    assert len(rows0) == len(rows1) >= 5 and kept0 == 0
    assert_same_rows(rows0, rows1, SKIP)
    assert max(r["newton iterations [-]"] for r in rows1) <= slow
    print("Jacobians assembled", jac0, jac1, "kept", kept1)
    assert kept1 > 0 and jac1 < jac0
