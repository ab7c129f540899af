"""The composition engine every model is built on.

A model (:class:`Model` subclass) names its regions and measures, lists its physics
terms (:mod:`cellsim.physics`), and gives each block a weight. The engine

1. creates the unknowns the terms declare, in the model's block order, with their
   history copies (``old``) and one test function each;
2. sums the terms' residual parts per block, lets terms finalize rows (row
   combinations), multiplies each row by its weight, and builds one blocked Newton
   (:class:`cellsim.solver.NewtonSolver`);
3. advances in time: :meth:`Model.step` (backward Euler; the state is unchanged on
   failure), :meth:`Model.accept`, :meth:`Model.reject`;
4. keeps the whole state in one place (:meth:`Model.state` / :meth:`Model.set_state`:
   every unknown and history array, the reference potentials, accumulated scalars such
   as the charge passed), which is what a rejected step restores and a checkpoint saves.

Models implement the protocol hooks the time driver calls (:mod:`cellsim.simulation`):
``quantities``, ``locate``, ``apply_step``, ``describe_control``, ``diagnostics``,
``columns``, ``max_change``, ``progress``, ``output_fields``, ``solve_initial``,
``meta``, ``describe``.
"""

from __future__ import annotations

from .. import jit
from ..dolfinx_env import require_dolfinx
from ..physics.term import add_rows

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402


class Model:
    """Blocks, terms, state and the time-step template shared by every model."""

    #: Newton iterations above which the driver does not let dt grow beyond 0.7x
    slow_newton = 6

    def __init_subclass__(cls, **kwargs):
        # every model's set-up compiles the diagnostics forms it makes in one module
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = jit.deferring(cls.__init__)

    def __init__(self, case, tm, comm):
        self.case, self.tm, self.comm = case, tm, comm
        self.parent = tm.mesh
        self.T = case.physics.temperature
        self.spec, self.u, self.old, self.v = {}, {}, {}, {}
        self.unknowns, self.block_names = [], []
        self.dt = fem.Constant(self.parent, 1.0)
        self.frozen = fem.Constant(self.parent, 0.0)  # 1: concentrations fixed (initial equilibrium)
        self.live = 1 - self.frozen
        self.constants = {}  # name -> fem.Constant that belongs to the state (reference potentials)
        self.scalars = {}  # accumulated scalars that belong to the state (charge passed, ...)
        self._pre = None

    def close(self) -> None:
        """Release the PETSc objects of the model's solver now (collective; the model
        cannot step afterwards). :func:`cellsim.simulation.run_case` calls it at the end
        of every run."""
        solver = getattr(self, "solver", None)
        if solver is not None:
            solver.close()

    # ------------------------------------------------------------------ composition
    def declare(self, terms, order: list[str]) -> None:
        """Create the unknowns the terms declare, in block ``order``, and the test functions."""
        decl = {}
        for t in terms:
            for unk in t.declare(self):
                decl[unk.name] = unk
        missing = [n for n in order if n not in decl]
        if missing:
            raise ValueError(f"no term declares the block(s) {missing}")
        for n in order:
            unk = decl[n]
            f = fem.Function(unk.space, name=n)
            self.spec[n], self.u[n] = unk, f
            if unk.history:
                self.old[n] = fem.Function(unk.space, name=f"{n}_old")
            self.unknowns.append(f)
            self.block_names.append(n)
        tests = ufl.TestFunctions(ufl.MixedFunctionSpace(*[u.function_space for u in self.unknowns]))
        self.v = dict(zip(self.block_names, tests))

    def q(self, name):
        """The unknown ``name`` in SI units (UFL)."""
        unk, f = self.spec[name], self.u[name]
        val = f if unk.scale == 1.0 else unk.scale * f
        return val if unk.offset is None else val + unk.offset

    def q_old(self, name):
        unk, f = self.spec[name], self.old[name]
        return f if unk.scale == 1.0 else unk.scale * f

    def compose(self, terms, weights: dict) -> list:
        """Residual blocks in block order: sum of the terms' parts, finalized, weighted."""
        rows: dict = {}
        for t in terms:
            add_rows(rows, t.residual(self))
        for t in terms:
            t.finalize(self, rows)
        missing = [n for n in self.block_names if n not in rows]
        if missing:
            raise ValueError(f"no term writes an equation for the block(s) {missing}")
        return [weights.get(n, 1.0) * rows[n] for n in self.block_names]

    # ------------------------------------------------------------------ state
    def snapshot(self) -> list:
        """The unknowns and reference constants (what a failed Newton solve restores)."""
        return [u.x.array.copy() for u in self.unknowns] + [float(c.value) for c in self.constants.values()]

    def restore(self, snap) -> None:
        n = len(self.unknowns)
        for u, a in zip(self.unknowns, snap[:n]):
            u.x.array[:] = a
        for c, v in zip(self.constants.values(), snap[n:]):
            c.value = v

    def state(self) -> dict:
        """The whole state of the model (local arrays of this rank): unknowns, history,
        reference constants and accumulated scalars."""
        return {"unknowns": {n: self.u[n].x.array.copy() for n in self.block_names},
                "history": {n: f.x.array.copy() for n, f in self.old.items()},
                "constants": {k: float(c.value) for k, c in self.constants.items()},
                "scalars": dict(self.scalars)}

    def set_state(self, st: dict) -> None:
        for n, a in st["unknowns"].items():
            self.u[n].x.array[:] = a
        for n, a in st["history"].items():
            self.old[n].x.array[:] = a
        for k, v in st["constants"].items():
            self.constants[k].value = v
        self.scalars.update(st["scalars"])

    # ------------------------------------------------------------------ time step
    def before_step(self, dt: float) -> None:
        """Hook: predictors, reference moves (the state after it is what is restored)."""

    def after_step(self, dt: float) -> None:
        """Hook: accumulate charge, balances (after a converged solve)."""

    def check_solution(self) -> str:
        """Why a converged Newton solution is not acceptable ('' when it is)."""
        return ""

    def step(self, dt: float):
        """One backward-Euler step of size dt [s]; on failure the state is unchanged.
        Call :meth:`accept` (or :meth:`reject`) afterwards."""
        self.dt.value = float(dt)
        self.before_step(float(dt))
        self._pre = self.state()
        self._prepare_newton(float(dt))
        res = self.solver.solve()
        if res.converged:
            self.after_step(float(dt))
        else:
            self.set_state(self._pre)
        return res

    def _prepare_newton(self, dt: float) -> None:
        """Hook: the Newton starting point (after the pre-step state was saved)."""

    def reject(self) -> None:
        """Undo the last (converged) step."""
        self.set_state(self._pre)

    def accept(self) -> None:
        for n, f in self.old.items():
            f.x.array[:] = self.u[n].x.array

    def extra_functions(self) -> dict:
        """Functions besides the unknowns and history that belong to the state (checkpoints)."""
        return {}

    def after_load(self) -> None:
        """Hook: after a checkpoint was loaded into the unknowns, history and scalars."""

    def length_scale(self) -> float:
        """A length of the geometry [m] (tolerance of checkpoint dof matching)."""
        raise NotImplementedError

    def field_metadata(self) -> dict:
        """Keyword arguments of ``RunOutput.write_fields``: the mesh tag names (and, in a
        model with several particles, their ids as a cell array)."""
        tm = self.tm
        tdim = self.parent.topology.dim
        names = {n: (tdim, int(v[0])) for n, v in tm.regions.items() if len(v) == 1}
        names.update({n: (tdim - 1, int(v[0])) for n, v in tm.interfaces.items() if len(v) == 1})
        return {"tag_names": names}

    def num_dofs(self) -> int:
        return sum(u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
                   for u in self.unknowns)

    def _assemble(self, f) -> float:
        return self.comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM)
