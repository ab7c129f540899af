"""Cycling protocols for every model: CC, CV, CC-CV, rest, flux, cycles; end events and limits.

A protocol is the list ``protocol.steps`` run in order, ``protocol.cycles`` times (a
particle case's ``[control]`` is a one-step protocol). Each step sets the control of the
model and ends at its first event:

=======  ==============================  ==============================================
mode     control                         events that end it
=======  ==============================  ==============================================
cc       current (half-cell: density     ``until_voltage`` (lithiating: V <= limit;
         [A m-2]; particle: [A]),         delithiating: V >= limit), ``until_soc`` (the
         ``c_rate`` x the 1C current     state of charge reaches it, from either side),
                                          ``duration``
cv       voltage V                       ``until_c_rate`` / ``until_current_density``
                                          (|i| <= limit), ``duration``
rest     zero current                    ``duration``
flux     prescribed insertion flux       ``duration`` (particle model, verification)
=======  ==============================  ==============================================

The sign: discharge = lithiation of the working electrode = positive current (as in
PyBaMM). Whether the state of charge falls or rises while lithiating depends on the
material (it falls for a positive electrode, x_100 < x_0, and rises for graphite), and
``until_soc`` is located from the side the step approaches it.

An event is a sign change of an event function g (e.g. g = V - limit). When a time step
crosses one, the step is repeated with a secant estimate of the time step that just
reaches it, until the crossing is located (see :class:`Locate`); then the protocol
switches to the next step (time step reset to ``time.dt_initial``). Safety limits
(``[stop]``: voltage window, state of charge, surface stoichiometry, electrolyte
depletion) are events of the same kind that end the whole run with status ``cut-off``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator


@dataclass
class Event:
    """g(d) crosses zero (from positive to <= 0) when the event happens."""

    name: str  # key used in the reason text
    g: Callable[[dict], float]
    tol: float  # accept the crossing when |g| <= tol
    describe: Callable[[dict], str]


@dataclass
class Locate:
    """How a crossing is accepted: when |g| <= the event's tolerance (``by_value``), or
    when the step that reaches it is no longer than ``dt_floor`` [s]."""

    by_value: bool
    dt_floor: float


@dataclass
class Quantities:
    """What the protocol reads from a model's diagnostics, and the model's 1C current."""

    voltage: str  # column of the controlled voltage
    current: str  # column of the controlled current (A or A m-2)
    one_c: float  # 1C current in the unit of ``current``
    soc_falls_on_lithiation: bool  # x_100 < x_0 (positive electrode)


@dataclass
class ActiveStep:
    """One protocol step as run: its spec, where it is in the protocol, and its control."""

    cycle: int  # 1-based
    index: int  # 0-based position in protocol.steps
    number: int  # 1-based running number over all cycles
    spec: object
    mode: str  # cc | cv | rest | flux
    current: float  # signed current (cc / rest), lithiation positive, in the model's unit
    voltage: float | None  # V (cv)
    c_rate: float | None  # signed C-rate of a flux step given by c_rate
    flux: float | None  # insertion flux [mol m-2 s-1] of a flux step given by flux
    duration: float | None
    events: list

    @property
    def label(self) -> str:
        return f"cycle {self.cycle} step {self.index + 1} ({self.spec.label()})"


def cc_current(step, one_c: float) -> float:
    """Signed current of a cc step (lithiation positive) in the unit of ``one_c``."""
    for key in ("current_density", "current"):
        v = getattr(step, key, None)
        if v is not None:
            return float(v)
    sign = 1.0 if step.lithiating else -1.0
    return sign * step.c_rate * one_c


def step_events(step, q: Quantities) -> list[Event]:
    """The end events of a protocol step (duration is handled by the time loop)."""
    ev: list[Event] = []
    V, I = q.voltage, q.current
    if step.mode == "cc":
        lith = cc_current(step, q.one_c) >= 0
        if step.until_voltage is not None:
            lim = step.until_voltage
            s = 1.0 if lith else -1.0  # lithiating: V falls to lim; delithiating: V rises to lim
            ev.append(Event(
                "until_voltage", lambda d, lim=lim, s=s: s * (d[V] - lim), 1e-4,
                lambda d, lim=lim: f"voltage {d[V]:.5f} V reached until_voltage = {lim:g} V"))
        if step.until_soc is not None:
            lim = step.until_soc
            s = 1.0 if lith == q.soc_falls_on_lithiation else -1.0  # +1: the SOC falls to lim
            ev.append(Event(
                "until_soc", lambda d, lim=lim, s=s: s * (d["state of charge [-]"] - lim), 1e-4,
                lambda d, lim=lim: f"state of charge {d['state of charge [-]']:.5f} reached until_soc = {lim:g}"))
    elif step.mode == "cv":
        lim = getattr(step, "until_current_density", None)
        if lim is None and step.until_c_rate is not None:
            lim = step.until_c_rate * q.one_c
        if lim is not None:
            ev.append(Event(
                "current_limit", lambda d, lim=lim: abs(d[I]) - lim, 0.02 * lim,
                lambda d, lim=lim: f"|current| {abs(d[I]):.5g} fell below the limit {lim:.5g} ({I.split('[')[-1][:-1]})"))
    return ev


def stop_events(stop, q: Quantities) -> list[Event]:
    """Safety limits of the [stop] section (end the run with status cut-off)."""
    V = q.voltage
    ev = []
    if stop.min_voltage is not None:
        ev.append(Event("stop.min_voltage", lambda d: d[V] - stop.min_voltage, 1e-4,
                        lambda d: f"voltage {d[V]:.5f} V below the safety limit stop.min_voltage = "
                        f"{stop.min_voltage:g} V"))
    if stop.max_voltage is not None:
        ev.append(Event("stop.max_voltage", lambda d: stop.max_voltage - d[V], 1e-4,
                        lambda d: f"voltage {d[V]:.5f} V above the safety limit stop.max_voltage = "
                        f"{stop.max_voltage:g} V"))
    if stop.min_soc is not None:
        ev.append(Event("stop.min_soc", lambda d: d["state of charge [-]"] - stop.min_soc, 1e-4,
                        lambda d: f"state of charge {d['state of charge [-]']:.6g} below the cut-off "
                        f"stop.min_soc = {stop.min_soc:g}"))
    if stop.max_soc is not None:
        ev.append(Event("stop.max_soc", lambda d: stop.max_soc - d["state of charge [-]"], 1e-4,
                        lambda d: f"state of charge {d['state of charge [-]']:.6g} above the cut-off "
                        f"stop.max_soc = {stop.max_soc:g}"))
    lim_ce = getattr(stop, "min_electrolyte_concentration", None)
    if lim_ce is not None:
        ev.append(Event("stop.min_electrolyte_concentration",
                        lambda d: d["min electrolyte concentration [mol m-3]"] - lim_ce, 0.05 * lim_ce,
                        lambda d: f"electrolyte depleted: min c_e {d['min electrolyte concentration [mol m-3]']:.4g} "
                        f"mol m-3 below stop.min_electrolyte_concentration = {lim_ce:g}"))
    ev += [
        Event("stop.max_surface_stoichiometry",
              lambda d: stop.max_surface_stoichiometry - d["max surface stoichiometry [-]"], 1e-4,
              lambda d: f"particle surface saturated: max surface stoichiometry "
              f"{d['max surface stoichiometry [-]']:.5f} above stop.max_surface_stoichiometry = "
              f"{stop.max_surface_stoichiometry:g}"),
        Event("stop.min_surface_stoichiometry",
              lambda d: d["min surface stoichiometry [-]"] - stop.min_surface_stoichiometry, 1e-4,
              lambda d: f"particle surface emptied: min surface stoichiometry "
              f"{d['min surface stoichiometry [-]']:.5f} below stop.min_surface_stoichiometry = "
              f"{stop.min_surface_stoichiometry:g}"),
    ]
    return ev


def iterate_steps(protocol, q: Quantities) -> Iterator[ActiveStep]:
    """All steps of all cycles, in order."""
    n = 0
    for cycle in range(1, protocol.cycles + 1):
        for k, s in enumerate(protocol.steps):
            n += 1
            dur = s.duration
            if s.mode == "cc":
                yield ActiveStep(cycle, k, n, s, "cc", cc_current(s, q.one_c), None, None, None, dur,
                                 step_events(s, q))
            elif s.mode == "cv":
                yield ActiveStep(cycle, k, n, s, "cv", 0.0, s.voltage, None, None, dur, step_events(s, q))
            elif s.mode == "flux":
                sign = 1.0 if s.lithiating else -1.0
                rate = sign * s.c_rate if s.c_rate is not None else None
                yield ActiveStep(cycle, k, n, s, "flux", 0.0, None, rate, s.flux, dur, [])
            else:
                yield ActiveStep(cycle, k, n, s, "rest", 0.0, None, None, None, dur, [])


def first_crossing(events: list[Event], d_old: dict, d_new: dict):
    """The event whose g went from > 0 to <= 0 earliest (by linear interpolation), with its
    fraction of the step; (None, 1.0) when none crossed."""
    best, frac_best = None, 2.0
    for ev in events:
        g0, g1 = ev.g(d_old), ev.g(d_new)
        if g1 <= 0.0 and g0 > 0.0:
            frac = g0 / (g0 - g1)
        elif g1 <= 0.0:  # already at/over the limit at the start (e.g. CV that starts below)
            frac = 0.0
        else:
            continue
        if frac < frac_best:
            best, frac_best = ev, frac
    return best, (frac_best if best is not None else 1.0)


__all__ = ["Event", "Locate", "Quantities", "ActiveStep", "cc_current", "step_events", "stop_events",
           "iterate_steps", "first_crossing"]
