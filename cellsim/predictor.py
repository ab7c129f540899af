"""The Newton starting point of a time step: linear extrapolation of the last step.

:class:`Predictor` is used by :class:`cellsim.solver.NewtonSolver` for models that set
``newton_predictor = True`` (the half-cell). The particle extrapolates in its own
``_prepare_newton`` (a plain start, then its uniform-surface potential guess, no fallback),
from the same store of the last increments, :class:`Increments`. Measured on
``halfcell_discharge``: without it the first Newton iteration of a step barely lowers the
residual (the Butler-Volmer rows are exponential in the 20-30 mV the potentials move per
step), 4 iterations per step; with it 3.2 (``halfcell_discharge``, whole run: 151 -> 115
Newton iterations). A quadratic extrapolation through the last two increments
(``CELLSIM_PREDICTOR_ORDER=2``) did worse in the first steps (measured: 3.25 Newton
iterations per step over 12 steps against 3.08). The time series changes only within the
Newton tolerance (see benchmarks/README.md, "Speed"). ``CELLSIM_NEWTON_PREDICTOR=0`` turns
it off (benchmarks compare the two).
"""

from __future__ import annotations

import os

from .dolfinx_env import require_dolfinx
from .newton import StepResult

require_dolfinx()
from dolfinx.fem.petsc import assign  # noqa: E402


class Increments:
    """The last ``depth`` accepted changes of a model's unknowns, the latest first, as
    functions (checkpointed by their owner), and their extrapolation to a new step.

    The steps ``dts`` of the increments are the owner's to keep (it checkpoints them with its
    scalars or metadata); :meth:`change` takes them."""

    def __init__(self, names, unknowns, depth: int, name: str):
        from dolfinx import fem

        self.names = list(names)
        self.inc = [{n: fem.Function(u.function_space, name=name.format(k=k + 1, n=n))
                     for n, u in zip(self.names, unknowns)} for k in range(depth)]

    @property
    def latest(self) -> dict:
        return self.inc[0]

    def record(self, unknowns, start) -> None:
        """``unknowns`` (functions) were accepted from ``start`` (arrays): that change becomes
        the latest increment, the others move one back (the oldest is dropped)."""
        self.inc.insert(0, self.inc.pop())
        for u, a, d in zip(unknowns, start, self.inc[0].values()):
            d.x.array[:] = u.x.array - a

    def change(self, n: str, dt: float, dts, order: int = 1):
        """The extrapolated change of block ``n`` over the step ``dt``: the polynomial through
        the last ``order`` + 1 accepted states (Newton's divided differences; 1: the latest
        increment scaled by the ratio of the steps), ``dts`` the steps of the increments."""
        h1 = dts[0]
        d1 = self.inc[0][n].x.array / h1  # slope over the last step
        du = dt * d1
        if order >= 2 and len(dts) > 1 and dts[1] > 0.0:
            dd = (d1 - self.inc[1][n].x.array / dts[1]) / (h1 + dts[1])
            du += dd * dt * (dt + h1)
        return du

    def extrapolate(self, unknowns, dt: float, dts, order: int = 1) -> bool:
        """u += :meth:`change` for every unknown; False (nothing changed) without an increment."""
        if not dts[0] > 0.0:
            return False
        for n, u in zip(self.names, unknowns):
            u.x.array[:] += self.change(n, dt, dts, order)
        return True


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
        self.solver, m = solver, solver.model
        self.order = int(os.environ.get("CELLSIM_PREDICTOR_ORDER", "1")) if order is None else order
        self.increments = Increments(m.block_names, m.unknowns, 2, "increment{k}_{n}")
        self.dts = [0.0, 0.0]  # the steps of the last and the previous increment (0: none)
        self._start = None
        self._b = solver.owned.add(solver.problem.b.duplicate())
        self.used = self.fallbacks = 0  # (tests, benchmarks)

    def reset(self) -> None:
        self.dts, self._start = [0.0, 0.0], None

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
        self.increments.extrapolate(m.unknowns, float(m.dt.value), self.dts, self.order)
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
        self.increments.record(self.solver.model.unknowns, self._start)
        self.dts = [float(self.solver.model.dt.value), self.dts[0]]
        self._start = None

    def functions(self) -> dict:
        """The increments (checkpointed with the model's state)."""
        return {f"predictor{k}/{n}": f for k, inc in enumerate(self.increments.inc) for n, f in inc.items()}
