"""The ``cellsim`` command: run | check | mesh | tortuosity | dfn | plot | paraview | info | schema.

Global options (before or after the command): ``--version``; ``-q``/``--quiet`` (warnings
and errors only: no progress, no summary on the terminal; ``cellsim.log`` still gets every
line); ``-v``/``--verbose`` (debug messages too).

Exit codes: 0 success (completed or cut-off reached), 1 run failed (reason in
manifest.json), 2 invalid case or command line (nothing written), 3 DOLFINx missing,
4 interrupted by SIGTERM/SIGINT (a checkpoint was written: ``cellsim run --resume OUTDIR``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_NO_DOLFINX, EXIT_INTERRUPTED = 0, 1, 2, 3, 4


def _rank() -> int:
    try:
        from mpi4py import MPI

        return MPI.COMM_WORLD.rank
    except Exception:  # pragma: no cover - mpi4py missing
        return 0


def _err(msg: str) -> None:
    if _rank() == 0:
        print(f"cellsim: error: {msg}", file=sys.stderr, flush=True)


def _load(path):
    """The validated case, or None after printing why not (the caller exits 2)."""
    from .case import load_case
    from .schema import CaseError, cap

    try:
        return load_case(path)
    except CaseError as exc:
        _err(str(exc))
        return None
    except Exception as exc:  # noqa: BLE001 - never a traceback for a bad file; the fuzz test keeps this unused
        _err(f"{path}: internal error while checking the case ({type(exc).__name__}: {cap(exc, 200)}); "
             "please report it with the file")
        return None


def cmd_check(args) -> int:
    case = _load(args.case)
    if case is None:
        return EXIT_BAD_INPUT
    if _rank() == 0:
        g = getattr(case, "geometry", None)
        print(f"{args.case}: valid {case.model} case"
              + (f" ({g.kind} geometry)" if g is not None else "")
              + (f": {case.title}" if getattr(case, "title", "") else ""))
    return EXIT_OK


def cmd_run(args) -> int:
    if args.resume:
        if args.case is not None or args.output is not None:
            _err("--resume OUTDIR takes the case from OUTDIR/case.toml: give no case file and no -o")
            return EXIT_BAD_INPUT
        outdir = Path(args.resume)
        if not (outdir / "case.toml").is_file():
            _err(f"--resume {outdir}: no run there ({outdir / 'case.toml'} missing)")
            return EXIT_BAD_INPUT
        case = _load(outdir / "case.toml")
    else:
        if args.case is None:
            _err("run: give a case file (or --resume OUTDIR)")
            return EXIT_BAD_INPUT
        case = _load(args.case)
        outdir = Path(args.output) if args.output else Path("results") / Path(args.case).stem
    if case is None:
        return EXIT_BAD_INPUT
    from .dolfinx_env import MissingDolfinxError

    try:
        from .output import OutputFolderError
        from .simulation import run_case

        res = run_case(case, outdir, command=" ".join(shlex.quote(a) for a in sys.argv),
                       overwrite=args.overwrite, resume=bool(args.resume))
    except MissingDolfinxError as exc:
        _err(str(exc))
        return EXIT_NO_DOLFINX
    except OutputFolderError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except Exception as exc:  # reason already in manifest.json
        _err(f"run failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    if _rank() == 0 and not getattr(args, "quiet", False):
        print(f"cellsim: {res.status} ({res.reason}); results in {res.outdir.resolve()}", flush=True)
    if res.status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if res.status in ("completed", "cut-off") else EXIT_FAILED


def _case_tool(args, suffix: str, load_tool) -> int:
    """Run a collective tool ``tool(case_path, outdir, comm) -> exit code`` that needs DOLFINx."""
    from .dolfinx_env import MissingDolfinxError, require_dolfinx

    try:
        require_dolfinx()
    except MissingDolfinxError as exc:
        _err(str(exc))
        return EXIT_NO_DOLFINX
    from mpi4py import MPI

    from .schema import CaseError

    outdir = args.output or str(Path("results") / (Path(args.case).stem + suffix))
    try:
        return load_tool()(args.case, outdir, MPI.COMM_WORLD)
    except CaseError as exc:  # a bad case file: the message, exit 2, never a traceback
        _err(str(exc))
        return EXIT_BAD_INPUT


def _check_geometry_file(path) -> bool:
    """The [geometry] of a geometry-only file read and validated as ``cellsim mesh`` does,
    before DOLFINx is needed; else the error printed (the caller exits 2)."""
    from .geometry.report import load_geometry_section
    from .schema import CaseError

    try:
        load_geometry_section(path)
        return True
    except CaseError as exc:
        _err(str(exc))
    return False


def cmd_mesh(args) -> int:
    if not _check_geometry_file(args.case):
        return EXIT_BAD_INPUT

    def tool():
        from .geometry.report import mesh_command

        return mesh_command

    return _case_tool(args, "_mesh", tool)


def cmd_tortuosity(args) -> int:
    def tool():
        from .tortuosity_cmd import main

        return main

    return _case_tool(args, "_tortuosity", tool)


def cmd_dfn(args) -> int:
    def tool():
        from functools import partial

        from .dfn import main

        return partial(main, resolved=args.resolved, radius=args.radius)

    return _case_tool(args, "_dfn", tool)


def cmd_plot(args) -> int:
    from .postprocess import plot_all

    if not Path(args.outdir).is_dir():
        _err(f"{args.outdir}: no such output folder")
        return EXIT_BAD_INPUT
    if _rank() != 0:
        return EXIT_OK
    try:
        made = plot_all(args.outdir, time=args.time, fields=args.field, region=args.region)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        _err(f"plot: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}")
        return EXIT_BAD_INPUT
    if not getattr(args, "quiet", False):
        for p in made:
            print(p)
    return EXIT_OK


def cmd_paraview(args) -> int:
    from .paraview import main as pv_main

    if not Path(args.outdir).is_dir():
        _err(f"{args.outdir}: no such output folder")
        return EXIT_BAD_INPUT
    if _rank() != 0:
        return EXIT_OK
    return pv_main(args.outdir, launch=not args.no_gui)


def material_parameters(m) -> list[tuple[str, str]]:
    """(key, value) of every parameter of a material set (functions by their description)."""
    import dataclasses

    units = {"c_max": "mol m-3", "ocp": "V", "diffusivity": "m2 s-1", "rate_constant": "SI (i0 = F k ...)",
             "partial_molar_volume": "m3 mol-1", "youngs_modulus": "Pa", "c_ref": "mol m-3",
             "electronic_conductivity": "S m-1", "exchange_current_activation_energy": "J mol-1",
             "reference_temperature": "K", "alpha_a": "-", "alpha_c": "-", "x_0": "-", "x_100": "-",
             "poisson_ratio": "-"}
    out = []
    for f in dataclasses.fields(m):
        if f.name in ("name", "citation", "mechanics_citation", "overrides"):
            continue
        v = getattr(m, f.name)
        if callable(v):
            const = getattr(v, "constant_value", None)
            v = f"{const:g} (constant)" if const is not None else f"function of x ({getattr(v, '__name__', 'fit')})"
        elif isinstance(v, float):
            v = f"{v:g}"
        out.append((f"{f.name} [{units[f.name]}]" if f.name in units else f.name, str(v)))
    return out


def cmd_info(args) -> int:
    import platform

    from . import __version__

    lines = [f"cellsim {__version__}", f"python {platform.python_version()}"]
    if args.materials:
        from .materials import MATERIALS

        for name, m in sorted(MATERIALS.items()):
            lines.append(f"material {name}: c_max {m.c_max:g} mol m-3; {m.citation}; mechanics: "
                         f"{m.mechanics_citation}")
            lines += [f"    {k} = {v}" for k, v in material_parameters(m)]
        lines.append('material from a BPX file: [material] bpx = "cell.json" (relative to the case file), '
                     'electrode = "positive" | "negative", overrides as above; needs pip install '
                     "'cellsim[bpx]' (docs/bpx.md)")
    from .dolfinx_env import MissingDolfinxError, require_dolfinx

    try:
        dolfinx = require_dolfinx()
    except MissingDolfinxError as exc:
        lines.append(str(exc))
        if _rank() == 0:
            print("\n".join(lines))
        return EXIT_OK
    import basix
    import ffcx
    import ufl
    from mpi4py import MPI
    from petsc4py import PETSc

    comm = MPI.COMM_WORLD
    lines += [
        f"dolfinx {dolfinx.__version__} (git {dolfinx.git_commit_hash[:10]})",
        f"basix {basix.__version__}, ffcx {ffcx.__version__}, ufl {ufl.__version__}",
        "petsc {}.{}.{}".format(*PETSc.Sys.getVersion()) + f", scalar type {PETSc.ScalarType.__name__}",
        f"MPI: {MPI.Get_library_version().splitlines()[0].strip()}; size {comm.size}",
        "PETSc solver packages: " + ", ".join(
            p for p in ("mumps", "superlu_dist", "superlu", "hypre", "ml", "hpddm", "scalapack", "metis",
                        "parmetis", "ptscotch")
            if PETSc.Sys.hasExternalPackage(p)),
        f"GAMG: built in; hypre: {'yes' if PETSc.Sys.hasExternalPackage('hypre') else 'no'}",
    ]
    if comm.rank == 0:
        print("\n".join(lines))
    return EXIT_OK


def cmd_schema(args) -> int:
    from .docs import case_reference_markdown

    sys.stdout.write(case_reference_markdown())
    return EXIT_OK


def _verbosity_options(parser, top: bool) -> None:
    """-q / -v on the main parser and on every command (a command's copy does not reset
    what was given before the command)."""
    g = parser.add_mutually_exclusive_group()
    kw = {} if top else {"default": argparse.SUPPRESS}
    g.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only", **kw)
    g.add_argument("-v", "--verbose", action="store_true", help="debug messages too", **kw)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="cellsim", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"cellsim {__version__}")
    _verbosity_options(p, top=True)
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    _verbosity_options(common, top=False)

    def command(name, **kw):
        return sub.add_parser(name, parents=[common], **kw)

    r = command("run", help="run a case (also under mpiexec -n N)")
    r.add_argument("case", nargs="?", help="case file (TOML)")
    r.add_argument("-o", "--output", help="output folder (default results/<case name>)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace a run already in the output folder (only the files cellsim wrote are removed)")
    r.add_argument("--resume", metavar="OUTDIR",
                   help="continue the stopped, killed or interrupted run in OUTDIR from its last checkpoint")
    r.set_defaults(func=cmd_run)
    c = command("check", help="validate a case file (no DOLFINx needed)")
    c.add_argument("case")
    c.set_defaults(func=cmd_check)
    m = command("mesh", help="build and report the geometry of a case (also under mpiexec)")
    m.add_argument("case")
    m.add_argument("-o", "--output", help="output folder (default results/<case name>_mesh)")
    m.set_defaults(func=cmd_mesh)
    t = command("tortuosity", help="tortuosity factors of a case's electrode geometry (TauFactor-like)")
    t.add_argument("case")
    t.add_argument("-o", "--output", help="output folder (default results/<case name>_tortuosity)")
    t.set_defaults(func=cmd_tortuosity)
    d = command("dfn", help="the homogenised twin: DFN parameters from the geometry (BPX, PyBaMM set) and "
                       "PyBaMM's half-cell DFN through the case's protocol (needs the 'dfn' extra)")
    d.add_argument("case")
    d.add_argument("-o", "--output", help="output folder (default results/<case name>_dfn)")
    d.add_argument("--resolved", metavar="OUTDIR", help="a finished cellsim run of the same case: also compare "
                   "the voltages (RMS difference)")
    d.add_argument("--radius", choices=("geometric", "volume", "area"), default="geometric",
                   help="particle radius of the twin (same reactive area in all): volume-equivalent with the exchange "
                   "current scaled by the wetted fraction w ('volume'), 3V/A of the wetted surface ('area'), or their "
                   "geometric mean with the exchange current scaled by sqrt(w) (default); docs/dfn.md")
    d.set_defaults(func=cmd_dfn)
    pl = command("plot", help="pictures of a run: voltage.png, voltage_components.png, timeseries.png, "
                        "fields.png")
    pl.add_argument("outdir")
    pl.add_argument("--time", type=float, metavar="T",
                    help="output time of the field picture [s] (the nearest stored; default the last)")
    pl.add_argument("--field", action="append", metavar="NAME",
                    help="field to draw (repeat for several; default: up to three per region)")
    pl.add_argument("--region", metavar="R", help="only this region in the field picture (default: every region)")
    pl.set_defaults(func=cmd_plot)
    pv = command("paraview", help="write OUTDIR/cellsim.pvsm (every region, coloured, with time) and open "
                        "it in ParaView")
    pv.add_argument("outdir")
    pv.add_argument("--no-gui", action="store_true", help="only write the state file")
    pv.set_defaults(func=cmd_paraview)
    i = command("info", help="versions, MPI size, PETSc solver packages")
    i.add_argument("--materials", action="store_true", help="also list the parameter sets")
    i.set_defaults(func=cmd_info)
    s = command("schema", help="print the case-file reference (Markdown)")
    s.set_defaults(func=cmd_schema)
    return p


def main(argv=None) -> int:
    import logging

    from .log import set_verbosity

    args = build_parser().parse_args(argv)
    set_verbosity(logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    finally:
        set_verbosity(logging.INFO)  # main() called in-process (tests, notebooks) leaves no trace


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
