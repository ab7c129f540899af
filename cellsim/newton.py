"""One Newton solve of a time step, shared by the particle and the half-cell models.

Runs the PETSc SNES of a DOLFINx ``NonlinearProblem`` and classifies the outcome
collectively: converged with finite values on every rank, or failed with a reason a user
can read (SNES reason in words, non-finite values, PETSc error such as a failed
factorisation). Restoring the state after a failure is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SNES_REASONS = {
    -1: "function domain error", -2: "function count", -3: "linear solve failed", -4: "NaN in residual",
    -5: "maximum iterations", -6: "line search failed", -7: "inner solve failed", -8: "local minimum",
    -9: "divergence tolerance", -10: "Jacobian domain error", -11: "trust region", -100: "PETSc error",
}


@dataclass
class StepResult:
    converged: bool
    newton_iterations: int
    krylov_iterations: int
    reason: str
    #: False when a smaller time step cannot help (the linear solver ran out of memory)
    retry: bool = True
    #: PETSc's SNES converged reason (negative: diverged; -100: a PETSc error)
    reason_code: int = 0


OUT_OF_MEMORY = ": the LU factors do not fit in memory"
#: the remedy named after OUT_OF_MEMORY unless the model gives its own (solve(..., oom_hint=...))
OOM_HINT = "use solver.linear_solver = 'iterative' or more ranks"


def snes_reason(r: int) -> str:
    """SNES converged reason (negative: diverged) in words."""
    return _SNES_REASONS.get(r, "diverged")


def solve(problem, snes, unknowns, comm, oom_hint: str = OOM_HINT) -> StepResult:
    """Solve once; converged only if SNES converged and every rank's values are finite."""
    from mpi4py import MPI
    from petsc4py import PETSc

    msg = ""
    try:
        problem.solve()
        reason = snes.getConvergedReason()
    except PETSc.Error as exc:  # factorisation failures etc.
        reason, msg = -100, f"PETSc error {exc}"
    its = snes.getIterationNumber()
    kits = snes.getLinearSolveIterations()
    finite = comm.allreduce(all(np.isfinite(u.x.array).all() for u in unknowns), op=MPI.LAND)
    if reason > 0 and finite:
        return StepResult(True, its, kits, "", reason_code=reason)
    if reason == -100:
        why = msg
    elif not finite:
        why = "non-finite values in the solution"
    else:
        why = f"Newton did not converge (SNES reason {reason}: {snes_reason(reason)}) after {its} iterations"
        if reason == -3:
            why += _linear_failure(snes, PETSc, oom_hint)
    return StepResult(False, its, kits, why, retry=OUT_OF_MEMORY not in why, reason_code=reason)


def _linear_failure(snes, PETSc, oom_hint: str = OOM_HINT) -> str:
    """Why the linear solve failed, e.g. ' (KSP DIVERGED_PCSETUP_FAILED, PC FACTOR_OUTMEMORY)'."""
    try:
        ksp = snes.getKSP()
        names = {v: k for k, v in vars(PETSc.KSP.ConvergedReason).items() if isinstance(v, int)}
        out = f"KSP {names.get(ksp.getConvergedReason(), ksp.getConvergedReason())}"
        pcr = ksp.getPC().getFailedReason()
        pnames = {v: k for k, v in vars(PETSc.PC.FailedReason).items() if isinstance(v, int)}
        if pcr:
            out += f", PC {pnames.get(pcr, pcr)}"
            if pnames.get(pcr) == "FACTOR_OUTMEMORY":
                out += f"{OUT_OF_MEMORY}; {oom_hint}"
        return f" ({out})"
    except Exception:  # diagnostics only: never hide the failure itself
        return ""
