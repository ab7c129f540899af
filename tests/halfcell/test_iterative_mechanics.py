"""The iterative path with free-particle mechanics (no skeleton): the displacement split
on GAMG with the rigid-body near-nullspace gives the LU answer (on main this path failed
its first step: GMRES diverged with plain GAMG on the displacement)."""

from __future__ import annotations

import pytest
from mpi4py import MPI

from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_protocol
from test_debonding import lattice, make_case


@pytest.mark.mpi
def test_iterative_solver_equals_lu_with_particle_mechanics():
    comm = MPI.COMM_WORLD
    steps = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 120.0}]
    rows = {}
    for ls in ("mumps", "iterative"):
        case = make_case(steps, mech={"skeleton": False},
                         solver={"linear_solver": ls, "atol": 1e-9, "rtol": 1e-14, "ksp_rtol": 1e-12})
        model = HalfCellModel(case, lattice(comm), comm)
        assert "u" in model.block_names and "u_b" not in model.block_names
        res = run_protocol(case, model, keep_rows=True)
        assert res.status == "completed", res.reason
        rows[ls] = res.rows
    assert len(rows["mumps"]) == len(rows["iterative"])
    its = [r["krylov iterations [-]"] / max(r["newton iterations [-]"], 1) for r in rows["iterative"][1:]]
    assert max(its) < 100, its
    for a, b in zip(rows["mumps"], rows["iterative"]):
        assert a["voltage [V]"] == pytest.approx(b["voltage [V]"], abs=1e-9)
