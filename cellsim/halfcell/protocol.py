"""Cycling protocols: CC, CV, CC-CV, rest, repeated cycles; end events and safety limits.

A protocol is the list ``protocol.steps`` run in order, ``protocol.cycles`` times. Each
step sets the control of the model and ends at its first event:

=======  ==============================  ==============================================
mode     control                         events that end it
=======  ==============================  ==============================================
cc       current density i (A m-2,       ``until_voltage`` (discharge: V <= limit; charge:
         discharge positive), from        V >= limit), ``until_soc`` (discharge: SOC <=
         ``c_rate`` x i_1C or given       limit; charge: SOC >= limit), ``duration``
cv       cell voltage V                  ``until_c_rate`` / ``until_current_density``
                                          (|i| <= limit), ``duration``
rest     i = 0                           ``duration``
=======  ==============================  ==============================================

An event is a sign change of an event function g (e.g. g = V - limit). When a time step
crosses one, the step is repeated with a secant estimate of the time step that just reaches
it, until the crossing lies within ``locate_tol`` of g or the step is at the smallest size;
then the protocol switches to the next step (time step reset to ``time.dt_initial``).
Safety limits (``[stop]``: voltage window, electrolyte depletion, surface stoichiometry)
are events of the same kind that end the whole run with status ``cut-off``.

i_1C is the current density that moves the resolved active-material capacity
F c_max |x_100 - x_0| V_active in one hour, per cross-section area.
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
class ActiveStep:
    """One protocol step as run: its spec, where it is in the protocol, and its control."""

    cycle: int  # 1-based
    index: int  # 0-based position in protocol.steps
    number: int  # 1-based running number over all cycles
    spec: object
    mode: str  # cc | cv | rest
    current_density: float  # A m-2 (cc / rest)
    voltage: float | None  # V (cv)
    duration: float | None
    events: list

    @property
    def label(self) -> str:
        return f"cycle {self.cycle} step {self.index + 1} ({self.spec.label()})"


def cc_current(step, i_1C: float) -> float:
    """Signed current density [A m-2] of a cc step (discharge positive)."""
    if step.current_density is not None:
        return float(step.current_density)
    sign = 1.0 if step.direction == "discharge" else -1.0
    return sign * step.c_rate * i_1C


def step_events(step, i_1C: float) -> list[Event]:
    """The end events of a protocol step (duration is handled by the time loop)."""
    ev: list[Event] = []
    if step.mode == "cc":
        i = cc_current(step, i_1C)
        discharge = i >= 0
        if step.until_voltage is not None:
            lim = step.until_voltage
            s = 1.0 if discharge else -1.0  # discharge: V falls to lim; charge: V rises to lim
            ev.append(Event(
                "until_voltage", lambda d, lim=lim, s=s: s * (d["voltage [V]"] - lim), 1e-4,
                lambda d, lim=lim: f"voltage {d['voltage [V]']:.5f} V reached until_voltage = {lim:g} V"))
        if step.until_soc is not None:
            lim = step.until_soc
            s = 1.0 if discharge else -1.0
            ev.append(Event(
                "until_soc", lambda d, lim=lim, s=s: s * (d["state of charge [-]"] - lim), 1e-4,
                lambda d, lim=lim: f"state of charge {d['state of charge [-]']:.5f} reached until_soc = {lim:g}"))
    elif step.mode == "cv":
        lim = step.until_current_density if step.until_current_density is not None else (
            step.until_c_rate * i_1C if step.until_c_rate is not None else None)
        if lim is not None:
            ev.append(Event(
                "current_limit", lambda d, lim=lim: abs(d["current density [A m-2]"]) - lim, 0.02 * lim,
                lambda d, lim=lim: f"|current density| {abs(d['current density [A m-2]']):.5g} A m-2 fell below "
                f"the limit {lim:.5g} A m-2"))
    return ev


def stop_events(stop) -> list[Event]:
    """Safety limits of the [stop] section (end the run with status cut-off)."""
    return [
        Event("stop.min_voltage", lambda d: d["voltage [V]"] - stop.min_voltage, 1e-4,
              lambda d: f"voltage {d['voltage [V]']:.5f} V below the safety limit stop.min_voltage = "
              f"{stop.min_voltage:g} V"),
        Event("stop.max_voltage", lambda d: stop.max_voltage - d["voltage [V]"], 1e-4,
              lambda d: f"voltage {d['voltage [V]']:.5f} V above the safety limit stop.max_voltage = "
              f"{stop.max_voltage:g} V"),
        Event("stop.min_electrolyte_concentration",
              lambda d: d["min electrolyte concentration [mol m-3]"] - stop.min_electrolyte_concentration,
              0.05 * stop.min_electrolyte_concentration,
              lambda d: f"electrolyte depleted: min c_e {d['min electrolyte concentration [mol m-3]']:.4g} mol m-3 "
              f"below stop.min_electrolyte_concentration = {stop.min_electrolyte_concentration:g}"),
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


def iterate_steps(protocol, i_1C: float) -> Iterator[ActiveStep]:
    """All steps of all cycles, in order."""
    n = 0
    for cycle in range(1, protocol.cycles + 1):
        for k, s in enumerate(protocol.steps):
            n += 1
            if s.mode == "cc":
                yield ActiveStep(cycle, k, n, s, "cc", cc_current(s, i_1C), None, s.duration, step_events(s, i_1C))
            elif s.mode == "cv":
                yield ActiveStep(cycle, k, n, s, "cv", 0.0, s.voltage, s.duration, step_events(s, i_1C))
            else:
                yield ActiveStep(cycle, k, n, s, "rest", 0.0, None, s.duration, [])


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


__all__ = ["Event", "ActiveStep", "cc_current", "step_events", "stop_events", "iterate_steps", "first_crossing"]
