"""``cellsim mesh CASE -o OUTDIR``: build the geometry of a case and write mesh + report.

Outputs (rank 0 writes; every collective is called on every rank):

* ``mesh.xdmf`` / ``mesh.h5``: the distributed mesh in metres with ``cell_tags`` and
  ``facet_tags`` (DOLFINx XDMFFile; read back with ``XDMFFile.read_mesh`` /
  ``read_meshtags``, or h5py; PyVista's VTK cannot read it);
* ``mesh.msh``: the gmsh mesh with the named physical groups (metres);
* ``tags.json``: region/interface name -> tag values (aggregates included);
* ``report.json`` and ``report.txt``: region volumes and volume fractions (mesh and
  exact/CAD), interface areas, specific surface area a = A_particle / V_electrode,
  particle count and size statistics, element counts, min/mean element quality,
  electronic connectivity (``connectivity``: per particle whether every piece reaches the
  collector, ``connected_fraction`` of the active volume, binder bridges added, and the
  same graph recomputed on the distributed mesh, ``mesh_check``), timings;
* ``geometry.png``: PyVista off-screen picture of the regions.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from cellsim.geometry.spec import GeometrySpec  # noqa: F401  (documented type)


def load_geometry_section(case_path: str):
    """Read the TOML case file and validate only its ``[geometry]`` table, strictly (as
    ``cellsim check`` validates a case: no booleans or strings as numbers, no NaN).

    Raises :class:`cellsim.schema.CaseError` with one line per problem, for any malformed
    file or geometry.
    """
    import json

    from pydantic import ValidationError

    from cellsim.geometry.spec import GeometrySection
    from cellsim.schema import CaseError, cap, format_validation_error
    from cellsim.tomlfile import read_toml

    data = read_toml(case_path)
    if "geometry" not in data:
        raise CaseError(f"{case_path}: no [geometry] section")
    try:
        return GeometrySection.model_validate_json(json.dumps({"geometry": data["geometry"]}), strict=True).geometry
    except ValidationError as exc:
        raise CaseError(f"{case_path}: invalid geometry\n" + format_validation_error(exc, root=GeometrySection)) from None
    except Exception as exc:  # noqa: BLE001 - a crash inside a geometry check: a clear error, no traceback
        raise CaseError(f"{case_path}: geometry: cannot be checked ({type(exc).__name__}: {cap(exc, 200)})") from None


def summarise(tm) -> dict:
    """Collective: volumes, fractions, areas, statistics of a TaggedMesh (same on all ranks)."""
    from cellsim.geometry import measure

    info = tm.info
    vols = {n: measure.region_volume(tm, n) for n in tm.regions}
    areas = {n: measure.interface_area(tm, n) for n in tm.interfaces}
    ncell = {n: measure.count_cells(tm, n) for n in tm.regions}
    nfac = {n: measure.count_facets(tm, n) for n in tm.interfaces}
    rep: dict = {"kind": info.get("kind"), "units": "SI (m, m^2, m^3)"}
    exact_v = info.get("exact_volume", {})
    exact_a = info.get("exact_area", {})
    agg_first = sorted(tm.regions, key=lambda n: (n.count("_") > 0 and n[-1].isdigit(), n))
    rep["regions"] = {
        n: {
            "volume": vols[n],
            "exact_volume": exact_v.get(n),
            "relative_error": (vols[n] / exact_v[n] - 1) if exact_v.get(n) else None,
            "cells": ncell[n],
            "tags": list(tm.regions[n]),
        }
        for n in agg_first
    }
    rep["interfaces"] = {
        n: {
            "area": areas[n],
            "exact_area": exact_a.get(n),
            "relative_error": (areas[n] / exact_a[n] - 1) if exact_a.get(n) else None,
            "facets": nfac[n],
            "tags": list(tm.interfaces[n]),
        }
        for n in sorted(tm.interfaces, key=lambda n: (n.startswith("particle_") and n[9].isdigit(), n))
    }
    # reference volume for fractions: the electrode box, else the whole particle
    if "electrode_volume" in info:
        vref = info["electrode_volume"]
        ref_name = "electrode box (0 <= z <= thickness)"
        phases = [p for p in ("particle", "binder", "electrolyte") if p in vols]
    else:
        vref = sum(v for n, v in vols.items() if n in info.get("leaf_regions", []))
        ref_name = "whole mesh"
        phases = [n for n in tm.regions if n in info.get("leaf_regions", []) or n == "particle"]
        phases = [p for p in phases if not (p.startswith(("grain_", "particle_")) and p[-1].isdigit())]
    rep["volume_fractions"] = {
        "reference": ref_name,
        "reference_volume": vref,
        "mesh": {p: vols[p] / vref for p in phases},
    }
    for key in ("volume_fraction_target", "volume_fraction_cad", "volume_fraction_planned"):
        if key in info:
            rep["volume_fractions"][key.replace("volume_fraction_", "")] = info[key]
    if "porosity_target" in info:
        rep["volume_fractions"]["porosity_target"] = info["porosity_target"]
        rep["volume_fractions"]["porosity_mesh"] = vols["pore"] / (vols["pore"] + vols["particle"])
    if "particle_electrolyte" in areas or "particle_binder" in areas:
        a_pe = areas.get("particle_electrolyte", 0.0)
        a_all = a_pe + areas.get("particle_binder", 0.0)
        rep["specific_surface_area"] = {
            "definition": "particle surface area / reference volume [m^-1]",
            "particle_electrolyte": a_pe / vref,
            "particle_total": a_all / vref,
            "per_particle_volume": a_all / vols["particle"],
        }
    radii = np.asarray(info.get("particle_radii", []), float)
    if radii.size:
        rep["particles"] = {
            "count": int(radii.size),
            "radius_mean": float(radii.mean()),
            "radius_std": float(radii.std()),
            "radius_min": float(radii.min()),
            "radius_max": float(radii.max()),
            "radius_d10_d50_d90": [float(q) for q in np.percentile(radii, [10, 50, 90])],
            "min_surface_gap": info.get("min_particle_gap"),
            "not_connected_to_collector": info.get("particles_not_connected"),
        }
    if "connectivity" in info:
        conn = dict(info["connectivity"])
        mesh_conn = measure.conducting_components(tm)
        mesh_conn["agrees"] = (
            mesh_conn["particles_connected"] == conn["particles_connected"]
            and mesh_conn["num_components"] == conn["num_components"]
        )
        conn["mesh_check"] = mesh_conn
        rep["connectivity"] = conn
        rep["connected_fraction"] = conn["connected_fraction"]
    if "porous" in info:  # porous particles of an electrode (particle_type = 'porous')
        po = info["porous"]
        rep["porous_particles"] = {
            "pore_shape": po["pore_shape"], "num_pores": po["num_pores"], "closed_pores": po["closed_pores"],
            "pore_volume_cad": po["pore_volume"], "pore_volume_mesh": vols.get("pore", 0.0),
            "pore_wall_area_cad": po["pore_wall_area"], "pore_wall_area_mesh": areas.get("pore_wall", 0.0),
            "porosity_of_particles_mesh": vols.get("pore", 0.0) / (vols.get("pore", 0.0) + vols["particle"]),
            "porosity_requested": po["porosity_target"], "porosity_cad": po["pore_volume"] / po["sphere_volume"]}
    if "secondary" in info:  # secondary particles of an electrode (particle_type = 'secondary')
        se = info["secondary"]
        rep["secondary_particles"] = {
            "grains_per_particle": se["grains_per_particle"],
            "grain_boundary_area_cad": se["grain_boundary_area"],
            "grain_boundary_area_mesh": areas.get("grain_boundary", 0.0)}
    for key in ("num_grains", "num_pores", "binder", "porosity_cad", "pore_shape",
                "isolated_binder_merged_into_electrolyte"):
        if key in info:
            rep[key] = info[key]
    msh = tm.mesh
    imap = msh.topology.index_map(3)
    rep["mesh"] = dict(info.get("mesh", {}))
    rep["mesh"]["num_cells_distributed"] = tm.comm.allreduce(imap.size_local)
    rep["mesh"]["num_vertices_distributed"] = msh.topology.index_map(0).size_global
    rep["mesh"]["mpi_ranks"] = tm.comm.size
    rep["mesh"]["mesh_size"] = info.get("mesh_size")
    rep["timing"] = info.get("timing", {})
    return rep


def _text(rep: dict) -> str:
    L = [f"cellsim mesh report: kind = {rep['kind']} (SI units)", ""]
    L.append(f"{'region':<28}{'volume [m^3]':>14}{'exact/CAD':>14}{'rel.err':>10}{'cells':>10}")
    per = [n for n in rep["regions"] if n.startswith(("particle_", "grain_")) and n[-1].isdigit()]
    if len(per) > 12:
        L.append(f"({len(per)} per-particle/grain regions listed in report.json only)")
    for n, r in rep["regions"].items():
        if len(per) > 12 and n in per:
            continue
        ev = f"{r['exact_volume']:.5g}" if r["exact_volume"] else "-"
        er = f"{r['relative_error']:+.2e}" if r["relative_error"] is not None else "-"
        L.append(f"{n:<28}{r['volume']:>14.5g}{ev:>14}{er:>10}{r['cells']:>10}")
    L.append("")
    L.append(f"{'interface':<28}{'area [m^2]':>14}{'exact/CAD':>14}{'rel.err':>10}{'facets':>10}")
    per_i = [n for n in rep["interfaces"] if n.startswith("particle_") and n[9].isdigit()]
    if len(per_i) > 12:
        L.append(f"({len(per_i)} per-particle interfaces listed in report.json only)")
    for n, r in rep["interfaces"].items():
        if len(per_i) > 12 and n in per_i:
            continue
        ev = f"{r['exact_area']:.5g}" if r["exact_area"] else "-"
        er = f"{r['relative_error']:+.2e}" if r["relative_error"] is not None else "-"
        L.append(f"{n:<28}{r['area']:>14.5g}{ev:>14}{er:>10}{r['facets']:>10}")
    vf = rep["volume_fractions"]
    L += ["", f"volume fractions of the {vf['reference']} (V = {vf['reference_volume']:.5g} m^3):"]
    for p, v in vf["mesh"].items():
        extra = []
        for key in ("target", "cad"):
            if key in vf and p in vf[key]:
                extra.append(f"{key} {vf[key][p]:.4f}")
        L.append(f"  {p:<14} mesh {v:.4f}   " + "   ".join(extra))
    if "porosity_mesh" in vf:
        L.append(f"  porosity       mesh {vf['porosity_mesh']:.4f}   target {vf['porosity_target']:.4f}"
                 + (f"   cad {rep['porosity_cad']:.4f} (requested vs achieved)" if "porosity_cad" in rep else ""))
    if "specific_surface_area" in rep:
        s = rep["specific_surface_area"]
        L.append(
            f"specific surface area: {s['particle_total']:.5g} m^-1 (particle_electrolyte only "
            f"{s['particle_electrolyte']:.5g} m^-1; per particle volume {s['per_particle_volume']:.5g} m^-1)"
        )
    if "particles" in rep:
        p = rep["particles"]
        L.append(
            f"particles: {p['count']}, radius mean {p['radius_mean']:.4g} m, std {p['radius_std']:.3g} m, "
            f"min {p['radius_min']:.4g} m, max {p['radius_max']:.4g} m"
        )
        if p.get("min_surface_gap") is not None:
            L.append(f"  smallest surface gap {p['min_surface_gap']:.4g} m")
        if p.get("not_connected_to_collector") is not None:
            nc = p["not_connected_to_collector"]
            L.append(f"  not electronically connected to the collector: {len(nc)} {nc}")
    if "connectivity" in rep:
        c = rep["connectivity"]
        ok = sum(c["particles_connected"])
        L.append(
            f"electronic connectivity: {ok}/{len(c['particles_connected'])} particles reach the collector "
            f"through binder (connected_fraction {c['connected_fraction']:.4f} of the active volume), "
            f"{c['num_components']} conducting component(s), {len(c['bridges'])} repair bridge(s) added; "
            f"mesh check {'agrees' if c['mesh_check']['agrees'] else 'DISAGREES'}"
        )
    if "porous_particles" in rep:
        po = rep["porous_particles"]
        L.append(f"porous particles ({po['pore_shape']}): pores per particle {po['num_pores']} ({po['closed_pores']} "
                 f"closed), pore volume {po['pore_volume_mesh']:.4g} m3 (CAD {po['pore_volume_cad']:.4g}), pore wall "
                 f"area {po['pore_wall_area_mesh']:.4g} m2 (CAD {po['pore_wall_area_cad']:.4g}), porosity of the "
                 f"particles {po['porosity_of_particles_mesh']:.4f}; porosity requested {po['porosity_requested']:.4f}, "
                 f"achieved {po['porosity_cad']:.4f} (CAD)")
    if "secondary_particles" in rep:
        se = rep["secondary_particles"]
        L.append(f"secondary particles: grains per particle {se['grains_per_particle']}, grain-boundary area "
                 f"{se['grain_boundary_area_mesh']:.4g} m2 (CAD {se['grain_boundary_area_cad']:.4g})")
    if rep.get("binder"):
        L.append(f"binder: {rep['binder']}")
    iso = rep.get("isolated_binder_merged_into_electrolyte")
    if iso and iso["pieces"]:
        L.append(f"binder pieces touching no particle and no collector, merged into the electrolyte: "
                 f"{iso['pieces']} ({iso['volume']:.4g} m3)")
    m = rep["mesh"]
    L += [
        "",
        f"mesh: {m.get('num_tetrahedra')} tetrahedra, {m.get('num_nodes')} nodes, "
        f"{m.get('num_boundary_triangles')} tagged/boundary triangles, h = {m.get('mesh_size'):.4g} m, "
        f"{m['mpi_ranks']} MPI rank(s)",
        f"element quality ({m.get('quality_measure')}): min {m.get('quality_min'):.4f}, "
        f"mean {m.get('quality_mean'):.4f}",
        "timing [s]: " + ", ".join(f"{k} {v:.2f}" for k, v in rep.get("timing", {}).items()),
    ]
    return "\n".join(L) + "\n"


def write_xdmf(tm, path: str) -> None:
    """Collective: mesh + cell_tags + facet_tags into one XDMF file."""
    from dolfinx.io import XDMFFile

    tdim = tm.mesh.topology.dim
    tm.mesh.topology.create_connectivity(tdim - 1, tdim)
    tm.mesh.name = "mesh"
    with XDMFFile(tm.comm, path, "w") as xf:
        xf.write_mesh(tm.mesh)
        tm.cell_tags.name = "cell_tags"
        xf.write_meshtags(tm.cell_tags, tm.mesh.geometry)
        if tm.facet_tags is not None:
            tm.facet_tags.name = "facet_tags"
            xf.write_meshtags(tm.facet_tags, tm.mesh.geometry)


def picture(msh_path: str, png_path: str, info: dict) -> None:
    """Rank 0: an off-screen PyVista picture of the regions, read from the .msh file."""
    import meshio
    import pyvista as pv

    m = meshio.read(msh_path)
    tets = [c for c in m.cells if c.type == "tetra"]
    cells = np.vstack([c.data for c in tets])
    phys = np.concatenate(
        [m.cell_data_dict["gmsh:physical"]["tetra"]] if "tetra" in m.cell_data_dict.get("gmsh:physical", {}) else [np.zeros(len(cells))]
    )
    names = {int(v[0]): k for k, v in m.field_data.items() if int(v[1]) == 3}
    scale = 1e-6 if info.get("msh_unit") == "micrometre" else 1.0  # older files were in micrometres
    grid = pv.UnstructuredGrid({pv.CellType.TETRA: cells}, m.points * scale)
    kind = np.zeros(len(cells), dtype=int)
    palette = {}
    order = ["particle", "grain", "core", "coating", "pore", "binder", "electrolyte", "separator", "current_collector"]
    for tag, name in names.items():
        base = name.split("_")[0] if name.startswith(("particle_", "grain_")) else name
        idx = order.index(base) if base in order else len(order)
        palette[tag] = idx
    kind = np.array([palette.get(int(t), len(order)) for t in phys])
    grid.cell_data["phase"] = kind
    grid.cell_data["tag"] = phys.astype(int)
    pl = pv.Plotter(off_screen=True, window_size=(1000, 800))
    colours = {0: "#c0504d", 1: "#d99694", 2: "#8064a2", 3: "#f79646", 4: "#4bacc6", 5: "#404040",
               6: "#9bbbe0", 7: "#c6e0b4", 8: "#b8b8b8"}  # fmt: skip
    electrode_like = "electrode_volume" in info
    for idx, col in colours.items():
        sub = grid.extract_cells(np.flatnonzero(kind == idx))
        if sub.n_cells == 0:
            continue
        name = order[idx]
        if name in ("electrolyte", "separator"):
            pl.add_mesh(sub.extract_surface(), color=col, opacity=0.15)
            continue
        if name == "pore":
            pl.add_mesh(sub.extract_surface(), color=col, opacity=0.9)
            continue
        if not electrode_like and name in ("particle", "grain", "core", "coating"):
            # single particle: cut away one octant to show the inside
            b = sub.bounds
            c = ((b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2)
            sub = sub.clip_box([c[0], b[1], c[1], b[3], c[2], b[5]], invert=True)
        if name == "grain":
            pl.add_mesh(sub, scalars="tag", show_edges=True, edge_color="#202020", line_width=0.3,
                        cmap="tab20", show_scalar_bar=False)  # fmt: skip
        elif name == "particle" and electrode_like:
            pl.add_mesh(sub, scalars="tag", cmap="Reds", show_scalar_bar=False)
        else:
            pl.add_mesh(sub, color=col, show_edges=not electrode_like, edge_color="#303030", line_width=0.3)
    pl.add_text(f"{info.get('kind')}: {grid.n_cells} tetrahedra", font_size=10)
    pl.show_axes()
    pl.camera_position = "iso"
    pl.screenshot(png_path)
    pl.close()


def mesh_command(case_path: str, outdir: str, comm=None, *, picture_file: bool = True) -> int:
    """Build the case's geometry over ``comm`` and write mesh, report and picture.

    Returns 0 on success, 2 for an invalid case or an unbuildable request (message on
    rank 0's stderr), raising nothing for those, so the CLI can exit with the code.
    """
    import sys

    from mpi4py import MPI

    from cellsim.geometry.mesh import GeometryError, build_mesh
    from cellsim.schema import CaseError

    comm = MPI.COMM_WORLD if comm is None else comm
    rank = comm.rank
    t0 = time.perf_counter()
    try:
        spec = load_geometry_section(case_path)
    except CaseError as exc:
        if rank == 0:
            print(f"error: invalid case {case_path}:\n{exc}", file=sys.stderr)
        return 2
    if rank == 0:
        os.makedirs(outdir, exist_ok=True)
    comm.Barrier()
    msh_path = os.path.join(outdir, "mesh.msh")
    try:
        tm = build_mesh(spec, comm, msh_file=msh_path)
    except (ValueError, GeometryError) as exc:
        if rank == 0:
            print(f"error: cannot build the geometry of {case_path}: {exc}", file=sys.stderr)
        return 2
    t_build = time.perf_counter() - t0
    rep = summarise(tm)
    t1 = time.perf_counter()
    write_xdmf(tm, os.path.join(outdir, "mesh.xdmf"))
    rep["timing"]["total_build_s"] = t_build
    rep["timing"]["write_xdmf_s"] = time.perf_counter() - t1
    rep["case"] = os.path.abspath(case_path)
    rep["geometry"] = spec.model_dump(mode="json")
    err = None
    if rank == 0:
        try:
            with open(os.path.join(outdir, "tags.json"), "w") as fh:
                json.dump({"regions": tm.regions, "interfaces": tm.interfaces,
                           "leaf_regions": tm.info.get("leaf_regions"),
                           "leaf_interfaces": tm.info.get("leaf_interfaces")}, fh, indent=1)  # fmt: skip
            info_out = {k: v for k, v in tm.info.items() if k not in ("mesh", "timing")}
            rep["info"] = info_out
            if picture_file:
                t2 = time.perf_counter()
                picture(msh_path, os.path.join(outdir, "geometry.png"), tm.info)
                rep["timing"]["picture_s"] = time.perf_counter() - t2
            with open(os.path.join(outdir, "report.json"), "w") as fh:
                json.dump(_jsonable(rep), fh, indent=1)
            with open(os.path.join(outdir, "report.txt"), "w") as fh:
                fh.write(_text(rep))
            print(_text(rep))
        except Exception as exc:  # noqa: BLE001 - reported on every rank below
            err = f"{type(exc).__name__}: {exc}"
    err = comm.bcast(err, root=0)
    if err is not None:
        raise RuntimeError(f"writing the mesh report failed: {err}")
    return 0


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def main(argv=None) -> int:
    """``python -m cellsim.geometry.report CASE -o OUTDIR`` (same as ``cellsim mesh``)."""
    import argparse

    ap = argparse.ArgumentParser(prog="cellsim mesh", description="Build and report a case's geometry.")
    ap.add_argument("case", help="case file (TOML) with a [geometry] section")
    ap.add_argument("-o", "--output", required=True, help="output folder")
    ap.add_argument("--no-picture", action="store_true", help="skip geometry.png")
    args = ap.parse_args(argv)
    return mesh_command(args.case, args.output, picture_file=not args.no_picture)


if __name__ == "__main__":
    raise SystemExit(main())
