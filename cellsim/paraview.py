"""ParaView for a run's fields: a state file, a check, and ``cellsim paraview OUTDIR``.

Two sides in one file:

* In cellsim's Python (no ParaView needed): :func:`write_state` runs ParaView's
  ``pvpython`` (under ``xvfb-run`` when there is no display) on this very file to write
  ``OUTDIR/cellsim.pvsm``; :func:`main` is the ``cellsim paraview OUTDIR`` command: it
  writes the state and starts the ParaView GUI on it (or prints how to).
* In ParaView's own Python (``pvpython cellsim/paraview.py ...``, which has numpy but not
  cellsim's dependencies; nothing here imports cellsim): :func:`load_run` opens every
  region of a run (one PVD reader per region, absolute paths, as 5.11 needs), colours
  each by its most telling field with a scalar bar that shows the unit (3D: cut in
  half by the plane y = y_centre so the inside shows), and sets the animation to the
  output times. Commands::

      pvpython cellsim/paraview.py make-state OUTDIR STATE.pvsm
      pvpython cellsim/paraview.py load-state STATE.pvsm PNG     (JSON report: PNG -> .json)
      pvpython cellsim/paraview.py check OUTDIR DUMP.npz PNG     (JSON report: PNG -> .json)

  ``check`` reads every region at every time step and the multiblock
  ``fields/all_regions.pvd``, saves points, cells and arrays to DUMP.npz (the tests
  compare them with the written values) and renders the run to PNG.

Checked with ParaView 5.11 (Debian 12 ``paraview``), see docs/output.md.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

#: Colour each region by the first of these arrays it has (names as in the files).
COLOUR_PRIORITY = (
    "lithium_concentration [mol m-3]",
    "electrolyte_concentration [mol m-3]",
    "von_mises_stress [Pa]",
    "hydrostatic_stress [Pa]",
    "solid_potential [V]",
    "electrolyte_potential [V]",
    "interface_damage [-]",
    "displacement [m]",
)
STATE_FILE = "cellsim.pvsm"


# --------------------------------------------------------------------------------------
# cellsim side
# --------------------------------------------------------------------------------------
#: environment variable: a command line that replaces ``[xvfb-run -a] pvpython`` (for example
#: ``scripts/paraview_trixie pvpython``, ParaView 5.13 of Debian 13 in a chroot)
PVPYTHON_ENV = "CELLSIM_PVPYTHON"


def pvpython_command() -> list[str] | None:
    """``$CELLSIM_PVPYTHON`` (split like a shell) when set, else ``[xvfb-run -a] pvpython`` if
    ParaView's pvpython is installed, else None."""
    if os.environ.get(PVPYTHON_ENV, "").strip():
        return shlex.split(os.environ[PVPYTHON_ENV])
    pv = shutil.which("pvpython")
    if pv is None:
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return [pv]
    xv = shutil.which("xvfb-run")
    # a 24-bit screen: xvfb-run's default (8 bits) gives OpenGL contexts that can fail
    return [xv, "-a", "-s", "-screen 0 1600x1200x24", pv] if xv else [pv, "--force-offscreen-rendering"]


def _clean_env() -> dict:
    # pvpython has its own Python: the venv's paths and an MPI launcher's variables must
    # not leak into it
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("PMI_", "MPICH_", "HYDRA_", "OMPI_", "PYTHON", "VIRTUAL_ENV"))}


class _one_pvpython_at_a_time:
    """An exclusive lock (``$TMPDIR/cellsim-pvpython.lock``, flock) held while pvpython runs:
    two pvpython under xvfb-run started together on one machine (parallel test workers, two
    runs) abort now and then with "bad X server connection", even on distinct displays;
    one after the other they do not (checked: 2 of 4 concurrent failed, 0 of 6 in a row).
    Without fcntl (not POSIX) no lock."""

    def __enter__(self):
        import tempfile

        try:
            import fcntl
        except ImportError:  # pragma: no cover
            self.f = None
            return self
        self.f = open(Path(tempfile.gettempdir()) / "cellsim-pvpython.lock", "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.f is not None:
            self.f.close()  # releases the lock
        return False


#: what pvpython prints when its render window found no usable X server (it then aborts,
#: and may exit with a small code): a failure of the display, not of the script
X_FAILURES = ("bad X server connection", "vtkXOpenGLRenderWindow::CreateAWindow")


def _display_failed(r: subprocess.CompletedProcess) -> bool:
    """pvpython died by a signal, or its window found no X server (CI saw an abort in
    ``vtkXOpenGLRenderWindow::CreateAWindow`` with exit 5 under xvfb-run)."""
    text = (r.stderr or "") + (r.stdout or "")
    return r.returncode < 0 or r.returncode > 128 or (r.returncode != 0 and any(m in text for m in X_FAILURES))


def run_pvpython(args: list, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run this file under pvpython with ``args``; RuntimeError if pvpython is missing or fails."""
    cmd = pvpython_command()
    if cmd is None:
        raise RuntimeError("ParaView's pvpython was not found; install ParaView (Debian/Ubuntu: "
                           "bash scripts/install_paraview, i.e. apt-get install paraview xvfb)")
    argv = cmd + [str(Path(__file__).resolve())] + [str(a) for a in args]
    with _one_pvpython_at_a_time():
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_clean_env())
        if _display_failed(r):  # ParaView or Xvfb crashed, or no X connection: once more
            print(f"cellsim: pvpython {args[0]} crashed (exit {r.returncode}), retrying once:\n"
                  f"{(r.stderr or r.stdout).strip()[-1500:]}", file=sys.stderr)
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_clean_env())
    if r.returncode != 0:
        raise RuntimeError(f"pvpython {args[0]} failed (exit {r.returncode}): "
                           f"{(r.stderr or r.stdout).strip()[-2000:]}")
    return r


def write_state(outdir, path=None) -> Path:
    """Write a ParaView state (``OUTDIR/cellsim.pvsm`` by default) that opens every
    region of the run, coloured, with its times; returns its path. Needs pvpython."""
    outdir = Path(outdir).resolve()
    if not (outdir / "fields").is_dir():
        raise FileNotFoundError(f"{outdir}: no fields/ folder (was the run written with fields?)")
    state = Path(path).resolve() if path is not None else outdir / STATE_FILE
    run_pvpython(["make-state", outdir, state])
    return state


def main(outdir, launch: bool = True) -> int:
    """``cellsim paraview OUTDIR``: write OUTDIR/cellsim.pvsm and open it in ParaView.

    Returns an exit code: 0 when the state was written (and the GUI started, when
    ``launch`` and a display and the ``paraview`` program exist), 1 on an error (message
    on stderr). Without a display or GUI it prints the command to run elsewhere.
    """
    try:
        state = write_state(outdir)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"cellsim paraview: {exc}", file=sys.stderr)
        return 1
    print(f"ParaView state: {state}")
    gui = shutil.which("paraview")
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if launch and gui and has_display:
        subprocess.Popen([gui, f"--state={state}"], env=_clean_env(), start_new_session=True)
        print("started: paraview --state=" + str(state))
    else:
        print(f"open it with: paraview --state={state}")
    return 0


# --------------------------------------------------------------------------------------
# ParaView side (runs in pvpython)
# --------------------------------------------------------------------------------------
def _regions(outdir: Path) -> list[tuple[str, Path]]:
    """(region, absolute .pvd) in region_id order, from the manifest or the files."""
    fields = outdir / "fields"
    try:
        idx = json.loads((outdir / "manifest.json").read_text(encoding="utf-8")).get("fields", {})
    except (OSError, ValueError):
        idx = {}
    regs = [(d.get("region_id", 0), r, (outdir / d["pvd"]).resolve()) for r, d in idx.items() if "pvd" in d]
    if not regs:
        regs = [(0, p.stem, p.resolve()) for p in sorted(fields.glob("*.pvd")) if p.stem != "all_regions"]
    return [(r, p) for _, r, p in sorted(regs)]


def _array_names(source):
    pts = [a.GetName() for a in source.PointData]
    cells = [a.GetName() for a in source.CellData]
    return pts, cells


def load_run(outdir, view=None) -> dict:
    """Open every region of a run in ParaView (call inside pvpython or ParaView's Python
    shell: ``exec(open('cellsim/paraview.py').read()); load_run('/abs/OUTDIR')``).

    Returns ``{"regions": {region: reader}, "colour_by": {region: array}, "times": [...]}``.
    """
    from paraview import simple as ps

    outdir = Path(outdir).resolve()
    view = view or ps.GetActiveViewOrCreate("RenderView")
    view.ViewSize = [1200, 900]  # font sizes below are for this size (also in screenshots)
    readers, colour, shown = {}, {}, {}
    regions = _regions(outdir)
    for region, pvd in regions:
        r = ps.PVDReader(registrationName=region, FileName=str(pvd))
        ps.RenameSource(region, r)  # the name shown in the Pipeline Browser and kept in a state
        readers[region] = r
    # 3D runs: show the half y < y_centre of every region (a plane through the centre of
    # all regions), so that the interior of the particles shows; the readers stay in the
    # pipeline (hidden) for the user's own filters
    lo, hi = [1e300] * 3, [-1e300] * 3
    for r in readers.values():
        ts = list(r.TimestepValues) if r.TimestepValues else [0.0]
        r.UpdatePipeline(float(ts[-1]))
        b = r.GetDataInformation().GetBounds()
        lo = [min(lo[i], b[2 * i]) for i in range(3)]
        hi = [max(hi[i], b[2 * i + 1]) for i in range(3)]
    is3d = hi[2] - lo[2] > 1e-9 * max(hi[0] - lo[0], hi[1] - lo[1], 1e-300)
    centre = [0.5 * (lo[i] + hi[i]) for i in range(3)]
    for region, r in readers.items():
        src = r
        if is3d:
            src = ps.Clip(registrationName=f"{region} (cut at y = {centre[1]:.4g} m)", Input=r)
            src.ClipType = "Plane"
            src.ClipType.Origin = centre
            src.ClipType.Normal = [0.0, 1.0, 0.0]
            src.Invert = 1
            ps.Hide(r, view)
        disp = ps.Show(src, view)
        shown[region] = src
        pts, cells = _array_names(r)
        name = next((n for n in COLOUR_PRIORITY if n in pts or n in cells), None)
        if name is None:
            continue
        assoc = "POINTS" if name in pts else "CELLS"
        ps.ColorBy(disp, (assoc, name, "Magnitude") if name.startswith("displacement") else (assoc, name))
        disp.RescaleTransferFunctionToDataRange(True, False)
        disp.SetScalarBarVisibility(view, True)
        if name.startswith("electrolyte") and len(regions) > 1:
            disp.Opacity = 0.35  # the electrolyte surrounds the particles: see through it
        if region == "particle" and any(r.endswith("_interface") for r in readers):
            disp.Opacity = 0.5  # the interface damage lies on the particle surface: see it through
        colour[region] = name
    # one horizontal bar per colour map along the bottom, titled with the array (unit)
    for i, name in enumerate(sorted(set(colour.values()))):
        bar = ps.GetScalarBar(ps.GetColorTransferFunction(name), view)
        bar.Title = name
        bar.ComponentTitle = ""
        bar.Orientation = "Horizontal"
        bar.WindowLocation = "Any Location"
        bar.Position = [0.03 + 0.33 * (i % 3), 0.03 + 0.12 * (i // 3)]
        bar.ScalarBarLength = 0.28
        bar.TitleFontSize = 14
        bar.LabelFontSize = 13
        bar.ScalarBarThickness = 12
        bar.TitleColor = bar.LabelColor = [1.0, 1.0, 1.0]
        bar.RangeLabelFormat = "%-#.4g"
    scene = ps.GetAnimationScene()
    scene.UpdateAnimationUsingDataTimeSteps()
    times = sorted({float(t) for r in readers.values() for t in r.TimestepValues})
    if times:
        scene.AnimationTime = times[-1]
        for region, r in readers.items():  # colour range of the last time
            name = colour.get(region)
            if name:
                ps.GetDisplayProperties(shown[region], view).RescaleTransferFunctionToDataRange(False, True)
    if "interface_damage [-]" in colour.values():  # its own colour map, fixed at [0, 1]: where it tore
        lut = ps.GetColorTransferFunction("interface_damage [-]")
        lut.ApplyPreset("Inferno (matplotlib)", True)
        lut.AutomaticRescaleRangeMode = "Never"
        lut.RescaleTransferFunction(0.0, 1.0)
    view.CameraPosition = [0.55, 1.0, 0.5]  # from +y: looking at the cut face of the kept y < y_centre half
    view.CameraFocalPoint = [0.0, 0.0, 0.0]
    view.CameraViewUp = [0.0, 0.0, 1.0]
    view.ResetCamera()
    ps.Render(view)
    return {"regions": readers, "shown": shown, "colour_by": colour, "times": times}


def _fetch_arrays(data):
    """points, connectivity (cells, nodes) and arrays of a vtkUnstructuredGrid."""
    import numpy as np
    from vtkmodules.util.numpy_support import vtk_to_numpy

    pts = vtk_to_numpy(data.GetPoints().GetData()) if data.GetNumberOfPoints() else np.zeros((0, 3))
    ca = data.GetCells()
    conn = vtk_to_numpy(ca.GetConnectivityArray()) if data.GetNumberOfCells() else np.zeros(0, int)
    off = vtk_to_numpy(ca.GetOffsetsArray()) if data.GetNumberOfCells() else np.zeros(1, int)
    nn = int(off[1] - off[0]) if len(off) > 1 else 1
    out = {"points": pts, "conn": conn.reshape(-1, nn), "point": {}, "cell": {}}
    for key, attrs in (("point", data.GetPointData()), ("cell", data.GetCellData())):
        for i in range(attrs.GetNumberOfArrays()):
            a = attrs.GetArray(i)
            if a is not None:
                out[key][a.GetName()] = vtk_to_numpy(a)
    return out


def _leaves(data):
    """The datasets of a (multi)block data object, in order."""
    if data is None:
        return []
    if data.IsA("vtkMultiBlockDataSet") or data.IsA("vtkPartitionedDataSetCollection") or data.IsA(
            "vtkMultiPieceDataSet") or data.IsA("vtkPartitionedDataSet"):
        out = []
        it = data.NewIterator()
        it.InitTraversal()
        while not it.IsDoneWithTraversal():
            out.append(it.GetCurrentDataObject())
            it.GoToNextItem()
        return out
    return [data]


def _text(fd, name):
    a = fd.GetAbstractArray(name)
    if a is None:
        return None
    return bytes(int(a.GetTuple1(i)) for i in range(a.GetNumberOfTuples())).decode("utf-8")


def _version() -> str:
    """ParaView's version, e.g. "5.11.0"."""
    from paraview import servermanager as sm

    text = sm.vtkSMProxyManager.GetParaViewSourceVersion()  # "paraview version 5.11.0"
    return text.split()[-1]


def check(outdir, dump, png) -> dict:
    """Read the run back with ParaView (see the module docstring); returns the report."""
    import numpy as np
    from paraview import servermanager as sm
    from paraview import simple as ps

    outdir = Path(outdir).resolve()
    saved = {}
    report = {"paraview": _version(), "regions": {}}
    types = set()
    for region, pvd in _regions(outdir):
        r = ps.PVDReader(FileName=str(pvd))
        times = [float(t) for t in r.TimestepValues]
        saved[f"{region}/times"] = np.array(times)
        info = []
        for k, t in enumerate(times):
            r.UpdatePipeline(t)
            leaves = _leaves(sm.Fetch(r))
            if len(leaves) != 1:
                raise AssertionError(f"{region} t={t}: {len(leaves)} datasets, expected 1")
            d = _fetch_arrays(leaves[0])
            tv = leaves[0].GetFieldData().GetArray("TimeValue")
            if tv is None or float(tv.GetTuple1(0)) != t:
                raise AssertionError(f"{region}: TimeValue field data does not match t = {t}")
            saved[f"{region}/{k}/points"] = d["points"]
            saved[f"{region}/{k}/conn"] = d["conn"]
            for loc in ("point", "cell"):
                for name, v in d[loc].items():
                    saved[f"{region}/{k}/{loc}/{name}"] = v
                    if loc == "point" or name.endswith("]"):
                        types.add(str(v.dtype))
            info.append({"t": t, "cells": int(leaves[0].GetNumberOfCells()),
                         "region": _text(leaves[0].GetFieldData(), "region")})
        report["regions"][region] = info
        ps.Delete(r)
    # every region together: one block per region at each time
    allr = ps.PVDReader(FileName=str(outdir / "fields" / "all_regions.pvd"))
    blocks, all_types = [], set()
    for t in allr.TimestepValues:
        allr.UpdatePipeline(t)
        leaves = _leaves(sm.Fetch(allr))
        names = sorted(_text(b.GetFieldData(), "region") for b in leaves)
        blocks.append([len(leaves), names])
        for b in leaves:
            for attrs in (b.GetPointData(), b.GetCellData()):
                for i in range(attrs.GetNumberOfArrays()):
                    a = attrs.GetArray(i)
                    if a.GetName().endswith("]"):
                        all_types.add(a.GetDataTypeAsString())
    report["all_regions"] = {"blocks": blocks, "types": sorted(
        "float64" if s == "double" else s for s in all_types)}
    ps.Delete(allr)
    report["field_types"] = sorted(types)
    np.savez(str(dump), **saved)
    # a picture coloured by a field; the coloured arrays must be free of NaN
    res = load_run(outdir)
    nan = 0
    for region, name in res["colour_by"].items():
        src = res["regions"][region]
        src.UpdatePipeline(res["times"][-1])
        for leaf in _leaves(sm.Fetch(src)):
            d = _fetch_arrays(leaf)
            v = d["point"].get(name, d["cell"].get(name))
            nan += int(np.isnan(v).sum()) if v is not None else 1
        lut = ps.GetColorTransferFunction(name)
        if not all(np.isfinite(lut.RGBPoints)):
            nan += 1
    ps.SaveScreenshot(str(png), ps.GetActiveView(), ImageResolution=[1200, 900], FontScaling="Do not scale fonts")
    report["render"] = {"field": res["colour_by"], "nan": nan, "times": res["times"]}
    return report


def _report(png, data: dict) -> None:
    """The JSON report goes next to the picture (PNG -> .json) and to stdout."""
    text = json.dumps(data)
    Path(png).with_suffix(".json").write_text(text + "\n", encoding="utf-8")
    print(text)


def _pv_main(argv) -> int:
    cmd = argv[0] if argv else ""
    if cmd == "make-state" and len(argv) == 3:
        from paraview import simple as ps

        load_run(argv[1])
        ps.SaveState(str(Path(argv[2]).resolve()))
        return 0
    if cmd == "load-state" and len(argv) == 3:
        from paraview import simple as ps

        ps.LoadState(str(Path(argv[1]).resolve()))
        view = ps.GetActiveViewOrCreate("RenderView")
        scene = ps.GetAnimationScene()
        scene.UpdateAnimationUsingDataTimeSteps()
        srcs = ps.GetSources()
        regions, colour, times = [], {}, set()
        for (_, _), src in srcs.items():
            if not hasattr(src, "FileName"):  # the cuts: their display carries the colour
                continue
            # the region from the file (5.11's LoadState names sources after their files)
            name = Path(str(src.FileName)).stem
            regions.append(name)
            times.update(float(t) for t in src.TimestepValues)
            shown = [s for s in srcs.values() if getattr(s, "Input", None) == src] or [src]
            disp = ps.GetDisplayProperties(shown[0], view)
            colour[name] = disp.ColorArrayName[1]
        ps.SaveScreenshot(str(argv[2]), view, ImageResolution=[1200, 900], FontScaling="Do not scale fonts")
        _report(argv[2], {"regions": regions, "colour_by": colour, "times": sorted(times)})
        return 0
    if cmd == "check" and len(argv) == 4:
        _report(argv[3], check(argv[1], argv[2], argv[3]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":  # pvpython cellsim/paraview.py ...
    # this file's folder is first on sys.path: it would shadow ParaView's own "paraview"
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _here]
    _rc = _pv_main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # leave at once: ParaView's teardown of an offscreen (Xvfb) context can fail with a
    # GLXBadContext error after the work is done, turning a success into exit code 1
    os._exit(_rc)
