"""Profile the CAD build of a composite electrode: wall and CPU time of every
OpenCASCADE / gmsh API call made by the builder, grouped by call, plus the builder's own
Python time.

    python benchmarks/mesh_profile.py 200                 # the mesh_electrode.py geometry
    python benchmarks/mesh_profile.py 200 --mesh          # also mesh it (gmsh's 1D/2D/3D)
    python benchmarks/mesh_profile.py 50 --set fragment=global   # a builder option

Each gmsh.model.occ / gmsh.model function is wrapped by a timer for the run (the
builder's code is unchanged); gmsh's own log (General.Verbosity 99) gives the time of
each meshing stage with --mesh.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))


def wrap_all(stats: dict) -> None:
    import gmsh

    for owner, prefix in ((gmsh.model.occ, "occ."), (gmsh.model, "model."), (gmsh.model.mesh, "mesh.")):
        for name in dir(owner):
            f = getattr(owner, name)
            if name.startswith("_") or not callable(f) or isinstance(f, type):
                continue

            def timed(*a, _f=f, _k=prefix + name, **kw):
                t, c = time.perf_counter(), time.process_time()
                try:
                    return _f(*a, **kw)
                finally:
                    s = stats.setdefault(_k, [0, 0.0, 0.0])
                    s[0] += 1
                    s[1] += time.perf_counter() - t
                    s[2] += time.process_time() - c

            setattr(owner, name, functools.wraps(f)(timed))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--mesh", action="store_true")
    ap.add_argument("--spec", action="append", default=[], help="geometry key=value (JSON value)")
    ap.add_argument("--opt", action="append", default=[], help="gmsh option Name=number, e.g. Geometry.OCCParallel=1")
    ap.add_argument("--json")
    args = ap.parse_args()
    from mesh_electrode import spec_for

    from cellsim.geometry import electrode
    from cellsim.geometry.gmsh_model import apply_mesh_sizes, gmsh_session
    from cellsim.geometry.mesh import plan_geometry
    from cellsim.geometry.spec import GEOMETRY_ADAPTER

    d = spec_for(args.n)
    for kv in args.spec:
        k, v = kv.split("=", 1)
        d[k] = json.loads(v)
    spec = GEOMETRY_ADAPTER.validate_python(d)
    t0, c0 = time.perf_counter(), time.process_time()
    plan = plan_geometry(spec)
    tp, cp_ = time.perf_counter() - t0, time.process_time() - c0
    stats: dict = {}
    with gmsh_session(False) as gmsh:
        wrap_all(stats)
        for kv in args.opt:
            k, v = kv.split("=", 1)
            gmsh.option.setNumber(k, float(v))
        t0, c0 = time.perf_counter(), time.process_time()
        res = electrode.build_electrode(spec, plan)
        res.tags.commit()
        apply_mesh_sizes(spec, res.tags, res.refine_interfaces, res.extra_fields, res.region_sizes)
        tb, cb = time.perf_counter() - t0, time.process_time() - c0
        out = {"particles": len(plan["radii"]), "plan_s": tp, "plan_cpu_s": cp_, "build_s": tb,
               "build_cpu_s": cb, "volumes": len(gmsh.model.getEntities(3)),
               "surfaces": len(gmsh.model.getEntities(2)), "load": os.getloadavg()[0]}
        if args.mesh:
            from cellsim.geometry.mesh import _generate, _mesher

            gmsh.option.setNumber("General.Verbosity", 99)
            gmsh.logger.start()
            t0, c0 = time.perf_counter(), time.process_time()
            _generate(gmsh, spec, 6, *_mesher(spec, res, None))
            out["mesh_s"], out["mesh_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
            log = gmsh.logger.get()
            gmsh.logger.stop()
            out["gmsh_log"] = [ln for ln in log if "Done" in ln or "Optimiz" in ln and "s)" in ln][-20:]
    calls = sorted(stats.items(), key=lambda kv: -kv[1][2])
    for k, (n, w, c) in calls[:25]:
        print(f"{k:<36} {n:7d} calls  wall {w:8.2f} s  CPU {c:8.2f} s")
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"calls": stats, **out}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
