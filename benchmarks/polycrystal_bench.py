"""Polycrystalline secondary-particle benchmark: unknowns, time per step, Newton iterations,
memory of an NMC811 secondary particle (R = 5 um, 20 Voronoi grains, random orientations,
anisotropic lattice strain ``nmc811_kondrakov2017``), 1C galvanostatic charge, grain
boundaries bonded or cohesive; a fixed number of steps after one warm-up step (the FFCx JIT
and the MUMPS set-up are excluded from the step timing, and counted in ``setup_s``); one
JSON line per configuration. Run it serially and under MPI:

    python benchmarks/polycrystal_bench.py
    mpiexec -n 2 python benchmarks/polycrystal_bench.py

Not a test: timings depend on the machine (figures in docs/multiscale.md); on a shared
machine ``cpu_per_step_s`` (CPU seconds of the busiest rank) is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from mpi4py import MPI

from cellsim.case import case_from_dict
from cellsim.geometry.mesh import build_mesh
from cellsim.models import build_model


def run(n_grains: int, mesh_size: float, interface: str, steps: int, dt: float, comm) -> dict:
    case = case_from_dict({
        "geometry": {"kind": "secondary_particle", "radius": 5e-6, "n_grains": n_grains, "seed": 3,
                     "mesh_size": mesh_size},
        "material": {"name": "nmc811_chen2020", "lattice_strain": "nmc811_kondrakov2017"},
        "physics": {"initial_stoichiometry": 0.9, "stress_assisted_diffusion": False,
                    "stress_in_overpotential": False},
        "mechanics": {"interface": interface},
        "control": {"mode": "galvanostatic", "c_rate": 1.0, "direction": "delithiation"},
        "discretisation": {"displacement_degree": 1},
    })
    comm.Barrier()
    t0 = time.perf_counter()
    tm = build_mesh(case.geometry, comm)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = build_model(case, tm, comm)
    model.set_control()
    assert model.solve_initial().converged
    t_setup = time.perf_counter() - t0
    res = model.step(dt)  # warm-up
    assert res.converged, res.reason
    model.accept()
    newton = 0
    comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        res = model.step(dt)
        assert res.converged, res.reason
        model.accept()
        newton += res.newton_iterations
    comm.Barrier()
    t_steps = time.perf_counter() - t0
    cpu = comm.allreduce(time.process_time() - c0, op=MPI.MAX)
    blocks = {n: u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
              for n, u in zip(model.block_names, model.unknowns)}
    rss = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, op=MPI.MAX)
    return {
        "grains": n_grains, "interface": interface, "ranks": comm.size,
        "cells": tm.mesh.topology.index_map(3).size_global, "colours": len(getattr(model, "blocks", []) or []),
        "grain_boundary_pairs": len(model.cohesives), "dofs": sum(blocks.values()),
        "mesh_s": round(t_mesh, 2), "setup_s": round(t_setup, 2), "steps": steps,
        "time_per_step_s": round(t_steps / steps, 3), "cpu_per_step_s": round(cpu / steps, 3),
        "newton_per_step": newton / steps, "peak_rss_per_rank_MiB": round(rss, 1),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--grains", type=int, default=20)
    p.add_argument("--mesh-size", type=float, default=1.0e-6)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--dt", type=float, default=30.0)
    p.add_argument("--interface", choices=["bonded", "cohesive", "both"], default="both")
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    for itf in (["bonded", "cohesive"] if args.interface == "both" else [args.interface]):
        r = run(args.grains, args.mesh_size, itf, args.steps, args.dt, comm)
        if comm.rank == 0:
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
