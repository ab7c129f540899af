"""Porous-particle benchmark: unknowns, time per step, Newton iterations, memory.

A graphite particle (R = 5 um) with 50 closed spherical pores (r_p = 0.6 um, porosity
0.0864) filled with electrolyte, 1C galvanostatic lithiation, with or without mechanics,
for a fixed number of steps after one warm-up step (the FFCx JIT cache and the MUMPS
set-up are excluded from the step timing); one JSON line per configuration. Also the
dense sphere of the same solid volume and mesh size, for the ratio. Run it serially and
under MPI:

    python benchmarks/porous_bench.py
    mpiexec -n 2 python benchmarks/porous_bench.py

Not a test: timings depend on the machine (record them in benchmarks/porous.md); on a
shared machine ``cpu_per_step_s`` (CPU seconds of the busiest rank) is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import math

from bench_timing import time_steps
from mpi4py import MPI

from cellsim.case import case_from_dict

PORES = {"kind": "porous_particle", "radius": 5e-6, "pore_shape": "spherical", "pore_radius": 0.6e-6,
         "porosity": 0.0864, "seed": 3}


def run(geometry: dict, mech: bool, steps: int, dt: float, comm) -> dict:
    case = case_from_dict({
        "geometry": geometry,
        "material": {"name": "graphite_chen2020"},
        "physics": {"initial_stoichiometry": 0.1, "mechanics": mech, "stress_assisted_diffusion": mech,
                    "stress_in_overpotential": mech},
        "control": {"mode": "galvanostatic", "c_rate": 1.0},
        "discretisation": {"displacement_degree": 1},
    })
    r, model, tm = time_steps(case, steps, dt, comm)
    return {
        "geometry": geometry["kind"], "mechanics": mech, "ranks": comm.size,
        "pores": tm.info.get("num_pores", 0), "cells": r["cells"], "solid_volume_m3": model.volume,
        **{k: r[k] for k in ("dofs", "dofs_per_block", "mesh_s", "setup_s", "steps", "time_per_step_s",
                             "cpu_per_step_s", "newton_per_step", "peak_rss_per_rank_MiB")},
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mesh-size", type=float, default=1.0e-6)
    p.add_argument("--pore-mesh-size", type=float, default=0.3e-6)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--dt", type=float, default=60.0)
    p.add_argument("--mechanics", choices=["off", "on", "both"], default="both")
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    porous = {**PORES, "mesh_size": args.mesh_size, "region_mesh_size": {"pore": args.pore_mesh_size}}
    mechs = {"off": [False], "on": [True], "both": [False, True]}[args.mechanics]
    for mech in mechs:
        r = run(porous, mech, args.steps, args.dt, comm)
        if comm.rank == 0:
            print(json.dumps(r), flush=True)
        r_dense = (3.0 * r["solid_volume_m3"] / (4.0 * math.pi)) ** (1.0 / 3.0)
        d = run({"kind": "sphere", "radius": r_dense, "mesh_size": args.mesh_size}, mech, args.steps, args.dt, comm)
        if comm.rank == 0:
            print(json.dumps(d), flush=True)


if __name__ == "__main__":
    main()
