"""Single-particle benchmark: degrees of freedom, time per step, Newton iterations, memory.

Runs the default case's physics (graphite sphere, 1C galvanostatic lithiation, full stress
coupling) at three mesh sizes for a fixed number of steps, after one warm-up step (so the
FFCx JIT cache and MUMPS symbolic set-up are excluded from the step timing), and writes
one JSON line per mesh. Run it serially and under MPI:

    python benchmarks/particle_bench.py
    mpiexec -n 2 python benchmarks/particle_bench.py

Not a test: timings depend on the machine (record them in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json

from bench_timing import time_steps
from mpi4py import MPI

from cellsim.case import case_from_dict


def run(h: float, steps: int, dt: float, comm) -> dict:
    case = case_from_dict({
        "geometry": {"kind": "sphere", "radius": 5.86e-6, "mesh_size": h},
        "physics": {"initial_stoichiometry": 0.1},
        "control": {"mode": "galvanostatic", "c_rate": 1.0},
    })
    r, _, _ = time_steps(case, steps, dt, comm)
    return {"ranks": comm.size, "mesh_size_m": h, **{k: r[k] for k in (
        "cells", "dofs", "mesh_s", "setup_s", "steps", "time_per_step_s", "cpu_per_step_s", "newton_per_step",
        "krylov_per_step", "diagnostics_s", "peak_rss_per_rank_MiB")}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=float, nargs="+", default=[1.5e-6, 1.0e-6, 0.7e-6])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--dt", type=float, default=60.0)
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    for h in args.sizes:
        r = run(h, args.steps, args.dt, comm)
        if comm.rank == 0:
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
