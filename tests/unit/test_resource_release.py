"""Runs in one process release their MPI communicators (the exit-15 abort of long test runs).

MPICH gives a process about 2000 communicator context ids; a model that is never released
keeps those of its meshes, index maps and PETSc objects (20 per tiny particle model
serially, 49 on 2 ranks before the fix), and a long pytest process or parameter sweep then
aborted with "Too many communicators" (exit code 15). The free context ids are counted
exactly (benchmarks/comm_leak.py: duplicate until MPI refuses), so one id lost per run
fails these tests. The workloads are those of the benchmark script.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import comm_leak  # noqa: E402

RUNS = 2


def _free_ids(name, tmp_dir, runs=RUNS):
    row = comm_leak.measure(name, MPI.COMM_WORLD, runs, tmp_dir)
    return row["free_context_ids"]


@pytest.mark.mpi
def test_api_runs_release_communicators(shared_dir):
    """cellsim.run of a tiny particle case (mesh, model, Newton, VTK/CSV output) again and
    again: not one communicator context id is lost per run."""
    free = _free_ids("api", shared_dir)
    assert free == [free[0]] * (RUNS + 1), free


@pytest.mark.mpi
def test_dropped_models_release_communicators(shared_dir):
    """Models built, solved and stepped by hand, then dropped without close() (as tests
    and notebooks do): the garbage collector frees them and all their communicators."""
    for name in ("particle", "halfcell"):
        free = _free_ids(name, shared_dir, runs=2 if name == "particle" else 1)
        assert len(set(free)) == 1, (name, free)


@pytest.mark.mpi
def test_the_count_sees_the_leak_without_the_fix(shared_dir, monkeypatch):
    """The check can fail: with bound methods as SNES callbacks again (petsc4py hides them
    from the collector, so model -> SNES -> callback -> model is never freed) and no
    release of the kept Jacobians, every run loses context ids."""
    for obj, name, value in comm_leak.unfixed_patches():
        monkeypatch.setattr(obj, name, value)
    free = _free_ids("particle", shared_dir, runs=1)
    assert free[0] - free[1] >= 10, free


def test_test_script_runs_one_process_per_folder(tmp_path):
    """scripts/test: one pytest process per folder of tests/ by default (the leak fixed),
    one per test file with --per-file (the old work-around, kept as a fallback)."""
    import re

    from test_setup_scripts import PASSING, _project, _run_test_script

    proj = _project(tmp_path, {})
    for sub in ("a", "b"):
        (proj / "tests" / sub).mkdir()
        for k in (1, 2):
            (proj / "tests" / sub / f"test_{sub}{k}.py").write_text(PASSING)
    for args, counts in ((["--serial-only"], [4, 4]), (["--serial-only", "--per-file"], [2, 2, 2, 2])):
        res = _run_test_script(proj, *args)
        assert res.returncode == 0, res.stdout + res.stderr
        assert [int(n) for n in re.findall(r"(\d+) passed", res.stdout)] == counts, res.stdout
