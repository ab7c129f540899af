"""Benchmark: build + mesh + distribute composite electrodes of about 25, 50, 100, 200
(and on request 1000) particles: time of each phase and peak memory vs particle count.

Each size runs in its own process (so that the peak memory is that run's), serially or
under ``mpiexec -n N`` when launched so. Reported per size: particle count, tetrahedra,
wall time of each phase (plan = packing + binder solve, geometry = OpenCASCADE booleans,
meshing = gmsh, distribute = dolfinx.io.gmsh.model_to_mesh), total, peak resident memory
of rank 0 (ru_maxrss; gmsh runs in-process), CPU time of rank 0 and the 1-minute load
average (the wall time is inflated on a shared machine), element quality, achieved
fractions, connected fraction and the binder bridges added (with the rebuilds they cost).

    python benchmarks/mesh_electrode.py                # 25 50 100 200
    python benchmarks/mesh_electrode.py 1000 --json out.json
    python benchmarks/mesh_electrode.py 50 --mesh-algorithm delaunay   # force a 3D mesher

After the runs, the peak memory is fitted as a + b n (least squares) and the time as
c n^p, so that the growth with the particle count is read off directly (memory linear:
the fit's relative residual small; time: the exponent p).

Geometry: lognormal radii (mean 2 um, std 0.3 um), active fraction 0.45, binder necks
0.04, default mesh sizes; the box is sized for the requested particle count.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time


def spec_for(n: int) -> dict:
    mean, std, phi = 2.0e-6, 0.3e-6, 0.45
    cv2 = (std / mean) ** 2
    vp = 4 / 3 * math.pi * mean**3 * (1 + cv2) ** 3  # E[r^3] of the lognormal
    vbox = n * vp / phi
    thickness = max(12e-6, min(30e-6, (vbox * 2.0) ** (1 / 3)))
    side = math.sqrt(vbox / thickness)
    return {
        "kind": "electrode",
        "thickness": thickness,
        "width": side,
        "depth": side,
        "collector_thickness": 1.5e-6,
        "volume_fraction": phi,
        "binder_fraction": 0.04,
        "radius_distribution": {"kind": "lognormal", "mean": mean, "std": std},
        "seed": 1,
        "min_element_quality": 0.0,  # measured and reported, not enforced here
        "max_elements": 20_000_000,  # 1000 particles: about 3.4 million tetrahedra
    }


def run_one(n: int, mesh_algorithm: str | None = None, brep: str = "auto") -> dict:
    import resource

    from mpi4py import MPI

    from cellsim.geometry import electrode, measure
    from cellsim.geometry.mesh import build_mesh

    if brep != "auto":  # the CAD path: booleans keeping their inputs + BREP rebuild, or plain
        electrode.BREP_REBUILD_MIN_PARTICLES = 0 if brep == "on" else 10**9

    comm = MPI.COMM_WORLD
    spec = spec_for(n)
    if mesh_algorithm:
        spec["mesh_algorithm"] = mesh_algorithm
    t0 = time.perf_counter()
    c0 = time.process_time()
    tm = build_mesh(spec, comm)
    total = time.perf_counter() - t0
    cpu = time.process_time() - c0
    vb = tm.info["electrode_volume"]
    out = {
        "requested": n,
        "particles": tm.info["num_particles"],
        "mpi_ranks": comm.size,
        "box_m": [spec["width"], spec["depth"], spec["thickness"]],
        "tetrahedra": tm.info["mesh"]["num_tetrahedra"],
        "nodes": tm.info["mesh"]["num_nodes"],
        "timing_s": {**tm.info["timing"], "total": total, "cpu_rank0": cpu},
        "load_average_1min": os.getloadavg()[0],
        "peak_rss_MiB_rank0": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "quality_min": tm.info["mesh"]["quality_min"],
        "quality_mean": tm.info["mesh"]["quality_mean"],
        "fraction_particle": measure.region_volume(tm, "particle") / vb,
        "fraction_binder": measure.region_volume(tm, "binder") / vb,
        "not_connected": len(tm.info["particles_not_connected"]),
        "connected_fraction": tm.info["connectivity"]["connected_fraction"],
        "bridges": len(tm.info["connectivity"]["bridges"]),
        "repair_rounds": tm.info["connectivity"]["repair_rounds"],
        "mesh_retries": len(tm.info.get("mesh_retries", [])),
        "brep_rebuild": tm.info["num_particles"] >= electrode.BREP_REBUILD_MIN_PARTICLES,
        "gmsh_algorithms": tm.info["mesh"].get("gmsh_algorithms"),
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[25, 50, 100, 200])
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--mesh-algorithm", choices=["delaunay", "hxt"], help="[geometry] mesh_algorithm "
                    "(default: the electrode's choice by size)")
    ap.add_argument("--brep-rebuild", choices=["auto", "on", "off"], default="auto", help="CAD booleans that keep "
                    "their inputs, then one BREP rebuild (cellsim.geometry.cad_booleans): auto = at least "
                    "electrode.BREP_REBUILD_MIN_PARTICLES particles")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        res = run_one(args.one, args.mesh_algorithm, args.brep_rebuild)
        from mpi4py import MPI

        if MPI.COMM_WORLD.rank == 0:
            print("RESULT " + json.dumps(res), flush=True)
        return 0
    results = []
    for n in args.sizes:
        extra = (["--mesh-algorithm", args.mesh_algorithm] if args.mesh_algorithm else []) + [
            "--brep-rebuild", args.brep_rebuild]
        p = subprocess.run([sys.executable, __file__, "--one", str(n), *extra], capture_output=True, text=True)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        if p.returncode != 0 or not line:
            print(f"{n}: failed\n{p.stderr[-2000:]}")
            continue
        r = json.loads(line[0][7:])
        results.append(r)
        t = r["timing_s"]
        print(
            f"{r['particles']:4d} particles  {r['tetrahedra']:8d} tets  total {t['total']:6.1f} s "
            f"(plan {t['plan_s']:.1f}, geometry {t['geometry_s']:.1f}, mesh {t['meshing_s']:.1f}, "
            f"distribute {t['distribute_s']:.1f}; CPU {t['cpu_rank0']:.1f} s"
            + (f" = {t['plan_cpu_s']:.1f} + {t['geometry_cpu_s']:.1f} + {t['meshing_cpu_s']:.1f} + {t['distribute_cpu_s']:.1f}"
               if "plan_cpu_s" in t else "")
            + f", load {r['load_average_1min']:.1f})  peak {r['peak_rss_MiB_rank0']:.0f} MiB  "
            f"q_min {r['quality_min']:.3g} q_mean {r['quality_mean']:.3f}  "
            f"phi {r['fraction_particle']:.3f} binder {r['fraction_binder']:.3f}  "
            f"connected {r['connected_fraction']:.3f} ({r['bridges']} bridges, {r['repair_rounds']} repair rounds)"
            f"  gmsh {r.get('gmsh_algorithms')}",
            flush=True,
        )
    if len(results) >= 2:
        import numpy as np

        n = np.array([r["particles"] for r in results], float)
        rss = np.array([r["peak_rss_MiB_rank0"] for r in results])
        cpu = np.array([r["timing_s"]["cpu_rank0"] for r in results])
        b, a = np.polyfit(n, rss, 1)
        resid = float(np.max(np.abs(a + b * n - rss) / rss))
        p = float(np.polyfit(np.log(n), np.log(cpu), 1)[0])
        print(f"peak memory ~ {a:.0f} MiB + {b:.2f} MiB x particles (largest relative residual "
              f"{resid:.3f}); CPU time ~ particles^{p:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
