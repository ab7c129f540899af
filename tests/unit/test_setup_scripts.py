"""Behaviour of scripts/test and scripts/setup that CI relies on.

scripts/test must fail whenever either run fails: a failing test, a test that fails on
one MPI rank only, and "no tests collected" (pytest exit code 5). These tests run it on
a throw-away project (a copy of the script and a few tiny test files) with this
interpreter and its mpiexec, so they take a few seconds and need no network.
scripts/setup is checked on its quick paths: a bad interpreter is refused with a clear
message, and an interpreter that imports DOLFINx only through a venv is refused instead
of silently installing a second DOLFINx.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

PYPROJECT = """
[tool.pytest.ini_options]
testpaths = ["tests"]
markers = ["slow: slow", "mpi: parallel"]
addopts = "-ra --strict-markers"
"""

PASSING = """
import pytest

def test_serial():
    assert 1 + 1 == 2

@pytest.mark.mpi
def test_parallel():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    assert comm.allreduce(1) == comm.size
"""

FAIL_ON_RANK_1 = """
import pytest

@pytest.mark.mpi
def test_rank_one_fails():
    from mpi4py import MPI
    assert MPI.COMM_WORLD.rank == 0
"""

SLOW_FAILING = """
import pytest

@pytest.mark.slow
def test_slow_and_broken():
    assert False, "only collected with --slow"
"""


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    proj = tmp_path / "proj"
    (proj / "scripts").mkdir(parents=True)
    (proj / "tests").mkdir()
    shutil.copy(ROOT / "scripts" / "test", proj / "scripts" / "test")
    (proj / "pyproject.toml").write_text(PYPROJECT)
    for name, text in files.items():
        (proj / "tests" / name).write_text(text)
    return proj


def _run_test_script(proj: Path, *args: str) -> subprocess.CompletedProcess:
    if shutil.which("mpiexec", path=str(BIN)) is None and shutil.which("mpiexec") is None:
        pytest.skip("no mpiexec")
    env = dict(os.environ)
    env.update(
        CELLSIM_VENV=str(proj / "no-venv"),
        CELLSIM_PYTHON=sys.executable,
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        CELLSIM_TEST_TIMEOUT="120",
    )
    return subprocess.run(
        ["bash", str(proj / "scripts" / "test"), *args],
        cwd=proj, env=env, capture_output=True, text=True, timeout=300,
    )


def _summary(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("[test] serial:")]
    assert lines, res.stdout + res.stderr
    return lines[-1]


def test_all_passing_suite_passes(tmp_path):
    res = _run_test_script(_project(tmp_path, {"test_ok.py": PASSING}))
    assert res.returncode == 0, res.stdout + res.stderr
    summary = _summary(res)
    assert "serial: PASSED" in summary and "mpiexec -n 2: PASSED" in summary
    assert summary.endswith("ALL PASSED")


def test_no_tests_collected_fails(tmp_path):
    res = _run_test_script(_project(tmp_path, {"test_ok.py": PASSING}), "-k", "no_such_test")
    assert res.returncode == 1
    assert "FAILED (no tests collected)" in _summary(res)


def test_parallel_subset_without_mpi_tests_fails(tmp_path):
    only_serial = "def test_serial():\n    assert True\n"
    res = _run_test_script(_project(tmp_path, {"test_serial.py": only_serial}))
    assert res.returncode == 1
    summary = _summary(res)
    assert "serial: PASSED" in summary
    assert "mpiexec -n 2: FAILED (no tests collected)" in summary


def test_failure_on_one_rank_fails(tmp_path):
    proj = _project(tmp_path, {"test_ok.py": PASSING, "test_rank.py": FAIL_ON_RANK_1})
    res = _run_test_script(proj)
    assert res.returncode == 1
    summary = _summary(res)
    assert "serial: PASSED" in summary  # rank 0 of a serial run passes
    assert "mpiexec -n 2: FAILED (pytest exit code 1)" in summary


def test_slow_tests_only_with_flag(tmp_path):
    proj = _project(tmp_path, {"test_ok.py": PASSING, "test_slow.py": SLOW_FAILING})
    fast = _run_test_script(proj, "--serial-only")
    assert fast.returncode == 0, fast.stdout + fast.stderr
    slow = _run_test_script(proj, "--serial-only", "--slow")
    assert slow.returncode == 1
    assert "only collected with --slow" in slow.stdout


def _run_setup(tmp_path: Path, python: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(CELLSIM_PYTHON=python, CELLSIM_VENV=str(tmp_path / "venv"),
               CELLSIM_CACHE=str(tmp_path / "cache"))
    env.pop("CELLSIM_BUILD_PYTHON", None)
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup"), "--no-test", "--no-reference"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_setup_refuses_unusable_python(tmp_path):
    fake = tmp_path / "python-too-old"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    res = _run_setup(tmp_path, str(fake))
    assert res.returncode != 0
    assert f"CELLSIM_PYTHON={fake} is not a Python >= 3.12" in res.stderr
    assert not (tmp_path / "venv").exists()


def test_setup_refuses_dolfinx_seen_only_through_a_venv(tmp_path):
    """An interpreter inside a venv with the DOLFINx wheel: a venv made from it cannot
    see that DOLFINx, and setup must say so instead of installing a second one."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("needs this test to run inside a venv")
    try:
        from cellsim.dolfinx_env import require_dolfinx

        require_dolfinx()
    except Exception:
        pytest.skip("DOLFINx not importable here")
    res = _run_setup(tmp_path, sys.executable)
    assert res.returncode != 0, res.stdout
    assert "is already importable" in res.stdout
    assert "the venv made from it does not" in res.stderr
    assert not list((tmp_path / "venv").glob("lib/python*/site-packages/dolfinx_solver"))
