"""The Python API for scripts and notebooks: :func:`run` a case, :func:`load` a run.

>>> import cellsim
>>> res = cellsim.run("cases/particle_charge.toml", "results/pc", set={"time.t_end": 600})
>>> res.status, res.timeseries["particle potential [V]"].iloc[-1]
>>> grid = res.fields("particle")             # PyVista mesh of the last output time
>>> cellsim.load("results/pc").plot()         # the pictures of `cellsim plot`

Both return a :class:`Result`, which reads everything from the output folder (the files
of docs/output.md), so a result loaded later, on another machine, is the same object as
the one a run returned. Importing this module imports neither DOLFINx nor MPI; only
:func:`run` needs them.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from .output import field_files, read_manifest

__all__ = ["Result", "run", "load"]


class Result:
    """A run's output folder, read lazily (the time series and manifest are re-read when
    the files change, so a result of a running job shows its progress).

    ``outdir`` (Path), ``status`` (``completed``, ``cut-off``, ``failed``, ``interrupted``,
    ``running``), ``reason``, ``manifest`` (dict), ``timeseries`` (pandas DataFrame, one
    row per accepted step, columns with units as in timeseries.csv), ``regions`` (those
    with field files), ``times(region)`` (its output times [s]), ``fields(region, time)``
    (a PyVista mesh), ``case`` (the resolved case), ``plot()`` (the pictures of
    ``cellsim plot``).
    """

    def __init__(self, outdir):
        self.outdir = Path(outdir)
        self._cache: dict = {}

    def __repr__(self) -> str:
        return f"Result({str(self.outdir)!r}, status={self.status!r})"

    def _cached(self, name: str, path: Path, read):
        try:
            key = path.stat().st_mtime_ns, path.stat().st_size
        except OSError:
            key = None
        hit = self._cache.get(name)
        if hit is None or hit[0] != key:
            hit = (key, read())
            self._cache[name] = hit
        return hit[1]

    @property
    def manifest(self) -> dict:
        return copy.deepcopy(self._cached("manifest", self.outdir / "manifest.json",
                                          lambda: read_manifest(self.outdir)))

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "unknown"))

    @property
    def reason(self) -> str:
        return str(self.manifest.get("reason", ""))

    @property
    def timeseries(self):
        """timeseries.csv as a pandas DataFrame (empty cells are NaN)."""
        import pandas as pd

        from .output import read_timeseries

        path = self.outdir / "timeseries.csv"
        return self._cached("timeseries", path, lambda: pd.DataFrame(read_timeseries(path))).copy()

    @property
    def regions(self) -> list[str]:
        return list(field_files(self.outdir))

    def times(self, region: str | None = None) -> list[float]:
        """Output times [s] of a region's field series (default: the main region)."""
        import pyvista as pv

        from .postprocess import _pick_region

        files = field_files(self.outdir)
        reg = _pick_region(files, region)
        return [float(t) for t in pv.get_reader(str(files[reg]["pvd"])).time_values]

    def fields(self, region: str | None = None, time: float | None = None):
        """The fields of ``region`` at the output time nearest ``time`` [s] (default the
        last) as one PyVista UnstructuredGrid: every rank's piece merged, arrays named by
        field (``"lithium_concentration"``; units in ``FIELD_UNITS`` and the manifest),
        the time in ``grid.field_data["TimeValue"]``. ``region=None``: the particle
        region (the one with ``lithium_concentration``)."""
        from .postprocess import _pick_region, read_region

        files = field_files(self.outdir)
        grid, _ = read_region(files[_pick_region(files, region)]["pvd"], time)
        return grid

    @property
    def case(self):
        """The case as the run resolved it (OUTDIR/case.toml, validated)."""
        from .case import load_case

        return load_case(self.outdir / "case.toml")

    def plot(self, **options) -> list[Path]:
        """Write the pictures of ``cellsim plot`` (options: ``time``, ``fields``,
        ``region``, as :func:`cellsim.postprocess.plot_all`); returns their paths."""
        from .postprocess import plot_all

        return plot_all(self.outdir, **options)


def load(outdir) -> Result:
    """The :class:`Result` of a run already in ``outdir`` (finished, stopped or running)."""
    outdir = Path(outdir)
    if not (outdir / "manifest.json").is_file():
        raise FileNotFoundError(f"{outdir}: no cellsim run there (no manifest.json)")
    return Result(outdir)


def _apply_overrides(data: dict, overrides: dict) -> dict:
    """``{"time.t_end": 60, "geometry.mesh_size": 2e-6}`` set into a case dict (copied)."""
    data = copy.deepcopy(data)
    for key, value in (overrides or {}).items():
        *path, last = str(key).split(".")
        node = data
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TypeError(f"set: {key!r}: {part!r} is not a table of the case")
        node[last] = value
    return data


def _resolve_case(case, overrides: dict | None):
    """(validated case, a default output name) from a path, a dict or a case object."""
    from .case import case_from_dict, load_case

    if isinstance(case, (str, Path)):
        path = Path(case)
        if not overrides:
            return load_case(path), path.stem
        import tomllib

        from .schema import CaseError

        if not path.is_file():
            raise CaseError(f"{path}: no such case file")
        return case_from_dict(_apply_overrides(tomllib.loads(path.read_text()), overrides),
                              source=str(path), context={"case_dir": str(path.resolve().parent)}), path.stem
    if isinstance(case, dict):
        obj = case_from_dict(_apply_overrides(case, overrides), source="<dict>")
    elif hasattr(case, "model_dump"):
        obj = case if not overrides else case_from_dict(
            _apply_overrides(case.model_dump(mode="json", exclude_none=True), overrides), source="<case>")
    else:
        raise TypeError(f"case: a path, a dict or a validated case object, not {type(case).__name__}")
    title = getattr(obj, "title", "") or "case"
    return obj, re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("_") or "case"


def run(case, outdir=None, *, set: dict | None = None, overwrite: bool = True, resume: bool = False,
        comm=None, quiet: bool = False, raise_on_failure: bool = False) -> Result:
    """Run a case and return its :class:`Result` (collective under MPI).

    ``case``: a case file path, a dict with the case-file tables, or a validated case
    object (``cellsim.case.load_case``, ``case_from_dict``). ``outdir``: the output
    folder (default ``results/<case file stem>``, or ``results/<title>`` for a dict).
    ``set``: values put into the case before validation, by dotted key
    (``{"time.t_end": 600, "geometry.mesh_size": 2e-6}``). ``overwrite``: replace a run
    already in ``outdir`` (default True, unlike the command line: a notebook cell run
    again replaces its own result; only files cellsim wrote are removed). ``resume``:
    continue the run in ``outdir`` from its checkpoint. ``comm``: the MPI communicator
    (default COMM_WORLD). ``quiet``: warnings only on the terminal (cellsim.log keeps
    every line). A run that fails returns a Result with ``status == "failed"`` and the
    reason (``raise_on_failure=True``: RuntimeError instead); an invalid case raises
    ``cellsim.schema.CaseError`` before anything is written.
    """
    import logging

    from .log import get_verbosity, set_verbosity
    from .simulation import run_case

    if resume:
        if outdir is None:
            raise ValueError("resume=True needs the outdir of the run to continue")
        from .case import load_case

        obj, name = load_case(Path(outdir) / "case.toml"), ""
    else:
        obj, name = _resolve_case(case, set)
    outdir = Path(outdir) if outdir is not None else Path("results") / name
    level = get_verbosity()
    if quiet:
        set_verbosity(logging.WARNING)
    try:
        run_case(obj, outdir, comm=comm, command="cellsim.run (Python API)", overwrite=overwrite, resume=resume)
    except Exception as exc:
        from .output import OutputFolderError
        from .schema import CaseError

        if (raise_on_failure or isinstance(exc, (OutputFolderError, CaseError))
                or load(outdir).status != "failed"):
            raise
        # the run failed and says why in its manifest: returned, as the command line reports it
    finally:
        set_verbosity(level)
    res = Result(outdir)
    if raise_on_failure and res.status == "failed":
        raise RuntimeError(f"cellsim run in {outdir} failed: {res.reason}")
    return res
