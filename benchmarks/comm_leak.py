"""Do repeated runs in one process leak MPI communicators? (the exit-15 abort of long test runs)

MPICH gives a process about 2000 communicator context ids. Every DOLFINx mesh, index map
and PETSc object that holds a communicator keeps one (PETSc through its inner duplicate of
the user's communicator); a run whose objects are never released costs its context ids
for good, and after some tens of runs ``MPI_Comm_dup`` fails with "Too many
communicators" (MPI_ERR_OTHER: the job exits with code 15).

This script counts the free context ids directly (:func:`free_context_ids`: duplicate a
communicator until MPICH refuses, then free them all) before and after each of ``--runs``
repetitions of a workload, after ``gc.collect()``:

* ``api``: ``cellsim.run`` of a tiny particle case (gmsh mesh, model, Newton, VTK and CSV
  output, manifest);
* ``particle``: a particle model built, solved and stepped by hand and dropped without
  ``close()`` (as the tests do);
* ``halfcell``: a 2D half-cell model (tests/halfcell/meshes.py lattice) run through the
  protocol and dropped.

``--unfixed`` undoes the fix (SNES callbacks as bound methods again, no release of the
kept Jacobians) to show the leak. Prints one JSON line per workload::

    python benchmarks/comm_leak.py --runs 5
    mpiexec -n 2 python benchmarks/comm_leak.py --runs 5 --unfixed
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTICLE = {"geometry": {"kind": "sphere", "radius": 5e-6, "mesh_size": 2.5e-6},
            "control": {"mode": "galvanostatic", "c_rate": 1.0},
            "time": {"t_end": 20.0, "dt_initial": 10.0}, "physics": {"mechanics": True}}


def free_context_ids(comm) -> int:
    """How many more communicators MPI lets this process create (collective): ``comm`` is
    duplicated until MPI refuses, then every duplicate is freed."""
    from mpi4py import MPI

    old = comm.Get_errhandler()
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    dups = []
    try:
        while len(dups) < 1 << 16:
            try:
                dups.append(comm.Dup())
            except MPI.Exception:
                break
    finally:
        for d in dups:
            d.Free()
        comm.Set_errhandler(old)
        old.Free()
    return comm.allreduce(len(dups), op=MPI.MIN)


def unfixed_patches() -> list:
    """(object, attribute, value) that restore the state before the fix: bound methods as
    SNES callbacks, nothing released."""
    from cellsim import assembly, solver
    from cellsim.models import base

    return [(solver, "_weak", lambda method: method), (assembly, "release_garbage", lambda comm=None: 0),
            (solver, "release_garbage", lambda comm=None: 0), (base.Model, "close", lambda self: None)]


def _released(comm) -> int:
    from cellsim import assembly

    gc.collect()
    assembly.release_garbage(comm)  # the collected solvers' objects (a safe point, as in the tests)
    return free_context_ids(comm)


def workload_api(comm, outdir: Path, i: int) -> None:
    import cellsim

    r = cellsim.run(PARTICLE, outdir / f"api{i}", comm=comm, quiet=True)
    assert r.status == "completed", r.reason


def workload_particle(comm, outdir: Path, i: int) -> None:
    from cellsim.case import case_from_dict
    from cellsim.geometry.mesh import build_mesh
    from cellsim.models import build_model

    case = case_from_dict(PARTICLE)
    model = build_model(case, build_mesh(case.geometry, comm), comm)
    assert model.solve_initial().converged
    for _ in range(2):
        assert model.step(5.0).converged
        model.accept()


def workload_halfcell(comm, outdir: Path, i: int) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "halfcell"))
    import meshes

    from cellsim.case.halfcell import HalfCellCase
    from cellsim.models.halfcell import HalfCellModel
    from cellsim.simulation import run_protocol

    case = HalfCellCase.model_validate(
        {"model": "halfcell", "protocol": {"steps": [{"mode": "cc", "c_rate": 1.0, "duration": 20.0}]},
         "time": {"dt_initial": 10.0}, "output": {"fields": False}}, context={"mesh_given": True})
    tm = meshes.build(meshes.square_lattice_2d(nx=1, nz=1), h=2.0e-6, comm=comm)
    res = run_protocol(case, HalfCellModel(case, tm, comm))
    assert res.status == "completed", res.reason


WORKLOADS = {"api": workload_api, "particle": workload_particle, "halfcell": workload_halfcell}


def measure(name: str, comm, runs: int, outdir: Path) -> dict:
    """Context ids lost by each of ``runs`` repetitions (after one warm-up run)."""
    work = WORKLOADS[name]
    work(comm, outdir, 0)  # warm-up: JIT, module caches, PETSc's first inner communicators
    free = [_released(comm)]
    t0 = time.perf_counter()
    for i in range(1, runs + 1):
        work(comm, outdir, i)
        free.append(_released(comm))
    return {"workload": name, "ranks": comm.size, "runs": runs, "free_context_ids": free,
            "lost_per_run": (free[0] - free[-1]) / runs, "seconds_per_run": (time.perf_counter() - t0) / runs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--unfixed", action="store_true", help="undo the fix (shows the leak)")
    args = ap.parse_args(argv)
    from cellsim.dolfinx_env import require_dolfinx

    require_dolfinx()
    from mpi4py import MPI

    import logging

    from cellsim.log import set_verbosity

    set_verbosity(logging.WARNING)
    comm = MPI.COMM_WORLD
    if args.unfixed:
        for obj, name, value in unfixed_patches():
            setattr(obj, name, value)
    outdir = Path(comm.bcast(tempfile.mkdtemp(prefix="comm-leak-") if comm.rank == 0 else None))
    for name in args.workloads:
        row = measure(name, comm, args.runs, outdir)
        row["unfixed"] = args.unfixed
        if comm.rank == 0:
            print(json.dumps(row), flush=True)
    if comm.rank == 0:
        import shutil

        shutil.rmtree(outdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
