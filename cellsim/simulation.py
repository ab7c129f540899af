"""The one time driver: adaptive backward-Euler steps through a protocol, for every model.

:func:`run_protocol` advances a built model (any of :mod:`cellsim.models`) through the
case's protocol (:mod:`cellsim.protocol`):

* every protocol step starts with ``time.dt_initial``; an accepted step grows/shrinks dt
  by ``0.9 min_k(target_k / change_k)`` over the model's step-change measures (particle
  stoichiometry against ``time.max_change``, and in the half-cell the relative change of
  c_e against ``time.max_electrolyte_change``), clipped to [0.5, 2], and to at most 0.7
  after a Newton solve slower than the model's ``slow_newton`` iterations, within
  [dt_min, dt_max] (``time.adaptive = false`` keeps dt);
* a step that fails (Newton diverges, non-finite or out-of-range values) is retried with
  dt/2; below ``time.dt_min`` the run stops with status ``failed`` and the reason; a
  failure that a smaller step cannot cure (the LU factors do not fit in memory) stops at
  once;
* a step that crosses an event (the end of a protocol step or a ``[stop]`` limit) is
  repeated with the secant estimate of the step that just reaches it, until the model's
  :class:`~cellsim.protocol.Locate` rule accepts it;
* every accepted step appends one row to timeseries.csv; fields are written every
  ``output.fields_every`` steps, at the end of every protocol step and at the end.

The state the driver carries between steps (protocol position, time, dt, step count, the
last diagnostics) is held in :class:`DriverState`, and the model's own state (unknowns,
history, accumulated charge) in ``model.state()``; together they are what a checkpoint
needs.

:func:`run_case` builds the mesh and the model of a validated case, writes the output
folder (:class:`cellsim.output.RunOutput`) and runs the protocol. Status in the manifest:
``completed`` (all protocol steps done, or ``time.t_end`` reached), ``cut-off`` (a
``[stop]`` limit), ``failed`` (the run could not continue; the reason names the step,
time and solver failure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .log import (Progress, Timers, end_progress, get_logger, petsc_event_seconds, petsc_log_begin,
                  setup_logging, timing_summary)

BASE_COLUMNS = [
    "time [s]", "step [-]", "cycle [-]", "protocol step [-]", "dt [s]", "newton iterations [-]",
    "krylov iterations [-]", "wall time [s]",
]


@dataclass
class RunResult:
    status: str  # completed | cut-off | failed
    reason: str
    steps: int
    time: float
    outdir: Path


@dataclass
class LoopResult:
    status: str
    reason: str
    steps: int
    time: float
    rows: list = field(default_factory=list)
    step_ends: list = field(default_factory=list)  # (label, time, reason)


def columns(model) -> list[str]:
    """Time-series columns of a run of ``model``: the driver's, then the model's."""
    return BASE_COLUMNS + [c for c in model.columns() if c not in BASE_COLUMNS]


def _grow(ts, changes: dict, newton_its: int, slow: int) -> float:
    ratio = min((target / max(change, 1e-300) for change, target in changes.values()), default=2.0)
    grow = min(2.0, max(0.5, 0.9 * ratio))
    if newton_its > slow:
        grow = min(grow, 0.7)
    return grow


class Interrupt:
    """SIGTERM / SIGINT received: the run ends its current step, writes a checkpoint and
    stops with status ``interrupted`` (never retried as a numerical failure)."""

    signum = 0

    @classmethod
    def handler(cls, signum, frame):
        cls.signum = signum

    @classmethod
    def install(cls, reset: bool = True):
        """Install the handlers (again: gmsh resets them to the default when it finalizes)."""
        import signal
        import threading

        if reset:
            cls.signum = 0
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, cls.handler)
        return old

    @classmethod
    def restore(cls, old):
        import signal

        for sig, h in old.items():
            signal.signal(sig, h)

    @classmethod
    def requested(cls, comm) -> int:
        """The signal received on any rank (collective), 0 if none."""
        return comm.allreduce(int(cls.signum), op=__import__("mpi4py").MPI.MAX)


def _signal_name(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover
        return f"signal {signum}"


def run_protocol(case, model, out=None, log=None, keep_rows: bool = False, max_steps: int | None = None,
                 initial=None, resume: dict | None = None, checkpoint_dir=None, timers=None) -> LoopResult:
    """Run the case's protocol on a built model (collective).

    ``out``: a RunOutput or None; ``max_steps``: stop after that many accepted time steps
    (benchmarks); ``initial``: the StepResult of the model's initial solve (its effort is
    reported in the first row); ``resume``: the driver state of a checkpoint (the model's
    state already loaded) to continue from; ``checkpoint_dir``: where checkpoints are
    written (every ``output.checkpoint_every`` steps, at protocol step ends and at the end;
    None: none); ``timers``: a :class:`cellsim.log.Timers` that gets the wall time of the
    Newton solves, diagnostics, output and checkpoints."""
    from .protocol import first_crossing, iterate_steps, stop_events

    log = log or get_logger()
    comm = model.comm
    ts = case.time
    q = model.quantities()
    loc = model.locate()
    stops = stop_events(case.stop, q)
    cols = set(columns(model))
    res = LoopResult("completed", "", 0, 0.0)
    wall0 = time.perf_counter()
    t = 0.0
    d = model.diagnostics()
    every = getattr(case.output, "checkpoint_every", 0) or 0
    Interrupt.install(reset=False)  # mesh generation (gmsh) may have reset the signal handlers
    T = timers if timers is not None else Timers()
    proto = case.effective_protocol()
    prog = Progress(ts.t_end, len(proto.steps) * proto.cycles, stops, d, resumed=resume is not None)

    def checkpoint(st_number, t_step, dt, at_start=False):
        if checkpoint_dir is None:
            return
        from . import checkpoint as ck

        T.start("checkpoints")
        ck.save(model, {"step_number": st_number, "at_start": at_start, "t": t, "t_step": t_step, "dt": dt,
                        "steps": res.steps,
                        "rows": out.steps if out is not None else 0,
                        "step_ends": [list(e) for e in res.step_ends],
                        "wall": time.perf_counter() - wall0}, checkpoint_dir)
        T.stop("checkpoints")

    if resume is None:
        row0 = {"time [s]": 0.0, "step [-]": 0, "cycle [-]": 0, "protocol step [-]": 0, "dt [s]": 0.0,
                "newton iterations [-]": initial.newton_iterations if initial is not None else 0,
                "krylov iterations [-]": initial.krylov_iterations if initial is not None else 0,
                "wall time [s]": 0.0, **{k: v for k, v in d.items() if k in cols}}
        if out is not None:
            T.start("output")
            out.add_row(row0)
            if case.output.fields:
                out.write_fields(0.0, model.output_fields(), **model.field_metadata())
            T.stop("output")
        if keep_rows:
            res.rows.append(row0)
    else:
        t, res.steps = float(resume["t"]), int(resume["steps"])
        res.step_ends = [tuple(e) for e in resume["step_ends"]]
        wall0 -= float(resume.get("wall", 0.0))
        log.info(f"resumed at t = {t:.6g} s, step {res.steps}, protocol step {resume['step_number']}")
    t_end = ts.t_end if ts.t_end is not None else float("inf")
    last_reason = ""
    finished = True
    written = True
    for st in iterate_steps(case.effective_protocol(), q):
        if resume is not None and st.number < resume["step_number"]:
            continue
        resuming = resume is not None and st.number == resume["step_number"] and not resume.get("at_start")
        model.apply_step(st, predict=not resuming)
        predictor = getattr(getattr(model, "solver", None), "predictor", None)
        if predictor is not None and not resuming:  # (a resumed one was checkpointed)
            predictor.reset()
        log.info(f"-- {st.label}: {model.describe_control(st)}")
        prog.start_step(st, d)
        t_step = float(resume["t_step"]) if resuming else 0.0
        dt = float(resume["dt"]) if resuming else ts.dt_initial
        ended = ""
        # an event already reached at the start ends the step at once (e.g. CC to a voltage passed)
        for ev in st.events:
            if st.mode != "cv" and ev.g(d) <= 0.0 and not resuming:
                ended = "at start: " + ev.describe(d)
        while not ended:
            sig = Interrupt.requested(comm)
            if sig:
                finished = False
                res.status = "interrupted"
                res.reason = (f"{_signal_name(sig)} received during {st.label} at t = {t:.6g} s; the last "
                              "accepted step is saved: continue with cellsim run --resume OUTDIR")
                checkpoint(st.number, t_step, dt)
                break
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
            T.start("newton")
            sr = model.step(dt)
            wall_newton = T.stop("newton")
            if not sr.converged:
                if not sr.retry:
                    res.status, res.reason = "failed", f"{st.label}: step at t = {t:.6g} s failed: {sr.reason}"
                    finished = False
                    break
                if Interrupt.requested(comm):
                    continue  # interrupted inside the solve: stop at the last accepted step
                log.info(f"   step at t = {t:.6g} s with dt = {dt:.4g} s failed ({sr.reason}); retrying with dt/2")
                dt *= 0.5
                if dt < ts.dt_min:
                    res.status = "failed"
                    res.reason = (f"{st.label}: time step fell below time.dt_min = {ts.dt_min:g} s at t = {t:.6g} s;"
                                  f" last failure: {sr.reason}")
                    finished = False
                    break
                continue
            T.start("diagnostics")
            d_new = model.diagnostics()
            T.stop("diagnostics")
            why = model.check_step(d, d_new, dt)
            if why:
                res.status = "failed"
                res.reason = f"{st.label}: step at t = {t:.6g} s with dt = {dt:.4g} s: {why}"
                finished = False
                model.reject()
                break
            ev_stop, f_stop = first_crossing(stops, d, d_new)
            ev_step, f_step = first_crossing(st.events, d, d_new)
            ev, frac = (ev_stop, f_stop) if f_stop <= f_step else (ev_step, f_step)
            if ev is not None and not (loc.by_value and abs(ev.g(d_new)) <= ev.tol) and dt > loc.dt_floor:
                model.reject()
                dt = max(loc.dt_floor, min(0.9 * dt, 1.02 * frac * dt))
                continue
            changes = model.max_change()
            model.accept()
            if predictor is not None:
                predictor.accepted()
            t += dt
            t_step += dt
            res.steps += 1
            d = d_new
            row = {"time [s]": t, "step [-]": res.steps, "cycle [-]": st.cycle, "protocol step [-]": st.number,
                   "dt [s]": dt, "newton iterations [-]": sr.newton_iterations,
                   "krylov iterations [-]": sr.krylov_iterations, "wall time [s]": time.perf_counter() - wall0,
                   **{k: v for k, v in d.items() if k in cols}}
            T.start("output")
            if out is not None:
                out.add_row(row)
            if keep_rows:
                res.rows.append(row)
            T.stop("output")
            prog.update(t, t_step, d)
            log.info(f"step {res.steps:4d}  t = {t:10.5g} s  dt = {dt:8.3g} s  {model.progress(d)}  "
                     f"Newton {sr.newton_iterations}"
                     + (f" (Krylov {sr.krylov_iterations})" if sr.krylov_iterations > sr.newton_iterations else "")
                     + f"  [{prog.suffix()}]",
                     extra={"progress": prog, "bar_text": f"t = {t:.5g} s  step {res.steps}  {model.progress(d)}"})
            log.debug(f"   step {res.steps}: Newton solve {wall_newton:.3f} s; largest changes "
                      + ", ".join(f"{k} {v[0]:.3g} (target {v[1]:.3g})" for k, v in changes.items()))
            if ev is not None:
                ended = ev.describe(d)
                if ev in stops:
                    res.status = "cut-off"
                    res.reason = f"{st.label}: {ended} at t = {t:.6g} s"
                    finished = False
            elif st.duration is not None and t_step >= st.duration * (1 - 1e-12):
                ended = f"duration {st.duration:g} s elapsed"
            last = bool(ended) or t >= t_end * (1 - 1e-12) or (max_steps is not None and res.steps >= max_steps)
            written = False
            if out is not None and case.output.fields and (res.steps % case.output.fields_every == 0 or last):
                T.start("output")
                out.write_fields(t, model.output_fields(), **model.field_metadata())
                T.stop("output")
                written = True
            if not ended and ts.adaptive:
                dt = min(max(dt * _grow(ts, changes, sr.newton_iterations, model.slow_newton), ts.dt_min), ts.dt_max)
            if every and res.steps % every == 0 and not ended:
                checkpoint(st.number, t_step, dt)
        if not finished:
            break
        last_reason = f"{st.label} ended: {ended}"
        res.step_ends.append((st.label, t, ended))
        log.info(f"   {last_reason} (t = {t:.6g} s)")
        checkpoint(st.number + 1, 0.0, ts.dt_initial, at_start=True)  # before the next protocol step
    end_progress(log)
    if out is not None and case.output.fields and not written and res.steps > 0:
        T.start("output")
        out.write_fields(t, model.output_fields(), **model.field_metadata())  # the final state (failed or stopped runs)
        T.stop("output")
    if finished:
        res.status = "completed"
        res.reason = f"protocol finished ({case.effective_protocol().cycles} cycle(s)); last: {last_reason}"
    res.time = float(t)
    return res


def _collective_errors():
    from .geometry.mesh import GeometryError
    from .output import OutputFolderError
    from .dfn.command import TwinError
    from .schema import CaseError

    return (GeometryError, CaseError, OutputFolderError, TwinError)  # raised on every rank alike


def run_case(case, outdir, comm=None, command: str = "", tm=None, overwrite: bool = True,
             resume: bool = False) -> RunResult:
    """Run a validated case, writing the output contract into ``outdir`` (collective).

    ``tm``: an already built TaggedMesh (tests); default: built from ``case.geometry``.
    ``overwrite``: replace a run already in ``outdir`` (the command line asks for
    ``--overwrite``); ``resume``: continue the run in ``outdir`` from its checkpoint.
    SIGTERM and SIGINT end the run after the current step with status ``interrupted``.
    """
    from mpi4py import MPI

    from .case import case_to_toml
    from .dolfinx_env import require_dolfinx

    require_dolfinx()
    from . import checkpoint as ck
    from .models import build_model
    from .output import RunOutput, claim_output_dir, release_output_dir

    comm = comm or MPI.COMM_WORLD
    outdir = Path(outdir)
    wall0 = time.perf_counter()
    log = setup_logging(comm.rank, None, size=comm.size)
    T = Timers()
    petsc_log_begin()  # PETSc's event log: the assembly / linear-solve split of the summary
    petsc0 = petsc_event_seconds()
    case_text = case_to_toml(case)
    claim_output_dir(outdir, comm, overwrite=overwrite, resume=resume, case_toml=case_text)
    if resume and not ck.exists(outdir):
        release_output_dir(outdir, comm)
        from .output import OutputFolderError

        raise OutputFolderError(f"--resume {outdir}: no checkpoint there ({outdir / ck.DIR}); the run stopped "
                                "before its first checkpoint: start it again")
    old_handlers = Interrupt.install()
    out = model = None
    status, reason, steps, t = "failed", "", 0, 0.0
    try:
        if tm is None:
            if case.geometry is None:
                from .schema import CaseError

                raise CaseError("geometry: required key is missing (a [geometry] table)")
            from .geometry.mesh import build_mesh

            T.start("meshing")
            tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
            T.stop("meshing")
        T.start("setup")
        model = build_model(case, tm, comm)
        drv = None
        if resume:
            drv = ck.load(model, outdir)
        out = RunOutput(outdir, comm, case_text, columns=columns(model),
                        meta={"title": case.title, "command": command, "model": case.model, **model.meta()},
                        resume_rows=drv["rows"] if drv is not None else None,
                        resume_time=drv["t"] if drv is not None else None)
        T.stop("setup")
        log = setup_logging(comm.rank, str(outdir / "cellsim.log") if comm.rank == 0 else None, append=resume,
                            size=comm.size)
        log.info(f"cellsim {case.model}: {case.title or 'case'} on {comm.size} MPI rank(s); output in {outdir}")
        log.info(model.describe())
        r0 = None
        if drv is None:
            T.start("newton")
            r0 = model.solve_initial()
            T.stop("newton")
            if r0 is not None and not r0.converged:
                raise RuntimeError(f"initial equilibrium: {r0.reason}")
        lr = run_protocol(case, model, out=out, log=log, initial=r0, resume=drv, checkpoint_dir=outdir, timers=T)
        status, reason, steps, t = lr.status, lr.reason, lr.steps, lr.time
        d = model.diagnostics()
        summary = {"steps": steps, "final time [s]": t, **model.meta(),
                   "step_ends": [{"step": a, "time [s]": b, "reason": c} for a, b, c in lr.step_ends],
                   **{k: v for k, v in d.items()}}
        if getattr(getattr(case, "dfn", None), "run", False) and steps > 0:  # [dfn] run = true
            from .dfn.command import twin_after_run

            summary["dfn_twin"] = twin_after_run(case, tm, outdir, comm, log)
        summary["wall time split [s]"] = timing_summary(T, petsc0, time.perf_counter() - wall0, steps, comm)[1]
        log.info(f"{status}: {reason}  ({steps} steps, {time.perf_counter() - wall0:.1f} s wall)")
        T.start("output")
        out.close(status, reason, summary)
        T.stop("output")
        for line in timing_summary(T, petsc0, time.perf_counter() - wall0, steps, comm)[0]:
            log.info(line)
    except Exception as exc:
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        if comm.size > 1 and not isinstance(exc, _collective_errors()):
            # raised on this rank only: the others may wait in a collective call forever.
            # Whatever fails while reporting it (a full disk), the job is aborted.
            import sys
            import traceback

            try:
                print(f"cellsim (rank {comm.rank}): {reason}\n{traceback.format_exc()}", file=sys.stderr, flush=True)
                if out is not None:
                    out.fail_local(reason)
            except BaseException:
                pass
            finally:
                comm.Abort(1)
        get_logger().error(f"failed: {reason}")
        try:
            if out is None:  # failed before the model existed (mesh, set-up): still leave a manifest
                out = RunOutput(outdir, comm, case_text, columns=BASE_COLUMNS,
                                meta={"title": case.title, "command": command, "model": case.model},
                                resume_rows=None if not resume else 0)
            out.close(status, reason, {"steps": steps, "final time [s]": t})
        finally:
            release_output_dir(outdir, comm)
        raise
    finally:
        Interrupt.restore(old_handlers)
        if model is not None:  # every rank gets here (a failure on one rank aborted the job)
            model.close()  # its PETSc objects and communicators now, not at some later collection
    release_output_dir(outdir, comm)
    return RunResult(status, reason, steps, t, outdir)
