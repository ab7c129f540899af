"""Linear-solver paths of the Newton solver (cellsim/solver.py) against the plain path.

* the particle's iterative solver (fieldsplit: ILU on the concentration and potential,
  GAMG with the rigid-body modes on the displacement, ILU on sigma_h) gives the same
  steps as the kept LU factors: same Newton counts, the same diagnostics to the Krylov
  tolerance; the displacement split's GAMG is set up once in the whole run (its diagonal
  block, linear elasticity, never changes);
* the choice: kept LU factors by default (the iterative path is opt-in: with it, a resumed
  run does not yet repeat the uninterrupted one's steps, and 1 and 2 ranks differ in their
  Krylov counts by more than tests/integration allows), the iterative solver when the case
  asks for it, refused where it is not available (cohesive split).
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from cellsim.case import case_from_dict
from tests.verification.particle_tools import R_P, build_model

CASE = {"model": "particle", "geometry": {"kind": "sphere", "radius": R_P, "mesh_size": R_P / 2.5},
        "material": {"name": "graphite_chen2020"},
        "physics": {"mechanics": True, "stress_assisted_diffusion": True, "stress_in_overpotential": True,
                    "initial_stoichiometry": 0.1},
        "control": {"mode": "galvanostatic", "c_rate": 2.0, "direction": "lithiation"},
        "output": {"fields": False}}
COLUMNS = ["particle potential [V]", "mean concentration [mol m-3]", "surface concentration [mol m-3]",
           "max von Mises stress [Pa]", "surface hoop stress [Pa]"]


def _run(linear_solver, nsteps=3, dt=20.0):
    from petsc4py import PETSc

    d = {k: dict(v) if isinstance(v, dict) else v for k, v in CASE.items()}
    d["solver"] = {"linear_solver": linear_solver}
    gamg = PETSc.Log.Event("PCSetUp_GAMG+")
    g0 = gamg.getPerfInfo()["count"]
    model = build_model(case_from_dict(d))  # (with the initial solve)
    out = []
    for _ in range(nsteps):
        res = model.step(dt)
        assert res.converged, res.reason
        model.accept()
        diag = model.diagnostics()
        out.append((res.newton_iterations, [float(diag[c]) for c in COLUMNS]))
    setups = gamg.getPerfInfo()["count"] - g0
    model.close()
    return out, setups


@pytest.mark.mpi
def test_particle_iterative_equals_lu():
    from petsc4py import PETSc

    PETSc.Log.begin()
    lu, _ = _run("mumps")
    it, gamg_setups = _run("iterative")
    assert [n for n, _ in lu] == [n for n, _ in it]
    assert sum(n for n, _ in it) >= 6  # several Jacobians, one GAMG set-up
    for (_, a), (_, b) in zip(lu, it):
        np.testing.assert_allclose(b, a, rtol=1e-8)
    # the displacement split's GAMG: once per rank (initial solve and all steps)
    assert MPI.COMM_WORLD.allreduce(gamg_setups, op=MPI.MAX) == 1


def test_particle_default_solver():
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in CASE.items()}
    assert case_from_dict(d).solver.linear_solver == "mumps"
    d["solver"] = {"linear_solver": "iterative"}
    assert case_from_dict(d).solver.linear_solver == "iterative"
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in CASE.items()}
    d["physics"]["mechanics"] = False
    d["physics"]["stress_assisted_diffusion"] = d["physics"]["stress_in_overpotential"] = False
    assert case_from_dict(d).solver.linear_solver == "mumps"
