"""Newton outcome classification (cellsim/newton.py): failures a user can act on."""

from __future__ import annotations

import numpy as np

from cellsim.dolfinx_env import require_dolfinx

require_dolfinx()
from mpi4py import MPI  # noqa: E402

from cellsim import newton  # noqa: E402


class _Fake:
    """Stands in for the SNES/KSP/PC chain and a solution function."""

    def __init__(self, snes_reason, ksp_reason=0, pc_reason=0, value=1.0):
        self.snes_reason, self.ksp_reason, self.pc_reason = snes_reason, ksp_reason, pc_reason
        self.x = type("X", (), {"array": np.array([value])})()

    def solve(self):
        pass

    def getConvergedReason(self):
        return self.snes_reason

    def getIterationNumber(self):
        return 2

    def getLinearSolveIterations(self):
        return 7

    def getKSP(self):
        fake = self
        return type("K", (), {"getConvergedReason": lambda s: fake.ksp_reason,
                              "getPC": lambda s: type("P", (), {"getFailedReason": lambda p: fake.pc_reason})()})()


def test_converged_and_diverged():
    f = _Fake(3)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert r.converged and (r.newton_iterations, r.krylov_iterations) == (2, 7)
    f = _Fake(-5)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert not r.converged and r.retry and "maximum iterations" in r.reason
    f = _Fake(3, value=np.nan)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert not r.converged and "non-finite" in r.reason


def test_out_of_memory_is_named_and_not_retried():
    f = _Fake(-3, ksp_reason=-11, pc_reason=3)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert not r.converged and not r.retry
    assert "DIVERGED_PCSETUP_FAILED" in r.reason and "FACTOR_OUTMEMORY" in r.reason and "iterative" in r.reason
    f = _Fake(-3, ksp_reason=-3)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert r.retry and "DIVERGED_MAX_IT" in r.reason
