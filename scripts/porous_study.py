"""Dense vs porous graphite particle of the same active volume, lithiated at 1C and 5C.

    python scripts/porous_study.py [--out results/porous_study] [--reuse] [--rates 1 5]

The porous particle is cases/particle_porous.toml (channels filled with electrolyte); the
dense particle is a sphere whose meshed volume equals the porous particle's meshed solid
volume (to 1e-4), with the same material, physics, mesh size, discretisation, time
stepping and cut-offs. Every run stops at the first of: particle potential 0.01 V vs the
bath (lithium plating risk), surface stoichiometry 0.99, full charge.

Reported per run (table on stdout and in <out>/summary.csv): delivered capacity [mA h] and
as the state of charge reached [-]; largest von Mises and hydrostatic (tensile) stress over
the run [MPa]; the polarisation U(x_mean) - phi at SOC = 0.3 [mV] (all overpotentials:
kinetics, solid diffusion and, porous only, the pore electrolyte); for the porous particle
also the share of the current through the channel walls at SOC = 0.3. Figure:
<out>/porous_vs_dense.png (potential, polarisation and stress against SOC); the fields
of the porous 5C run are drawn by ``cellsim plot`` (<out>/porous_5C/fields.png).
``--reuse`` keeps runs whose manifest says cut-off or completed.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOC_AT = 0.3


def run(case: dict, out: Path, reuse: bool):
    import cellsim

    man = out / "manifest.json"
    if reuse and man.exists() and json.loads(man.read_text()).get("status") in ("cut-off", "completed"):
        return cellsim.load(out)
    return cellsim.run(case, out, overwrite=True, quiet=True, raise_on_failure=True)


def dense_geometry(volume: float, h: float, passes: int = 3) -> dict:
    """A sphere whose *meshed* volume (flat facets, mesh size h) is ``volume`` [m3]: the
    radius of the exact sphere, rescaled by the faceting loss of its mesh (to 1e-4)."""
    from mpi4py import MPI

    from cellsim.dolfinx_env import require_dolfinx
    from cellsim.geometry.mesh import build_mesh
    from cellsim.geometry.spec import parse_geometry

    require_dolfinx()
    from dolfinx import fem

    r = (3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0)
    for _ in range(passes):
        geo = {"kind": "sphere", "radius": r, "mesh_size": h}
        msh = build_mesh(parse_geometry(geo), MPI.COMM_WORLD).mesh
        v_h = msh.comm.allreduce(fem.assemble_scalar(fem.form(fem.Constant(msh, 1.0) * ufl_dx(msh))))
        if abs(v_h / volume - 1.0) < 1e-4:
            break
        r *= (volume / v_h) ** (1.0 / 3.0)
    return {"kind": "sphere", "radius": r, "mesh_size": h}


def ufl_dx(msh):
    import ufl

    return ufl.dx(domain=msh)


def interp(df, col, soc=SOC_AT):
    import numpy as np

    s = df["state of charge [-]"].to_numpy()
    return float(np.interp(soc, s, df[col].to_numpy()))


def summarise(name, res, ocp):
    df = res.timeseries
    last = df.iloc[-1]
    x = df["mean stoichiometry [-]"].to_numpy()
    df = df.assign(**{"polarisation [V]": ocp(x) - df["particle potential [V]"].to_numpy()})
    row = {
        "run": name,
        "status": res.status,
        "capacity [mA h]": float(last["charge passed [C]"]) / 3.6,
        "state of charge reached [-]": float(last["state of charge [-]"]),
        "max von Mises stress [MPa]": float(df["max von Mises stress [Pa]"].max()) / 1e6,
        "max hydrostatic stress [MPa]": float(df["max hydrostatic stress [Pa]"].max()) / 1e6,
        f"polarisation at SOC {SOC_AT} [mV]": 1e3 * interp(df, "polarisation [V]"),
        "steps": int(last["step [-]"]),
        "wall time [s]": float(last["wall time [s]"]),
    }
    if "pore wall current [A]" in df:
        row[f"channel wall current share at SOC {SOC_AT} [-]"] = interp(df, "pore wall current [A]") / float(
            last["current [A]"])
        row["min pore electrolyte concentration [mol m-3]"] = float(df["min pore electrolyte concentration "
                                                                       "[mol m-3]"].min())
    return row, df


def plot(curves, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 4))
    rates = sorted({name.split()[1] for name in curves})
    for name, df in curves.items():
        kw = {"ls": "-" if name.startswith("porous") else "--", "color": f"C{rates.index(name.split()[1])}",
              "label": name}
        s = df["state of charge [-]"]
        ax[0].plot(s, df["particle potential [V]"], **kw)
        ax[1].plot(s, 1e3 * df["polarisation [V]"], **kw)
        ax[2].plot(s, df["max von Mises stress [Pa]"] / 1e6, **kw)
    ax[0].set_ylabel("particle potential vs bath [V]")
    ax[1].set_ylabel("polarisation U(x_mean) - phi [mV]")
    ax[2].set_ylabel("max von Mises stress [MPa]")
    for a in ax:
        a.set_xlabel("state of charge [-]")
        a.grid(alpha=0.3)
    ax[0].legend()
    fig.suptitle("Graphite particle, same active volume: dense sphere vs channels filled with electrolyte")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "porous_study"))
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--rates", type=float, nargs="+", default=[1.0, 5.0])
    a = ap.parse_args(argv)
    out = Path(a.out)
    from cellsim.case import load_case

    base = tomllib.loads((ROOT / "cases" / "particle_porous.toml").read_text())
    ocp = load_case(ROOT / "cases" / "particle_porous.toml").material.resolve().ocp
    rows, curves = [], {}
    for rate in a.rates:
        tag = f"{rate:g}C"
        porous = {**base, "control": {**base["control"], "c_rate": rate}, "title": f"porous particle {tag}"}
        res_p = run(porous, out / f"porous_{tag}", a.reuse)
        v_solid = res_p.manifest["meta"]["solid volume [m3]"]
        geo = dense_geometry(v_solid, base["geometry"]["mesh_size"])
        r_dense = geo["radius"]
        dense = {k: v for k, v in porous.items() if k != "pores"}
        dense.update({"geometry": geo, "title": f"dense particle {tag} (radius {r_dense * 1e6:.3f} um)"})
        res_d = run(dense, out / f"dense_{tag}", a.reuse)
        for name, res in ((f"dense {tag}", res_d), (f"porous {tag}", res_p)):
            row, df = summarise(name, res, ocp)
            rows.append(row)
            curves[name] = df
    import pandas as pd

    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "summary.csv", index=False)
    with pd.option_context("display.max_columns", None, "display.width", 250):
        print(table.to_string(index=False))
    plot(curves, out / "porous_vs_dense.png")
    print(f"figure: {out / 'porous_vs_dense.png'}")


if __name__ == "__main__":
    main()
