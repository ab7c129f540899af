"""Half-cell benchmark: a ~20-particle NMC811 half-cell, C/2 discharge.

Measures, for one solver configuration and MPI size: unknowns, mesh and set-up time (form
compilation included; run twice to see it cached), time per accepted step, Newton and
Krylov iterations, peak memory (sum of the ranks' maximum resident set sizes) and the total
wall time of the discharge. Usage::

    python benchmarks/halfcell_bench.py --solver mumps [--steps 10] [--out bench.json]
    mpiexec -n 2 python benchmarks/halfcell_bench.py --solver iterative
    python benchmarks/halfcell_bench.py --solver iterative --refine 1.6   # a finer mesh

``--steps N`` stops after N time steps (timing sample); without it the whole C/2 discharge
to 3.5 V runs. Results are printed and, with ``--out``, written as JSON (rank 0).

Geometry: lithium metal | 8 um separator | 18 um electrode of lognormal NMC811 particles
(mean radius 2.5 um, active fraction 0.40, ~20 particles, carbon-binder necks 5 %) on a
13 x 13 um collector patch (geometry kind ``half_cell``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def geometry(refine: float = 1.0) -> dict:
    g = {
        "kind": "half_cell", "thickness": 18e-6, "width": 13e-6, "depth": 13e-6, "collector_thickness": 1e-6,
        "separator_thickness": 8e-6, "volume_fraction": 0.40, "binder_fraction": 0.05, "seed": 7,
        "radius_distribution": {"kind": "lognormal", "mean": 2.5e-6, "std": 0.3e-6},
    }
    if refine != 1.0:
        g["mesh_size"] = 1.0e-6 / refine
        g["interface_mesh_size"] = 0.6e-6 / refine
    return g


def make_case(refine: float = 1.0, solver: str = "mumps", c_rate: float = 0.5):
    """The benchmark case: C/2 discharge to 3.5 V, no field output."""
    from cellsim.case.halfcell import HalfCellCase

    return HalfCellCase.model_validate({
        "model": "halfcell", "title": "benchmark",
        "geometry": geometry(refine),
        "protocol": {"steps": [{"mode": "cc", "c_rate": c_rate, "until_voltage": 3.5}]},
        "time": {"dt_initial": 5.0, "dt_max": 300.0, "max_change": 0.02},
        "solver": {"linear_solver": solver, "ksp_rtol": 1e-8},
        "output": {"fields": False},
    })


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solver", choices=["mumps", "superlu_dist", "iterative"], default="mumps")
    ap.add_argument("--c-rate", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many time steps (0: whole discharge)")
    ap.add_argument("--refine", type=float, default=1.0, help="divide the default mesh sizes by this factor")
    ap.add_argument("--out", default="", help="JSON file for the results")
    args = ap.parse_args(argv)

    from mpi4py import MPI

    from cellsim.dolfinx_env import require_dolfinx

    require_dolfinx()
    from cellsim.geometry.mesh import build_mesh
    from cellsim.log import setup_logging
    from cellsim.models.halfcell import HalfCellModel
    from cellsim.simulation import run_protocol

    comm = MPI.COMM_WORLD
    log = setup_logging(comm.rank)
    case = make_case(args.refine, args.solver, args.c_rate)
    t0 = time.perf_counter()
    tm = build_mesh(case.geometry, comm)
    t_mesh = time.perf_counter() - t0
    t1 = time.perf_counter()
    model = HalfCellModel(case, tm, comm)
    t_setup = time.perf_counter() - t1
    ncells = tm.mesh.topology.index_map(tm.mesh.topology.dim).size_global
    log.info(f"{len(model.particles)} particles, {ncells} cells, {model.num_dofs()} unknowns; mesh {t_mesh:.1f} s, "
             f"set-up {t_setup:.1f} s; solver {args.solver}, {comm.size} rank(s)")
    t2 = time.perf_counter()
    res = run_protocol(case, model, keep_rows=True, log=log, max_steps=args.steps or None)
    t_run = time.perf_counter() - t2
    rows = res.rows[1:]
    newton = sum(r["newton iterations [-]"] for r in rows)
    krylov = sum(r["krylov iterations [-]"] for r in rows)
    mem = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.SUM) / 1024.0  # MiB
    out = {
        "solver": args.solver, "mpi_size": comm.size, "c_rate": args.c_rate, "refine": args.refine,
        "particles": len(model.particles), "cells": ncells, "unknowns": model.num_dofs(),
        "mesh_time_s": t_mesh, "setup_time_s": t_setup, "run_time_s": t_run, "steps": res.steps,
        "time_per_step_s": t_run / max(res.steps, 1), "newton_iterations": newton,
        "newton_per_step": newton / max(res.steps, 1), "krylov_iterations": krylov,
        "krylov_per_newton": krylov / max(newton, 1), "peak_memory_MiB_all_ranks": mem,
        "simulated_time_s": res.time, "status": res.status, "reason": res.reason,
        "final_voltage_V": rows[-1]["voltage [V]"] if rows else None,
        "capacity_mAh_m2": rows[-1]["capacity [mA h m-2]"] if rows else None,
        "max_conservation_error": max((abs(r[k]) for r in rows for k in r if k.endswith("error [-]")), default=0.0),
    }
    if comm.rank == 0:
        for k, v in out.items():
            print(f"{k:28s} {v:.6g}" if isinstance(v, float) else f"{k:28s} {v}")
        if args.out:
            Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
