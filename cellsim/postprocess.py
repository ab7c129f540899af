"""Pictures of a finished (or running) run, made from its output folder only.

Nothing here touches solver objects, DOLFINx or MPI: the inputs are the files of the
output contract (:mod:`cellsim.output`): ``timeseries.csv``, ``manifest.json`` and the
VTK series ``fields/<region>.pvd``. So ``cellsim plot OUTDIR`` runs on a laptop with
only numpy, matplotlib and PyVista.

* the time-series pictures (:mod:`cellsim.curves`, re-exported here):
  :func:`plot_voltage` -> ``voltage.png``, :func:`plot_voltage_components` ->
  ``voltage_components.png``, :func:`plot_timeseries` -> ``timeseries.png`` (one axis per
  quantity, errors on log axes).
* :func:`plot_fields` -> ``fields.png``: one row per region (every region of the run),
  up to three scalar fields each (or the fields asked for), at one output time (the last
  by default), on the mesh clipped by a plane through its centre so that the interior
  shows (3D), with scalar bars that carry the unit.
* :func:`plot` draws ``timeseries.png`` and ``fields.png``; :func:`plot_all` every
  picture the folder allows (the ``cellsim plot OUTDIR [--time T] [--field NAME]
  [--region R]`` command).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from cellsim.curves import (  # noqa: F401  (re-exported: the time-series pictures)
    TIME_COLUMN, Panel, plot_timeseries, plot_voltage, plot_voltage_components, split_column, timeseries_panels,
    voltage_column, voltage_components,
)
from cellsim.output import FIELD_UNITS, field_files, read_timeseries

#: Fields shown by :func:`plot_fields`, in this order (the first three present).
FIELD_PRIORITY = (
    "lithium_concentration",
    "von_mises_stress",
    "hydrostatic_stress",
    "electrolyte_concentration",
    "electrolyte_potential",
    "solid_potential",
    "interface_damage",
)

# --------------------------------------------------------------------------------------
# fields (PyVista)
# --------------------------------------------------------------------------------------
def select_time(times, time: float | None) -> float:
    """The stored output time nearest to ``time`` (the last one when None)."""
    times = [float(v) for v in times]
    if not times:
        raise ValueError("the field series has no output times")
    if time is None:
        return times[-1]
    return min(times, key=lambda v: abs(v - float(time)))


def read_region(pvd, time: float | None = None):
    """Read one output time of a region's VTK series; returns ``(grid, t)``.

    Pieces written by several ranks are merged and ghost cells (files of older
    versions) dropped, so the grid holds every cell once. On a continuous grid,
    coincident points (closer than 1e-10 of the bounding-box diagonal: the copies of a
    node on two ranks) are merged too; a discontinuous ("broken") grid keeps each
    cell's own nodes, so DG values stay as written. Arrays are renamed from the file
    names ``"name [unit]"`` to the field names of :data:`FIELD_UNITS`.
    """
    import pyvista as pv

    reader = pv.get_reader(str(pvd))
    t = select_time(reader.time_values, time)
    reader.set_active_time_value(t)
    data = reader.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    broken = False
    if "grid_discontinuous" in grid.field_data:
        broken = bool(np.asarray(grid.field_data["grid_discontinuous"]).ravel()[0])
    if "vtkGhostType" in grid.cell_data:
        ghost = (np.asarray(grid.cell_data["vtkGhostType"]) & 1) != 0
        if ghost.any():
            grid = grid.extract_cells(np.flatnonzero(~ghost))
    if not broken:
        # Copies of a node written by different ranks can differ in the last bit
        # (measured: 1.7e-16 relative), so merge with a tolerance relative to the mesh size.
        b = np.asarray(grid.bounds, float).reshape(3, 2)
        diag = float(np.linalg.norm(b[:, 1] - b[:, 0])) or 1.0
        grid = grid.clean(tolerance=1e-10 * diag)
    for aux in ("vtkOriginalCellIds", "vtkOriginalPointIds", "vtkGhostType"):
        for arrays in (grid.cell_data, grid.point_data):
            if aux in arrays:
                del arrays[aux]
    for arrays in (grid.point_data, grid.cell_data):
        for key in list(arrays.keys()):
            name, unit = split_column(key)
            if unit and name in FIELD_UNITS and name not in arrays:
                arrays[name] = arrays[key]
                del arrays[key]
    return grid, t


def _pick_region(files: dict, region: str | None) -> str:
    if not files:
        raise FileNotFoundError("no field files (fields/<region>.pvd) in this output folder")
    if region is not None:
        if region not in files:
            raise KeyError(f"region {region!r} has no fields; regions with fields: {sorted(files)}")
        return region
    for r, d in files.items():  # the region with the particle concentration first
        if "lithium_concentration" in d.get("fields", {}):
            return r
    return sorted(files)[0]


def _scalar_fields(grid, names=None) -> list[tuple[str, str]]:
    """(name, 'point'|'cell') of the scalar fields to draw: those of ``names`` the grid
    has (a vector or tensor as its magnitude), else the first three of FIELD_PRIORITY."""
    found = []
    for name in (names or FIELD_PRIORITY):
        for loc, arrays in (("point", grid.point_data), ("cell", grid.cell_data)):
            if name in arrays:
                a = np.asarray(arrays[name])
                if a.ndim == 1:
                    found.append((name, loc))
                elif names:
                    arrays[f"{name} magnitude"] = np.linalg.norm(a.reshape(len(a), -1), axis=1)
                    found.append((f"{name} magnitude", loc))
                else:
                    continue
                break
    return found if names else found[:3]


def _region_order(files: dict) -> list[str]:
    """Regions for the field picture: the one with the particle concentration first."""
    first = _pick_region(files, None)
    return [first] + sorted(r for r in files if r != first)


def _prepare_region(files: dict, reg: str, time: float | None, names=None):
    """(grid, t, fields) of one region: what :func:`plot_fields` draws (``fields`` empty
    when the region has none of ``names``)."""
    grid, t = read_region(files[reg]["pvd"], time)
    grid = _for_drawing(grid, files[reg].get("fields", {}))
    fields = _scalar_fields(grid, names)
    if not fields and names:
        return grid, t, fields
    if not fields:
        vec = "displacement" if "displacement" in grid.point_data else None
        if vec is None:
            raise ValueError(f"region {reg!r}: no scalar field of {FIELD_PRIORITY} to draw")
        grid.point_data["displacement magnitude"] = np.linalg.norm(grid.point_data[vec], axis=1)
        fields = [("displacement magnitude", "point")]
    return grid, t, fields


def _for_drawing(grid, meta: dict):
    """A broken (discontinuous) grid made drawable: its cells' own nodes make every
    inner face a boundary face (two coincident faces of different colour flicker), so the
    nodes are merged; discontinuous point fields become cell data (each cell's mean of
    its own nodal values, so jumps between cells stay), continuous ones stay point data
    (their copies are equal)."""
    broken = "grid_discontinuous" in grid.field_data and bool(
        np.asarray(grid.field_data["grid_discontinuous"]).ravel()[0])
    if not broken:
        return _linear_cells(grid)
    dg = [n for n in grid.point_data.keys()
          if str((meta.get(n) or {}).get("space", "DG")).startswith("DG")]
    means = grid.point_data_to_cell_data(pass_point_data=False) if dg else None
    b = np.asarray(grid.bounds, float).reshape(3, 2)
    diag = float(np.linalg.norm(b[:, 1] - b[:, 0])) or 1.0
    merged = grid.clean(tolerance=1e-10 * diag)
    if merged.n_cells != grid.n_cells:  # cells must keep their order for the means
        return grid
    for n in dg:
        merged.cell_data[n] = np.asarray(means.cell_data[n])
        del merged.point_data[n]
    return _linear_cells(merged)


def _linear_cells(grid):
    """Quadratic cells split into linear ones on their own nodes (VTK's clip passes
    nonlinear cells through whole, and they then overlap the cut face)."""
    if grid.n_cells and int(np.max(grid.celltypes)) > 20:
        return grid.tessellate(max_n_subdivide=1, merge_points=True)
    return grid


def plot_fields(outdir, region: str | None = None, time: float | None = None, path=None,
                fields=None) -> Path:
    """Draw ``fields.png`` (``fields_<region>.png`` when ``region`` is given, or ``path``).

    One row per region (every region of the run, the particle region first; only
    ``region`` when given), showing up to three scalar fields of :data:`FIELD_PRIORITY`
    (lithium_concentration, von_mises_stress, hydrostatic_stress, ...), or the fields
    named in ``fields`` (a vector or tensor as its magnitude; regions without any of
    them are left out), at the output
    time nearest ``time`` [s] (default: the last). A 3D mesh is cut by the plane
    y = y_centre of all regions and the half y < y_centre is drawn, so that the cut face
    shows the interior; the camera looks at the cut face. Stresses are drawn in MPa.
    """
    import pyvista as pv

    outdir = Path(outdir)
    files = field_files(outdir)
    regions = [_pick_region(files, region)] if region is not None else _region_order(files)
    if isinstance(fields, str):
        fields = [fields]
    rows = [(reg, *_prepare_region(files, reg, time, fields)) for reg in regions]
    rows = [r for r in rows if r[3]]
    if not rows:
        have = sorted({f for d in files.values() for f in d.get("fields", {})})
        raise KeyError(f"no region {'of ' + repr(regions) + ' ' if region else ''}has the field(s) {fields}; "
                       f"fields written: {have}")
    allb = np.array([np.asarray(g.bounds, float).reshape(3, 2) for _, g, _, _ in rows])
    b = np.stack([allb[:, :, 0].min(axis=0), allb[:, :, 1].max(axis=0)], axis=1)
    size = float(np.max(b[:, 1] - b[:, 0]))
    is3d = (b[2, 1] - b[2, 0]) > 1e-9 * size
    centre = b.mean(axis=1)
    ncols = max(len(f) for _, _, _, f in rows)
    pl = pv.Plotter(off_screen=True, shape=(len(rows), ncols), window_size=(560 * ncols, 600 * len(rows)),
                    border=False)
    pl.set_background("white")
    for i, (reg, grid, t, fields) in enumerate(rows):
        if is3d:
            shown = grid.clip(normal="y", origin=centre, invert=True)
            if shown.n_cells == 0:
                shown = grid
        else:
            shown = grid
        show_edges = grid.n_cells <= 20000
        for k, (name, loc) in enumerate(fields):
            pl.subplot(i, k)
            _draw_field(pl, shown, name, loc, reg, t, show_edges, is3d, size)
    if path is not None:
        out = Path(path)
    else:
        out = outdir / ("fields.png" if region is None else f"fields_{regions[0]}.png")
    pl.screenshot(str(out))
    pl.close()
    return out


def _tick_format(lo: float, hi: float) -> str:
    """Enough significant digits that the ticks of [lo, hi] differ (4.2131, 4.2135, ...)."""
    big = max(abs(lo), abs(hi))
    if not (math.isfinite(big) and big > 0 and hi > lo):
        return "%.4g"
    digits = int(math.ceil(math.log10(big / (hi - lo)))) + 2
    return f"%.{min(max(digits, 4), 10)}g"


def _draw_field(pl, shown, name, loc, reg, t, show_edges, is3d, size) -> None:
    mesh_k = shown.copy()  # one dataset per subplot: each has its own active scalars
    arrays = mesh_k.point_data if loc == "point" else mesh_k.cell_data
    vals = np.asarray(arrays[name], float)
    unit = FIELD_UNITS.get(name, "m" if name == "displacement magnitude" else "")
    scale = 1.0
    if unit == "Pa":
        scale, unit = 1e6, "MPa"
    key = f"{name} [{unit}]"
    v = vals / scale
    arrays[key] = v
    lo, hi = (float(np.nanmin(v)), float(np.nanmax(v))) if v.size else (0.0, 1.0)
    cmap = "viridis"
    if name == "hydrostatic_stress" and lo < 0.0 < hi:
        a = max(-lo, hi)
        lo, hi, cmap = -a, a, "coolwarm"
    elif name == "von_mises_stress":
        cmap = "inferno"
    elif name.endswith("potential"):
        cmap = "plasma"
    if hi <= lo:
        pad = abs(hi) * 1e-6 or 1e-12
        lo, hi = lo - pad, hi + pad
    # one scalar bar per subplot: the same field in two regions needs two bar titles
    bar_key = f"{key} ({reg})" if key in pl.scalar_bars else key
    pl.add_mesh(
        mesh_k,
        scalars=key,
        preference=loc,
        cmap=cmap,
        clim=(lo, hi),
        show_edges=show_edges,
        edge_color="#555555",
        line_width=0.3,
        scalar_bar_args=dict(
            title=bar_key,
            vertical=False,
            n_labels=4,
            fmt=_tick_format(lo, hi),
            color="black",
            position_x=0.15,
            position_y=0.01,
            width=0.7,
            height=0.17,
            title_font_size=16,
            label_font_size=14,
        ),
    )
    bar = pl.scalar_bars[bar_key]
    bar.SetTextPositionToPrecedeScalarBar()  # tick labels and title under the bar
    bar.SetBarRatio(0.3)
    bar.SetVerticalTitleSeparation(4)
    pl.add_text(f"{reg}: {name}\nt = {t:.6g} s", font_size=10, color="black", position="upper_left")
    if is3d:
        pl.view_vector((0.55, 1.0, 0.5), viewup=(0.0, 0.0, 1.0))
    else:
        pl.view_xy()
    pl.reset_camera()
    pl.camera.zoom(0.85 if is3d else 1.0)
    # move the picture up a little, clear of the scalar bar
    up = np.asarray(pl.camera.up, float)
    shift = 0.09 * size * up / np.linalg.norm(up)
    pl.camera.focal_point = tuple(np.asarray(pl.camera.focal_point) - shift)
    pl.camera.position = tuple(np.asarray(pl.camera.position) - shift)


def _has_rows(outdir: Path):
    ts = outdir / "timeseries.csv"
    if not ts.exists():
        return None
    data = read_timeseries(ts)
    return data if data and len(next(iter(data.values()))) > 0 else None


def plot(outdir, time: float | None = None, fields=None, region: str | None = None) -> list[Path]:
    """``timeseries.png`` and ``fields.png`` (as far as the folder has them); returns the
    paths written. ``time``, ``fields``, ``region``: as :func:`plot_fields`."""
    outdir = Path(outdir)
    made = []
    if _has_rows(outdir) is not None:
        made.append(plot_timeseries(outdir))
    if field_files(outdir):
        made.append(plot_fields(outdir, region=region, time=time, fields=fields))
    if not made:
        raise FileNotFoundError(f"{outdir}: nothing to plot (no timeseries rows, no fields)")
    return made


def plot_all(outdir, time: float | None = None, fields=None, region: str | None = None) -> list[Path]:
    """Every picture the output folder allows (``cellsim plot``): ``voltage.png`` and
    ``voltage_components.png`` (where the run has a voltage and an OCP), then
    ``timeseries.png`` and ``fields.png`` (:func:`plot`)."""
    outdir = Path(outdir)
    made = []
    data = _has_rows(outdir)
    if data is not None and voltage_column(data) is not None:
        made.append(plot_voltage(outdir))
        if voltage_components(data) is not None:
            made.append(plot_voltage_components(outdir))
    return made + plot(outdir, time=time, fields=fields, region=region)


def main(argv=None) -> int:
    """``python -m cellsim.postprocess OUTDIR [OUTDIR ...]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m cellsim.postprocess OUTDIR [OUTDIR ...]", file=sys.stderr)
        return 2
    for d in args:
        for p in plot_all(d):
            print(p)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
