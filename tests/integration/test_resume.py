"""Runs that survive interruption: checkpoints, --resume, clean stops, output-folder rules.

* SIGTERM/SIGINT (simulated in process at a chosen step, and sent for real to `cellsim run`)
  end the run after the current step with status "interrupted", exit code 4 and a
  checkpoint; `--resume` then ends with the same time series as an uninterrupted run.
* SIGKILL mid-run: the last checkpoint resumes to the same answer.
* A folder holding a run is refused without --overwrite (exit 2, nothing changed), and
  --overwrite removes only what cellsim wrote; a locked folder is refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cellsim.case import case_from_dict
from cellsim.cli import main
from cellsim.output import read_manifest, read_timeseries

CASE = {
    "title": "resume test",
    "geometry": {"kind": "sphere", "radius": 5.22e-6, "mesh_size": 2.6e-6},
    "material": {"name": "nmc811_chen2020"},
    "physics": {"initial_stoichiometry": 0.9},
    "protocol": {"steps": [
        {"mode": "cc", "c_rate": 2.0, "direction": "charge", "until_voltage": 4.1},
        {"mode": "cv", "voltage": 4.1, "duration": 120.0},
        {"mode": "rest", "duration": 60.0},
        {"mode": "cc", "c_rate": 2.0, "direction": "discharge", "duration": 300.0},
    ]},
    "time": {"dt_initial": 5.0, "dt_max": 10.0, "max_change": 0.05},
    "stop": {"min_voltage": 3.0, "max_voltage": 4.4},
    "output": {"fields_every": 10, "checkpoint_every": 5},
}
SKIP = {"wall time [s]", "krylov iterations [-]"}


def _wait_for(ready, timeout=300.0) -> None:
    """Poll ``ready()`` until it holds (a subprocess has written what the test waits for)."""
    deadline = time.time() + timeout
    while time.time() < deadline and not ready():
        time.sleep(0.05)


def _checkpointed(out, steps):
    def ready():
        st = out / "checkpoint" / "state.json"
        return st.is_file() and json.loads(st.read_text())["driver"]["steps"] >= steps
    return ready


def _toml(tmp_path, d=CASE):
    import tomli_w

    p = tmp_path / "case.toml"
    p.write_text(tomli_w.dumps(d))
    return p


def _same_series(a, b, atol=1e-12):
    assert a["time [s]"].shape == b["time [s]"].shape, (len(a["time [s]"]), len(b["time [s]"]))
    for col in a:
        if col in SKIP:
            continue
        if "balance error" in col:  # round-off on both sides
            continue
        x, y = a[col], b[col]
        np.testing.assert_allclose(y, x, rtol=1e-9, atol=atol * (np.nanmax(np.abs(x)) + 1e-300), err_msg=col)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from cellsim.simulation import run_case

    out = tmp_path_factory.mktemp("ref")
    r = run_case(case_from_dict(CASE), out)
    assert r.status == "completed", r.reason
    return read_timeseries(out)


def test_interrupt_then_resume_equals_uninterrupted(tmp_path, reference):
    from cellsim import simulation

    case = case_from_dict(CASE)
    out = tmp_path / "run"
    orig = simulation.Interrupt.requested
    calls = {"n": 0}

    def fake(comm):  # SIGTERM arrives during the 7th accepted step
        calls["n"] += 1
        if calls["n"] == 8:
            simulation.Interrupt.signum = signal.SIGTERM
        return orig(comm)

    simulation.Interrupt.requested = staticmethod(fake)
    try:
        r = simulation.run_case(case, out)
    finally:
        simulation.Interrupt.requested = orig
    assert r.status == "interrupted" and "SIGTERM" in r.reason and "--resume" in r.reason
    m = read_manifest(out)
    assert m["status"] == "interrupted"
    assert (out / "checkpoint" / "state.json").is_file()
    n_int = len(read_timeseries(out)["time [s]"])
    assert 2 < n_int < len(reference["time [s]"])
    r2 = simulation.run_case(case, out, overwrite=False, resume=True)
    assert r2.status == "completed", r2.reason
    assert read_manifest(out)["resumes"]
    _same_series(reference, read_timeseries(out))


def test_sigterm_to_cellsim_run_exit_4_and_resume(tmp_path, reference):
    case = _toml(tmp_path)
    out = tmp_path / "out"
    exe = Path(sys.executable).parent / "cellsim"
    p = subprocess.Popen([str(exe), "run", str(case), "-o", str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    ts = out / "timeseries.csv"
    _wait_for(lambda: ts.is_file() and len(ts.read_text().splitlines()) >= 6)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 4, (p.returncode, stdout[-2000:], stderr[-2000:])
    assert read_manifest(out)["status"] == "interrupted"
    assert main(["run", "--resume", str(out)]) == 0
    _same_series(reference, read_timeseries(out))


def test_sigkill_resumes_from_the_last_checkpoint(tmp_path, reference):
    case = _toml(tmp_path)
    out = tmp_path / "out"
    exe = Path(sys.executable).parent / "cellsim"
    p = subprocess.Popen([str(exe), "run", str(case), "-o", str(out)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _wait_for(_checkpointed(out, 3))
    time.sleep(0.3)
    p.kill()
    p.wait(timeout=60)
    assert read_manifest(out)["status"] == "running"  # killed: nothing could say otherwise
    assert main(["run", "--resume", str(out)]) == 0
    assert read_manifest(out)["status"] == "completed"
    _same_series(reference, read_timeseries(out))


def test_folder_with_a_run_needs_overwrite_and_keeps_user_files(tmp_path, capsys):
    small = {**CASE, "protocol": {"steps": [{"mode": "rest", "duration": 10.0}]}}
    case = _toml(tmp_path, small)
    out = tmp_path / "out"
    assert main(["run", str(case), "-o", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    (out / "fields" / "sketch.md").write_text("mine too")
    before = (out / "manifest.json").read_text()
    assert main(["run", str(case), "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == before
    assert main(["run", str(case), "-o", str(out), "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "fields" / "sketch.md").read_text() == "mine too"
    assert read_manifest(out)["status"] == "completed"
    # a live lock (another run) is refused; a stale one (dead pid on this host) is taken over
    import socket

    (out / ".cellsim.lock").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    assert main(["run", str(case), "-o", str(out), "--overwrite"]) == 2
    assert "in use by another cellsim run" in capsys.readouterr().err
    (out / ".cellsim.lock").write_text(f"{socket.gethostname()} 999999999\n")
    assert main(["run", str(case), "-o", str(out), "--overwrite"]) == 0
    assert not (out / ".cellsim.lock").exists()


@pytest.mark.skipif(not (Path(sys.executable).parent / "mpiexec").exists(), reason="no mpiexec in the environment")
def test_killed_on_2_ranks_resumes_on_1(tmp_path, reference):
    """A run killed under mpiexec -n 2 resumes serially (checkpoint values matched by dof
    coordinates) and ends with the uninterrupted serial time series."""
    case = _toml(tmp_path)
    out = tmp_path / "out"
    bindir = Path(sys.executable).parent
    p = subprocess.Popen([str(bindir / "mpiexec"), "-n", "2", str(bindir / "cellsim"), "-q", "run", str(case),
                          "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_for(_checkpointed(out, 10))
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=60)
    from cellsim.outdir import _alive

    pid = int((out / ".cellsim.lock").read_text().split()[1])
    _wait_for(lambda: not _alive(pid), timeout=10.0)  # the killed ranks (children of mpiexec's proxy) take a moment
    assert json.loads((out / "checkpoint" / "state.json").read_text())["mpi_size"] == 2
    assert main(["run", "--resume", str(out)]) == 0
    # rows before the checkpoint come from 2 ranks: sums in another order (round-off of the
    # stress-free first row, 1e-3 Pa against 6e7 Pa later)
    _same_series(reference, read_timeseries(out), atol=1e-10)


def test_checkpoint_killed_while_written_keeps_a_matching_pair(tmp_path, monkeypatch):
    """A kill between writing the arrays and the json of a checkpoint (simulated: the json's
    replace fails) leaves the previous checkpoint whole: its driver position with its own
    fields, never the new fields under the old position (which resumed 5 steps ahead)."""
    from cellsim import checkpoint as ck
    from cellsim.geometry.mesh import build_mesh
    from cellsim.models import build_model
    from mpi4py import MPI

    case = case_from_dict(CASE)
    comm = MPI.COMM_WORLD
    tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
    model = build_model(case, tm, comm)
    model.solve_initial()
    X = model.u[model.block_names[0]]
    X.x.array[:] = 0.25
    out = tmp_path / "run"
    ck.save(model, {"steps": 5, "t": 50.0}, out)
    X.x.array[:] = 0.75  # the next checkpoint's fields
    real = os.replace

    def dies_at_the_json(src, dst):
        if str(dst).endswith("state.json"):
            raise OSError("killed")
        return real(src, dst)

    monkeypatch.setattr(ck.os, "replace", dies_at_the_json)
    with pytest.raises(OSError):
        ck.save(model, {"steps": 10, "t": 100.0}, out)
    monkeypatch.setattr(ck.os, "replace", real)
    X.x.array[:] = -1.0
    drv = ck.load(model, out)
    assert drv["steps"] == 5 and drv["t"] == 50.0
    n = X.function_space.dofmap.index_map.size_local
    assert np.allclose(X.x.array[:n], 0.25, rtol=0, atol=1e-15), "fields of another checkpoint than its driver state"
    ck.save(model, {"steps": 15, "t": 150.0}, out)  # the next save removes the orphaned arrays
    if comm.rank == 0:
        assert len(list((out / ck.DIR).glob("state*.npz"))) == 1
    model.close()
