"""LU factors made once per time step (``solver.reuse_factorisation = "step"``, the half-cell
default) against a factorisation at every Newton iteration (``false``).

The same run (2D lattice, CC discharge then CV): the same steps and Newton counts (the
time-step control sees the same effort), every diagnostic equal to the Krylov tolerance
(GMRES on the step's factors, rtol 1e-10), and exactly one numeric factorisation per Newton
solve against one per Newton iteration. (Both with a Jacobian at every iteration:
``CELLSIM_JACOBIAN_REUSE=0``; the kept Jacobians of the step-factor path, which change the
Newton counts, are compared in test_jacobian_reuse.py.)
"""

from __future__ import annotations

import pytest
from mpi4py import MPI

import meshes
from cellsim.case.halfcell import HalfCellCase
from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_protocol

STEPS = [{"mode": "cc", "c_rate": 2.0, "duration": 80.0, "until_voltage": 3.0},
         {"mode": "cv", "voltage": 3.9, "duration": 20.0}]
SKIP = ("wall time", "krylov")


def _run(reuse, ksp_max_it=None):
    from petsc4py import PETSc

    case = HalfCellCase.model_validate(
        {"model": "halfcell", "protocol": {"steps": STEPS}, "solver": {"reuse_factorisation": reuse},
         "time": {"dt_initial": 10.0, "dt_max": 60.0}, "output": {"fields": False}}, context={"mesh_given": True})
    tm = meshes.build(meshes.square_lattice_2d(), h=1.5e-6, comm=MPI.COMM_WORLD)
    model = HalfCellModel(case, tm, MPI.COMM_WORLD)
    solves = [0]
    once = model.solver._solve_once

    def counted():
        solves[0] += 1
        return once()

    model.solver._solve_once = counted
    if ksp_max_it is not None:  # GMRES on the step's factors then fails after the first iteration
        model.solver.snes.getKSP().setTolerances(max_it=ksp_max_it)
    ev = PETSc.Log.Event("MatLUFactorNum")
    f0 = ev.getPerfInfo()["count"]
    res = run_protocol(case, model, keep_rows=True)
    factors = ev.getPerfInfo()["count"] - f0
    fallbacks = model.solver.fallbacks
    model.close()
    assert res.status == "completed", res.reason
    return res.rows, factors, solves[0], fallbacks


@pytest.mark.mpi
def test_step_factors_equal_every_iteration_factors(monkeypatch):
    from petsc4py import PETSc

    monkeypatch.setenv("CELLSIM_JACOBIAN_REUSE", "0")
    PETSc.Log.begin()
    rows0, f_every, _, _ = _run(False)
    rows1, f_step, solves, _ = _run("step")
    assert HalfCellCase.model_validate({"model": "halfcell"}, context={"mesh_given": True}
                                       ).solver.reuse_factorisation == "step"
    newton = [r["newton iterations [-]"] for r in rows0]
    assert len(rows0) == len(rows1) >= 5 and newton == [r["newton iterations [-]"] for r in rows1]
    for a, b in zip(rows0, rows1):
        for k, x in a.items():
            if isinstance(x, float) and not any(s in k for s in SKIP):
                assert abs(b[k] - x) <= 1e-8 * abs(x) + 1e-10, (k, x, b[k])
    # every Newton iteration factorises without reuse; once per solve with it
    print("factorisations", f_every, f_step, "solves", solves, "newton", sum(newton))
    assert f_every >= sum(newton) and f_step == solves < f_every / 2


@pytest.mark.mpi
def test_a_failed_linear_solve_on_the_step_factors_is_solved_again_with_fresh_factors(monkeypatch):
    """GMRES on the step's factors allowed one iteration: the second Newton iteration's
    linear solve fails (fresh Jacobian, the first iteration's factors), and the solve is
    repeated from the same start with factors at every iteration (PETSc lag 1, set through
    SNESSetLagPreconditioner): the run completes with the steps, Newton counts and answers
    of the factorisation-at-every-iteration run."""
    from petsc4py import PETSc

    monkeypatch.setenv("CELLSIM_JACOBIAN_REUSE", "0")
    PETSc.Log.begin()
    rows0, _, _, _ = _run(False)
    rows1, _, solves, fallbacks = _run("step", ksp_max_it=1)
    print("fallbacks", fallbacks, "solves", solves)
    assert fallbacks >= 3 and solves > len(rows1)
    assert len(rows0) == len(rows1) >= 5
    assert [r["newton iterations [-]"] for r in rows0] == [r["newton iterations [-]"] for r in rows1]
    for a, b in zip(rows0, rows1):
        for k, x in a.items():
            if isinstance(x, float) and not any(s in k for s in SKIP):
                assert abs(b[k] - x) <= 1e-8 * abs(x) + 1e-10, (k, x, b[k])
