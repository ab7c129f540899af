"""The output folder of a run: case, manifest, time series and fields.

Every run writes into one folder (DESIGN.md section 4)::

    OUTDIR/
      case.toml            the case as resolved (defaults filled), text as given
      manifest.json        versions, git commit, MPI size, hosts, command line,
                           start/end time, wall time, status and reason, summary,
                           and an index of the field files (see below)
      timeseries.csv       one row per accepted step, header = column names with
                           units ("time [s]", "voltage [V]", ...); written by rank 0
                           and flushed after every row
      fields/<region>.pvd  VTK time series of one region (ParaView, PyVista): one
                           .pvtu per output time in fields/<region>/, one binary
                           .vtu piece per MPI rank (meshio reads the pieces)
      fields/all_regions.pvd
                           every region as one block of a multiblock per time

Status in the manifest: ``running`` while the run goes on, then ``completed``,
``cut-off`` (a protocol limit such as a voltage cut-off ended it) or ``failed``
(with the reason, for example the exception that stopped it).

Fields have stable names and SI units, listed in :data:`FIELD_UNITS`; how each is
written (point or cell data, grid) is described in :mod:`cellsim.fields_io` and in
docs/output.md.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import re
import socket
import sys
import time as _time
from pathlib import Path
from typing import Any

import numpy as np

from .fields_io import (  # noqa: F401  (re-exported)
    ALL_REGIONS, FIELD_UNITS, FIELDS_DIR, _FieldSlot, _RegionWriter, array_name, split_array_name,
)
from .outdir import (  # noqa: F401  (re-exported)
    CASE, LOCK, MANIFEST, OutputFolderError, _remove_field_files, _truncate_csv, claim_output_dir, read_manifest,
    release_output_dir,
)
from .provenance import collect_versions, git_commit  # noqa: F401  (re-exported)

#: Allowed final states of a run.
FINAL_STATUSES = ("completed", "cut-off", "failed", "interrupted")

TIMESERIES = "timeseries.csv"
FORMAT_VERSION = 1

# Outputs of an earlier run in the same folder, removed before a new run starts so that
# no stale result can be mistaken for a new one. Only these names are touched.
_STALE_FILES = (MANIFEST, TIMESERIES, CASE, "timeseries.png", "voltage.png", "voltage_components.png",
                "cellsim.log", "cellsim.pvsm",
                # the DFN twin's files ([dfn] run = true; cellsim.dfn.command.RESULT_FILES)
                "dfn_vs_resolved.png", "dfn_parameters.json", "dfn.bpx.json", "dfn_pybamm_parameters.json",
                "dfn_timeseries.csv", "dfn_summary.json", "dfn_comparison.json")
_STALE_GLOBS = ("fields*.png",)

_UNIT_RE = re.compile(r"^\S.*\s\[[^\[\]]*\]$")


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
class _SerialComm:
    """Stand-in for an MPI communicator when ``comm=None`` (single process, no mpi4py)."""

    rank = 0
    size = 1

    def bcast(self, obj, root=0):
        return obj

    def gather(self, obj, root=0):
        return [obj]

    def allgather(self, obj):
        return [obj]

    def barrier(self):
        return None


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` so that readers never see a partial file."""
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=True)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)



def _check_columns(columns: list[str]) -> list[str]:
    cols = [str(c) for c in columns]
    if not cols:
        raise ValueError("timeseries columns: at least one column is required")
    seen = set()
    for c in cols:
        if not _UNIT_RE.match(c):
            raise ValueError(
                f"timeseries column {c!r}: a column name must end with its unit in square "
                "brackets, e.g. 'time [s]', 'voltage [V]', 'newton iterations [-]'"
            )
        if c in seen:
            raise ValueError(f"timeseries column {c!r} is given twice")
        seen.add(c)
    return cols


def _format_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return repr(f)  # shortest text that reads back to the same double


# --------------------------------------------------------------------------------------
# the run's output folder
# --------------------------------------------------------------------------------------
class RunOutput:
    """The output folder of one run (collective object: build it on every rank).

    Parameters
    ----------
    outdir:
        Output folder; created if missing. Earlier cellsim outputs in it (manifest.json,
        timeseries.csv, case.toml, fields/, plots) are removed first; other files are left.
    comm:
        MPI communicator of the run (``None``: one process, no MPI).
    case_toml:
        The resolved case as TOML text; written unchanged to ``case.toml``.
    columns:
        Time-series column names, each ending with its unit in brackets ("time [s]").
    meta:
        Extra JSON-serialisable facts stored under ``"meta"`` in the manifest
        (case name, case file path, ...).

    Use it as a context manager: leaving the block with an exception closes the run as
    ``failed`` with the exception as reason (and re-raises); leaving it normally without
    having called :meth:`close` closes it as ``completed``. Because closing is collective,
    an exception raised on some ranks only cannot be recorded (the other ranks are
    elsewhere); solver failures in DOLFINx/PETSc are collective, so this is the usual case.
    """

    def __init__(self, outdir, comm, case_toml: str, columns: list[str], meta: dict | None = None,
                 resume_rows: int | None = None, resume_time: float | None = None):
        self.comm = comm if comm is not None else _SerialComm()
        self.rank = self.comm.rank
        self.outdir = Path(outdir).resolve()
        # Validation is the same on every rank, so every rank raises together.
        if not isinstance(case_toml, str):
            raise TypeError(f"case_toml must be the case text (str), got {type(case_toml).__name__}")
        self.columns = _check_columns(columns)
        self._colset = set(self.columns)
        self._closed = False
        self._csv_fh = None
        self._csv = None
        self._regions: dict[str, _RegionWriter] = {}
        self._nrows = 0
        self._t0 = _time.perf_counter()
        self._last_row: dict[str, float] = {}

        hosts = self.comm.gather(socket.gethostname(), root=0)
        error = None
        if self.rank == 0:
            try:
                if resume_rows is None:
                    self._prepare_dir()
                    (self.outdir / CASE).write_text(case_toml, encoding="utf-8")
                    self.manifest = self._initial_manifest(meta or {}, hosts)
                else:
                    self.manifest = self._resumed_manifest(meta or {}, hosts, resume_rows)
                _write_json_atomic(self.outdir / MANIFEST, self.manifest)
                if resume_rows is None:
                    self._csv_fh = open(self.outdir / TIMESERIES, "w", newline="", encoding="utf-8")
                    self._csv = csv.writer(self._csv_fh, lineterminator="\n")
                    self._csv.writerow(self.columns)
                else:
                    self._csv_fh = open(self.outdir / TIMESERIES, "a", newline="", encoding="utf-8")
                    self._csv = csv.writer(self._csv_fh, lineterminator="\n")
                self._csv_fh.flush()
            except Exception as exc:  # report to every rank, so that all raise
                error = f"{type(exc).__name__}: {exc}"
        else:
            self.manifest = None
        error = self.comm.bcast(error, root=0)
        if error is not None:
            if self._csv_fh is not None:
                self._csv_fh.close()
            raise OSError(f"cannot set up output folder {self.outdir}: {error}")
        # a resumed run continues the field series written up to its checkpoint
        self._resume_time = resume_time
        self._resume_fields = self.comm.bcast(
            _series_on_disk(self.outdir) if (self.rank == 0 and resume_rows is not None) else None, root=0)
        self.comm.barrier()  # fields/ exists before any rank opens a file in it

    # -- set-up ------------------------------------------------------------------------
    def _prepare_dir(self) -> None:
        out = self.outdir
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"{out} exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        for name in _STALE_FILES:
            p = out / name
            if p.is_file() or p.is_symlink():
                p.unlink()
        for pat in _STALE_GLOBS:
            for p in out.glob(pat):
                if p.is_file():
                    p.unlink()
        fields = out / FIELDS_DIR
        if fields.is_dir():
            _remove_field_files(fields)
        fields.mkdir(exist_ok=True)

    def _resumed_manifest(self, meta: dict, hosts: list[str], rows: int) -> dict:
        """The manifest of the run being resumed, status running again; timeseries.csv cut
        back to the ``rows`` data rows of the checkpoint (steps after it are repeated)."""
        m = read_manifest(self.outdir)
        _truncate_csv(self.outdir / TIMESERIES, rows, self.columns)
        self._nrows = rows
        resumes = m.get("resumes", [])
        resumes.append({"time": _now_iso(), "mpi_size": int(self.comm.size), "hosts": sorted(set(hosts)),
                        "command_line": list(sys.argv), "from_rows": rows})
        m.update({"status": "running", "reason": "", "end_time": None, "resumes": resumes,
                  "meta": {**m.get("meta", {}), **meta}})
        return m

    def _initial_manifest(self, meta: dict, hosts: list[str]) -> dict:
        json.dumps(meta, default=_json_default)  # fail early on a non-serialisable meta
        return {
            "format": "cellsim-output",
            "format_version": FORMAT_VERSION,
            "status": "running",
            "reason": "",
            "start_time": _now_iso(),
            "end_time": None,
            "wall_time_s": None,
            "steps": 0,
            "versions": collect_versions(),
            "git": git_commit(),
            "mpi_size": int(self.comm.size),
            "hostname": socket.gethostname(),
            "hosts": sorted(set(hosts)),
            "command_line": list(sys.argv),
            "cwd": os.getcwd(),
            "files": {"case": CASE, "timeseries": TIMESERIES, "fields_dir": FIELDS_DIR},
            "timeseries_columns": list(self.columns),
            "field_units": dict(FIELD_UNITS),
            "fields": {},
            "summary": {},
            "meta": meta,
        }

    # -- time series -------------------------------------------------------------------
    def add_row(self, values: dict[str, float]) -> None:
        """Append one row to timeseries.csv (rank 0 writes and flushes; not collective).

        Columns missing from ``values`` are left empty (read back as NaN). A key that is
        not a column raises KeyError on every rank that calls it.
        """
        if self._closed:
            raise RuntimeError("add_row after close()")
        unknown = [k for k in values if k not in self._colset]
        if unknown:
            raise KeyError(
                f"timeseries: unknown column(s) {unknown}; the columns are {self.columns}"
            )
        self._nrows += 1
        if self.rank != 0:
            return
        self._csv.writerow([_format_value(values.get(c)) for c in self.columns])
        self._csv_fh.flush()
        self._last_row = {k: values[k] for k in values}

    @property
    def steps(self) -> int:
        """Number of rows written so far."""
        return self._nrows

    # -- fields --------------------------------------------------------------------------
    def write_fields(self, t: float, fields: dict[str, list], *, cell_arrays: dict | None = None,
                     tag_names: dict | None = None) -> None:
        """Write the fields of every region at time ``t`` [s] (collective).

        ``fields`` maps a region name (used as file name: ``fields/<region>.pvd``) to the
        Functions on that region's mesh; every Function's ``.name`` must be a key of
        :data:`FIELD_UNITS`. Lagrange fields of any degree (continuous or not), scalar,
        vector or tensor, are written in their own space (see :mod:`cellsim.fields_io`).

        Optional, keyword only:

        ``cell_arrays``
            ``{region: {name: values}}``: extra cell data of a region, written at every
            output time, for example ``{"particle": {"particle_id": f}}``. ``values`` is a
            scalar DG0 Function on the region's mesh, a MeshTags of its cells (untagged
            cells get -1) or an array over the rank's local cells. Integral values are
            written as Int32. A region once given cell arrays must get the same names at
            every later call; a region given none keeps the arrays of its first call.
            ``region_id`` (the region's index, see the manifest) is always written.
        ``tag_names``
            ``{name: (dim, tag)}`` (``MeshData.physical_groups``) or ``{name: tag}``: the
            mesh tag names, stored as field data ``mesh_tags`` of every region and in the
            manifest. Read at the first output time of a region.
        """
        from .fields_io import write_all_regions_pvd

        if self._closed:
            raise RuntimeError("write_fields after close()")
        t = float(t)
        cell_arrays = dict(cell_arrays or {})
        for region, funcs in fields.items():
            if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", str(region)):
                raise ValueError(
                    f"write_fields: region name {region!r} must be letters, digits, '_', '-', '.'"
                )
            names = [f.name for f in funcs]
            bad = [n for n in names if n not in FIELD_UNITS]
            if bad:
                raise ValueError(
                    f"write_fields: region '{region}': field name(s) {bad} are not documented "
                    f"output names; use one of {sorted(FIELD_UNITS)} (set Function.name) or "
                    "register a new one in cellsim.output.FIELD_UNITS with its unit"
                )
            if len(set(names)) != len(names):
                raise ValueError(f"write_fields: region '{region}': duplicate field names {names}")
        unknown = sorted(set(cell_arrays) - set(fields))
        if unknown:
            raise ValueError(f"write_fields: cell_arrays for region(s) {unknown} without fields")
        for region, w in self._regions.items():
            if region in fields:
                w.check(t, list(fields[region]))
        new = False
        for region in sorted(fields):  # same order on every rank
            funcs = list(fields[region])
            w = self._regions.get(region)
            if w is None:
                w = _RegionWriter(self.outdir, region, funcs, region_id=len(self._regions),
                                  cell_arrays=cell_arrays.get(region), tag_names=tag_names)
                if self._resume_fields and region in self._resume_fields:
                    w.adopt(self._resume_fields[region], self._resume_time)
                self._regions[region] = w
                new = True
            elif region in cell_arrays:
                w.set_cell_arrays(cell_arrays[region])
        order = sorted(fields)
        # 1. every rank writes its pieces; a failure anywhere stops every rank
        errors = [self._regions[r].write_piece(t, list(fields[r])) for r in order]
        errors = [e for errs in self.comm.allgather([e for e in errors if e]) for e in errs]
        if errors:
            raise OSError("write_fields: " + "; ".join(errors[:4]))
        # 2. rank 0 lists the new time (.pvtu, .pvd) once all pieces are on disk
        self._rank0_then_bcast(lambda: [self._regions[r].commit() for r in order], "listing fields")
        for r in order:
            self._regions[r].done()
        # 3. rank 0: the multiblock series of all regions and the manifest's field index

        def index():
            write_all_regions_pvd(self.outdir, self._regions)
            self.manifest["fields"] = {r: w.describe() for r, w in self._regions.items()}
            self.manifest["files"]["all_regions"] = f"{FIELDS_DIR}/{ALL_REGIONS}.pvd"
            if new:  # the index of field files is in the manifest from the start
                _write_json_atomic(self.outdir / MANIFEST, self.manifest)

        self._rank0_then_bcast(index, "indexing fields")

    def _rank0_then_bcast(self, work, what: str) -> None:
        """Run ``work`` on rank 0; its exception is raised on every rank (collective)."""
        error = None
        if self.rank == 0:
            try:
                work()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        error = self.comm.bcast(error, root=0)
        if error is not None:
            raise OSError(f"write_fields: {what} failed on rank 0: {error}")

    # -- end -----------------------------------------------------------------------------
    def fail_local(self, reason: str) -> None:
        """Record a failure without any collective call (for errors raised on some ranks only).

        Rank 0 marks manifest.json "failed" with the reason; any rank flushes what it can.
        The caller then aborts the MPI job (the other ranks may be inside a collective).
        """
        if self._closed:
            return
        self._closed = True
        if self._csv_fh is not None:
            try:
                self._csv_fh.flush()
                self._csv_fh.close()
            except OSError:  # pragma: no cover
                pass
        if self.rank == 0 and self.manifest is not None:
            self.manifest.update({"status": "failed", "reason": reason, "end_time": _now_iso(),
                                  "wall_time_s": _time.perf_counter() - self._t0, "steps": self._nrows})
            _write_json_atomic(self.outdir / MANIFEST, self.manifest)

    def close(self, status: str, reason: str = "", summary: dict | None = None) -> None:
        """Close field files and finalise manifest.json (collective; a second call is a no-op).

        ``status`` is one of ``completed``, ``cut-off``, ``failed``; ``reason`` says why
        (required words for cut-off and failed are up to the caller); ``summary`` holds
        JSON-serialisable end results (capacity, final voltage, ...).
        """
        if self._closed:
            return
        if status not in FINAL_STATUSES:
            raise ValueError(f"close: status {status!r} is not one of {list(FINAL_STATUSES)}")
        self._closed = True
        reasons = self.comm.gather(str(reason or ""), root=0)
        errors = []
        for region in sorted(self._regions):
            try:
                self._regions[region].close()
            except Exception as exc:  # pragma: no cover - I/O failure
                errors.append(f"closing fields of '{region}': {exc}")
        error = None
        if self.rank == 0:
            try:
                if self._csv_fh is not None:
                    self._csv_fh.close()
                why = reasons[0] or next((r for r in reasons if r), "")
                if errors:
                    why = "; ".join([why] + errors) if why else "; ".join(errors)
                m = self.manifest
                m["status"] = status
                m["reason"] = why
                m["end_time"] = _now_iso()
                m["wall_time_s"] = _time.perf_counter() - self._t0
                m["steps"] = self._nrows
                m["fields"] = {r: w.describe() for r, w in self._regions.items()}
                m["summary"] = dict(summary or {})
                m["last_row"] = self._last_row
                _write_json_atomic(self.outdir / MANIFEST, m)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        error = self.comm.bcast(error, root=0)
        if error is not None:
            raise OSError(f"cannot finalise {self.outdir / MANIFEST}: {error}")

    def __enter__(self) -> "RunOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close("completed")
        elif not self._closed:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            try:
                self.close("failed", reason=f"{exc_type.__name__}: {msg}")
            except Exception as close_exc:  # keep the run's own exception as the one raised
                if hasattr(exc, "add_note"):
                    exc.add_note(f"cellsim: also failed to finalise the output folder: {close_exc}")
        return False  # re-raise


def _series_on_disk(outdir: Path) -> dict:
    """Region -> {"times": [...], "files": [...]} listed by the fields/<region>.pvd files
    (what a killed run left: a .pvd lists only complete output times)."""
    import xml.etree.ElementTree as ET

    out = {}
    for pvd in sorted((outdir / FIELDS_DIR).glob("*.pvd")):
        if pvd.stem == ALL_REGIONS:
            continue
        try:
            ds = ET.parse(pvd).getroot().iter("DataSet")
            rows = [(float(d.get("timestep")), f"{FIELDS_DIR}/{d.get('file')}") for d in ds]
        except (ET.ParseError, OSError, TypeError, ValueError):
            continue
        out[pvd.stem] = {"times": [t for t, _ in rows], "files": [f for _, f in rows]}
    return out


# --------------------------------------------------------------------------------------
# readers (no DOLFINx, no MPI)
# --------------------------------------------------------------------------------------
def read_timeseries(path) -> dict[str, np.ndarray]:
    """Read timeseries.csv (or the folder holding it) into column name -> float array.

    Empty cells are NaN. Columns keep their file order (dicts are ordered).
    """
    p = Path(path)
    if p.is_dir():
        p = p / TIMESERIES
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ValueError(f"{p}: empty file (no header)")
    header, body = rows[0], rows[1:]
    data = np.full((len(body), len(header)), np.nan)
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{p}: row {i + 2} has {len(row)} values, header has {len(header)}")
        for j, s in enumerate(row):
            if s != "":
                data[i, j] = float(s)
    return {h: data[:, j].copy() for j, h in enumerate(header)}


def field_files(outdir) -> dict[str, dict]:
    """Region -> {"pvd": Path, "fields": {...}, "times": [...], "grid": str} from the
    manifest, or from the ``fields/<region>.pvd`` files present when it has no index."""
    out = Path(outdir)
    res: dict[str, dict] = {}
    try:
        idx = read_manifest(out).get("fields", {}) or {}
    except (OSError, ValueError):
        idx = {}
    for region, d in idx.items():
        if "pvd" not in d:
            continue
        res[region] = {
            "pvd": out / d["pvd"],
            "fields": d.get("fields", {}),
            "times": d.get("times", []),
            "grid": d.get("grid", ""),
            "region_id": d.get("region_id"),
        }
    if not res:
        for pvd in sorted((out / FIELDS_DIR).glob("*.pvd")):
            if pvd.stem != "all_regions":
                res[pvd.stem] = {"pvd": pvd, "fields": {}, "times": [], "grid": "", "region_id": None}
    return res
