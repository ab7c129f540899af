"""Cold-cache set-up of one case: the time to build its model, solve the initial state, take
one time step and write its fields with an empty FFCx/DOLFINx JIT cache, and the number of
compiled modules (forms and expressions) that this needs. One JSON line:

    python benchmarks/compile_bench.py cases/particle_polycrystal.toml
    python benchmarks/compile_bench.py cases/particle_polycrystal.toml --warm   # the same, cache kept
    python benchmarks/compile_bench.py cases/particle_polycrystal.toml --no-batch   # one module per form
    python benchmarks/compile_bench.py my_case.toml --cache DIR   # into DIR (kept), e.g. after another case

The cache is a fresh temporary folder (``XDG_CACHE_HOME``, set before DOLFINx is imported;
``dolfinx.jit.get_options()["cache_dir"]`` follows it); ``--warm`` repeats the set-up in the
same process with that cache filled (the part of the set-up that is not compilation);
``--no-batch`` sets ``CELLSIM_JIT_BATCH=0`` (DOLFINx's one module per form, as before
:mod:`cellsim.jit`). ``batch`` reports what :mod:`cellsim.jit` did (batch modules compiled,
forms in them, forms handed to DOLFINx from a batch).
``cpu_s`` counts this process and its children (gcc). Not a test: timings depend on the
machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def setup(case_path: str, comm) -> dict:
    """Mesh (not counted), then model + initial solve + one step + fields (counted)."""
    from cellsim.case import load_case
    from cellsim.geometry.mesh import build_mesh
    from cellsim.models import build_model
    from cellsim.simulation import run_protocol

    case = load_case(case_path)
    tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
    comm.Barrier()
    t0, c0 = time.perf_counter(), _cpu()
    model = build_model(case, tm, comm)
    t_model = time.perf_counter() - t0
    model.solve_initial()
    run_protocol(case, model, max_steps=1)
    model.output_fields()
    comm.Barrier()
    return {"model_s": round(t_model, 2), "setup_s": round(time.perf_counter() - t0, 2),
            "cpu_s": round(_cpu() - c0, 2), "cohesive_terms": len(getattr(model, "cohesives", []) or []),
            "dofs": model.num_dofs()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("--warm", action="store_true", help="repeat the set-up with the filled cache")
    ap.add_argument("--no-batch", action="store_true", help="one module per form (CELLSIM_JIT_BATCH=0)")
    ap.add_argument("--cache", help="use (and keep) this cache folder instead of a fresh one")
    args = ap.parse_args(argv)
    if args.no_batch:
        os.environ["CELLSIM_JIT_BATCH"] = "0"
    cache = args.cache or tempfile.mkdtemp(prefix="cellsim-jit-")
    n_before = len(list(Path(cache, "fenics").rglob("*.so")))
    os.environ["XDG_CACHE_HOME"] = cache
    if "dolfinx" in sys.modules:
        raise RuntimeError("compile_bench must set the JIT cache before DOLFINx is imported")
    from mpi4py import MPI

    from cellsim.dolfinx_env import require_dolfinx

    require_dolfinx()
    from dolfinx.jit import get_options

    comm = MPI.COMM_WORLD
    assert Path(get_options()["cache_dir"]).resolve().is_relative_to(Path(cache).resolve()), get_options()
    out = {"case": args.case, "ranks": comm.size, **setup(args.case, comm)}
    out["jit_modules"] = len(list(Path(get_options()["cache_dir"]).rglob("*.so"))) - n_before
    from cellsim import jit

    out["batch"] = dict(jit.stats)
    if args.warm:
        out["warm"] = setup(args.case, comm)
    if comm.rank == 0:
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
