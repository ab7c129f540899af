"""cellsim's protocol as a ``pybamm.Experiment``, the half-cell DFN run, its time series, and
the comparison with a resolved run.

Mapping of the protocol steps (electrode area 1 m2 in the twin, so A = A m-2):

==========================  =========================================================
cellsim step                PyBaMM step
==========================  =========================================================
cc, c_rate / direction      ``step.current(+-c_rate i_1C)`` (discharge positive, as both)
cc, current_density         ``step.current(i)``
  until_voltage             ``VoltageTermination(v, "<" discharging, ">" charging)``
  until_soc                 ``CustomTermination`` on cellsim's state of charge (below)
  duration                  ``duration`` (else 1.3 h / |C-rate| + 60 s, the event ends it)
cv, voltage                 ``step.voltage(v)``
  until_c_rate / _density   ``CurrentTermination(limit, abs)``; duration (else 24 h)
rest, duration              ``step.rest(duration)``
cycles                      the list repeated
[stop] min/max voltage      the DFN's voltage cut-offs (reaching one ends the run)
==========================  =========================================================

State of charge as cellsim counts it: SOC = (x_mean - x_0)/(x_100 - x_0) over all particles;
the isolated ones (not in the twin) keep their initial stoichiometry, so
x_mean = (eps_s x_DFN + (eps_all - eps_s) x_init) / eps_all with x_DFN PyBaMM's
"Positive electrode stoichiometry".
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field

import numpy as np

TIMESERIES_COLUMNS = ["time [s]", "cycle [-]", "protocol step [-]", "voltage [V]", "current density [A m-2]",
                      "capacity [mA h m-2]", "state of charge [-]", "mean stoichiometry [-]",
                      "min electrolyte concentration [mol m-3]", "max electrolyte concentration [mol m-3]"]


@dataclass
class PlannedStep:
    cycle: int
    index: int
    number: int
    label: str
    mode: str
    ends: list  # cellsim event kinds that can end it
    step: object = None  # the pybamm step


@dataclass
class TwinResult:
    rows: dict  # column -> array
    step_ends: list  # (number, label, kind, pybamm termination)
    termination: str
    wall_time: float
    planned: list = field(default_factory=list)


def _soc_fun(spec):
    x0, x100, xi = spec["x_0"], spec["x_100"], spec["initial_stoichiometry"]
    w = spec["active_fraction"] / spec.get("active_fraction_all", spec["active_fraction"])

    def soc(x_dfn):
        x_mean = w * x_dfn + (1.0 - w) * xi
        return (x_mean - x0) / (x100 - x0)

    return soc


def plan_experiment(spec: dict, protocol) -> list[PlannedStep]:
    """The PyBaMM steps of a cellsim protocol (see the module docstring)."""
    import pybamm

    from ..protocol import cc_current

    i1c = spec["one_c_current_density [A m-2]"]
    soc = _soc_fun(spec)
    soc_falls_on_lith = spec["x_100"] < spec["x_0"]
    out, number = [], 0
    for cyc in range(1, protocol.cycles + 1):
        for idx, s in enumerate(protocol.steps):
            number += 1
            label = f"cycle {cyc} step {idx + 1} ({s.label()})"
            if s.mode == "cc":
                I = cc_current(s, i1c)
                terms, ends = [], []
                if s.until_voltage is not None:
                    terms.append(pybamm.step.VoltageTermination(s.until_voltage, operator="<" if I >= 0 else ">"))
                    ends.append("until_voltage")
                if s.until_soc is not None:
                    sign = 1.0 if (I >= 0) == soc_falls_on_lith else -1.0
                    lim = s.until_soc

                    def g(v, lim=lim, sign=sign):
                        return sign * (soc(v["Positive electrode stoichiometry"]) - lim)

                    terms.append(pybamm.step.CustomTermination(f"until_soc {lim:g}", g))
                    ends.append("until_soc")
                dur = s.duration
                if dur is None:
                    dur = 1.3 * 3600.0 * i1c / max(abs(I), 1e-30) + 60.0
                else:
                    ends.append("duration")
                st = pybamm.step.current(I, duration=dur, termination=terms or None,
                                         period=float(np.clip(dur / 400.0, 0.5, 60.0)))
            elif s.mode == "cv":
                lim = getattr(s, "until_current_density", None)
                if lim is None and s.until_c_rate is not None:
                    lim = s.until_c_rate * i1c
                terms, ends = [], []
                if lim is not None:
                    terms.append(pybamm.step.CurrentTermination(lim))
                    ends.append("current_limit")
                dur = s.duration or 24 * 3600.0
                if s.duration:
                    ends.append("duration")
                st = pybamm.step.voltage(s.voltage, duration=dur, termination=terms or None,
                                         period=float(np.clip(dur / 400.0, 0.5, 60.0)))
            elif s.mode == "rest":
                ends = ["duration"]
                st = pybamm.step.rest(s.duration, period=float(np.clip(s.duration / 100.0, 0.5, 60.0)))
            else:
                raise ValueError(f"protocol step {label}: mode {s.mode!r} has no DFN equivalent")
            out.append(PlannedStep(cyc, idx, number, label, s.mode, ends, st))
    return out


def termination_kind(text: str) -> str:
    """cellsim's name for how a PyBaMM step ended."""
    t = text or ""
    if "until_soc" in t:
        return "until_soc"
    if "Voltage" in t and "[experiment]" in t:
        return "until_voltage"
    if "Current" in t and "[experiment]" in t:
        return "current_limit"
    if "final time" in t or "Duration" in t or "duration" in t:
        return "duration"
    if "event" in t:
        return "cut-off: " + t.replace("event: ", "")
    return t


def cellsim_end_kind(reason: str) -> str:
    """The same names for the reason text of a cellsim step end."""
    r = reason or ""
    if "until_voltage" in r:
        return "until_voltage"
    if "until_soc" in r:
        return "until_soc"
    if "fell below the limit" in r:
        return "current_limit"
    if "elapsed" in r:
        return "duration"
    return r


def run_twin(spec: dict, protocol, pv=None, var_pts=None, rtol=1e-8, atol=1e-10) -> TwinResult:
    """Run PyBaMM's half-cell DFN through ``protocol``; rows in cellsim's columns and units."""
    import pybamm

    from .parameters import parameter_values

    pv = pv if pv is not None else parameter_values(spec)
    planned = plan_experiment(spec, protocol)
    exp = pybamm.Experiment([p.step for p in planned])
    model = pybamm.lithium_ion.DFN({"working electrode": "positive"})
    var_pts = var_pts or {"x_n": 4, "x_s": 20, "x_p": 30, "r_p": 40}
    soc = _soc_fun(spec)
    t0 = time.perf_counter()
    last, sol = None, None
    for rt, at in ((rtol, atol), (1e-7, 1e-9), (1e-6, 1e-8)):
        try:
            sim = pybamm.Simulation(model, parameter_values=pv, experiment=exp, var_pts=var_pts,
                                    solver=pybamm.IDAKLUSolver(rtol=rt, atol=at))
            sol = sim.solve()
        except pybamm.SolverError as exc:  # IDA occasionally fails to start at one tolerance
            last = exc
            continue
        # PyBaMM returns what it has when a step fails: accept only a run that did every step
        # or stopped at a model event (a voltage cut-off)
        n_done = sum(c is not None for c in sol.cycles)
        if n_done >= len(planned) or str(sol.termination).startswith("event"):
            break
        last = RuntimeError(f"the DFN stopped after {n_done} of {len(planned)} steps: {sol.termination}")
    else:
        if sol is None:
            raise last
    wall = time.perf_counter() - t0
    cols = {c: [] for c in TIMESERIES_COLUMNS}
    ends = []
    q_prev = 0.0
    for k, cyc in enumerate(sol.cycles):
        if cyc is None or k >= len(planned):
            continue
        p = planned[k]
        ssol = cyc.steps[0] if getattr(cyc, "steps", None) else cyc
        t = np.asarray(ssol["Time [s]"].entries)
        V = np.asarray(ssol["Voltage [V]"].entries)
        I = np.asarray(ssol["Current [A]"].entries)
        x = np.asarray(ssol["Positive electrode stoichiometry"].entries)
        ce = np.asarray(ssol["Electrolyte concentration [mol.m-3]"].entries)
        # capacity: charge passed since the start, discharge positive (trapezoid on the output points)
        q = np.empty_like(t)
        for j in range(t.size):
            if j == 0:
                q[j] = q_prev
            else:
                q[j] = q[j - 1] + 0.5 * (I[j] + I[j - 1]) * (t[j] - t[j - 1]) / 3.6
        q_prev = float(q[-1])
        for j in range(t.size):
            cols["time [s]"].append(t[j])
            cols["cycle [-]"].append(p.cycle)
            cols["protocol step [-]"].append(p.number)
            cols["voltage [V]"].append(V[j])
            cols["current density [A m-2]"].append(I[j])
            cols["capacity [mA h m-2]"].append(q[j])
            cols["state of charge [-]"].append(soc(x[j]))
            cols["mean stoichiometry [-]"].append(x[j])
            cols["min electrolyte concentration [mol m-3]"].append(float(ce[:, j].min()))
            cols["max electrolyte concentration [mol m-3]"].append(float(ce[:, j].max()))
        term = str(ssol.termination)
        ends.append((p.number, p.label, termination_kind(term), term))
    rows = {c: np.asarray(v, float) for c, v in cols.items()}
    return TwinResult(rows=rows, step_ends=ends, termination=str(sol.termination), wall_time=wall, planned=planned)


def write_timeseries(rows: dict, path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(list(rows))
        n = len(next(iter(rows.values())))
        for j in range(n):
            w.writerow([repr(float(rows[c][j])) if c not in ("cycle [-]", "protocol step [-]") else int(rows[c][j])
                        for c in rows])


def compare(resolved: dict, twin: dict) -> dict:
    """RMS / max / mean of V_resolved - V_DFN, step by step on the common range of time since the
    step start (= charge passed at constant current), first point of every step left out (the
    resolved run's state before the new control)."""
    out_steps, dv_all = [], []
    nums = np.unique(resolved["protocol step [-]"][np.isfinite(resolved["protocol step [-]"])]).astype(int)
    for n in nums:
        rs = resolved["protocol step [-]"] == n
        ts = twin["protocol step [-]"] == n
        if rs.sum() < 2 or ts.sum() < 2:
            continue
        tr, Vr = resolved["time [s]"][rs], resolved["voltage [V]"][rs]
        tt, Vt = twin["time [s]"][ts], twin["voltage [V]"][ts]
        # the resolved step starts at the end time of the previous step (its last row)
        prev = resolved["time [s]"][resolved["protocol step [-]"] == n - 1]
        start_r = prev[-1] if prev.size else 0.0
        tr0 = tr - start_r
        tt0 = tt - tt[0]
        sel = (tr0 > 0) & (tr0 <= tt0[-1])
        if not sel.any():
            continue
        dv = Vr[sel] - np.interp(tr0[sel], tt0, Vt)
        dv_all.append(dv)
        out_steps.append({"protocol step": int(n), "points": int(sel.sum()), "rms [V]": float(np.sqrt(np.mean(dv**2))),
                          "max [V]": float(np.abs(dv).max()), "mean [V]": float(dv.mean()),
                          "duration resolved [s]": float(tr0[-1]), "duration dfn [s]": float(tt0[-1])})
    if not dv_all:
        return {"rms [V]": math.nan, "steps": out_steps, "points": 0}
    dv = np.concatenate(dv_all)
    return {"rms [V]": float(np.sqrt(np.mean(dv**2))), "max [V]": float(np.abs(dv).max()), "mean [V]": float(dv.mean()),
            "points": int(dv.size), "steps": out_steps}


def resolved_rows(res_rows: list[dict]) -> dict:
    """Column arrays from the row dicts of :func:`cellsim.simulation.run_protocol` (keep_rows)."""
    keys = ["time [s]", "protocol step [-]", "voltage [V]", "current density [A m-2]", "capacity [mA h m-2]",
            "state of charge [-]"]
    return {k: np.array([float(r[k]) for r in res_rows]) for k in keys}

