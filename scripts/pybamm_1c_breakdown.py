"""Where does the 1C difference between the resolved half-cell and PyBaMM's DFN come from?

Runs the comparison of tests/halfcell/test_pybamm.py (sphere column, Chen2020 NMC811,
Nyman2008 electrolyte, Xu2019 lithium) at 1C and at C/5 and separates the difference into

* time discretisation of cellsim: the same mesh with half the time steps;
* mesh of cellsim: a coarser and a finer particle mesh;
* the resolved electronic network: particles, carbon-binder and contacts made ideal;
* discretisation of the DFN: PyBaMM with twice the points in x and r;
* model: what remains, located along the discharge (RMS per state-of-charge band) and
  set against the non-uniformity the DFN cannot represent: the spread of the surface
  stoichiometry (max - min over all particle surfaces) against the DFN's spread over x.

Needs PyBaMM (the ``reference`` extra). Usage (a few minutes)::

    python scripts/pybamm_1c_breakdown.py [--out breakdown.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "halfcell"))
sys.path.insert(0, str(ROOT / "tests" / "reference"))
sys.path.insert(0, str(ROOT))

FINE = {"h": 1.0e-6, "h_particle": 0.5e-6, "dt_max": 60.0, "max_change": 0.01}
COARSE = {"h": 1.5e-6, "h_particle": 0.75e-6, "dt_max": 60.0, "max_change": 0.01}
HALF_DT = {"h": 1.0e-6, "h_particle": 0.5e-6, "dt_max": 30.0, "max_change": 0.005}
FINER_PARTICLES = {"h": 1.0e-6, "h_particle": 0.35e-6, "dt_max": 60.0, "max_change": 0.01}
# resolved electronic network made near-ideal: the DFN solid phase (10 S m-1) has no contact resistances
IDEAL_SOLID = {"solid": {"particle_conductivity": 10.0, "binder_conductivity": 500.0,
                         "particle_binder_conductance": 1e8, "collector_conductance": 1e8}}
DFN_FINE = {"x_n": 4, "x_s": 40, "x_p": 60, "r_p": 80}
BANDS = [(1.0, 0.5), (0.5, 0.1), (0.1, 0.0)]


def _rms(a):
    return float(np.sqrt(np.mean(np.square(a)))) if len(a) else float("nan")


def analyse(r):
    """Per-band RMS and the surface-stoichiometry spread of a compare(..., curves=True) result."""
    rows, sel, dV, sol = r["rows"], r["sel"], r["dV"], r["dfn"]
    soc = np.array([row["state of charge [-]"] for row in rows])[sel]
    bands = {f"{hi:g}-{lo:g}": _rms(dV[(soc <= hi) & (soc > lo)]) for hi, lo in BANDS}
    t = r["t"][sel]
    spread_c = np.array([row["max surface stoichiometry [-]"] - row["min surface stoichiometry [-]"]
                         for row in rows])[sel]
    ce_c = np.array([row["min electrolyte concentration [mol m-3]"] for row in rows])[sel]
    tp = np.asarray(sol["Time [s]"].entries)
    xs = np.asarray(sol["Positive particle surface stoichiometry"].entries)  # (x, t)
    spread_p = np.interp(t, tp, xs.max(axis=0) - xs.min(axis=0))
    ce = np.asarray(sol["Electrolyte concentration [mol.m-3]"].entries)
    ce_p = np.interp(t, tp, ce.min(axis=0))
    mid = int(np.argmin(np.abs(soc - 0.5)))
    return {
        "rms_mV": 1e3 * r["rms"], "max_mV": 1e3 * r["max"], "mean_mV": 1e3 * r["mean"],
        "rms_by_soc_band_mV": {k: 1e3 * v for k, v in bands.items()},
        "at_soc_0.5": {"surface_stoichiometry_spread_cellsim": float(spread_c[mid]),
                       "surface_stoichiometry_spread_dfn": float(spread_p[mid]),
                       "min_ce_cellsim": float(ce_c[mid]), "min_ce_dfn": float(ce_p[mid])},
        "worst_at_soc": float(soc[int(np.argmax(np.abs(dV)))]),
        "steps": r["steps"], "dofs": r["dofs"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="")
    ap.add_argument("--runs", nargs="*", default=[], help="only these runs (by name) besides '1C fine'")
    args = ap.parse_args(argv)
    from mpi4py import MPI

    from test_pybamm import compare, dfn_voltage

    comm = MPI.COMM_WORLD
    report = {}
    runs = {"1C fine": (1.0, FINE), "1C half dt": (1.0, HALF_DT), "1C coarse": (1.0, COARSE),
            "1C finer particles": (1.0, FINER_PARTICLES), "1C ideal solid": (1.0, {**FINE, "extra": IDEAL_SOLID}),
            "C/5 fine": (0.2, FINE)}
    results = {}
    for name, (rate, kw) in runs.items():
        if args.runs and name not in args.runs and name != "1C fine":
            continue
        results[name] = r = compare(rate, comm=comm, curves=True, **kw)
        report[name] = analyse(r)
        if comm.rank == 0:
            print(name, json.dumps(report[name]), flush=True)
    # the DFN's own discretisation error: default points against twice as many
    r = results["1C fine"]
    args_dfn = (r["t_end"], r["i_app"], r["thickness"], r["porosity"], r["active_fraction"], r["radius"],
                r["tau"], r["x0"], r["c_max"])
    t1, V1 = dfn_voltage(*args_dfn)
    t2, V2 = dfn_voltage(*args_dfn, var_pts=DFN_FINE)
    tt = r["t"][r["sel"]]
    d = np.interp(tt, t1, V1) - np.interp(tt, t2, V2)
    report["DFN default - DFN refined (1C)"] = {"rms_mV": 1e3 * _rms(d), "max_mV": 1e3 * float(np.abs(d).max())}
    # cellsim against itself: half the time steps, finer particle mesh, ideal electronic network
    a = results["1C fine"]
    for name in ("1C half dt", "1C finer particles", "1C ideal solid"):
        if name in results:
            b = results[name]
            tb = b["t"][b["sel"]]
            d = np.interp(tb, a["t"], a["V"]) - b["V"][b["sel"]]
            report[f"cellsim 1C fine - {name}"] = {"rms_mV": 1e3 * _rms(d), "max_mV": 1e3 * float(np.abs(d).max()),
                                                   "mean_mV": 1e3 * float(d.mean())}
    if comm.rank == 0:
        text = json.dumps(report, indent=2)
        print(text)
        if args.out:
            Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
