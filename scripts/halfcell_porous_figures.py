"""Figures of docs/multiscale.md section 11, dense vs porous half-cell (from files only).

    cellsim mesh cases/halfcell_porous.toml -o out/porous_mesh
    cellsim run cases/halfcell_porous.toml -o out/porous
    cellsim run DENSE.toml -o out/dense        # the same case with particle_type = "dense"
    python scripts/halfcell_porous_figures.py out/porous_mesh out/porous out/dense docs/figures

writes halfcell_porous_mesh.png (the particles and their channels, cut at mid-depth) and
halfcell_porous_vs_dense.png (voltage vs capacity; area-mean surface overpotential vs SOC),
and prints the numbers the section quotes.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np


def series(run: Path) -> dict:
    rows = list(csv.DictReader(open(run / "timeseries.csv")))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def mesh_picture(mesh_dir: Path, out: Path, n_channels: str) -> None:
    import meshio
    import pyvista as pv

    m = meshio.read(mesh_dir / "mesh.msh")
    regions = json.load(open(mesh_dir / "tags.json"))["regions"]
    tets = [(c.data, d) for c, d in zip(m.cells, m.cell_data["gmsh:physical"]) if c.type == "tetra"]
    cells, tag = np.concatenate([c for c, _ in tets]), np.concatenate([d for _, d in tets])
    grid = pv.UnstructuredGrid({pv.CellType.TETRA: cells}, m.points)
    ymid = 0.5 * (m.points[:, 1].min() + m.points[:, 1].max())

    def cut(tags):
        return grid.extract_cells(np.isin(tag, tags)).clip(normal=(0, 1, 0), origin=(0, ymid, 0), invert=True)

    p = pv.Plotter(off_screen=True, window_size=(1100, 800))
    p.add_mesh(cut(regions["particle"]).extract_surface(), color="tan", show_edges=True, edge_color="grey")
    p.add_mesh(cut(regions["pore"]).extract_surface(), color="#0a7fb0")
    p.add_text(f"half-cell: 3 porous particles, {n_channels} channels each (blue: pore electrolyte; cut at "
               "mid-depth)", font_size=11)
    p.view_vector((0.15, -1.0, 0.45), viewup=(0, 0, 1))
    p.reset_camera()
    p.camera.zoom(1.35)
    p.show_axes()
    p.screenshot(str(out))


def curves(porous: dict, dense: dict, out: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for s, name, col in ((dense, "dense particles", "k"), (porous, label, "C0")):
        ax[0].plot(s["capacity [mA h m-2]"], s["voltage [V]"], color=col, label=name)
        ax[1].plot(s["state of charge [-]"], 1e3 * s["mean particle overpotential [V]"], color=col)
    ax[0].set(xlabel="capacity [mA h m$^{-2}$]", ylabel="voltage [V]", title="1C discharge, same packing (3 particles)")
    ax[0].legend(loc="upper right")
    ax[1].set(xlabel="state of charge [-]", ylabel="mean particle overpotential [mV]",
              title="surface overpotential (area mean)")
    ax[1].invert_xaxis()
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def summary(s: dict) -> dict:
    o = np.argsort(s["state of charge [-]"])
    i = float(s["current density [A m-2]"][-1])
    return {"1C current density [A m-2]": i, "capacity [mA h m-2]": float(s["capacity [mA h m-2]"][-1]),
            "of the 1C capacity": float(s["capacity [mA h m-2]"][-1]) / (1e3 * i),
            "overpotential at SOC 0.5 [mV]": 1e3 * float(np.interp(0.5, s["state of charge [-]"][o],
                                                                  s["mean particle overpotential [V]"][o])),
            "steps": int(s["step [-]"][-1]), "wall time [s]": float(s["wall time [s]"][-1])}


def main(mesh_dir, porous_dir, dense_dir, out_dir):
    mesh_dir, out_dir = Path(mesh_dir), Path(out_dir)
    info = json.load(open(mesh_dir / "report.json"))
    po = info.get("porous_particles", {})
    n = sorted(set(po.get("num_pores", [])))
    n_channels = "/".join(str(k) for k in n) or "?"
    porous, dense = series(Path(porous_dir)), series(Path(dense_dir))
    mesh_picture(mesh_dir, out_dir / "halfcell_porous_mesh.png", n_channels)
    label = (f"porous particles ({n_channels} channels each, {po.get('porosity_cad', float('nan')):.1%} of the "
             "volume)")
    curves(porous, dense, out_dir / "halfcell_porous_vs_dense.png", label)
    print(json.dumps({"porous": summary(porous), "dense": summary(dense), "mesh": po}, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:5])
