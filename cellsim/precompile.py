"""Compile the forms of the shipped cases into the FFCx/DOLFINx JIT cache, once.

    python -m cellsim.precompile [--cases DIR] [--force] [-q]

A first run on an empty cache spends most of its set-up compiling forms (FFCx generates
C, gcc compiles it; :mod:`cellsim.jit` puts a model's Newton forms in one module and the
forms of its set-up in another, about 9 modules for the half-cell instead of 58). This command
builds the mesh and the model of every model case in ``cases/`` (the shipped ones by
default) and takes one time step, so that every form and expression those runs use is
in the cache, which is where DOLFINx looks for it: ``dolfinx.jit.get_options()
["cache_dir"]`` (``$XDG_CACHE_HOME/fenics``, default ``~/.cache/fenics``; a
``dolfinx_jit_options.json`` can move it). ``scripts/setup`` and the Dockerfile call it.

Idempotent and quick when warm: a stamp in the cache folder records a hash of the cellsim
sources, the case files, the DOLFINx/FFCx/UFL versions and the JIT options; when it
matches, nothing is built. A case of a shipped kind on another mesh compiles nothing (no
mesh-dependent number enters a form); one with other parameter values compiles the forms
they change, unless ``CELLSIM_JIT_LIFT=1`` is set here and for the runs
(:mod:`cellsim.form_literals`: the numbers are then read from a constant, and only another
structure compiles: other physics switches, another number of grains or pores, a material
whose curves are other expressions, a parameter set to exactly 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

STAMP = "cellsim-precompile.json"


def _default_cases() -> Path:
    return Path(__file__).resolve().parents[1] / "cases"


def fingerprint(case_files) -> str:
    """Hash of what decides the compiled forms: sources, cases, versions, JIT options."""
    import dolfinx
    import ffcx
    import ufl
    from dolfinx.jit import get_options

    from . import form_literals

    h = hashlib.sha256()
    for p in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        h.update(p.read_bytes())
    for p in case_files:
        h.update(Path(p).read_bytes())
    opts = get_options()
    h.update(json.dumps({"dolfinx": dolfinx.__version__, "ffcx": ffcx.__version__, "ufl": ufl.__version__,
                         "jit": {k: str(v) for k, v in sorted(opts.items())},
                         "lift": form_literals.ENABLED}).encode())
    return h.hexdigest()


def model_cases(folder: Path) -> list[Path]:
    """The case files of ``folder`` that describe a simulation (not a mesh-only file)."""
    from .tomlfile import read_toml

    out = []
    for p in sorted(Path(folder).glob("*.toml")):
        try:
            data = read_toml(p)
        except Exception:
            continue
        if "geometry" in data and ("protocol" in data or "control" in data):
            out.append(p)
    return out


def compile_case(path: Path, comm) -> None:
    """Build the mesh and the model of one case and take one time step (collective)."""
    from .case import load_case
    from .geometry.mesh import build_mesh
    from .models import build_model
    from .simulation import run_protocol

    case = load_case(path)
    tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
    model = build_model(case, tm, comm)
    model.solve_initial()
    run_protocol(case, model, max_steps=1)
    model.output_fields()  # the field output's expressions (stresses)

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cellsim.precompile", description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=None, help="folder of case files (default: the shipped cases/)")
    ap.add_argument("--force", action="store_true", help="compile even when the stamp matches")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    from mpi4py import MPI

    from .dolfinx_env import require_dolfinx

    require_dolfinx()
    from dolfinx.jit import get_options

    comm = MPI.COMM_WORLD
    say = (lambda *a: None) if (args.quiet or comm.rank) else (lambda *a: print("[precompile]", *a, flush=True))
    folder = Path(args.cases) if args.cases else _default_cases()
    if not folder.is_dir():
        say(f"no case folder {folder}: nothing to compile")
        return 0
    cases = model_cases(folder)
    cache = Path(get_options()["cache_dir"])
    stamp = cache / STAMP
    key = fingerprint(cases)
    if not args.force and stamp.is_file():
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                say(f"forms of {len(cases)} cases already in {cache}")
                return 0
        except (OSError, ValueError):
            pass
    t0 = time.perf_counter()
    failed = []
    for p in cases:
        t1 = time.perf_counter()
        try:
            compile_case(p, comm)
            say(f"{p.name}: {time.perf_counter() - t1:.1f} s")
        except Exception as exc:  # one broken case must not stop the others
            failed.append(p.name)
            say(f"{p.name}: failed ({type(exc).__name__}: {exc})")
    if comm.rank == 0:
        if failed:
            stamp.unlink(missing_ok=True)
        else:
            cache.mkdir(parents=True, exist_ok=True)
            stamp.write_text(json.dumps({"key": key, "cases": [p.name for p in cases]}) + "\n")
    say(f"{len(cases) - len(failed)} cases compiled into {cache} in {time.perf_counter() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
