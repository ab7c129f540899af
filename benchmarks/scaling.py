"""Strong and weak scaling of the half-cell (benchmarks/halfcell_bench.py's cell), 1..N ranks.

Each measurement is one ``mpiexec -n K`` run of this script in worker mode: it meshes the
benchmark half-cell (about 20 NMC811 particles, C/2 discharge) at a mesh refinement chosen
for the wanted number of unknowns, builds the model, takes ``--warmup`` steps and times
``--steps`` more (wall time of the slowest rank, and CPU seconds), and prints one JSON line.
The driver collects the lines (``--out``, JSON lines, appended) and prints a summary table
with the parallel efficiency: strong scaling E = T_1 / (K T_K) at a fixed size, weak
scaling E = T_1 / T_K at a fixed size per rank (T: time per accepted step; the base is the
smallest rank count measured).

    python benchmarks/scaling.py --ranks 1 2 4 8 16 --strong 250000 --weak 60000 \\
        --out results/scaling.jsonl                      # a 16-core machine
    python benchmarks/scaling.py --ranks 1 2 --strong 60000 --steps 3   # this 2-core one
    python benchmarks/scaling.py --summary results/scaling.jsonl        # table only

Sizes are targets: the mesh refinement r (mesh sizes divided by r) is interpolated between
measured points (r = 0.57, 1, 1.6, 2.2: 33k, 48k, 121k, 254k unknowns) and extrapolated
as unknowns ~ r^2.1 (1M unknowns: r = 4.2); the table reports the real count (the coarsest
mesh has about 33k unknowns). ``--solver iterative`` (default; GMRES + fieldsplit/GAMG) is the one that
scales; ``mumps`` runs too. The machine should be otherwise idle: ranks above the core
count only measure oversubscription.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: unknowns of the benchmark cell at refinement 1 and the fitted exponent of the refinement
BASE_UNKNOWNS, EXPONENT = 48189, 2.1


#: measured (refinement, unknowns) of the benchmark cell; interpolated in log-log, and
#: extrapolated beyond the last point with EXPONENT
MEASURED = [(0.5736, 32522), (1.0, 48189), (1.6, 120553), (2.2, 254225)]


def refine_for(unknowns: float) -> float:
    import numpy as np

    r, n = np.log([m[0] for m in MEASURED]), np.log([m[1] for m in MEASURED])
    x = np.log(float(unknowns))
    if x > n[-1]:
        return float(np.exp(r[-1] + (x - n[-1]) / EXPONENT))
    return float(np.exp(np.interp(x, n, r)))


def worker(args) -> None:
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    import resource

    from mpi4py import MPI

    from cellsim.dolfinx_env import require_dolfinx

    require_dolfinx()
    from halfcell_bench import make_case

    from cellsim.geometry.mesh import build_mesh
    from cellsim.models.halfcell import HalfCellModel
    from cellsim.simulation import run_protocol

    comm = MPI.COMM_WORLD
    case = make_case(args.refine, args.solver)
    t0 = time.perf_counter()
    tm = build_mesh(case.geometry, comm)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = HalfCellModel(case, tm, comm)
    t_setup = time.perf_counter() - t0
    marks = []
    accept = model.accept

    def timed_accept():
        accept()
        comm.Barrier()
        marks.append((time.perf_counter(), time.process_time()))

    model.accept = timed_accept
    comm.Barrier()
    marks.append((time.perf_counter(), time.process_time()))
    rows = run_protocol(case, model, max_steps=args.warmup + args.steps, keep_rows=True).rows[1:]
    timed = rows[args.warmup:]
    n = max(len(timed), 1)
    wall = (marks[-1][0] - marks[-1 - len(timed)][0]) / n if timed else float("nan")
    cpu = comm.allreduce(marks[-1][1] - marks[-1 - len(timed)][1], op=MPI.MAX) / n if timed else float("nan")
    newton = sum(r["newton iterations [-]"] for r in timed) / n
    krylov = sum(r["krylov iterations [-]"] for r in timed) / n
    out = {"ranks": comm.size, "solver": args.solver, "refine": round(args.refine, 4), "unknowns": model.num_dofs(),
           "cells": tm.mesh.topology.index_map(tm.mesh.topology.dim).size_global, "steps": len(timed),
           "mesh_s": round(t_mesh, 2), "setup_s": round(t_setup, 2), "time_per_step_s": round(wall, 4),
           "cpu_per_step_s": round(cpu, 4), "newton_per_step": round(newton, 2),
           "krylov_per_newton": round(krylov / max(newton, 1e-30), 1),
           "peak_rss_mib_per_rank": round(comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                                         op=MPI.MAX) / 1024)}
    if comm.rank == 0:
        print("SCALING " + json.dumps(out), flush=True)


def run_one(k: int, refine: float, args, kind: str, target: float) -> dict | None:
    cmd = [args.mpiexec, "-n", str(k), sys.executable, str(Path(__file__).resolve()), "--worker",
           "--refine", str(refine), "--solver", args.solver, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    print("+ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout, check=False)
    for line in p.stdout.splitlines():
        if line.startswith("SCALING "):
            rec = json.loads(line[len("SCALING "):])
            rec.update({"kind": kind, "target_unknowns": int(target), "date": time.strftime("%Y-%m-%d %H:%M")})
            return rec
    print(f"  failed (exit {p.returncode}):\n{p.stderr[-2000:]}", flush=True)
    return None


def summary(records: list[dict]) -> str:
    lines = []
    for kind in ("strong", "weak"):
        recs = sorted((r for r in records if r.get("kind") == kind), key=lambda r: (r["target_unknowns"], r["ranks"]))
        if not recs:
            continue
        lines += [f"\n{kind} scaling", "",
                  ("| ranks | unknowns | unknowns/rank | time/step | CPU/step (slowest rank) | Newton/step "
                   "| Krylov/Newton | efficiency |"), "|---|---|---|---|---|---|---|---|"]
        groups = {}
        for r in recs:
            groups.setdefault(r["target_unknowns"] if kind == "strong" else "weak", []).append(r)
        for g in groups.values():
            base = min(g, key=lambda r: r["ranks"])
            for r in g:
                t1, tk = base["time_per_step_s"], r["time_per_step_s"]
                eff = (t1 * base["ranks"] / (r["ranks"] * tk)) if kind == "strong" else t1 / tk
                lines.append(f"| {r['ranks']} | {r['unknowns']:,} | {r['unknowns'] // r['ranks']:,} | {tk:.3f} s "
                             f"| {r['cpu_per_step_s']:.3f} s | {r['newton_per_step']} | {r['krylov_per_newton']} "
                             f"| {100 * eff:.0f} % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--strong", type=float, nargs="*", default=[250000],
                    help="total unknowns of the strong-scaling runs (one series per size)")
    ap.add_argument("--weak", type=float, default=60000, help="unknowns per rank of the weak-scaling runs (0: none)")
    ap.add_argument("--max-unknowns", type=float, default=1.1e6, help="skip runs above this size")
    ap.add_argument("--solver", choices=["iterative", "mumps"], default="iterative")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--mpiexec", default=str(Path(sys.executable).with_name("mpiexec")))
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    ap.add_argument("--out", default="", help="JSON lines file (appended)")
    ap.add_argument("--summary", default="", help="only print the table of this JSON lines file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--refine", type=float, default=1.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.summary:
        print(summary([json.loads(x) for x in Path(args.summary).read_text().splitlines() if x.strip()]))
        return 0
    if not Path(args.mpiexec).exists():
        args.mpiexec = "mpiexec"
    plan = [("strong", k, n) for n in args.strong for k in args.ranks]
    if args.weak > 0:
        plan += [("weak", k, args.weak * k) for k in args.ranks]
    records = []
    for kind, k, n in plan:
        if n > args.max_unknowns:
            print(f"skipped: {kind} {k} ranks {n:.0f} unknowns (above --max-unknowns)")
            continue
        rec = run_one(k, refine_for(n), args, kind, n if kind == "strong" else args.weak)
        if rec is None:
            continue
        print("  " + json.dumps(rec), flush=True)
        records.append(rec)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
    print(summary(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
