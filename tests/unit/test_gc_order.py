"""Unclosed parallel solvers collected in a different order on each rank must not hang.

A fresh-clone CI hung on 2 ranks: a garbage collection at a test's teardown destroyed two
unclosed MUMPS-factored SNES (DOLFINx's NonlinearProblem.__del__ destroys them, which is
collective), one rank inside the destruction of one, the other inside the other's. Now
the collector never destroys a solver's PETSc objects; cellsim.assembly.release_garbage
does, collectively, at safe points (see that module's docstring). The scenario runs under
``mpiexec -n 2`` in a subprocess with a timeout (before the fix it hung until killed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _mpiexec():
    cand = Path(sys.executable).with_name("mpiexec")
    return str(cand) if cand.exists() else None


@pytest.mark.skipif(_mpiexec() is None, reason="no mpiexec next to the interpreter")
def test_models_collected_in_rank_dependent_order_do_not_hang():
    from mpi4py import MPI

    if MPI.COMM_WORLD.size > 1:
        pytest.skip("launches its own 2-rank job")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    try:
        res = subprocess.run([_mpiexec(), "-n", "2", sys.executable, str(HERE / "gc_order_script.py")],
                             capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"2-rank garbage collection hung (killed after {e.timeout} s)")
    assert res.returncode == 0, res.stdout + res.stderr
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("GC-ORDER OK"))
    fields = dict(kv.split("=") for kv in line.split()[2:])
    # both models' solvers destroyed at the safe point, nothing left waiting
    assert int(fields["released"]) >= 2 and int(fields["left"]) == 0, line
