"""Figures of docs/multiscale.md section 11, polycrystalline half-cell with cracking grain
boundaries against bonded grains (from files only).

    cellsim run cases/halfcell_polycrystal_cracking.toml -o out/cracking
    cellsim run BONDED.toml -o out/bonded   # cases/halfcell_polycrystal.toml with until_voltage = 4.3
    python scripts/halfcell_cracking_figures.py out/cracking out/bonded docs/figures

writes halfcell_cracking_vs_soc.png (voltage vs capacity of both; max von Mises stress,
grain-boundary damaged and cracked area fractions, reactive area and the crack share of the
current vs state of charge) and halfcell_cracking_fields.png (PyVista: the particles' lithium
per grain colour and the grain-boundary damage at the end of the charge), and prints the
numbers the section quotes.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np


def series(run: Path) -> dict:
    rows = list(csv.DictReader(open(run / "timeseries.csv")))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def curves(crk: dict, bnd: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.3))
    for s, lab, st in ((bnd, "bonded grains", "--"), (crk, "cohesive grain boundaries + crack reaction", "-")):
        ax[0].plot(-s["capacity [mA h m-2]"], s["voltage [V]"], st, label=lab)
        ax[1].plot(s["state of charge [-]"], s["max von mises stress particle [Pa]"] / 1e9, st, label=lab)
    ax[0].set_xlabel("charge passed [mA h m-2]")
    ax[0].set_ylabel("voltage [V]")
    ax[0].legend()
    ax[1].set_xlabel("state of charge [-]")
    ax[1].set_ylabel("max von Mises stress in the particles [GPa]")
    ax[1].legend()
    soc = crk["state of charge [-]"]
    A0 = crk["reactive area [m2]"][0]
    I1 = np.abs(crk["current density [A m-2]"])
    ax[2].plot(soc, crk["grain boundary damaged area fraction [-]"], label="GB damaged area fraction (d > 0)")
    ax[2].plot(soc, crk["grain boundary cracked area fraction [-]"], label="GB cracked area fraction (separated)")
    ax[2].plot(soc, crk["reactive area [m2]"] / A0 - 1.0, label="reactive area gained / outer area")
    share = np.abs(crk["crack current density [A m-2]"]) / np.where(I1 > 0, I1, np.nan)
    ax[2].plot(soc, share, label="crack share of the current")
    ax[2].set_xlabel("state of charge [-]")
    ax[2].legend(fontsize=8)
    fig.suptitle("NMC811 half-cell, 3 secondary particles (6 grains each), 1C charge to 4.3 V")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def fields_picture(run: Path, out: Path) -> None:
    import pyvista as pv

    pv.OFF_SCREEN = True

    def last(name):
        r = pv.get_reader(str(run / "fields" / f"{name}.pvd"))
        r.set_active_time_point(len(r.time_values) - 1)
        return r.read().combine(), r.time_values[-1]

    part, t = last("particle")
    gbs = [last(p.stem)[0] for p in sorted((run / "fields").glob("grain_boundary_*_interface.pvd"))]
    p = pv.Plotter(off_screen=True, shape=(1, 2), window_size=(1500, 650))
    ymid = 0.5 * (part.bounds[2] + part.bounds[3])
    p.subplot(0, 0)
    cut = part.clip(normal=(0, 1, 0), origin=(0, ymid, 0), invert=True)
    p.add_mesh(cut, scalars="lithium_concentration [mol m-3]", cmap="viridis",
               scalar_bar_args={"title": "lithium [mol m-3]"})
    p.add_text(f"lithium per grain colour, cut at mid-depth (t = {t:.0f} s)", font_size=10)
    p.view_vector((0.15, -1.0, 0.45), viewup=(0, 0, 1))
    p.subplot(0, 1)
    p.add_mesh(part.extract_surface(algorithm="dataset_surface"), color="grey", style="wireframe", opacity=0.06)
    for g in gbs:
        p.add_mesh(g, scalars="interface_damage [-]", cmap="inferno", clim=(0, 1),
                   scalar_bar_args={"title": "grain-boundary damage d"})
    p.add_text("grain-boundary damage at 4.3 V", font_size=10)
    p.view_vector((0.15, -1.0, 0.45), viewup=(0, 0, 1))
    p.screenshot(str(out))


def main(crack_dir: str, bonded_dir: str, fig_dir: str) -> None:
    crk, bnd = series(Path(crack_dir)), series(Path(bonded_dir))
    figs = Path(fig_dir)
    curves(crk, bnd, figs / "halfcell_cracking_vs_soc.png")
    fields_picture(Path(crack_dir), figs / "halfcell_cracking_fields.png")
    cap_c, cap_b = -crk["capacity [mA h m-2]"][-1], -bnd["capacity [mA h m-2]"][-1]
    i_vm = int(np.argmax(crk["max von mises stress particle [Pa]"]))
    j_vm = int(np.argmax(bnd["max von mises stress particle [Pa]"]))
    A0 = crk["reactive area [m2]"][0]
    errs = [k for k in crk if k.endswith("error [-]")]
    print(f"capacity to 4.3 V: cracking {cap_c:.1f}, bonded {cap_b:.1f} mA h m-2 (ratio {cap_c / cap_b:.4f}); "
          f"steps {len(crk['voltage [V]']) - 1} / {len(bnd['voltage [V]']) - 1}")
    print(f"peak von Mises: cracking {crk['max von mises stress particle [Pa]'][i_vm] / 1e9:.2f} GPa at SOC "
          f"{crk['state of charge [-]'][i_vm]:.3f}; bonded {bnd['max von mises stress particle [Pa]'][j_vm] / 1e9:.2f} "
          f"GPa at SOC {bnd['state of charge [-]'][j_vm]:.3f}")
    for target in (0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.99):
        i = int(np.argmin(np.abs(crk["state of charge [-]"] - target)))
        print(f"SOC {crk['state of charge [-]'][i]:.3f}: damaged {crk['grain boundary damaged area fraction [-]'][i]:.3f}, "
              f"cracked {crk['grain boundary cracked area fraction [-]'][i]:.3f}, reactive area x"
              f"{crk['reactive area [m2]'][i] / A0:.3f}, crack share "
              f"{abs(crk['crack current density [A m-2]'][i] / crk['current density [A m-2]'][i]):.3f}, "
              f"vm {crk['max von mises stress particle [Pa]'][i] / 1e9:.2f} GPa")
    print("max |balance errors| cracking:", max(float(np.max(np.abs(crk[k]))) for k in errs),
          "bonded:", max(float(np.max(np.abs(bnd[k]))) for k in errs))


if __name__ == "__main__":
    main(*sys.argv[1:4])
