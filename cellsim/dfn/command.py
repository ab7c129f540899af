"""``cellsim dfn CASE [-o OUT] [--resolved OUTDIR] [--radius geometric|volume|area]``.

Builds the case's geometry (as ``cellsim tortuosity`` does), measures the homogenised
parameters, writes them (``dfn_parameters.json``, ``dfn.bpx.json`` validated with ``bpx``,
``dfn_pybamm_parameters.json`` for ``pybamm.ParameterValues.from_json``), runs PyBaMM's
half-cell DFN through the case's protocol (``dfn_timeseries.csv``, ``dfn_summary.json``) and,
with ``--resolved OUTDIR`` (a finished ``cellsim run`` of the same case), compares the
voltages (``dfn_comparison.json``, printed), for every radius mapping.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .homogenise import DEFAULT_RADIUS, RADIUS_MAPPINGS

RESULT_FILES = ("dfn_vs_resolved.png", "dfn_parameters.json", "dfn.bpx.json", "dfn_pybamm_parameters.json", "dfn_timeseries.csv",
                "dfn_summary.json", "dfn_comparison.json")


def twin_specs(case, tm, radii=RADIUS_MAPPINGS) -> dict:
    """Collective: {radius mapping: spec} of the case's electrode on ``tm``."""
    from .homogenise import homogenise, measure_electrode
    from .parameters import twin_spec

    if isinstance(radii, str):
        radii = (radii,)
    mat = case.material.resolve()
    sig_p = case.solid.particle_conductivity or mat.electronic_conductivity
    meas = measure_electrode(tm, case.solid.binder_conductivity, sig_p)
    return {r: twin_spec(homogenise(meas, case, radius=r), case) for r in radii}


def _find(d, key):
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            r = _find(v, key)
            if r is not None:
                return r
    return None


def _one_line(c: dict) -> str:
    return (f"RMS {1e3 * c['rms [V]']:.3f} mV, max {1e3 * c.get('max [V]', math.nan):.3f} mV, "
            f"mean {1e3 * c.get('mean [V]', math.nan):+.3f} mV over {c['points']} points")


def overlay(resolved_rows, twin_rows, comp: dict, png, radius: str) -> None:
    """Both voltage curves against capacity (and time), with the RMS difference in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for rows, lab, style in ((resolved_rows, "resolved (cellsim)", "-"), (twin_rows, f"DFN twin ({radius} radius)", "--")):
        axes[0].plot(rows["capacity [mA h m-2]"], rows["voltage [V]"], style, label=lab)
        axes[1].plot(rows["time [s]"] / 3600.0, rows["voltage [V]"], style, label=lab)
    axes[0].set_xlabel("capacity [mA h m-2]")
    axes[1].set_xlabel("time [h]")
    for ax in axes:
        ax.set_ylabel("voltage [V]")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best")
    fig.suptitle(f"resolved vs DFN twin: RMS {comp['rms [V]'] * 1e3:.2f} mV, max {comp['max [V]'] * 1e3:.2f} mV")
    fig.savefig(png, dpi=110)
    plt.close(fig)


def run_and_write(specs: dict, protocol, outdir, radius=DEFAULT_RADIUS, resolved=None, log=print) -> dict:
    """Rank-0 part: parameter files, the DFN run(s), the time series and the comparison."""
    from ..output import read_manifest, read_timeseries
    from .parameters import parameter_values, write_bpx, write_pybamm_set
    from .run import compare, run_twin, write_timeseries

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    res_rows = None
    if resolved is not None:
        res_rows = read_timeseries(resolved)
        i1c_run = _find(read_manifest(resolved), "one_c_current_density [A m-2]")
        for s in specs.values():
            mine = s["one_c_current_density [A m-2]"]
            if i1c_run is not None and abs(i1c_run - mine) > 1e-6 * abs(mine):
                log(f"the resolved run's 1C is {i1c_run:.6g} A m-2 (measured here {mine:.6g}): using the run's")
                s["one_c_current_density [A m-2]"] = float(i1c_run)
    spec = specs[radius]
    (out / "dfn_parameters.json").write_text(json.dumps(
        {**spec, "alternatives": {r: {k: s[k] for k in ("particle_radius [m]", "exchange_current_factor")}
                                  for r, s in specs.items()}}, indent=2, default=float) + "\n")
    if abs(spec["alpha_a"] - 0.5) < 1e-12 and abs(spec["alpha_c"] - 0.5) < 1e-12:
        write_bpx(spec, out / "dfn.bpx.json")
    else:
        (out / "dfn.bpx.json").unlink(missing_ok=True)
        log(f"no dfn.bpx.json: BPX holds symmetric kinetics only (alpha_a = {spec['alpha_a']:g}, alpha_c = "
            f"{spec['alpha_c']:g}); the PyBaMM set has them")
    pv = parameter_values(spec)
    write_pybamm_set(pv, out / "dfn_pybamm_parameters.json")
    tw = run_twin(spec, protocol, pv=pv)
    write_timeseries(tw.rows, out / "dfn_timeseries.csv")
    summary = {"radius_mapping": radius, "termination": tw.termination, "wall_time [s]": tw.wall_time,
               "step_ends": [{"protocol step": n, "step": lab, "end": kind, "pybamm": term}
                             for n, lab, kind, term in tw.step_ends]}
    (out / "dfn_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"DFN ({radius} radius {spec['particle_radius [m]'] * 1e6:.4g} um, i0 factor "
        f"{spec['exchange_current_factor']:.4g}): {tw.termination}, {len(tw.rows['time [s]'])} points, "
        f"{tw.wall_time:.2f} s")
    result = {"summary": summary}
    if res_rows is not None:
        comp = {radius: compare(res_rows, tw.rows)}
        for r, s in specs.items():
            if r != radius:
                comp[r] = compare(res_rows, run_twin(s, protocol).rows)
        for r, c in comp.items():
            log(f"resolved - DFN ({r} radius): {_one_line(c)}")
        (out / "dfn_comparison.json").write_text(json.dumps(
            {"resolved": str(resolved), "radius_mapping": radius, "comparison": comp}, indent=2) + "\n")
        result["comparison"] = comp
        overlay(res_rows, tw.rows, comp[radius], out / "dfn_vs_resolved.png", radius)
    log(f"written {', '.join(f for f in RESULT_FILES if (out / f).exists())} in {out}")
    return result


class TwinError(RuntimeError):
    """The twin run after a resolved run failed (raised on every rank alike)."""


def twin_after_run(case, tm, outdir, comm, log) -> dict:
    """``[dfn] run = true``: the twin of the run just finished in ``outdir`` (collective).

    The measures of the mesh on every rank; the DFN, its files and the comparison with
    ``outdir/timeseries.csv`` on rank 0. The outcome is broadcast, so an error on rank 0
    raises :class:`TwinError` on every rank (never a hang). Returns the manifest entry."""
    radius = case.dfn.radius
    specs = twin_specs(case, tm, radii=radius)
    outcome = None
    if comm.rank == 0:
        try:
            res = run_and_write(specs, case.protocol, outdir, radius=radius, resolved=outdir, log=log.info)
            c, s = res["comparison"][radius], specs[radius]
            outcome = {"radius_mapping": radius, "rms [V]": c["rms [V]"], "max [V]": c.get("max [V]"),
                       "mean [V]": c.get("mean [V]"), "points": c["points"],
                       "particle_radius [m]": s["particle_radius [m]"],
                       "exchange_current_factor": s["exchange_current_factor"],
                       "termination": res["summary"]["termination"], "wall_time [s]": res["summary"]["wall_time [s]"],
                       "files": [f for f in RESULT_FILES if (Path(outdir) / f).exists()]}
            log.info(f"DFN twin ({radius} radius): resolved - DFN {_one_line(c)}; dfn_vs_resolved.png")
        except Exception as exc:  # noqa: BLE001 - reported on every rank below
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
    outcome = comm.bcast(outcome, root=0)
    if "error" in outcome:
        raise TwinError(f"the DFN twin failed: {outcome['error']}")
    return outcome


def main(case_path, outdir, comm=None, resolved=None, radius=DEFAULT_RADIUS) -> int:
    """The ``cellsim dfn`` command (collective: the mesh and its measures on every rank)."""
    from mpi4py import MPI

    from ..case import load_case
    from ..geometry.mesh import build_mesh
    from ..log import setup_logging

    comm = comm or MPI.COMM_WORLD
    log = setup_logging(comm.rank)
    try:
        import bpx  # noqa: F401
        import pybamm  # noqa: F401
    except ImportError as exc:
        if comm.rank == 0:
            log.error(f"cellsim dfn needs PyBaMM and bpx: pip install 'cellsim[dfn]' ({exc})")
        return 2
    case = load_case(case_path)
    if getattr(case, "model", None) != "halfcell":
        if comm.rank == 0:
            log.error(f"{case_path}: dfn needs a half-cell case (model = 'halfcell')")
        return 2
    if resolved is not None and not (Path(resolved) / "timeseries.csv").is_file():
        if comm.rank == 0:
            log.error(f"--resolved {resolved}: no timeseries.csv there (give the folder of a finished cellsim run)")
        return 2
    tm = build_mesh(case.geometry, comm, order=1)
    specs = twin_specs(case, tm)
    code = 0
    if comm.rank == 0:
        s = specs[radius]
        log.info(f"homogenised: L = {s['thickness [m]'] * 1e6:.4g} um, eps_e = {s['porosity']:.4f}, eps_s = "
                 f"{s['active_fraction']:.4f} ({s['connectivity']}; isolated {s['isolated_particles']}), tau_e = "
                 f"{s['electrolyte_tortuosity']:.4f}, sigma_eff = {s['electronic_conductivity [S m-1]']:.4g} S/m")
        try:
            run_and_write(specs, case.protocol, outdir, radius=radius, resolved=resolved, log=log.info)
        except Exception as exc:  # the DFN failed: say so, exit 1
            log.error(f"DFN failed: {type(exc).__name__}: {exc}")
            code = 1
    return comm.bcast(code, root=0)
