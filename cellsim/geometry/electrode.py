"""Composite electrode and half-cell builder.

*Plan* (pure numpy, seeded, before gmsh): particle radii and a periodic packing
(:mod:`~cellsim.geometry.packing`), then the carbon-binder plan
(:mod:`~cellsim.geometry.binder`). *Build* (rank 0, OpenCASCADE in micrometres): box,
collector (and separator), particles clipped to the box with their in-plane images,
binder balls, one fragment; volumes named from the fragment map, surfaces from the
regions on their two sides.
"""

from __future__ import annotations

import math

import numpy as np

from cellsim.geometry import composite_particles as cp
from cellsim.geometry.base import MODEL_UNIT, BuildResult, GeometryError, ModelTags, um
from cellsim.geometry.binder import plan_binder
from cellsim.geometry.cad_booleans import boolean, rebuild_from_brep
from cellsim.geometry.cad_features import image_neighbours, sphere_axes
from cellsim.geometry.connectivity import (
    BRIDGE_MAX_LENGTH,
    MAX_REPAIR_ROUNDS,
    cad_connectivity,
    cad_graph,
    label_components,
    plan_bridges,
)
from cellsim.geometry.connectivity_plan import predict_isolated
from cellsim.geometry.gmsh_model import (
    aggregate_areas,
    aggregate_volumes,
    bbox_centre,
    cad_areas,
    cad_volumes,
    classify_surfaces,
    empty_model,
)
from cellsim.geometry.gmsh_model import occ as _occ
from cellsim.geometry.packing import (
    image_shifts,
    min_clearance,
    pack_spheres,
    sample_radii,
)
from cellsim.geometry.spec_electrode import Electrode, HalfCell


def plan_electrode(spec: Electrode) -> dict:
    """Particle sizes/positions and binder geometry (pure numpy, deterministic by seed).

    The packing is periodic in x and y: a particle crossing a lateral face continues on
    the opposite face (its pieces form one region ``particle_i``), so that the box has
    no wall effect in-plane; binder necks follow the same images.
    """
    rng = np.random.default_rng(spec.seed)
    W, D, T = spec.width, spec.depth, spec.thickness
    L = np.array([W, D, T])
    if spec.particles:
        radii = np.array([p.radius for p in spec.particles])
        centres = np.array([p.centre for p in spec.particles], float)
    else:
        radii = sample_radii(spec.radius_distribution, spec.volume_fraction * spec.box_volume(), rng)
        centres = pack_spheres(radii, L, spec.g(), spec.g_wall(), rng)
    plan: dict = {"radii": radii, "centres": centres}
    plan["active_fraction_planned"] = float(np.sum(4 / 3 * math.pi * radii**3) / spec.box_volume())
    plan["min_gap"] = min_clearance(centres, radii, L)
    plan["binder"] = plan_binder(spec, centres, radii, rng) if spec.binder_fraction > 0 else None
    plan["features"] = cp.plan_features(spec, radii, rng)  # pores / grains (None: dense)
    return plan


def build_electrode(spec: Electrode, plan: dict) -> BuildResult:
    occ = _occ()
    half, (W, D, T, tcc), centres, radii = _model_units(spec, plan)
    n = len(radii)
    bplan = plan.get("binder")
    # the bridges that the plan's spheres say are needed go into the first build (the CAD
    # check below stays the judge: a packing it still finds isolated is built again)
    bridges: list[dict] = _predicted_bridges(spec, plan) if PREDICT_BRIDGES and not spec.allow_isolated_particles else []
    predicted = len(bridges)
    raw_leaf, part_pieces = _build_cad(spec, plan, bridges)
    for rounds in range(MAX_REPAIR_ROUNDS + 1):
        slivers = {"pieces": 0, "volume": 0.0}
        vol_leaf = dict(raw_leaf)
        mass = {v: occ.getMass(3, v) for v in vol_leaf}  # CAD volumes of this build, once
        # Binder pieces that touch no particle and no collector (remnants of a neck cut by
        # the particles) carry no current and have no defined potential: a floating,
        # singular block of the potential equations. They are pore space for the physics:
        # merged into the electrolyte, their volume reported.
        merged = _merge_floating_binder(vol_leaf, mass)
        conn = cad_connectivity(vol_leaf, n, lambda v, m=mass: m[v] * MODEL_UNIT**3)
        isolated = conn.pop("_isolated")
        if isolated and not spec.allow_isolated_particles:
            # isolated slivers of particles barely crossing a lateral corner (below
            # TINY_PIECE of the particle volume) are not worth a bridge: electrolyte
            tiny = [v for comp in isolated for v in comp if vol_leaf[v].startswith("particle_")
                    and mass[v] < TINY_PIECE * 4 / 3 * math.pi * radii[int(vol_leaf[v][9:])] ** 3]
            if tiny:
                tiny_volume = sum(mass[v] for v in tiny) * MODEL_UNIT**3
                for v in tiny:
                    vol_leaf[v] = "electrolyte"
                merged = _merge_floating_binder(vol_leaf, mass)
                slivers = {"pieces": len(tiny), "volume": tiny_volume}
                conn = cad_connectivity(vol_leaf, n, lambda v, m=mass: m[v] * MODEL_UNIT**3)
                isolated = conn.pop("_isolated")
        if not isolated or spec.allow_isolated_particles:
            break
        new, left = plan_bridges(
            [_pieces(comp, vol_leaf, centres, radii, W, D) for comp in isolated],
            _pieces([v for v, nm in vol_leaf.items() if nm.startswith("particle_")
                     and not any(v in comp for comp in isolated)], vol_leaf, centres, radii, W, D),
            centres, radii, (W, D, T), tcc,
        )  # fmt: skip
        if left or not new or rounds == MAX_REPAIR_ROUNDS:
            _refuse(spec, left or conn["particles_not_connected"], bridges)
        bridges += new
        # build the whole model again with the bridges among the binder tools (a fragment
        # of the bridges into the built model, tried before, gave slivers, e.g. seed 11 of
        # the connectivity sweep: minSICN 2e-6 against 0.041)
        empty_model()
        raw_leaf, part_pieces = _build_cad(spec, plan, bridges)
    conn["repair_rounds"] = rounds
    conn["bridges_predicted"] = predicted
    conn["particle_slivers_made_electrolyte"] = slivers
    conn["allow_isolated_particles"] = spec.allow_isolated_particles
    conn["bridges"] = [
        {"kind": br["kind"], "from": br["from"], "to": br["to"], "radius": br["radius"] * MODEL_UNIT,
         "length": br["length"] * MODEL_UNIT, "start": (np.asarray(br["start"]) * MODEL_UNIT).tolist(),
         "end": (np.asarray(br["end"]) * MODEL_UNIT).tolist()}
        for br in bridges
    ]  # fmt: skip
    isolated_binder = merged

    tags = ModelTags()
    grains = spec.particle_type == "secondary"
    order = ([] if grains else [f"particle_{i}" for i in range(n)]) + [
        "pore", "binder", "electrolyte", "current_collector", "separator"]
    class_leaf = vol_leaf
    if grains:  # regions particle_i_grain_k, aggregates particle_i
        class_leaf = cp.grain_regions(tags, vol_leaf, plan["features"], centres, W, D)
    by_leaf: dict[str, list[int]] = {}
    for v, name in vol_leaf.items():
        by_leaf.setdefault(name, []).append(v)
    for name in order:
        if name in by_leaf:
            tags.region(name, sorted(by_leaf[name]))
    tags.aggregate("particle", [f"particle_{i}" for i in range(n)])
    if half:
        tags.aggregate("electrolyte_domain", ["electrolyte", "separator"] + (["pore"] if "pore" in by_leaf else []))

    eps = 1e-6 * max(W, D, T)
    ztop = T + (um(spec.separator_thickness) if half else 0.0)

    def rule(names, s):
        if "pore" in names and len(names) == 2:
            return cp.surface_name(names)
        if len(names) == 2:
            a, b = names
            if a == b:
                return None  # inside one region (pieces of a particle, of the binder)
            if a.startswith("particle_") and b.startswith("particle_"):
                raise RuntimeError(f"particles {a} and {b} touch (surface {s})")
            part = a if a.startswith("particle_") else b if b.startswith("particle_") else None
            if part is not None:
                other = b if part == a else a
                if other == "electrolyte":
                    return f"{part}_electrolyte"
                if other == "binder":
                    return f"{part}_binder"
                if other == "current_collector":
                    return "collector_particle"
                if other == part:
                    return None
                raise RuntimeError(f"unexpected contact between {a} and {b} (surface {s})")
            if names == ("binder", "electrolyte"):
                return "binder_electrolyte"
            if names == ("current_collector", "electrolyte"):
                return "collector_electrolyte"
            if names == ("binder", "current_collector"):
                return "collector_binder"
            if names == ("electrolyte", "separator"):
                return "separator_electrolyte"
            if names == ("binder", "separator"):
                return "separator_binder"
            if a == b:
                return None
            raise RuntimeError(f"unexpected contact between {a} and {b} (surface {s})")
        (a,) = names
        _, bb = bbox_centre(2, s)
        if abs(bb[2] + tcc) < eps and abs(bb[5] + tcc) < eps:
            return "collector_bottom"
        if abs(bb[2] - ztop) < eps and abs(bb[5] - ztop) < eps:
            if half:
                return "lithium_separator"
            return {"electrolyte": "separator_electrolyte", "binder": "separator_binder"}.get(a, "electrode_top_other")
        return "side"

    surfs = classify_surfaces(class_leaf, cp.grain_rule(rule) if grains else rule)
    if "electrode_top_other" in surfs or "pore_other" in surfs:
        raise RuntimeError("a particle touches the electrode top")
    iface_order = (
        [f"particle_{i}_electrolyte" for i in range(n)]
        + [f"particle_{i}_binder" for i in range(n)]
        + ["binder_electrolyte", "collector_electrolyte", "collector_binder", "collector_particle",
           "separator_electrolyte", "separator_binder", "lithium_separator", "side", "collector_bottom"]
        + [f"particle_{i}_pore_wall" for i in range(n)] + ["pore_opening", "pore_binder"]
        + [f"particle_{i}_grain_boundary" for i in range(n)]
    )  # fmt: skip
    for name in iface_order:
        if name in surfs:
            tags.interface(name, surfs[name])

    def agg(name, members):
        present = [m for m in members if m in surfs]
        if present:
            tags.aggregate(name, present, dim=2)

    agg("particle_electrolyte", [f"particle_{i}_electrolyte" for i in range(n)]
        + [f"particle_{i}_pore_wall" for i in range(n)])
    agg("pore_wall", [f"particle_{i}_pore_wall" for i in range(n)])
    agg("grain_boundary", [f"particle_{i}_grain_boundary" for i in range(n)])
    agg("particle_binder", [f"particle_{i}_binder" for i in range(n)])
    agg("collector_electrode", ["collector_electrolyte", "collector_binder", "collector_particle"])
    agg("electrode_separator", ["separator_electrolyte", "separator_binder"])

    cad = cad_volumes(class_leaf, mass)
    areas = cad_areas(surfs)
    Vb = spec.box_volume()
    info = {
        "particle_centres": np.asarray(plan["centres"]).tolist(),
        "particle_radii": np.asarray(plan["radii"]).tolist(),
        "num_particles": n,
        "particle_pieces": [len(ps) for ps in part_pieces],
        "lateral_images": "particles and binder crossing x = 0, width or y = 0, depth continue "
        "on the opposite face (periodic placement, non-periodic mesh)",
        "box": {"width": spec.width, "depth": spec.depth, "thickness": spec.thickness,
                "collector_thickness": spec.collector_thickness,
                "separator_thickness": spec.separator_thickness if half else 0.0},
        "electrode_volume": Vb,
        "volume_fraction_target": {"particle": spec.target_fraction(), "binder": spec.binder_fraction},
        "volume_fraction_planned": {"particle": plan["active_fraction_planned"],
                                    "binder": (bplan or {}).get("fraction_planned", 0.0)},
        "volume_fraction_cad": {
            "particle": sum(v for k, v in cad.items() if k.startswith("particle_")) / Vb,
            "binder": cad.get("binder", 0.0) / Vb,
            "electrolyte": cad.get("electrolyte", 0.0) / Vb,
        },
        "min_particle_gap": plan["min_gap"],
        "binder": None if bplan is None else {k: v for k, v in bplan.items() if k not in ("segments",)},
        "particles_not_connected": conn["particles_not_connected"],
        "connectivity": conn,
        "isolated_binder_merged_into_electrolyte": isolated_binder,
        "exact_volume": aggregate_volumes(cad, tags),
        "exact_area": aggregate_areas(areas, tags),
    }  # fmt: skip
    if bplan is not None and bplan["morphology"] == "necks":
        info["binder"]["num_necks"] = sum(1 for s in bplan["segments"] if s[2][0] == "pair")
        info["binder"]["num_bridges"] = sum(1 for s in bplan["segments"] if s[2][0] == "collector")
        info["binder"].pop("radii", None)
        rho = np.asarray(bplan["radii"])
        info["binder"]["neck_radius_min"] = float(rho.min())
        info["binder"]["neck_radius_max"] = float(rho.max())
    if plan.get("features") is not None:
        info.update(cp.feature_info(spec, plan["features"], vol_leaf, tags, cad, areas, plan["radii"]))

    # size fields: refine particle and binder interfaces; small balls at close contacts
    # (region Constant fields are cheap: particles and binder get h_i inside and on their
    # boundary; a Distance field over hundreds of surfaces is slow to evaluate)
    refine: list[str] = []
    hi = um(spec.h_interface())
    balls: list[tuple] = []  # (centre, radius, size inside)
    I, J, V = image_neighbours(centres, radii, centres, radii, W, D, margin=2 * hi)
    for i, j, dvec in zip(I, J, V):
        if i < j:  # each close pair (and image) once; a k-d tree instead of all pairs
            dij = float(np.linalg.norm(dvec))
            g = dij - radii[i] - radii[j]
            if g < 2 * hi:
                m = centres[i] + (radii[i] + g / 2) * dvec / dij
                rb = float(0.2 * min(radii[i], radii[j]))
                for sh in image_shifts(m, rb + hi, W, D):
                    balls.append((m + sh, rb, max(2 * g, hi / 2)))
    for br in bridges:  # bridges: about 8 elements round the circumference (balls along the axis)
        a, b_ = np.asarray(br["start"], float), np.asarray(br["end"], float)
        rho = float(br["radius"])
        for p in np.linspace(a, b_, max(2, int(np.ceil(np.linalg.norm(b_ - a) / rho)) + 1)):
            balls.append((p, 1.5 * rho, min(hi, max(0.7 * rho, hi / 4))))
    extra = contact_ball_fields(balls, hi, um(spec.h()))
    # large electrodes: HXT, 0.8x Delaunay's time for 0.87x the tetrahedra and a better
    # worst element; its optimiser at 0.2 takes half the time of gmsh's 0.3 for the same
    # worst element (small ones keep Delaunay: the meshes of the shipped half-cell cases)
    big = spec.estimated_elements() >= HXT_MIN_ELEMENTS
    res = BuildResult(tags=tags, info=info, refine_interfaces=refine, extra_fields=extra,
                      algorithm3d=10 if big else 1, hxt_optimize_threshold=0.2)
    res.region_sizes = {"particle": spec.h_interface()}
    if spec.particle_type == "porous":
        res.region_sizes["pore"] = spec.pore_mesh_size(spec.h_interface())
    if bplan is not None:
        hi_m = spec.h_interface()
        if bplan["morphology"] == "coating":  # about one element across the shell
            res.region_sizes["binder"] = min(hi_m, max(bplan["thickness"], hi_m / 2))
        else:
            res.region_sizes["binder"] = min(hi_m, max(min(bplan["radii"]) / 2, hi_m / 3))
    return res


def _pieces(volumes, vol_leaf, centres, radii, W, D) -> list[tuple[int, np.ndarray]]:
    """(particle index, centre of the sphere copy) of each particle volume in ``volumes``."""
    occ = _occ()
    shifts = np.array([(a * W, b * D, 0.0) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    out = []
    for v in volumes:
        name = vol_leaf[v]
        if not name.startswith("particle_"):
            continue
        i = int(name[9:])
        com = np.array(occ.getCenterOfMass(3, v))
        copies = centres[i] + shifts
        out.append((i, copies[int(np.argmin(np.linalg.norm(copies - com, axis=1)))]))
    return out


def _refuse(spec: Electrode, particles, bridges) -> None:
    raise GeometryError(
        f"seed = {spec.seed}: particles {sorted(particles)} have a piece that no carbon-binder path "
        f"links to the current collector, and no binder bridge (at most {BRIDGE_MAX_LENGTH} x the "
        f"largest radius, inside the box, clear of other particles) could join it"
        f"{f' after {len(bridges)} bridges' if bridges else ''}; hint: raise binder_fraction or "
        "neck_max_gap, try another seed, or set allow_isolated_particles = true to keep isolated "
        "particles on purpose"
    )


def _model_units(spec: Electrode, plan: dict):
    """(half-cell?, box sizes W, D, T, collector thickness, centres, radii) in model units."""
    sizes = tuple(um(x) for x in (spec.width, spec.depth, spec.thickness, spec.collector_thickness))
    return (isinstance(spec, HalfCell), sizes, np.asarray(plan["centres"]) / MODEL_UNIT,
            np.asarray(plan["radii"]) / MODEL_UNIT)  # fmt: skip


def _build_cad(spec: Electrode, plan: dict, bridges: list[dict] = ()):
    """The OCC model of the plan (model units) in the current gmsh model, with repair
    ``bridges`` among the binder tools if given: returns (volume -> leaf name, volumes of
    each particle)."""
    import gmsh

    occ = _occ()
    half, (W, D, T, tcc), centres, radii = _model_units(spec, plan)
    keep = len(radii) >= BREP_REBUILD_MIN_PARTICLES  # booleans keep their inputs (cad_booleans)
    box = occ.addBox(0, 0, 0, W, D, T)
    cc = occ.addBox(0, 0, -tcc, W, D, tcc)
    objs = [(3, box), (3, cc)]
    if half:
        ts = um(spec.separator_thickness)
        sep = occ.addBox(0, 0, T, W, D, ts)
        objs.append((3, sep))
    # particles: one OCC ball per in-plane image meeting the box, clipped to the box
    bplan = plan.get("binder")
    necks_um = []
    if bplan is not None and bplan["morphology"] == "necks":
        for (p0, _p1, lab), rb in zip(bplan["segments"], bplan["radii"]):
            necks_um.append((np.asarray(p0) / MODEL_UNIT, um(rb), lab))
    neck_c = np.array([m for m, _, _ in necks_um]).reshape(-1, 3)
    neck_r = np.array([rb for _, rb, _ in necks_um])
    part_axes, neck_axes = sphere_axes(centres, radii, neck_c, neck_r, (W, D), um(spec.h_interface()))
    part_pieces: list[list[int]] = []
    feats = plan.get("features")
    pores: list[int] = []
    for i, (c, r) in enumerate(zip(centres, radii)):
        shifts = image_shifts(c, r, W, D)
        if spec.particle_type == "secondary":
            balls = cp.grain_balls(feats[i], c, r, shifts, lambda cc, i=i, r=r: _add_sphere(occ, cc, r, *part_axes[i]))
        else:
            balls = [(3, _add_sphere(occ, c + sh, r, *part_axes[i])) for sh in shifts]
        crosses = len(shifts) > 1 or np.any(c[:2] - r < 0) or np.any(c[:2] + r > (W, D))
        if crosses:
            clip = occ.addBox(0, 0, 0, W, D, T)
            out, _ = boolean("intersect", balls, [(3, clip)], keep)
            part_pieces.append([t for d, t in out if d == 3])
        else:
            part_pieces.append([t for _, t in balls])
        if spec.particle_type == "porous":
            pores += cp.pore_pieces(feats[i], c, r, um(spec.pore_radius), shifts, part_pieces[i])
    parts = [t for ps in part_pieces for t in ps]
    # binder: shells (coating) or short neck cylinders, handed to one fragment together
    # with everything else; a fragment piece is particle > binder > box phase
    binder_tools: list[tuple[int, int]] = []
    if bplan is not None:
        if bplan["morphology"] == "coating":
            t = um(bplan["thickness"])
            for c, r in zip(centres, radii):
                for sh in image_shifts(c, r + t, W, D):
                    binder_tools.append((3, occ.addSphere(*(c + sh), r + t)))
        else:
            for k, (m, rb, _lab) in enumerate(necks_um):
                for sh in image_shifts(m, rb, W, D):
                    binder_tools.append((3, _add_sphere(occ, m + sh, rb, *neck_axes[k])))
    for br in bridges:  # repair bridges (connectivity.plan_bridges), straight binder cylinders
        a, b = np.asarray(br["start"], float), np.asarray(br["end"], float)
        binder_tools.append((3, occ.addCylinder(*a, *(b - a), float(br["radius"]))))
    if binder_tools and CUT_BINDER_FIRST:
        # remove the parts of the binder tools inside particles and inside the collector
        # first: no cylinder tips, shell cores or neck-ball halves inside them (they would
        # make thin slabs, needless interior surfaces and slivers)
        binder_tools, _ = boolean("cut", binder_tools, [(3, p) for p in parts] + [(3, cc)], keep,
                                  remove_tool=False)
    tools = [(3, p) for p in parts] + [(3, p) for p in pores] + binder_tools
    _, maps = boolean("fragment", objs, tools, keep)
    owners: dict[int, set[int]] = {}
    for k, m in enumerate(maps):
        for d, t in m:
            if d == 3:
                owners.setdefault(t, set()).add(k)
    off = len(objs)
    piece_owner = {}
    k = off
    for i, ps in enumerate(part_pieces):
        for _ in ps:
            piece_owner[k] = i
            k += 1
    first_binder = off + len(parts) + len(pores)
    pore_tool = set(range(off + len(parts), first_binder))
    vol_leaf: dict[int, str] = {}
    outside = []
    for v, own in owners.items():
        parts_here = [piece_owner[o] for o in own if o in piece_owner]
        if parts_here:
            if len(set(parts_here)) > 1:
                raise RuntimeError(f"particles {sorted(set(parts_here))} overlap")
            vol_leaf[v] = "pore" if own & pore_tool else f"particle_{parts_here[0]}"
        elif 1 in own:
            vol_leaf[v] = "current_collector"
        elif 0 in own:
            vol_leaf[v] = "binder" if any(o >= first_binder for o in own) else "electrolyte"
        elif half and 2 in own:
            vol_leaf[v] = "separator"
        else:
            outside.append(v)
    if keep:  # the pieces outside and the orphans of the booleans go with the BREP rebuild
        occ.remove([(3, v) for v in outside], recursive=False)
        new_tag = rebuild_from_brep()
        vol_leaf = {new_tag[v]: leaf for v, leaf in vol_leaf.items()}
    else:
        if outside and not REMOVE_IN_MODEL:  # in the OCC model, before the synchronisation
            occ.remove([(3, v) for v in outside], recursive=True)
        occ.synchronize()
        if outside and REMOVE_IN_MODEL:
            # from the gmsh model only: OpenCASCADE's removal checks every remaining shape
            # for each removed sub-shape (faster than n^2: 4.2 s of CPU at 211 particles);
            # the OCC shapes stay, unused (no later synchronisation)
            gmsh.model.removeEntities([(3, v) for v in outside], recursive=True)
    # every volume of the model must be named (the fragment may not create strays)
    for _, v in gmsh.model.getEntities(3):
        if v not in vol_leaf:
            raise RuntimeError(f"volume {v} is not part of any input")
    return vol_leaf, part_pieces


def _merge_floating_binder(vol_leaf: dict[int, str], mass: dict[int, float]) -> dict:
    """Binder volumes whose component holds no particle and no collector -> electrolyte."""
    nodes, ea, eb = cad_graph(vol_leaf)
    lab = label_components(len(nodes), ea, eb)
    anchored = {lab[k] for k, v in enumerate(nodes) if vol_leaf[v] != "binder"}
    isolated_binder = sorted(v for k, v in enumerate(nodes) if vol_leaf[v] == "binder" and lab[k] not in anchored)
    for v in isolated_binder:
        vol_leaf[v] = "electrolyte"
    volume = sum(mass[v] for v in isolated_binder) * MODEL_UNIT**3
    return {"pieces": len(isolated_binder), "volume": volume}


def _predicted_bridges(spec: Electrode, plan: dict) -> list[dict]:
    """Repair bridges for the particle pieces that the plan's spheres leave isolated
    (:func:`~cellsim.geometry.connectivity_plan.predict_isolated`), model units."""
    _half, (W, D, T, tcc), centres, radii = _model_units(spec, plan)
    bplan = plan.get("binder")
    balls = []
    if bplan is not None and bplan["morphology"] == "coating":
        balls = [(c, r + um(bplan["thickness"])) for c, r in zip(centres, radii)]
    elif bplan is not None:
        balls = [(np.asarray(p0) / MODEL_UNIT, um(rb)) for (p0, _p1, _lab), rb in zip(bplan["segments"], bplan["radii"])]
    isolated, grounded = predict_isolated(centres, radii, balls, (W, D, T), TINY_PIECE)
    if not isolated:
        return []
    return plan_bridges(isolated, grounded, centres, radii, (W, D, T), tcc)[0]


def _add_sphere(occ, c, r, axis, spin: float = 0.0) -> int:
    """OCC sphere spun by ``spin`` about z (moves its seam), then with its pole axis turned
    from z to ``axis``."""
    t = occ.addSphere(*c, r)
    if spin:
        occ.rotate([(3, t)], *c, 0.0, 0.0, 1.0, spin)
    ez = np.array([0.0, 0.0, 1.0])
    ax = np.cross(ez, axis)
    sn = float(np.linalg.norm(ax))
    if sn > 1e-9:
        occ.rotate([(3, t)], *c, *(ax / sn), math.atan2(sn, float(ez @ axis)))
    elif ez @ axis < 0:
        occ.rotate([(3, t)], *c, 1.0, 0.0, 0.0, math.pi)
    return t


CUT_BINDER_FIRST = True

#: remove the fragment pieces outside the box from the gmsh model, not from OpenCASCADE
REMOVE_IN_MODEL = True

#: electrodes of at least this many particles are built with booleans that keep their inputs
#: and one BREP rebuild at the end (cellsim.geometry.cad_booleans): gmsh's recursive unbinding
#: of removed inputs grows as n^2; fewer particles keep the plain booleans (their meshes bitwise)
BREP_REBUILD_MIN_PARTICLES = 150

#: plan the repair bridges from the plan's spheres before the first CAD build
PREDICT_BRIDGES = True

#: electrodes and half-cells of at least this estimated number of tetrahedra are meshed
#: with HXT by default (mesh_algorithm unset), smaller ones with Delaunay
HXT_MIN_ELEMENTS = 50_000

#: above this many contact balls their minimum is sampled once on an octree (gmsh's Octree
#: field) instead of looping over every ball at every size query: the direct Min made each
#: query O(balls), so meshing grew as N^2 with the particle count (300 particles: 1D
#: meshing 6.4 s -> 0.56 s, all meshing 56 -> 37 s, 1.4 % fewer tetrahedra, same worst
#: element; see benchmarks/README.md). Fewer balls keep the exact Min (the shipped cases).
OCTREE_MIN_BALLS = 200


def contact_ball_fields(balls, thickness: float, h: float) -> list[int]:
    """gmsh Ball fields (size ``VIn`` inside ``radius``, growing over ``thickness``) for
    ``balls`` = [(centre, radius, size)]; returns the field tags to put in the size Min:
    one per ball, or one Octree over their Min when there are more than OCTREE_MIN_BALLS.
    A ball asking for ``h`` (Mesh.MeshSizeMax) or more changes nothing and is not made."""
    import gmsh

    f = gmsh.model.mesh.field
    tags = []
    for p, radius, size in balls:
        if size >= h:
            continue
        b = f.add("Ball")
        for key, val in zip(("XCenter", "YCenter", "ZCenter"), p):
            f.setNumber(b, key, float(val))
        f.setNumber(b, "Radius", float(radius))
        f.setNumber(b, "Thickness", float(thickness))
        f.setNumber(b, "VIn", float(size))
        f.setNumber(b, "VOut", 1e22)
        tags.append(b)
    if len(tags) <= OCTREE_MIN_BALLS:
        return tags
    fmin = f.add("Min")
    f.setNumbers(fmin, "FieldsList", tags)
    octree = f.add("Octree")
    f.setNumber(octree, "InField", fmin)
    return [octree]

#: an isolated particle piece smaller than this fraction of its particle's volume (a cap
#: barely crossing two lateral faces at a corner) is made electrolyte instead of bridged
TINY_PIECE = 1e-3

PLANS = {"electrode": plan_electrode, "half_cell": plan_electrode}
BUILDERS = {"electrode": build_electrode, "half_cell": build_electrode}
