"""The Newton starting point of a time step: linear extrapolation of the last step.

:class:`Predictor` is used by :class:`cellsim.solver.NewtonSolver` for models that set
``newton_predictor = True`` (the half-cell; the particle extrapolates in its own
``_prepare_newton``). Measured on ``halfcell_discharge``: without it the first Newton
iteration of a step barely lowers the residual (the Butler-Volmer rows are exponential in
the 20-30 mV the potentials move per step), 4 iterations per step; with it 3.2
(``halfcell_discharge``, whole run: 151 -> 115 Newton iterations). A quadratic
extrapolation through the last two increments (``CELLSIM_PREDICTOR_ORDER=2``) did worse
in the first steps (measured: 3.25 Newton iterations per step over 12 steps against 3.08). The time series
changes only within the Newton tolerance (see benchmarks/README.md, "Speed").
``CELLSIM_NEWTON_PREDICTOR=0`` turns it off (benchmarks compare the two).
"""

from __future__ import annotations

import os

from .dolfinx_env import require_dolfinx
from .newton import StepResult

require_dolfinx()
from dolfinx.fem.petsc import assign  # noqa: E402


class Predictor:
    """Newton starting point of a time step from the last accepted steps, for models that
    set ``newton_predictor = True``: the polynomial through the last ``order`` + 1
    accepted states (1: linear, the last increment scaled by the ratio of the steps; 2:
    quadratic through the last two increments) evaluated at the new time.

    Only a starting point: the Newton tolerances keep their meaning (the relative one is
    taken against the residual norm at the unpredicted start, as without the predictor:
    a predicted start often has the larger residual, and rtol against it would accept a
    less accurate solution); a Newton solve from it that fails is repeated from the
    unpredicted start (the previous solution), whose Newton count is then reported (the
    time-step control reads it), so a step that converged without the predictor converges
    with it, to the same Newton solution within the solver's tolerances. The time driver
    calls :meth:`accepted` after every accepted step and :meth:`reset` at the start of every
    protocol step (a switch of control makes the past increments meaningless); the
    increments are checkpointed (:meth:`functions`, :attr:`dts`), so a resumed run predicts
    as the uninterrupted one."""

    def __init__(self, solver, order: int | None = None):
        from dolfinx import fem

        self.solver, m = solver, solver.model
        self.order = int(os.environ.get("CELLSIM_PREDICTOR_ORDER", "1")) if order is None else order
        self.inc = [{n: fem.Function(u.function_space, name=f"increment{k}_{n}")
                     for n, u in zip(m.block_names, m.unknowns)} for k in (1, 2)]
        self.dts = [0.0, 0.0]  # the steps of the last and the previous increment (0: none)
        self._start = None
        self._b = solver.owned.add(solver.problem.b.duplicate())
        self.used = self.fallbacks = 0  # (tests, benchmarks)

    def reset(self) -> None:
        self.dts, self._start = [0.0, 0.0], None

    def _predict(self, dt: float) -> None:
        """u += the extrapolated change over ``dt`` (Newton's divided differences)."""
        h1, h2 = self.dts
        quad = self.order >= 2 and h2 > 0.0
        for n, u in zip(self.solver.model.block_names, self.solver.model.unknowns):
            d1 = self.inc[0][n].x.array / h1  # slope over the last step
            du = dt * d1
            if quad:
                dd = (d1 - self.inc[1][n].x.array / h2) / (h1 + h2)
                du += dd * dt * (dt + h1)
            u.x.array[:] += du

    def solve(self, solve) -> StepResult:
        m = self.solver.model
        start = [u.x.array.copy() for u in m.unknowns]
        self._start = start
        if self.dts[0] <= 0.0:
            return solve()
        p = self.solver.problem
        assign(m.unknowns, p.x)
        self.solver.assembler.residual(None, p.x, self._b)  # ||F|| at the unpredicted start
        self.solver.f0_reference = self._b.norm()
        self._predict(float(m.dt.value))
        self.used += 1
        try:
            res = solve()
        finally:
            self.solver.f0_reference = None
        if res.converged:
            return res
        self.fallbacks += 1
        krylov = res.krylov_iterations
        for u, a in zip(m.unknowns, start):
            u.x.array[:] = a
        res = solve()
        res.krylov_iterations += krylov
        return res

    def accepted(self) -> None:
        """The model's present state is the accepted solution of the last solve."""
        if self._start is None:
            return
        self.inc.reverse()  # the last increment becomes the previous one
        for u, a, d in zip(self.solver.model.unknowns, self._start, self.inc[0].values()):
            d.x.array[:] = u.x.array - a
        self.dts = [float(self.solver.model.dt.value), self.dts[0]]
        self._start = None

    def functions(self) -> dict:
        """The increments (checkpointed with the model's state)."""
        return {f"predictor{k}/{n}": f for k, inc in enumerate(self.inc) for n, f in inc.items()}
