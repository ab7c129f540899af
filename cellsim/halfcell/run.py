"""Run a half-cell case: mesh, model, protocol loop with adaptive time steps, output.

The time loop (:func:`run_protocol`):

* every protocol step starts with ``time.dt_initial``; an accepted step grows/shrinks dt by
  ``0.9 min(max_change / dx, max_electrolyte_change / dc_e)`` (clipped to [0.5, 2], at most
  0.7 after a Newton solve of more than 8 iterations) within [dt_min, dt_max];
* a step that fails (Newton diverges, non-finite or out-of-range concentrations) is retried
  with dt/2; below ``time.dt_min`` the run stops with status ``failed`` and the reason;
* a step that crosses an event (end of a protocol step, or a safety limit) is repeated with
  the secant estimate of the time step that just reaches it (see
  :mod:`cellsim.halfcell.protocol`);
* every accepted step appends one row to timeseries.csv; fields are written every
  ``output.fields_every`` steps and at the end of every protocol step.

Status in the manifest: ``completed`` (all protocol steps of all cycles done, or
``time.t_end`` reached), ``cut-off`` (a ``[stop]`` safety limit), ``failed`` (the run could
not continue; the reason names the step, time and solver failure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..log import get_logger, setup_logging

BASE_COLUMNS = [
    "time [s]", "step [-]", "cycle [-]", "protocol step [-]", "dt [s]", "newton iterations [-]",
    "krylov iterations [-]", "wall time [s]",
]
DIAGNOSTIC_COLUMNS = [
    "voltage [V]", "current density [A m-2]", "capacity [mA h m-2]", "state of charge [-]",
    "mean stoichiometry [-]", "mean lithium concentration [mol m-3]", "max lithium concentration [mol m-3]",
    "min lithium concentration [mol m-3]", "min surface stoichiometry [-]", "max surface stoichiometry [-]",
    "mean electrolyte concentration [mol m-3]", "min electrolyte concentration [mol m-3]",
    "max electrolyte concentration [mol m-3]", "electrolyte concentration at lithium [mol m-3]",
    "lithium metal overpotential [V]", "mean surface OCP [V]", "mean particle overpotential [V]",
    "applied current error [-]", "interface current error [-]", "lithium metal current error [-]",
    "particle lithium error [-]", "lithium balance error [-]",
]


@dataclass
class LoopResult:
    status: str
    reason: str
    steps: int
    time: float
    rows: list = field(default_factory=list)
    step_ends: list = field(default_factory=list)  # (label, time, reason)


def columns(model) -> list[str]:
    return BASE_COLUMNS + DIAGNOSTIC_COLUMNS + model.particle_columns()


def run_protocol(case, model, out=None, log=None, keep_rows: bool = False, max_steps: int | None = None) -> LoopResult:
    """Run the case's protocol on a built model (collective). ``out``: a RunOutput or None;
    ``max_steps``: stop after that many accepted time steps (benchmarks)."""
    from .protocol import first_crossing, iterate_steps, stop_events

    log = log or get_logger()
    ts = case.time
    stops = stop_events(case.stop)
    cols = set(columns(model))
    res = LoopResult("completed", "", 0, 0.0)
    wall0 = time.perf_counter()
    t = 0.0
    d = model.diagnostics()
    row0 = {"time [s]": 0.0, "step [-]": 0, "cycle [-]": 0, "protocol step [-]": 0, "dt [s]": 0.0,
            "newton iterations [-]": 0, "krylov iterations [-]": 0, "wall time [s]": 0.0,
            **{k: v for k, v in d.items() if k in cols}}
    if out is not None:
        out.add_row(row0)
        if case.output.fields:
            out.write_fields(0.0, model.output_fields())
    if keep_rows:
        res.rows.append(row0)
    t_end = ts.t_end if ts.t_end is not None else float("inf")
    last_reason = ""
    finished = True
    for st in iterate_steps(case.protocol, model.i_1C):
        if st.mode == "cv":
            model.set_voltage(st.voltage)
        else:
            model.set_current(st.current_density)
        log.info(f"-- {st.label}: " + (f"i = {st.current_density:.5g} A m-2" if st.mode != "cv"
                                       else f"V = {st.voltage:.4f} V"))
        t_step = 0.0
        dt = ts.dt_initial
        ended = ""
        # an event already reached at the start ends the step at once (e.g. CC to a voltage passed)
        for ev in st.events:
            if st.mode != "cv" and ev.g(d) <= 0.0:
                ended = "at start: " + ev.describe(d)
        while not ended:
            if max_steps is not None and res.steps >= max_steps:
                finished = False
                res.status, res.reason = "completed", f"stopped after max_steps = {max_steps} time steps"
                break
            if t >= t_end * (1 - 1e-12):
                finished = False
                res.status, res.reason = "completed", f"reached time.t_end = {t_end:g} s during {st.label}"
                break
            dt = min(dt, t_end - t)
            if st.duration is not None:
                dt = min(dt, st.duration - t_step)
            sr = model.step(dt)
            if not sr.converged:
                if not sr.retry:
                    res.status, res.reason = "failed", f"{st.label}: step at t = {t:.6g} s failed: {sr.reason}"
                    finished = False
                    break
                log.info(f"   step at t = {t:.6g} s with dt = {dt:.4g} s failed ({sr.reason}); retrying with dt/2")
                dt *= 0.5
                if dt < ts.dt_min:
                    res.status = "failed"
                    res.reason = (f"{st.label}: time step fell below time.dt_min = {ts.dt_min:g} s at t = {t:.6g} s;"
                                  f" last failure: {sr.reason}")
                    finished = False
                    break
                continue
            d_new = model.diagnostics()
            ev_stop, f_stop = first_crossing(stops, d, d_new)
            ev_step, f_step = first_crossing(st.events, d, d_new)
            ev, frac = (ev_stop, f_stop) if f_stop <= f_step else (ev_step, f_step)
            if ev is not None and abs(ev.g(d_new)) > ev.tol and dt > 1.0001 * ts.dt_min:
                model.reject()
                dt = max(ts.dt_min, min(0.9 * dt, 1.02 * frac * dt))
                continue
            dx, dce = model.max_change()
            model.accept()
            t += dt
            t_step += dt
            res.steps += 1
            d = d_new
            row = {"time [s]": t, "step [-]": res.steps, "cycle [-]": st.cycle, "protocol step [-]": st.number,
                   "dt [s]": dt, "newton iterations [-]": sr.newton_iterations,
                   "krylov iterations [-]": sr.krylov_iterations, "wall time [s]": time.perf_counter() - wall0,
                   **{k: v for k, v in d.items() if k in cols}}
            if out is not None:
                out.add_row(row)
            if keep_rows:
                res.rows.append(row)
            log.info(f"step {res.steps:5d}  t = {t:10.5g} s  dt = {dt:8.3g} s  V = {d['voltage [V]']:.5f} V  "
                     f"i = {d['current density [A m-2]']:9.4g} A m-2  SOC = {d['state of charge [-]']:.4f}  "
                     f"min c_e = {d['min electrolyte concentration [mol m-3]']:.4g}  Newton {sr.newton_iterations}"
                     + (f" (Krylov {sr.krylov_iterations})" if sr.krylov_iterations > sr.newton_iterations else ""))
            if ev is not None:
                ended = ev.describe(d)
                if ev in stops:
                    res.status = "cut-off"
                    res.reason = f"{st.label}: {ended} at t = {t:.6g} s"
                    finished = False
            elif st.duration is not None and t_step >= st.duration * (1 - 1e-12):
                ended = f"duration {st.duration:g} s elapsed"
            write = (out is not None and case.output.fields
                     and (res.steps % case.output.fields_every == 0 or ended))
            if write:
                out.write_fields(t, model.output_fields())
            if not ended:
                grow = min(2.0, max(0.5, 0.9 * min(ts.max_change / max(dx, 1e-300),
                                                   ts.max_electrolyte_change / max(dce, 1e-300))))
                if sr.newton_iterations > 8:
                    grow = min(grow, 0.7)
                dt = min(max(dt * grow, ts.dt_min), ts.dt_max)
        if not finished:
            break
        last_reason = f"{st.label} ended: {ended}"
        res.step_ends.append((st.label, t, ended))
        log.info(f"   {last_reason} (t = {t:.6g} s)")
    if finished:
        res.status = "completed"
        res.reason = f"protocol finished ({case.protocol.cycles} cycle(s)); last: {last_reason}"
    res.time = float(t)
    return res


def run_halfcell(case, outdir, comm=None, command: str = "", tm=None):
    """Run a validated HalfCellCase, writing the output contract into ``outdir`` (collective).

    ``tm``: an already built TaggedMesh (tests); default: built from ``case.geometry``.
    Returns :class:`cellsim.simulation.RunResult`.
    """
    from mpi4py import MPI

    from ..case import case_to_toml
    from ..output import RunOutput
    from ..simulation import RunResult

    comm = comm or MPI.COMM_WORLD
    outdir = Path(outdir)
    wall0 = time.perf_counter()
    log = setup_logging(comm.rank, None)
    out = None
    status, reason, steps, t = "failed", "", 0, 0.0
    try:
        if tm is None:
            if case.geometry is None:
                from ..schema import CaseError

                raise CaseError("geometry: required key is missing (a [geometry] table with kind = 'half_cell')")
            from ..geometry.mesh import build_mesh

            tm = build_mesh(case.geometry, comm, order=1)
        from .model import HalfCellModel

        model = HalfCellModel(case, tm, comm)
        out = RunOutput(outdir, comm, case_to_toml(case), columns=columns(model),
                        meta={"title": case.title, "command": command, "model": "halfcell",
                              "num_dofs": model.num_dofs(), "one_c_current_density [A m-2]": model.i_1C,
                              "particles": len(model.particles)})
        log = setup_logging(comm.rank, str(outdir / "cellsim.log") if comm.rank == 0 else None)
        log.info(f"cellsim half-cell: {case.title or 'case'} on {comm.size} MPI rank(s); output in {outdir}")
        log.info(f"mesh: {tm.mesh.topology.index_map(tm.mesh.topology.dim).size_global} cells; "
                 f"{len(model.particles)} particles; {model.num_dofs()} unknowns; 1C = {model.i_1C:.5g} A m-2; "
                 f"active volume {model.vol_particles:.4g} m3, cross-section {model.area_cross:.4g} m2")
        if model.mech:
            r0 = model.solve_initial()
            if not r0.converged:
                raise RuntimeError(f"initial equilibrium: {r0.reason}")
        lr = run_protocol(case, model, out=out, log=log)
        status, reason, steps, t = lr.status, lr.reason, lr.steps, lr.time
        d = model.diagnostics()
        summary = {"steps": steps, "final time [s]": t, "num_dofs": model.num_dofs(),
                   "one_c_current_density [A m-2]": model.i_1C,
                   "step_ends": [{"step": a, "time [s]": b, "reason": c} for a, b, c in lr.step_ends],
                   **{k: v for k, v in d.items()}}
        log.info(f"{status}: {reason}  ({steps} steps, {time.perf_counter() - wall0:.1f} s wall)")
        out.close(status, reason, summary)
    except Exception as exc:
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        get_logger().error(f"failed: {reason}")
        if out is None:  # failed before the model existed (mesh, set-up): still leave a manifest
            out = RunOutput(outdir, comm, case_to_toml(case), columns=BASE_COLUMNS + DIAGNOSTIC_COLUMNS,
                            meta={"title": case.title, "command": command, "model": "halfcell"})
        out.close(status, reason, {"steps": steps, "final time [s]": t})
        raise
    return RunResult(status, reason, steps, t, outdir)
