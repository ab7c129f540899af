"""The history of a model's cohesive interfaces: one mixin for every model that has
:class:`cellsim.physics.cohesive_term.Cohesive` terms (the half-cell's skeleton, the
particle's split solid).

A model using it lists its cohesive terms in ``cohesives`` (a list, or a property). The mixin
then

* commits every interface's history after an accepted step (:meth:`accept`);
* keeps the histories in the model state, so a rejected step restores them
  (:meth:`state` / :meth:`set_state`, one entry per interface under ``"cohesive"``, by
  interface name), and in checkpoints (:meth:`extra_functions`, :meth:`after_load`);
* reports the largest damage increase of the step for the time-step control
  (:meth:`damage_change`, target ``mechanics.max_damage_change``);
* refuses a converged step whose damage jumps by more than ``mechanics.damage_jump_limit *
  max_damage_change`` (:meth:`check_damage_jump`, called by :meth:`check_solution`), which
  the time driver retries with dt/2.

The model supplies ``case.mechanics`` (``max_damage_change``, ``damage_jump_limit``),
``case.time.dt_min``, ``dt``, ``frozen``, ``scalars`` and ``comm`` (all of
:class:`cellsim.models.base.Model`).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI


class CohesiveHistoryMixin:
    """Accept, state, checkpoint and time-step control of the cohesive interfaces."""

    cohesives: list = []

    # ------------------------------------------------------------------ state and history
    def _state_keys(self):
        """(name, term) of every cohesive interface (names are unique within a model)."""
        return [(c.name, c) for c in self.cohesives]

    def accept(self) -> None:
        super().accept()
        for c in self.cohesives:
            c.update_history()

    def state(self) -> dict:
        st = super().state()
        if self.cohesives:
            st["cohesive"] = {key: c.snapshot() for key, c in self._state_keys()}
        return st

    def set_state(self, st: dict) -> None:
        super().set_state(st)
        saved = st.get("cohesive", {})
        for key, c in self._state_keys():
            if key in saved:
                c.restore(saved[key])

    def extra_functions(self) -> dict:
        out = dict(super().extra_functions())
        for c in self.cohesives:
            out.update(c.functions())
        return out

    def after_load(self) -> None:
        super().after_load()
        for c in self.cohesives:
            c.scatter()

    # ------------------------------------------------------------------ time-step control
    def damage_change(self) -> dict:
        """{"damage": (largest damage increase of the step, mechanics.max_damage_change)}, or {}
        without cohesive interfaces (collective)."""
        if not self.cohesives:
            return {}
        return {"damage": (max(c.max_damage_change() for c in self.cohesives), self.case.mechanics.max_damage_change)}

    def check_solution(self) -> str:
        """A converged step is refused when the model's other checks refuse it, or when its
        interface damage jumps too far (:meth:`check_damage_jump`)."""
        return super().check_solution() or self.check_damage_jump()

    def check_damage_jump(self) -> str:
        """Why a converged step's damage growth is refused ('' when it is not; collective).

        Refused: a largest damage increase above damage_jump_limit * max_damage_change, when
        dt/2 is still at least time.dt_min and the step is not a retry of a refused one whose
        jump did not shrink (below 0.75 of the refused one): a jump that a smaller step does
        not make smaller is a snap-through of the lagged update (the softened interface
        re-equilibrates at a larger opening), which no dt resolves; it is accepted."""
        if not self.cohesives or float(self.frozen.value) > 0.5:
            return ""
        ms = self.case.mechanics
        jump = max(c.max_damage_change() for c in self.cohesives)
        limit = ms.damage_jump_limit * ms.max_damage_change
        dt = float(self.dt.value)
        # the state the step starts from (the same on every rank): charge passed, committed history
        key = (float(self.scalars.get("charge", 0.0)),
               self.comm.allreduce(sum(float(np.sum(c.itf.kappa.x.array[: c.itf._nown])) for c in self.cohesives),
                                   op=MPI.SUM))
        last = getattr(self, "_refused_jump", None)
        retry_not_shrinking = last is not None and last[0] == key and dt < last[1] and jump > 0.75 * last[2]
        if jump > limit and 0.5 * dt >= self.case.time.dt_min and not retry_not_shrinking:
            self._refused_jump = (key, dt, jump)
            return (f"interface damage grew by {jump:.3g} in one step (more than mechanics.damage_jump_limit * "
                    f"max_damage_change = {limit:.3g})")
        self._refused_jump = None
        return ""


__all__ = ["CohesiveHistoryMixin"]
