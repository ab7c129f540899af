"""Time-series pictures of a run, made from ``timeseries.csv`` (and the manifest) only.

* :func:`plot_timeseries` -> ``timeseries.png``: one axis per physical quantity
  (:func:`timeseries_panels`): the cell or particle potential with the OCP, the
  overpotentials (in mV, on their own axis), the solid and the electrolyte concentrations
  (separately), the stoichiometries, the state of charge (per-particle columns such as
  ``soc particle 3 [-]`` collapsed into a min-max band), the stresses (MPa), currents,
  capacities, each other column alone; conservation errors (``... error [-]``,
  ``[mol]``) as |value| on a logarithmic axis; Newton iterations with dt (log, right
  axis); Krylov iterations alone. Counters (step, cycle, protocol step, wall time) are
  not drawn. Legends with more than three entries sit beside the axis.
* :func:`plot_voltage` -> ``voltage.png``: voltage vs time (protocol steps marked), current
  vs time, voltage vs capacity (one curve per protocol step).
* :func:`plot_voltage_components` -> ``voltage_components.png``: the voltage built up
  from the OCV and the overpotentials, as PyBaMM's ``plot_voltage_components``
  (:func:`voltage_components`), and each overpotential on its own axis in mV.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellsim.output import read_manifest, read_timeseries

TIME_COLUMN = "time [s]"
#: running counters: not physics, not drawn
COUNTER_COLUMNS = ("step [-]", "cycle [-]", "protocol step [-]", "wall time [s]")
VOLTAGE_COLUMNS = ("voltage [V]", "particle potential [V]")

# Order of unit panels; units not listed come after, in column order.
_UNIT_ORDER = ("V", "A m-2", "A", "mol m-3", "-", "Pa", "mA h m-2", "mA h")
_COLUMN_RE = re.compile(r"^(?P<name>.*\S)\s*\[(?P<unit>[^\[\]]*)\]$")
_PER_PARTICLE_RE = re.compile(r"^(?P<q>.*?)\s*particle[ _]?(?P<i>\d+)$")
_GROUP_TITLES = {
    "potentials": "potentials", "overpotentials": "overpotentials", "concentrations": "concentrations",
    "electrolyte concentrations": "electrolyte concentrations", "stoichiometry": "stoichiometry",
    "stresses": "stresses", "currents": "currents", "current densities": "current densities",
}


def split_column(column: str) -> tuple[str, str]:
    """``"voltage [V]"`` -> ``("voltage", "V")``; a column without unit gets ``""``."""
    m = _COLUMN_RE.match(column.strip())
    if not m:
        return column.strip(), ""
    return m.group("name"), m.group("unit").strip()


@dataclass
class Panel:
    """One axis of the time-series figure."""

    title: str
    unit: str
    columns: list[str]
    twin: list[str] = field(default_factory=list)  # plotted on a right axis (log scale)
    scale: float = 1.0  # values are divided by this
    shown_unit: str = ""
    x_column: str | None = None  # None: time
    band: list[str] = field(default_factory=list)  # per-particle columns, drawn as a min-max band
    log: bool = False  # |value| on a logarithmic axis (errors)


def _is_solver_column(name: str, unit: str) -> bool:
    n = name.lower()
    return "iteration" in n or (n in ("dt", "time step") and unit == "s")


def _is_error(name: str) -> bool:
    return "error" in name.lower()


def _quantity(name: str, unit: str) -> str:
    """What a column measures: columns of one quantity share an axis."""
    n = name.lower()
    if unit == "V":
        return "overpotentials" if "overpotential" in n else "potentials"
    if unit == "mol m-3":
        return "electrolyte concentrations" if "electrolyte" in n else "concentrations"
    if unit == "-" and "stoichiometry" in n:
        return "stoichiometry"
    if unit == "-" and (n == "soc" or "state of charge" in n):
        return "state of charge"
    if unit == "Pa":
        return "stresses"
    if unit == "A":
        return "currents"
    if unit == "A m-2":
        return "current densities"
    return name


def timeseries_panels(data: dict[str, np.ndarray]) -> list[Panel]:
    """The axes of ``timeseries.png``: one per quantity (columns all NaN are skipped)."""
    present = [c for c, v in data.items() if c != TIME_COLUMN and c not in COUNTER_COLUMNS
               and np.any(np.isfinite(np.asarray(v, float)))]
    solver_main, solver_twin, krylov, errors = [], [], [], {}
    groups: dict[tuple[str, str], list[str]] = {}
    bands: dict[tuple[str, str], list[str]] = {}
    for c in present:
        name, unit = split_column(c)
        if "krylov" in name.lower():
            krylov.append(c)
        elif _is_solver_column(name, unit):
            (solver_twin if unit == "s" else solver_main).append(c)
        elif _is_error(name):
            errors.setdefault(unit, []).append(c)
        elif m := _PER_PARTICLE_RE.match(name):
            bands.setdefault((unit, _quantity(m.group("q"), unit)), []).append(c)
        else:
            groups.setdefault((unit, _quantity(name, unit)), []).append(c)
    for key in bands:
        groups.setdefault(key, [])
    keys = sorted(groups, key=lambda k: (_UNIT_ORDER.index(k[0]) if k[0] in _UNIT_ORDER else len(_UNIT_ORDER),
                                         list(groups).index(k)))
    panels = []
    for unit, q in keys:
        cols = groups[(unit, q)]
        names = [split_column(c)[0] for c in cols]
        title = names[0] if len(cols) == 1 and not bands.get((unit, q)) else _GROUP_TITLES.get(q, q)
        p = Panel(title=title, unit=unit, columns=cols, shown_unit=unit, band=bands.get((unit, q), []))
        if unit == "Pa":
            p.scale, p.shown_unit = 1e6, "MPa"
        elif q == "overpotentials":
            p.scale, p.shown_unit = 1e-3, "mV"
        elif unit in ("A", "C", "mol"):  # a particle's current is pA: shown as such
            p.scale, p.shown_unit = si_scale(np.concatenate([np.ravel(data[c]) for c in cols]), unit)
        panels.append(p)
    for unit, cols in errors.items():
        title = split_column(cols[0])[0] if len(cols) == 1 else "conservation errors"
        panels.append(Panel(title=f"{title} (|value|)", unit=unit, columns=cols, shown_unit=unit, log=True))
    if solver_main or solver_twin:
        main = solver_main or solver_twin
        twin = solver_twin if solver_main else []
        panels.append(Panel(title="solver", unit="-", columns=main, twin=twin, shown_unit="-"))
    newton = next((np.asarray(data[c], float) for c in solver_main if "newton" in c.lower()), None)
    if krylov and (newton is None or np.any(np.asarray(data[krylov[0]], float) > newton)):  # not LU (= Newton)
        panels.append(Panel(title="Krylov iterations", unit="-", columns=krylov, shown_unit="-"))
    return panels


def time_axis(t: np.ndarray) -> tuple[np.ndarray, str]:
    tmax = float(np.nanmax(np.abs(t))) if t.size else 0.0
    if tmax > 3 * 3600:
        return t / 3600.0, "time [h]"
    if tmax > 3 * 60:
        return t / 60.0, "time [min]"
    return t, "time [s]"


_PREFIXES = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def si_scale(values, unit: str) -> tuple[float, str]:
    """(divisor, unit) that shows ``values`` of ``unit`` (A, C, A h, mA h ...) in 0.1..1000."""
    v = np.asarray(values, float)
    big = float(np.nanmax(np.abs(v))) if v.size and np.any(np.isfinite(v)) else 0.0
    base, rest = (unit.split(" ", 1) + [""])[:2]
    factor = 1.0
    if base == "mA":  # mA h -> A h
        factor, base = 1e-3, base[1:]
    if not big:
        return 1.0, unit
    for f, pre in _PREFIXES:
        if big * factor >= f or f == _PREFIXES[-1][0]:
            return f / factor, f"{pre}{base}" + (f" {rest}" if rest else "")
    return 1.0, unit  # pragma: no cover


def new_figure(nrows: int, ncols: int, width: float, height: float, **kw):
    """A matplotlib Figure on the Agg canvas, without pyplot (no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _legend(ax, handles=None, labels=None) -> None:
    """A small legend inside the axis for up to three entries, else beside it."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if len(handles) < 2 and not any("particles" in lb for lb in labels):
        return
    if len(handles) <= 3:
        ax.legend(handles, labels, fontsize=7, loc="best", framealpha=0.7)
    else:
        ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _draw_panel(ax, p: Panel, x, data, marker, xlabel) -> None:
    for c in p.columns:
        name, _ = split_column(c)
        y = np.asarray(data[c], float) / p.scale
        if p.log:
            y = np.abs(y)
            y = np.where(y > 0, y, np.nan)
        style = "steps-post" if p.title == "solver" else "default"
        ax.plot(x, y, marker=marker, ms=3, lw=1.4, label=name, drawstyle=style)
    if p.band:
        Y = np.vstack([np.asarray(data[c], float) for c in p.band]) / p.scale
        q = _PER_PARTICLE_RE.match(split_column(p.band[0])[0]).group("q")
        ax.fill_between(x, np.nanmin(Y, axis=0), np.nanmax(Y, axis=0), color="tab:gray", alpha=0.3, lw=0,
                        label=f"{q}: {len(p.band)} particles, min–max")
    if p.log:
        if any(np.any(np.abs(np.asarray(data[c], float)) > 0) for c in p.columns):
            ax.set_yscale("log")
        ax.set_ylabel(f"|value| [{p.shown_unit}]")
    else:
        ax.set_ylabel(f"[{p.shown_unit}]" if p.shown_unit else "")
    ax.set_xlabel(xlabel if p.x_column is None else p.x_column)
    ax.set_title(p.title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if p.twin:
        ax2 = ax.twinx()
        for c in p.twin:
            name, unit = split_column(c)
            y = np.asarray(data[c], float)
            y = np.where(y > 0, y, np.nan)  # the first row has dt = 0
            ax2.plot(x, y, color="tab:red", ls="--", marker=marker, ms=3, lw=1.2, label=f"{name} [{unit}]")
            if np.any(np.isfinite(y)):
                ax2.set_yscale("log")
        ax2.set_ylabel(", ".join(p.twin), color="tab:red")
        # the legend in the title: nothing covers the curves
        ax.set_title(f"{p.title}: {', '.join(split_column(c)[0] for c in p.columns)} (left), "
                     f"{', '.join(p.twin)} (red, right)", fontsize=10)
    else:
        _legend(ax)
    if p.title in ("solver", "Krylov iterations"):
        ax.yaxis.get_major_locator().set_params(integer=True)


def _read(outdir: Path) -> tuple[dict, int]:
    data = read_timeseries(outdir)
    n = len(next(iter(data.values()))) if data else 0
    if n == 0:
        raise ValueError(f"{outdir / 'timeseries.csv'} has no rows to plot")
    return data, n


def _save(fig, outdir: Path, name: str, path) -> Path:
    out = Path(path) if path is not None else outdir / name
    fig.savefig(out, dpi=110)
    return out


def plot_timeseries(outdir, path=None) -> Path:
    """Draw ``timeseries.png`` (or ``path``) from ``OUTDIR/timeseries.csv``; returns the path."""
    return _save(timeseries_figure(outdir), Path(outdir), "timeseries.png", path)


def timeseries_figure(outdir):
    """The matplotlib Figure of ``timeseries.png`` (one axis per :class:`Panel`)."""
    outdir = Path(outdir)
    data, n = _read(outdir)
    if TIME_COLUMN in data:
        t, xlabel = time_axis(data[TIME_COLUMN])
    else:
        t, xlabel = np.arange(n, dtype=float), "step [-]"
    panels = timeseries_panels(data)
    if not panels:
        raise ValueError(f"{outdir / 'timeseries.csv'}: no column besides time has values")
    ncols = 1 if len(panels) <= 2 else 2
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(nrows, ncols, 6.0 * ncols, 2.9 * nrows + 0.5)
    marker = "o" if n <= 30 else None
    for ax, p in zip(axes.flat, panels):
        _draw_panel(ax, p, t if p.x_column is None else data[p.x_column], data, marker, xlabel)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(run_title(outdir), fontsize=11)
    return fig


def run_title(outdir: Path) -> str:
    try:
        m = read_manifest(outdir)
    except (OSError, ValueError):
        return outdir.name
    bits = [outdir.name, f"status: {m.get('status', '?')}"]
    if m.get("reason"):
        bits.append(str(m["reason"])[:80])
    return " | ".join(bits)


# --------------------------------------------------------------------------------------
# voltage
# --------------------------------------------------------------------------------------
def voltage_column(data: dict) -> str | None:
    """The cell voltage (half-cell) or particle potential column, if it has values."""
    for c in VOLTAGE_COLUMNS:
        if c in data and np.any(np.isfinite(np.asarray(data[c], float))):
            return c
    return None


def capacity_of(data: dict) -> tuple[np.ndarray, str] | None:
    """(values, unit) of the capacity passed: the ``capacity`` column, else the charge [C]
    in mA h."""
    for c in data:
        name, unit = split_column(c)
        if name.startswith("capacity") and np.any(np.isfinite(data[c])):
            return np.asarray(data[c], float), unit
    if "charge passed [C]" in data:
        return np.asarray(data["charge passed [C]"], float) / 3.6, "mA h"
    return None


def _step_labels(outdir: Path) -> dict[int, str]:
    try:
        ends = read_manifest(outdir).get("summary", {}).get("step_ends", [])
    except (OSError, ValueError):
        ends = []
    return {i + 1: str(e.get("step", "")) for i, e in enumerate(ends)}


def plot_voltage(outdir, path=None) -> Path:
    """Draw ``voltage.png``: voltage vs time, current vs time, voltage vs capacity."""
    return _save(voltage_figure(outdir), Path(outdir), "voltage.png", path)


def voltage_figure(outdir):
    """The Figure of ``voltage.png``."""
    outdir = Path(outdir)
    data, n = _read(outdir)
    vcol = voltage_column(data)
    if vcol is None:
        raise ValueError(f"{outdir / 'timeseries.csv'}: no voltage column with values ({VOLTAGE_COLUMNS})")
    t, xlabel = time_axis(np.asarray(data[TIME_COLUMN], float))
    v = np.asarray(data[vcol], float)
    icol = next((c for c in ("current density [A m-2]", "current [A]") if c in data), None)
    cap = capacity_of(data)
    steps = np.asarray(data.get("protocol step [-]", np.zeros(n)), float)
    labels = _step_labels(outdir)
    npan = 1 + (icol is not None) + (cap is not None)
    fig, axes = new_figure(1, npan, 5.2 * npan, 4.0)
    axes = list(axes.flat)
    marker = "o" if n <= 30 else None
    ax = axes.pop(0)
    ax.plot(t, v, color="black", lw=1.6, marker=marker, ms=3)
    change = np.flatnonzero(np.diff(steps) != 0) + 1
    for k in change[1:] if len(change) and steps[0] == 0 else change:
        ax.axvline(t[k - 1], color="tab:gray", lw=0.8, ls=":")
    ax.set(xlabel=xlabel, ylabel=f"{split_column(vcol)[0]} [V]", title=f"{split_column(vcol)[0]} vs time")
    ax.grid(True, alpha=0.3)
    if icol is not None:
        ax = axes.pop(0)
        f, shown = si_scale(data[icol], split_column(icol)[1])
        ax.plot(t, np.asarray(data[icol], float) / f, color="tab:blue", lw=1.4, marker=marker, ms=3,
                drawstyle="steps-pre")
        ax.set(xlabel=xlabel, ylabel=f"{split_column(icol)[0]} [{shown}]",
               title=f"{split_column(icol)[0]} (+ = lithiation)" if icol == "current [A]"
               else split_column(icol)[0])
        ax.grid(True, alpha=0.3)
    if cap is not None:
        ax = axes.pop(0)
        f, shown = si_scale(cap[0], cap[1]) if cap[1] == "mA h" else (1.0, cap[1])
        x = cap[0] / f
        ids = [s for s in dict.fromkeys(steps.tolist()) if s > 0] or [0.0]
        for s in ids:
            sel = (steps == s) if s > 0 else np.ones(n, bool)
            if s > 0:  # start each curve at the end of the one before
                k = np.flatnonzero(sel)[0]
                sel[max(k - 1, 0)] = True
            ax.plot(x[sel], v[sel], lw=1.5, marker=marker, ms=3,
                    label=labels.get(int(s), f"protocol step {int(s)}") if s > 0 else None)
        ax.set(xlabel=f"{'capacity' if cap[1] != 'mA h' else 'charge passed (+ = lithiation)'} [{shown}]", ylabel=f"{split_column(vcol)[0]} [V]", title=f"{split_column(vcol)[0]} vs {'capacity' if cap[1] != 'mA h' else 'charge passed'}")
        ax.grid(True, alpha=0.3)
        if 1 < len(ids) <= 8:
            ax.legend(fontsize=7, loc="best", framealpha=0.7)
    fig.suptitle(run_title(outdir), fontsize=11)
    return fig


def _ocv_at_mean(outdir: Path, data: dict):
    """U(mean stoichiometry) from the run's material (None where it is not one material)."""
    if "mean stoichiometry [-]" not in data:
        return None
    try:
        from .case import load_case

        case = load_case(outdir / "case.toml")
        if getattr(case, "coating_material", None) is not None:
            return None
        mat = case.material.resolve()
        x = np.clip(np.asarray(data["mean stoichiometry [-]"], float), 1e-6, 1 - 1e-6)
        return np.asarray(mat.ocp(x), float)
    except Exception:  # no case file, a material without a numpy OCP: draw without the split
        return None


def _stress_in_eta(outdir: Path) -> bool:
    try:
        from .case import load_case

        ph = load_case(outdir / "case.toml").physics
        return bool(ph.mechanics and ph.stress_in_overpotential)
    except Exception:
        return False


def voltage_components(data: dict, ocv=None, stress_in_eta: bool = False):
    """The voltage as a sum of parts: ``(voltage column, [(label, values [V]), ...])``.

    The first part is the OCV (``ocv``: U at the mean stoichiometry) or the mean surface
    OCP; then (with ``ocv``) the particle concentration overpotential (surface OCP - OCV),
    the reaction overpotential of the particle surfaces, a stress part where a column
    ``... stress ... [V]`` exists, the lithium-metal overpotential (half-cell: V = ... -
    eta_Li), and what remains (electrolyte and solid ohmic and concentration losses; in
    the particle, phi_e = 0, so the reaction and stress overpotential). The parts add up
    to the voltage exactly. None when no voltage or OCP column has values.
    """
    vcol = voltage_column(data)
    ucol = next((c for c in ("mean surface OCP [V]", "surface OCP [V]") if c in data), None)
    if vcol is None or ucol is None:
        return None
    v = np.asarray(data[vcol], float)
    u = np.asarray(data[ucol], float)
    parts = []
    if ocv is not None:
        parts += [("OCV at the mean stoichiometry", ocv), ("particle concentration overpotential", u - ocv)]
    else:
        parts.append(("mean surface OCP", u))
    if "mean particle overpotential [V]" in data:
        parts.append(("reaction overpotential", np.asarray(data["mean particle overpotential [V]"], float)))
    for c in data:
        name, unit = split_column(c)
        if unit == "V" and "stress" in name.lower():
            parts.append((name, np.asarray(data[c], float)))
    if "lithium metal overpotential [V]" in data:
        parts.append(("lithium metal overpotential", -np.asarray(data["lithium metal overpotential [V]"], float)))
    rest = v - np.sum([p for _, p in parts], axis=0)
    if vcol == "voltage [V]":
        label = "electrolyte and ohmic (remainder)"
        if stress_in_eta and not any("stress" in lb for lb, _ in parts):
            label = "electrolyte, ohmic and stress (remainder)"
    else:
        label = "reaction + stress overpotential" if stress_in_eta else "reaction overpotential"
    parts.append((label, rest))
    return vcol, parts


def plot_voltage_components(outdir, path=None) -> Path:
    """Draw ``voltage_components.png``: the voltage stacked from the OCV and each
    overpotential (filled), and the overpotentials in mV on their own axis."""
    return _save(voltage_components_figure(outdir), Path(outdir), "voltage_components.png", path)


def voltage_components_figure(outdir):
    """The Figure of ``voltage_components.png``."""
    outdir = Path(outdir)
    data, n = _read(outdir)
    res = voltage_components(data, _ocv_at_mean(outdir, data), _stress_in_eta(outdir))
    if res is None:
        raise ValueError(f"{outdir / 'timeseries.csv'}: no voltage and OCP columns to split the voltage")
    vcol, parts = res
    t, xlabel = time_axis(np.asarray(data[TIME_COLUMN], float))
    fig, axes = new_figure(2, 1, 8.5, 7.0, sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"]
    base = np.asarray(parts[0][1], float)
    top.plot(t, base, color="tab:gray", lw=1.2, ls="--", label=parts[0][0])
    level = base.copy()
    for (label, p), col in zip(parts[1:], colours):
        new = level + np.asarray(p, float)
        top.fill_between(t, level, new, color=col, alpha=0.55, lw=0, label=label)
        bottom.plot(t, np.asarray(p, float) * 1e3, color=col, lw=1.5, label=label)
        level = new
    top.plot(t, np.asarray(data[vcol], float), color="black", lw=1.6, label=split_column(vcol)[0])
    top.set(ylabel="[V]", title=f"{split_column(vcol)[0]} = {parts[0][0]} + overpotentials")
    bottom.set(xlabel=xlabel, ylabel="[mV]", title="overpotentials")
    bottom.axhline(0.0, color="black", lw=0.6)
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.suptitle(run_title(outdir), fontsize=11)
    return fig
