"""Porous and secondary (polycrystalline) particles as the particle type of a composite
electrode or half-cell (``[geometry] particle_type``, :mod:`~cellsim.geometry.spec_composite`).

*Plan* (numpy, after the packing and the binder plan, so that dense electrodes draw the
same numbers as before): every particle i gets the plan of a single
:class:`~cellsim.geometry.spec_particles.PorousParticle` or
:class:`~cellsim.geometry.spec_particles.SecondaryParticle` of its radius
(:func:`~cellsim.geometry.structured.plan_porous` / ``plan_secondary``), with a seed drawn
from the electrode's generator; the pore centres, channel lines and Voronoi seeds are
relative to the particle centre.

*Build* (OpenCASCADE, model units, inside :func:`~cellsim.geometry.electrode._build_cad`):

- porous: the pore tools (spheres, or channel cylinders 2.4 R long) of every in-plane image
  of the particle, intersected with the (clipped) particle pieces, join the one fragment
  after the particles. A fragment piece inside a particle and a pore tool is ``pore``
  (leaf region, electrolyte-filled: the half-cell adds it to its liquid); its surfaces are
  ``particle_i_pore_wall`` (solid | pore, in ``particle_electrolyte``), ``pore_opening``
  (pore | electrode electrolyte), ``pore_binder`` (pore | carbon-binder at a mouth).
  Closed (spherical) pores stay electrolyte-filled and sealed: they take part in the
  reaction, but no net current can leave them (their count is in the info).
- secondary: the particle of every image is built as its Voronoi cells
  (:func:`~cellsim.geometry.structured.voronoi_cells`), so the fragment keeps the grain
  boundaries; the volumes keep the leaf name ``particle_i`` through the connectivity
  repair and are assigned to their grain afterwards by the nearest Voronoi seed of their
  centre of mass (a clipped cell is convex, so its centre lies in it).
"""

from __future__ import annotations

import math

import numpy as np

from cellsim.geometry.base import MODEL_UNIT
from cellsim.geometry.gmsh_model import occ as _occ
from cellsim.geometry.packing import bunge_euler


def plan_features(spec, radii, rng) -> list[dict] | None:
    """One pore or grain plan per particle (None for dense particles)."""
    from cellsim.geometry.structured import plan_porous, plan_secondary

    if spec.particle_type == "dense":
        return None
    out = []
    for r in radii:
        seed = int(rng.integers(2**31 - 1))
        if spec.particle_type == "porous":
            p = plan_porous(spec.pore_spec(float(r), seed))
            out.append({"centres": np.asarray(p.get("centres", np.zeros((0, 3)))).tolist(),
                        "lines": p.get("lines", []), "porosity_planned": p["porosity_planned"]})
        else:
            p = plan_secondary(spec.grain_spec(float(r), seed))
            out.append({"seeds": np.asarray(p["seeds"]).tolist(),
                        "rotations": [np.asarray(m).tolist() for m in p["rotations"]]})
    return out


def grain_balls(feat: dict, c, r, shifts, make_ball) -> list[tuple[int, int]]:
    """The Voronoi cells of the particle at ``c`` + every shift (model units)."""
    from cellsim.geometry.structured import voronoi_cells

    seeds = np.asarray(feat["seeds"]) / MODEL_UNIT
    out = []
    for sh in shifts:
        out += [(3, t) for t in voronoi_cells(lambda cc=c + sh: make_ball(cc), seeds + c + sh, r)]
    return out


def pore_pieces(feat: dict, c, r, rp, shifts, pieces) -> list[int]:
    """Pore tools (radius ``rp``) of every image of the particle at ``c`` (radius ``r``, model
    units), intersected with the particle's volumes ``pieces``."""
    occ = _occ()
    tools = []
    for sh in shifts:
        for p in feat["centres"]:
            tools.append((3, occ.addSphere(*(np.asarray(p) / MODEL_UNIT + c + sh), rp)))
        for p, d in feat["lines"]:
            d = np.asarray(d, float)
            a = np.asarray(p) / MODEL_UNIT + c + sh - 1.2 * r * d
            tools.append((3, occ.addCylinder(*a, *(2.4 * r * d), rp)))
    if not tools:
        return []
    out, _ = occ.intersect(tools, [(3, t) for t in pieces], removeObject=True, removeTool=False)
    return [t for d, t in out if d == 3]


def surface_name(names) -> str | None:
    """The name of a surface between a pore and another leaf (None: not a pore surface)."""
    if "pore" not in names or len(names) != 2:
        return None
    a, b = names
    other = b if a == "pore" else a
    if other.startswith("particle_"):
        return f"{other}_pore_wall"
    return {"electrolyte": "pore_opening", "binder": "pore_binder", "pore": None}.get(other, "pore_other")


def grain_of_volumes(vol_leaf: dict[int, str], feats, centres, W, D) -> dict[int, int]:
    """Grain index of every particle volume: the nearest seed (of the particle's images)."""
    occ = _occ()
    shifts = np.array([(a * W, b * D, 0.0) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    out = {}
    for v, name in vol_leaf.items():
        if not name.startswith("particle_"):
            continue
        i = int(name[9:])
        seeds = np.asarray(feats[i]["seeds"]) / MODEL_UNIT + centres[i]
        com = np.array(occ.getCenterOfMass(3, v))
        d = np.linalg.norm(seeds[:, None, :] + shifts[None, :, :] - com, axis=2).min(axis=1)
        out[v] = int(np.argmin(d))
    return out


def grain_regions(tags, vol_leaf, feats, centres, W, D) -> dict[int, str]:
    """Region ``particle_i_grain_k`` of every grain volume, aggregates ``particle_i``; returns the
    volume -> leaf map with grain names for the surface classification."""
    g = grain_of_volumes(vol_leaf, feats, centres, W, D)
    by: dict[tuple[int, int], list[int]] = {}
    for v, k in g.items():
        by.setdefault((int(vol_leaf[v][9:]), k), []).append(v)
    for i in range(len(feats)):
        names = []
        for k in range(len(feats[i]["seeds"])):
            if (i, k) in by:
                names.append(f"particle_{i}_grain_{k}")
                tags.region(names[-1], sorted(by[(i, k)]))
        tags.aggregate(f"particle_{i}", names)
    return {v: (f"{vol_leaf[v]}_grain_{g[v]}" if v in g else nm) for v, nm in vol_leaf.items()}


def grain_rule(rule):
    """Wrap the electrode's surface rule: grain names map back to their particle; two grains
    of one particle meet on ``particle_i_grain_boundary``."""

    def base(n):
        return n.split("_grain_")[0]

    def wrapped(names, s):
        if len(names) == 2 and all("_grain_" in n for n in names) and base(names[0]) == base(names[1]):
            return None if names[0] == names[1] else f"{base(names[0])}_grain_boundary"
        return rule(tuple(sorted(base(n) for n in names)), s)

    return wrapped


def feature_info(spec, feats, vol_leaf, tags, cad: dict, areas: dict, radii) -> dict:
    """The particle-type part of the geometry info (rank 0)."""
    out: dict = {"particle_type": spec.particle_type}
    if spec.particle_type == "porous":
        n = len(radii)
        walls = sum(v for k, v in areas.items() if k.endswith("_pore_wall"))
        nclosed = 0
        if spec.pore_shape != "channel":
            nclosed = sum(len(f["centres"]) for f in feats)
        out["porous"] = {
            "pore_shape": spec.pore_shape or "channel", "pore_radius": spec.pore_radius,
            "porosity_target": spec.porosity,
            "porosity_planned": [f["porosity_planned"] for f in feats],
            "num_pores": [len(f["centres"]) + len(f["lines"]) for f in feats],
            "closed_pores": nclosed,
            "closed_pores_treatment": "electrolyte-filled and sealed (part of region 'pore'; no net current "
            "can leave them)" if nclosed else "none (channels are open to the electrolyte)",
            "pore_volume": cad.get("pore", 0.0),
            "solid_volume": sum(v for k, v in cad.items() if k.startswith("particle_")),
            "sphere_volume": float(sum(4 / 3 * math.pi * r**3 for r in radii)),
            "pore_wall_area": walls,
            "pore_opening_area": areas.get("pore_opening", 0.0) + areas.get("pore_binder", 0.0),
            "num_particles": n,
        }
    else:
        orient = []
        for i, f in enumerate(feats):
            for k, Rm in enumerate(f["rotations"]):
                name = f"particle_{i}_grain_{k}"
                if name in tags.leaf_regions:
                    orient.append({"region": name, "particle": i, "grain": k, "rotation": Rm,
                                   "euler_bunge_rad": list(bunge_euler(np.asarray(Rm)))})
        out["secondary"] = {
            "grains_per_particle": [sum(1 for o in orient if o["particle"] == i) for i in range(len(feats))],
            "grain_seeds": [f["seeds"] for f in feats],
            "grain_boundary_area": sum(v for k, v in areas.items() if k.endswith("_grain_boundary")),
        }
        out["grain_orientations"] = orient
        out["orientation_convention"] = ("rotation maps crystal axes to sample axes; Bunge Z-X-Z, "
                                         "R = Rz(phi1) Rx(Phi) Rz(phi2)")
    return out


__all__ = ["plan_features", "grain_balls", "pore_pieces", "surface_name", "grain_regions", "grain_rule",
           "feature_info"]
