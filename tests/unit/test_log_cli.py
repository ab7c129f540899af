"""Logging, progress and the command-line basics: --version, -q/-v, the progress bar
and its plain-line form, the ETA, the end-of-run timing table."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from cellsim import log as clog
from cellsim.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _reset_verbosity():
    yield
    clog.set_verbosity(logging.INFO)
    clog.setup_logging(0, None, stream=io.StringIO())


def _event(value_key):
    return SimpleNamespace(g=lambda d: d[value_key], tol=0.0, describe=lambda d: "", name=value_key)


def _step(number, duration=None, events=()):
    return SimpleNamespace(number=number, duration=duration, events=list(events))


def test_progress_fraction_from_t_end_protocol_and_events():
    p = clog.Progress(t_end=200.0, n_steps=1)
    p.start_step(_step(1), {})
    assert p.update(50.0, 50.0, {}) == pytest.approx(0.25)
    # two protocol steps: a 100 s rest, then a step ending on an event (g: 1 -> 0)
    p = clog.Progress(t_end=None, n_steps=2)
    p.start_step(_step(1, duration=100.0), {"g": 1.0})
    assert p.update(50.0, 50.0, {"g": 1.0}) == pytest.approx(0.25)
    p.start_step(_step(2, events=[_event("g")]), {"g": 1.0})
    assert p.update(120.0, 20.0, {"g": 0.5}) == pytest.approx(0.75)
    assert p.update(130.0, 30.0, {"g": 0.6}) == pytest.approx(0.75)  # never goes back
    # a [stop] limit from the start of the run
    p = clog.Progress(t_end=None, n_steps=4, stops=[_event("soc_left")], d0={"soc_left": 1.0})
    p.start_step(_step(1), {})
    assert p.update(10.0, 10.0, {"soc_left": 0.2}) == pytest.approx(0.8)
    assert 0.0 <= p.eta() < 60.0 and p.suffix().endswith(p.suffix().split("ETA ")[1])
    assert clog.format_duration(75) == "1:15" and clog.format_duration(3725) == "1:02:05"
    assert clog.format_duration(float("nan")) == "?"


def test_terminal_bar_and_plain_lines():
    prog = clog.Progress(t_end=100.0, n_steps=1)
    prog.start_step(_step(1), {})
    prog.update(40.0, 40.0, {})
    tty = io.StringIO()
    log = clog.setup_logging(0, None, stream=tty, progress=True)
    log.info("-- cycle 1 step 1")
    log.info("step    1  t = 40 s", extra={"progress": prog, "bar_text": "t = 40 s"})
    log.info("a message while the bar shows")
    clog.end_progress(log)
    out = tty.getvalue()
    assert "step    1" not in out  # the bar replaces the step line
    assert " 40.0 % |" in out and "t = 40 s" in out and "ETA" in out and "elapsed" in out
    bar = out.split("\r\x1b[2K")[-1]
    assert out.count("\r\x1b[2K") == 2 and bar.endswith("\n")  # message printed above, bar drawn again, ended
    assert "a message while the bar shows\n" in out
    plain = io.StringIO()  # not a terminal: the step line itself, with percentage and ETA
    log = clog.setup_logging(0, None, stream=plain)
    log.info("step    1  t = 40 s  [ 40.0 %, ETA 0:03]", extra={"progress": prog, "bar_text": "x"})
    assert plain.getvalue() == "step    1  t = 40 s  [ 40.0 %, ETA 0:03]\n"
    assert "\r" not in plain.getvalue()
    # auto: a StringIO is no tty, several MPI ranks never get a bar
    assert not any(isinstance(h, clog.TerminalHandler) for h in clog.setup_logging(0, None, stream=io.StringIO()).handlers)

    class FakeTTY(io.StringIO):
        def isatty(self):
            return True

    assert any(isinstance(h, clog.TerminalHandler) for h in clog.setup_logging(0, None, stream=FakeTTY()).handlers) \
        or clog._mpi_size_from_env() > 1
    assert not any(isinstance(h, clog.TerminalHandler)
                   for h in clog.setup_logging(0, None, stream=FakeTTY(), size=2).handlers)
    assert isinstance(clog.setup_logging(1, None, stream=FakeTTY()).handlers[0], logging.NullHandler)


def test_quiet_and_verbose_keep_the_log_file_complete(tmp_path):
    for level, shown in ((logging.WARNING, {"warn"}), (logging.INFO, {"info", "warn"}),
                         (logging.DEBUG, {"debug", "info", "warn"})):
        clog.set_verbosity(level)
        term, path = io.StringIO(), tmp_path / f"log{level}.txt"
        log = clog.setup_logging(0, str(path), stream=term)
        log.debug("debug")
        log.info("info")
        log.warning("warn")
        for h in log.handlers:
            h.flush()
        assert {w for w in ("debug", "info", "warn") if w in term.getvalue()} == shown
        in_file = {w for w in ("debug", "info", "warn") if w in path.read_text()}
        assert in_file == ({"debug", "info", "warn"} if level == logging.DEBUG else {"info", "warn"})


def test_timing_summary_table():
    T = clog.Timers()
    T.add("meshing", 1.0)
    T.add("setup", 2.0)
    T.add("newton", 5.0, count=12)
    T.add("diagnostics", 0.5)
    T.add("output", 0.25)
    T.start("checkpoints")
    time.sleep(0.01)
    assert T.stop("checkpoints") > 0.0 and T.stop("never started") == 0.0
    lines, numbers = clog.timing_summary(T, {"assembly": 0.0, "linear": 0.0}, total=10.0, steps=10)
    text = "\n".join(lines)
    for row in ("meshing (gmsh)", "model set-up and form compilation", "Newton solves", "12 solves, 10 accepted steps",
                "diagnostics", "output", "checkpoints", "driver, logging, other", "total wall time"):
        assert row in text, row
    top = [k for k in numbers if k not in ("total",) and not k.startswith(("assembly", "linear", "rest of"))]
    assert sum(numbers[k] for k in top) == pytest.approx(10.0)  # the parts add up to the wall time
    assert numbers["Newton solves"] == 5.0 and numbers["total"] == 10.0
    assert lines[-1].split()[-2:] == ["10.00", "100.0"]


def test_version_and_verbosity_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from cellsim import __version__

    assert capsys.readouterr().out.strip() == f"cellsim {__version__}"
    p = build_parser()
    assert p.parse_args(["-q", "check", "x.toml"]).quiet  # before the command
    assert p.parse_args(["check", "x.toml", "-q"]).quiet  # or after it
    a = p.parse_args(["run", "x.toml", "-v"])
    assert a.verbose and not a.quiet
    with pytest.raises(SystemExit):
        p.parse_args(["run", "x.toml", "-q", "-v"])  # one or the other
    assert main(["-q", "check", str(ROOT / "cases" / "particle_charge.toml")]) == 0
    assert clog.get_verbosity() == logging.INFO  # main() leaves no trace


def test_bar_keeps_elapsed_and_eta_on_narrow_terminals(monkeypatch):
    """On an 80-column terminal the step text gives way, not the ETA (it was cut off there)."""
    prog = clog.Progress(t_end=100.0, n_steps=1)
    prog.start_step(_step(1), {})
    prog.update(40.0, 40.0, {})
    h = clog.TerminalHandler(io.StringIO())
    long = "cycle 1 step 1 (CC lithiation at 2C)  t = 40 s  dt = 2.5 s  V = 0.1234 V  Newton 3"
    for cols in (60, 80, 100, 200):
        monkeypatch.setenv("COLUMNS", str(cols))
        line = h.bar(prog, long)
        assert len(line) <= cols - 1, (cols, line)
        assert line.endswith(f"elapsed, ETA {clog.format_duration(prog.eta())}"), (cols, line)
        assert "| cycle 1" in line and ("..." in line) == (cols < 200), (cols, line)
    monkeypatch.setenv("COLUMNS", "200")
    assert long in h.bar(prog, long)  # room: the whole text
