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
import resource
import time

from mpi4py import MPI

from cellsim.case import case_from_dict
from cellsim.geometry.mesh import build_mesh
from cellsim.models.particle import ParticleModel


def run(h: float, steps: int, dt: float, comm) -> dict:
    case = case_from_dict({
        "geometry": {"kind": "sphere", "radius": 5.86e-6, "mesh_size": h},
        "physics": {"initial_stoichiometry": 0.1},
        "control": {"mode": "galvanostatic", "c_rate": 1.0},
    })
    comm.Barrier()
    t0 = time.perf_counter()
    tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = ParticleModel(case, tm, comm)
    model.set_control()
    model.solve_initial()
    t_setup = time.perf_counter() - t0
    res = model.step(dt)  # warm-up
    model.accept()
    newton = krylov = 0
    comm.Barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        res = model.step(dt)
        assert res.converged, res.reason
        model.accept()
        newton += res.newton_iterations
        krylov += res.krylov_iterations
    comm.Barrier()
    t_steps = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.diagnostics()
    t_diag = time.perf_counter() - t0
    dofs = sum(u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
               for u in model.unknowns)
    rss = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, op=MPI.MAX)
    return {
        "ranks": comm.size, "mesh_size_m": h, "cells": tm.mesh.topology.index_map(3).size_global, "dofs": dofs,
        "mesh_s": round(t_mesh, 3), "setup_s": round(t_setup, 3), "steps": steps,
        "time_per_step_s": round(t_steps / steps, 4), "newton_per_step": newton / steps,
        "krylov_per_step": krylov / steps, "diagnostics_s": round(t_diag, 4),
        "peak_rss_per_rank_MiB": round(rss, 1),
    }


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
