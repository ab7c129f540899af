"""Rank-0 logging, the progress bar and the end-of-run timing summary.

* :func:`setup_logging`: rank 0 logs to stdout and an optional file (``cellsim.log``);
  other ranks log nothing. The terminal shows messages at the verbosity chosen with
  :func:`set_verbosity` (the ``-q``/``-v`` options of the command line: warnings only /
  debug); the file always gets every INFO line (and DEBUG with ``-v``).
* On a terminal (stdout a tty, one MPI rank) the time-step lines are replaced by one
  progress bar line with the percentage of the protocol (or of ``time.t_end``) and an
  ETA (:class:`TerminalHandler`); other messages are printed above it. Elsewhere (a log
  file, a pipe, ``mpiexec``) every step stays one plain line, ending with the percentage
  and the ETA.
* :class:`Progress` estimates the fraction done; :class:`Timers` accumulates wall time by
  section; :func:`summary_table` formats the end-of-run table.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from collections import defaultdict

LOGGER_NAME = "cellsim"
_VERBOSITY = {"level": logging.INFO}


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def set_verbosity(level: int) -> None:
    """Terminal verbosity of later :func:`setup_logging` calls (logging.WARNING for ``-q``,
    logging.DEBUG for ``-v``); applied at once to a logger already set up."""
    _VERBOSITY["level"] = int(level)
    log = get_logger()
    for h in log.handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(int(level))
    if log.handlers and log.level > int(level):
        log.setLevel(int(level))


def get_verbosity() -> int:
    return _VERBOSITY["level"]


def _mpi_size_from_env() -> int:
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS"):
        try:
            return int(os.environ[key])
        except (KeyError, ValueError):
            continue
    return 1


def setup_logging(rank: int = 0, logfile: str | None = None, level: int | None = None,
                  append: bool = False, size: int = 1, stream=None,
                  progress: bool | None = None) -> logging.Logger:
    """Configure the cellsim logger. Only rank 0 gets handlers; the others a NullHandler.

    ``level``: terminal level (default: :func:`get_verbosity`); ``size``: number of MPI
    ranks; ``stream``: the terminal stream (default ``sys.stdout``); ``progress``: draw a
    progress bar instead of step lines (default: when the stream is a tty and one rank runs).
    """
    log = get_logger()
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.propagate = False
    level = get_verbosity() if level is None else int(level)
    log.setLevel(min(level, logging.INFO))
    if rank != 0:
        log.addHandler(logging.NullHandler())
        return log
    stream = sys.stdout if stream is None else stream
    if progress is None:
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        progress = tty and size == 1 and _mpi_size_from_env() == 1 and os.environ.get("TERM") != "dumb"
    handler = TerminalHandler(stream) if progress else logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(level)
    log.addHandler(handler)
    if logfile is not None:
        fh = logging.FileHandler(logfile, mode="a" if append else "w")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        fh.setLevel(min(level, logging.INFO))
        log.addHandler(fh)
    return log


def end_progress(log: logging.Logger | None = None) -> None:
    """Leave the progress bar (if any) as its last state and move to a new line."""
    for h in (log or get_logger()).handlers:
        if isinstance(h, TerminalHandler):
            h.finish()


# --------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------
def format_duration(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``; ``"?"`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Fraction of the run done and the ETA.

    The fraction is the largest of: ``t / time.t_end``; the protocol position
    ``(steps done + fraction of the current step) / number of steps``, where the fraction
    of a step is ``t_step / duration`` or, for a step that ends on an event (a voltage, a
    current limit, a state of charge), how far the event function has gone from its value
    at the start of the step to zero; and the same for the ``[stop]`` limits from the
    start of the run. An estimate: a voltage cut-off is not reached linearly in time.
    """

    def __init__(self, t_end: float | None, n_steps: int, stops=(), d0: dict | None = None,
                 resumed: bool = False):
        self.t_end = t_end if t_end is not None and math.isfinite(t_end) else None
        self.n_steps = max(int(n_steps), 1)
        self.stops = [(ev, self._g(ev, d0)) for ev in stops] if d0 is not None else []
        self.step_number, self.duration, self.events = 1, None, []
        self.wall0 = time.perf_counter()
        # the ETA extrapolates the progress made by this process: from 0, or for a resumed
        # run from the first step it made (the wall clock restarts there)
        self.f0: float | None = None if resumed else 0.0
        self.fraction = 0.0

    @staticmethod
    def _g(ev, d) -> float:
        try:
            return float(ev.g(d))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return float("nan")

    def start_step(self, st, d: dict) -> None:
        """A protocol step begins (``st``: an ActiveStep, ``d``: the diagnostics now)."""
        self.step_number, self.duration = int(st.number), st.duration
        self.events = [(ev, self._g(ev, d)) for ev in st.events]

    def _event_fraction(self, pairs, d) -> float:
        best = 0.0
        for ev, g0 in pairs:
            g = self._g(ev, d)
            if math.isfinite(g0) and g0 > 0 and math.isfinite(g):
                best = max(best, min(max(1.0 - g / g0, 0.0), 1.0))
        return best

    def update(self, t: float, t_step: float, d: dict) -> float:
        """The fraction done after an accepted step at time ``t``."""
        f_step = self._event_fraction(self.events, d)
        if self.duration:
            f_step = max(f_step, min(t_step / self.duration, 1.0))
        f = (self.step_number - 1 + min(f_step, 1.0)) / self.n_steps
        if self.t_end:
            f = max(f, t / self.t_end)
        f = max(f, self._event_fraction(self.stops, d))
        self.fraction = min(max(f, self.fraction, 0.0), 1.0)
        if self.f0 is None:
            self.f0, self.wall0 = self.fraction, time.perf_counter()
        return self.fraction

    def elapsed(self) -> float:
        return time.perf_counter() - self.wall0

    def eta(self) -> float:
        done = self.fraction - (self.f0 or 0.0)
        if done <= 1e-6:
            return float("nan")
        return self.elapsed() / done * (1.0 - self.fraction)

    def suffix(self) -> str:
        """``"12.5 %, ETA 1:02"``: what a plain step line ends with."""
        return f"{100 * self.fraction:5.1f} %, ETA {format_duration(self.eta())}"


class TerminalHandler(logging.StreamHandler):
    """A stream handler that draws records carrying ``progress`` (a :class:`Progress`)
    and ``bar_text`` as one bar line rewritten in place, and prints every other record
    above it."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self._bar = ""
        try:
            "█░".encode(getattr(self.stream, "encoding", None) or "ascii")
            self._chars = ("█", "░")
        except (LookupError, UnicodeEncodeError):
            self._chars = ("#", "-")

    def bar(self, prog: Progress, text: str) -> str:
        width = shutil.get_terminal_size((100, 20)).columns
        head = f"{100 * prog.fraction:5.1f} % "
        times = f"  {format_duration(prog.elapsed())} elapsed, ETA {format_duration(prog.eta())}"
        n = 24 if width >= 100 else 12  # fixed while the run lasts: the bar does not jitter
        full = int(round(prog.fraction * n))
        line = f"{head}|{self._chars[0] * full}{self._chars[1] * (n - full)}|"
        # the step text gives way first: elapsed and ETA stay on an 80-column terminal
        room = max(width - 1, 20) - len(line) - len(times) - 1
        text = text if len(text) <= room else (text[: room - 3] + "..." if room > 3 else "")
        return (line + (" " + text if text else "") + times)[: max(width - 1, 20)]

    def emit(self, record):
        try:
            prog = getattr(record, "progress", None)
            if prog is not None:
                self._bar = self.bar(prog, getattr(record, "bar_text", ""))
                self.stream.write("\r\x1b[2K" + self._bar)
            else:
                msg = self.format(record)
                self.stream.write(("\r\x1b[2K" if self._bar else "") + msg + "\n" + self._bar)
            self.flush()
        except Exception:  # pragma: no cover - logging must never stop a run
            self.handleError(record)

    def finish(self):
        if self._bar:
            self.stream.write("\n")
            self.flush()
        self._bar = ""

    def close(self):
        try:
            self.finish()
        finally:
            super().close()


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------
class Timers:
    """Wall time by section: ``start(name)`` ... ``stop(name)`` (sections may nest)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self._open: dict[str, float] = {}

    def start(self, name: str) -> None:
        self._open[name] = time.perf_counter()

    def stop(self, name: str) -> float:
        t0 = self._open.pop(name, None)
        if t0 is None:
            return 0.0
        dt = time.perf_counter() - t0
        self.seconds[name] += dt
        self.count[name] += 1
        return dt

    def add(self, name: str, seconds: float, count: int = 1) -> None:
        self.seconds[name] += float(seconds)
        self.count[name] += int(count)


#: PETSc log events read for the split of the Newton time (they include the Python
#: callbacks of DOLFINx's NonlinearProblem, i.e. the assembly)
#: PETSc events of the Newton split. PETSc logs KSPSolve after the KSP/PC set-up, so the
#: factorisation (or AMG set-up) is PCSetUp, outside KSPSolve: both are counted
PETSC_EVENTS = {"assembly": ("SNESFunctionEval", "SNESJacobianEval"), "linear": ("KSPSolve", "PCSetUp")}


def petsc_log_begin() -> bool:
    """Switch PETSc's event log on (cheap); False when PETSc is not importable."""
    try:
        from petsc4py import PETSc

        PETSc.Log.begin()
        return True
    except Exception:  # pragma: no cover - PETSc missing
        return False


def petsc_event_seconds() -> dict[str, float]:
    """Seconds spent so far in the :data:`PETSC_EVENTS` groups (this rank)."""
    try:
        from petsc4py import PETSc

        return {k: sum(float(PETSc.Log.Event(e).getPerfInfo()["time"]) for e in names)
                for k, names in PETSC_EVENTS.items()}
    except Exception:  # pragma: no cover
        return {}


def summary_table(rows: list[tuple[str, float, str]], total: float) -> list[str]:
    """Lines of the end-of-run table: ``(label, seconds, note)`` rows (a label starting
    with two spaces is a part of the row above it), then the total."""
    width = max([len(r[0]) for r in rows] + [len("total wall time")])
    lines = [f"{'wall time':<{width}}  {'s':>9}  {'%':>5}", "-" * (width + 19)]
    for label, sec, note in rows:
        pct = 100.0 * sec / total if total > 0 else float("nan")
        lines.append(f"{label:<{width}}  {sec:9.2f}  {pct:5.1f}" + (f"  {note}" if note else ""))
    lines.append("-" * (width + 19))
    lines.append(f"{'total wall time':<{width}}  {total:9.2f}  {100.0:5.1f}")
    return lines


def timing_summary(timers: Timers, petsc0: dict, total: float, steps: int, comm=None):
    """The end-of-run table (lines) and its numbers (a dict for the manifest).

    Every section is the largest over the MPI ranks (``comm``: collective); the Newton
    time is split with PETSc's event log (:data:`PETSC_EVENTS`, since ``petsc0``)."""
    now = petsc_event_seconds()
    sec = dict(timers.seconds)
    for k in now:
        sec[f"petsc {k}"] = max(now[k] - petsc0.get(k, 0.0), 0.0)
    sec["total"] = total
    if comm is not None and getattr(comm, "size", 1) > 1:
        every = comm.allgather(sec)
        sec = {k: max(s.get(k, 0.0) for s in every) for k in set().union(*every)}
    get = sec.get
    newton = get("newton", 0.0)
    asm, lin = min(get("petsc assembly", 0.0), newton), min(get("petsc linear", 0.0), newton)
    rows = []
    if "meshing" in sec:
        rows.append(("meshing (gmsh)", get("meshing"), ""))
    rows.append(("model set-up and form compilation", get("setup", 0.0), ""))
    rows.append(("Newton solves", newton, f"{timers.count.get('newton', 0)} solves, {steps} accepted steps"))
    if now:
        rows.append(("  assembly (residual, Jacobian)", asm, "PETSc SNESFunctionEval + SNESJacobianEval"))
        rows.append(("  linear solves", lin, "PETSc PCSetUp (factorisation) + KSPSolve"))
        rows.append(("  rest of Newton", max(newton - asm - lin, 0.0), "updates, convergence tests, checks"))
    rows.append(("diagnostics (time-series values)", get("diagnostics", 0.0), ""))
    rows.append(("output (time series, fields, manifest)", get("output", 0.0), ""))
    if "checkpoints" in sec:
        rows.append(("checkpoints", get("checkpoints"), f"{timers.count.get('checkpoints', 0)} written"))
    main = sum(s for label, s, _ in rows if not label.startswith("  "))
    rows.append(("driver, logging, other", max(total - main, 0.0), ""))
    numbers = {label.strip(): round(s, 6) for label, s, _ in rows}
    numbers["total"] = round(total, 6)
    return summary_table(rows, total), numbers
