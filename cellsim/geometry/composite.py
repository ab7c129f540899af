"""Builders of structured particles, composite electrodes and half-cells.

Every kind has a *plan* step (pure numpy, seeded, run before gmsh: packing, pore
placement, Voronoi seeds, binder-size solve; errors are ValueErrors raised before
meshing) and a *build* step (OpenCASCADE booleans in micrometres on rank 0).

Volumes are identified from the fragment output map (never by measuring them);
surfaces are named from the leaf regions of the volumes on their two sides
(:func:`classify_surfaces`), exterior surfaces from their position.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from cellsim.geometry.mesh import MODEL_UNIT, BuildResult, ModelTags, um
from cellsim.geometry.packing import (
    PackingError,
    VoxelSampler,
    _pairs,
    lateral_shifts,
    bunge_euler,
    min_clearance,
    pack_spheres,
    relax,
    sample_radii,
    uniform_rotation,
)
from cellsim.geometry.spec import Electrode, HalfCell, PorousParticle, SecondaryParticle

# ---------------------------------------------------------------------------------------
# helpers (gmsh, rank 0)
# ---------------------------------------------------------------------------------------


def _occ():
    import gmsh

    return gmsh.model.occ


def volumes_from_map(out_map, index: int) -> set[int]:
    return {t for d, t in out_map[index] if d == 3}


def classify_surfaces(vol_leaf: dict[int, str], rule: Callable) -> dict[str, list[int]]:
    """Name every surface of the model by ``rule(sorted leaf names, surface tag)``.

    ``rule`` returns an interface leaf name or None (untagged). Surfaces are adjacent to
    one (exterior) or two (interior) volumes.
    """
    import gmsh

    out: dict[str, list[int]] = {}
    for _, s in gmsh.model.getEntities(2):
        up, _ = gmsh.model.getAdjacencies(2, s)
        names = tuple(sorted(vol_leaf[int(v)] for v in up))
        name = rule(names, s)
        if name is not None:
            out.setdefault(name, []).append(s)
    return out


def cad_volumes(vol_leaf: dict[int, str]) -> dict[str, float]:
    """CAD (exact geometry) volume of each leaf region [m^3]."""
    occ = _occ()
    out: dict[str, float] = {}
    for v, n in vol_leaf.items():
        out[n] = out.get(n, 0.0) + occ.getMass(3, v) * MODEL_UNIT**3
    return out


def cad_areas(surfs: dict[str, list[int]]) -> dict[str, float]:
    occ = _occ()
    return {n: sum(occ.getMass(2, s) for s in ss) * MODEL_UNIT**2 for n, ss in surfs.items()}


def _bbox_centre(dim, tag):
    import gmsh

    b = gmsh.model.getBoundingBox(dim, tag)
    return np.array([(b[0] + b[3]) / 2, (b[1] + b[4]) / 2, (b[2] + b[5]) / 2]), np.array(b)


def _aggregate_volumes(cad: dict[str, float], tags: ModelTags) -> dict[str, float]:
    out = dict(cad)
    for agg in tags.agg_regions:
        out[agg] = sum(cad.get(m, 0.0) for m in _leaves(tags.agg_regions, agg))
    return out


def _aggregate_areas(cad: dict[str, float], tags: ModelTags) -> dict[str, float]:
    out = dict(cad)
    for agg in tags.agg_interfaces:
        out[agg] = sum(cad.get(m, 0.0) for m in _leaves(tags.agg_interfaces, agg))
    return out


def _leaves(aggs, name):
    if name not in aggs:
        return [name]
    out = []
    for m in aggs[name]:
        out.extend(_leaves(aggs, m))
    return out


# ---------------------------------------------------------------------------------------
# porous particle
# ---------------------------------------------------------------------------------------


def _pack_in_ball(n, rp, R_centres, sep, rng, batch=256, tries=100):
    """n centres in the ball |c| <= R_centres, mutual distances >= sep (RSA + relaxation)."""
    out = np.zeros((n, 3))
    placed = 0
    for i in range(n):
        for _ in range(tries):
            cand = rng.uniform(-R_centres, R_centres, size=(batch, 3))
            cand = cand[np.linalg.norm(cand, axis=1) <= R_centres]
            if i:
                d = np.linalg.norm(cand[:, None, :] - out[None, :i, :], axis=2)
                cand = cand[np.all(d >= sep, axis=1)]
            if len(cand):
                out[i] = cand[0]
                placed += 1
                break
        else:
            break
    if placed == n:
        return out
    for i in range(placed, n):
        c = rng.normal(size=3)
        out[i] = c / np.linalg.norm(c) * R_centres * rng.uniform() ** (1 / 3)

    def project(c):
        r = np.linalg.norm(c, axis=1, keepdims=True)
        return np.where(r > R_centres, c * (R_centres / np.maximum(r, 1e-300)), c)

    radii = np.full(n, sep / 2 - 1e-9 * sep)
    if relax(out, radii, 2e-9 * sep, project, rng, 4000):
        return out
    raise PackingError(
        f"could not place {n} pores with {sep:.4g} m between centres (random sequential "
        "addition and relaxation failed); lower porosity or min_wall"
    )


def _line_distance(p1, d1, p2, d2) -> float:
    c = np.cross(d1, d2)
    nc = np.linalg.norm(c)
    if nc < 1e-9:
        w = p2 - p1
        return float(np.linalg.norm(w - (w @ d1) * d1))
    return float(abs((p2 - p1) @ c) / nc)


def plan_porous(spec: PorousParticle) -> dict:
    rng = np.random.default_rng(spec.seed)
    R, rp, w = spec.radius, spec.pore_radius, spec.wall
    V = 4 / 3 * math.pi * R**3
    if spec.pore_shape == "spherical":
        n = round(spec.porosity * (R / rp) ** 3)
        centres = _pack_in_ball(n, rp, R - rp - w, 2 * rp + w, rng)
        return {"centres": centres, "porosity_planned": n * (rp / R) ** 3}
    # channels: lines p + s d, |p| <= 0.6 R, kept 2 rp + w apart
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    vol = 0.0
    target = spec.porosity * V
    attempts = 0
    while vol < target:
        attempts += 1
        if attempts > 20000:
            raise PackingError(
                f"could not place channels for porosity = {spec.porosity} (reached "
                f"{vol / V:.3g}); lower porosity, pore_radius or min_wall"
            )
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        q = rng.normal(size=3)
        q -= (q @ d) * d
        q /= np.linalg.norm(q)
        rho = 0.6 * R * math.sqrt(rng.uniform())
        p = rho * q
        if any(_line_distance(p, d, p2, d2) < 2 * rp + w for p2, d2 in lines):
            continue
        v = math.pi * rp**2 * 2 * math.sqrt(R**2 - rho**2)
        if vol + v - target > target - vol and lines:
            break
        lines.append((p, d))
        vol += v
    return {"lines": [(p.tolist(), d.tolist()) for p, d in lines], "porosity_planned": vol / V}


def build_porous(spec: PorousParticle, plan: dict) -> BuildResult:
    import gmsh

    occ = _occ()
    R, rp = um(spec.radius), um(spec.pore_radius)
    ball = occ.addSphere(0, 0, 0, R)
    tools = []
    if spec.pore_shape == "spherical":
        for c in plan["centres"]:
            tools.append((3, occ.addSphere(*(um(x) for x in c), rp)))
    else:
        for p, d in plan["lines"]:
            p = np.array([um(x) for x in p])
            d = np.array(d)
            a = p - 1.2 * R * d
            tools.append((3, occ.addCylinder(*a, *(2.4 * R * d), rp)))
    _, maps = occ.fragment([(3, ball)], tools)
    occ.synchronize()
    in_ball = volumes_from_map(maps, 0)
    in_pore = set()
    for k in range(1, len(maps)):
        in_pore |= volumes_from_map(maps, k)
    outside = in_pore - in_ball
    if outside:
        occ.remove([(3, v) for v in outside], recursive=True)
        occ.synchronize()
    solid = in_ball - in_pore
    pores = in_ball & in_pore
    vol_leaf = {v: "particle_0" for v in solid} | {v: "pore" for v in pores}
    tags = ModelTags()
    tags.region("particle_0", sorted(solid))
    tags.region("pore", sorted(pores))
    tags.aggregate("particle", ["particle_0"])

    def rule(names, s):
        if names == ("particle_0",):
            return "outer_surface"
        if names == ("particle_0", "pore"):
            return "pore_wall"
        if names == ("pore",):
            return "pore_opening"
        return None

    surfs = classify_surfaces(vol_leaf, rule)
    for n in ("outer_surface", "pore_wall", "pore_opening"):
        if n in surfs:
            tags.interface(n, surfs[n])
    tags.aggregate("particle_electrolyte", [n for n in ("outer_surface", "pore_wall") if n in surfs], dim=2)
    cad = cad_volumes(vol_leaf)
    area = cad_areas(surfs)
    V = 4 / 3 * math.pi * spec.radius**3
    info = {
        "particle_centres": [[0.0, 0.0, 0.0]],
        "particle_radii": [spec.radius],
        "pore_shape": spec.pore_shape,
        "pore_radius": spec.pore_radius,
        "porosity_target": spec.porosity,
        "porosity_planned": plan["porosity_planned"],
        "porosity_cad": cad.get("pore", 0.0) / V,
        "num_pores": len(tools),
        "exact_volume": _aggregate_volumes(cad, tags),
        "exact_area": _aggregate_areas(area, tags),
    }
    if spec.pore_shape == "spherical":
        info["pore_centres"] = np.asarray(plan["centres"]).tolist()
    else:
        info["channels"] = [{"point": p, "direction": d} for p, d in plan["lines"]]
    del gmsh
    return BuildResult(tags=tags, info=info)


# ---------------------------------------------------------------------------------------
# secondary particle (Voronoi grains)
# ---------------------------------------------------------------------------------------


def plan_secondary(spec: SecondaryParticle) -> dict:
    rng = np.random.default_rng(spec.seed)
    R, n = spec.radius, spec.n_grains
    dmin = 0.6 * spec.grain_size()
    seeds = np.zeros((n, 3))
    k = 0
    for _ in range(100000):
        c = rng.uniform(-R, R, 3)
        if np.linalg.norm(c) > 0.92 * R:
            continue
        if k and np.min(np.linalg.norm(seeds[:k] - c, axis=1)) < dmin:
            continue
        seeds[k] = c
        k += 1
        if k == n:
            break
    else:  # pragma: no cover - dmin is well below the jamming limit
        raise PackingError(f"could not place {n} Voronoi seeds")
    rots = [uniform_rotation(rng) for _ in range(n)]
    return {"seeds": seeds, "rotations": rots}


def _halfspace_box(point, normal, L):
    """A box covering {x : (x - point) . normal >= 0} within distance L of point."""
    occ = _occ()
    b = occ.addBox(0, -L, -L, L, 2 * L, 2 * L)
    n = np.asarray(normal, float)
    n /= np.linalg.norm(n)
    ex = np.array([1.0, 0, 0])
    axis = np.cross(ex, n)
    s = np.linalg.norm(axis)
    ang = math.atan2(s, ex @ n)
    if s > 1e-12:
        occ.rotate([(3, b)], 0, 0, 0, *(axis / s), ang)
    elif ex @ n < 0:
        occ.rotate([(3, b)], 0, 0, 0, 0, 0, 1, math.pi)
    occ.translate([(3, b)], *point)
    return b


def build_secondary(spec: SecondaryParticle, plan: dict) -> BuildResult:
    occ = _occ()
    R = um(spec.radius)
    seeds = np.asarray(plan["seeds"]) / MODEL_UNIT
    n = len(seeds)
    L = 4 * R
    grains = []
    for i in range(n):
        cell = occ.addSphere(0, 0, 0, R)
        dist = np.linalg.norm(seeds - seeds[i], axis=1)
        reach = 2 * R  # bound on max |x - s_i| over the current cell
        # cut by the bisector half-spaces one at a time, nearest first (one OCC boolean
        # with many overlapping tools is far slower); a plane at distance d/2 from s_i
        # cannot cut a cell that lies within ``reach`` < d/2 of s_i
        for j in np.argsort(dist):
            if j == i or dist[j] / 2 >= reach:
                continue
            tool = _halfspace_box((seeds[i] + seeds[j]) / 2, seeds[j] - seeds[i], L)
            res, _ = occ.cut([(3, cell)], [(3, tool)])
            if len(res) != 1:
                raise RuntimeError(f"Voronoi cell {i} became {len(res)} pieces")
            cell = res[0][1]
            bb = np.array(occ.getBoundingBox(3, cell))
            corners = np.array([[bb[a], bb[b], bb[c]] for a in (0, 3) for b in (1, 4) for c in (2, 5)])
            reach = float(np.max(np.linalg.norm(corners - seeds[i], axis=1)))
        grains.append(cell)
    _, maps = occ.fragment([(3, g) for g in grains], [])
    occ.synchronize()
    vol_leaf: dict[int, str] = {}
    tags = ModelTags()
    for i in range(n):
        vs = volumes_from_map(maps, i)
        if len(vs) != 1:
            raise RuntimeError(f"grain {i} maps to volumes {vs} after fragment")
        v = vs.pop()
        vol_leaf[v] = f"grain_{i}"
        tags.region(f"grain_{i}", [v])
    tags.aggregate("particle", [f"grain_{i}" for i in range(n)])
    tags.aggregate("particle_0", [f"grain_{i}" for i in range(n)])

    def rule(names, s):
        return "particle_electrolyte" if len(names) == 1 else "grain_boundary"

    surfs = classify_surfaces(vol_leaf, rule)
    for k in ("particle_electrolyte", "grain_boundary"):
        tags.interface(k, surfs[k])
    cad = cad_volumes(vol_leaf)
    orient = []
    for Rm in plan["rotations"]:
        orient.append({"rotation": np.asarray(Rm).tolist(), "euler_bunge_rad": list(bunge_euler(np.asarray(Rm)))})
    info = {
        "particle_centres": [[0.0, 0.0, 0.0]],
        "particle_radii": [spec.radius],
        "num_grains": n,
        "grain_seeds": np.asarray(plan["seeds"]).tolist(),
        "grain_orientations": orient,
        "orientation_convention": "rotation maps crystal axes to sample axes; Bunge Z-X-Z, R = Rz(phi1) Rx(Phi) Rz(phi2)",
        "exact_volume": _aggregate_volumes(cad, tags),
        "exact_area": cad_areas(surfs),
    }
    return BuildResult(tags=tags, info=info)


# ---------------------------------------------------------------------------------------
# composite electrode and half-cell
# ---------------------------------------------------------------------------------------


def image_shifts(c, r, W, D) -> list[np.ndarray]:
    """In-plane periodic shifts (a W, b D, 0) whose copy of the ball (c, r) meets the box."""
    out = []
    for a in (0, -1, 1):
        for b in (0, -1, 1):
            x, y = c[0] + a * W, c[1] + b * D
            if x - r < W and x + r > 0 and y - r < D and y + r > 0:
                out.append(np.array([a * W, b * D, 0.0]))
    return out


def plan_electrode(spec: Electrode) -> dict:
    """Particle sizes/positions and binder geometry (pure numpy, deterministic by seed).

    The packing is periodic in x and y: a particle crossing a lateral face continues on
    the opposite face (its pieces form one region ``particle_i``), so that the box has
    no wall effect in-plane; binder necks follow the same images.
    """
    rng = np.random.default_rng(spec.seed)
    W, D, T = spec.width, spec.depth, spec.thickness
    L = np.array([W, D, T])
    lo = np.zeros(3)
    if spec.particles:
        radii = np.array([p.radius for p in spec.particles])
        centres = np.array([p.centre for p in spec.particles], float)
    else:
        radii = sample_radii(spec.radius_distribution, spec.volume_fraction * spec.box_volume(), rng)
        centres = pack_spheres(radii, L, spec.g(), spec.g_wall(), rng)
    n = len(radii)
    plan: dict = {"radii": radii, "centres": centres}
    plan["active_fraction_planned"] = float(np.sum(4 / 3 * math.pi * radii**3) / spec.box_volume())
    plan["min_gap"] = min_clearance(centres, radii, L)
    if spec.binder_fraction <= 0:
        plan["binder"] = None
        return plan
    target = spec.binder_fraction
    rmin = float(radii.min())
    spacing = min(rmin / 8, (spec.box_volume() / 1.5e6) ** (1 / 3))
    vs = VoxelSampler(lo, L, spacing, rng)
    solid = vs.mask()
    for c, r in zip(centres, radii):
        for sh in image_shifts(c, r, W, D):
            vs.paint_sphere(solid, c + sh, r)
    if spec.binder_morphology == "coating":
        plan["binder"] = _solve_coating(spec, centres, radii, vs, solid, target)
        return plan
    # necks: a binder ball of radius R = k s (s = smaller radius) centred in the middle of
    # every gap below neck_gap (pairs with in-plane images; bridges to z = 0 centred on
    # the collector below the particle), minus the particles: a fillet joining the two
    # surfaces. A neck exists only when R >= 0.65 gap (it must reach both surfaces).
    G = spec.neck_gap()
    cand = []  # (centre of the ball, scale, k_min, label)
    I, J, S = _pairs(centres, radii, G, L)
    for i, j, sh in zip(I, J, S):
        p0, p1 = centres[i], centres[j] + sh
        dvec = p1 - p0
        dn = float(np.linalg.norm(dvec))
        gap_ = dn - radii[i] - radii[j]
        m = p0 + (radii[i] + gap_ / 2) * dvec / dn
        sc = float(min(radii[i], radii[j]))
        cand.append((m, sc, 0.65 * gap_ / sc, ("pair", int(i), int(j))))
    for i in range(n):
        gz = centres[i, 2] - radii[i]
        if gz < G:
            m = np.array([centres[i, 0], centres[i, 1], 0.0])
            cand.append((m, float(radii[i]), 1.3 * gz / radii[i], ("collector", i)))
    if not cand:
        raise PackingError(
            f"binder_fraction = {target}: no particle pair or collector gap is below "
            f"neck_max_gap = {G:.4g} m, so no binder necks can be made; raise neck_max_gap "
            "or use binder_morphology = 'coating'"
        )
    kmax = 0.8
    # a neck ball must not cross a lateral face or the electrode top (near-tangent cuts
    # of balls and particle circles on a face give slivers): it is kept only while
    # R = k s <= (distance of its centre to those faces) - 0.1 s  ->  k <= k_face
    # a neck ball must not be nearly tangent to a face: it either stays 0.1 s away from
    # the lateral faces or crosses them deeply (centre within 0.7 R; the ball continues
    # periodically), and never crosses the electrode top or (pair necks) the collector
    # plane. With R = k s this makes k-ranges: valid(k) = k_min <= k <= k_z and
    # (k <= k_lo or k >= k_hi).
    rich = []
    for m0, sc, kmin, lab in cand:
        mw = np.array([m0[0] % W, m0[1] % D, m0[2]])
        fl = min(mw[0], W - mw[0], mw[1], D - mw[1])
        kz = (min(T - mw[2], mw[2]) - 0.1 * sc) / sc if lab[0] == "pair" else math.inf
        klo, khi = (fl - 0.1 * sc) / sc, fl / (0.7 * sc)
        if kmin > min(kmax, kz) or (kmin > klo and khi > min(kmax, kz)):
            continue
        # voxel indices within kmax s of the centre and its images, with distance / s
        gis, rrs = [], []
        for sh in image_shifts(mw, kmax * sc, W, D):
            c = mw + sh
            sl = vs._slices(c - kmax * sc, c + kmax * sc)
            if sl is None:
                continue
            X, Y, Z = vs._grid(sl)
            rr = (np.sqrt((X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2) / sc).ravel()
            idx = np.indices(X.shape).reshape(3, -1)
            gidx = np.ravel_multi_index(tuple(idx[a] + sl[a].start for a in range(3)), tuple(vs.n))
            keep = (rr <= kmax) & ~solid.ravel()[gidx]
            gis.append(gidx[keep])
            rrs.append(rr[keep])
        if not gis:
            continue
        rich.append((mw, sc, kmin, (kz, klo, khi), lab, np.concatenate(gis), np.concatenate(rrs)))
    if not rich:
        raise PackingError(
            f"binder_fraction = {target}: no particle pair or collector gap is below "
            f"neck_max_gap = {G:.4g} m; raise neck_max_gap or use binder_morphology = 'coating'"
        )
    ntot = int(vs.n.prod())

    def frac(kk):
        m = np.zeros(ntot, bool)
        for r in rich:
            if _neck_valid(r, kk):
                m[r[5][r[6] <= kk]] = True
        return m.sum() / ntot

    ks = np.arange(0.05, kmax + 1e-9, 0.01)
    fr = np.array([frac(kk) for kk in ks])
    above = np.flatnonzero(fr >= target)
    if above.size == 0:
        raise PackingError(
            f"binder_fraction = {target} not reachable with necks (at most {fr.max():.3g} with "
            f"neck radius <= {kmax} x particle radius and neck_max_gap = {G:.4g} m); raise "
            "neck_max_gap, lower binder_fraction or use binder_morphology = 'coating'"
        )
    a = ks[above[0] - 1] if above[0] > 0 else 0.0
    b = ks[above[0]]
    for _ in range(12):
        mid = 0.5 * (a + b)
        if frac(mid) < target:
            a = mid
        else:
            b = mid
    k = _untangle(b, frac, target, rich, centres, radii, L, spec.h_interface())
    chosen = [r for r in rich if _neck_valid(r, k)]
    frac_k = float(frac(k))
    segs = [(r[0], r[0], r[4]) for r in chosen]
    scale = np.array([r[1] for r in chosen])
    plan["binder"] = {
        "morphology": "necks",
        "segments": [(np.asarray(p0).tolist(), np.asarray(p1).tolist(), lab) for p0, p1, lab in segs],
        "shape": "ball at the gap centre (or on the collector below the particle), minus particles",
        "radii": (k * scale).tolist(),
        "neck_factor": float(k),
        "fraction_planned": frac_k,
    }
    return plan


def _neck_valid(r, k) -> bool:
    """Whether neck ``r`` (see plan_electrode) exists at neck factor k."""
    kz, klo, khi = r[3]
    return r[2] <= k <= kz and (k <= klo or k >= khi)


def tangency_clearance(k, rich, centres, radii, L) -> float:
    """Smallest distance from tangency among neck balls (R = k s) and particles [m].

    Near-tangent surfaces make tiny CAD edges and slivers. Events: ball-ball and
    ball-particle (with in-plane images) |d - (R1 + R2)| and |d - |R1 - R2||, and on a
    particle p of radius r_p the intersection circles of two balls (angular radii
    cos(theta) = (r_p^2 + d^2 - R^2) / (2 r_p d)) whose angular separation psi is close to
    theta_a + theta_b or |theta_a - theta_b| (clearance r_p |psi - ...|).
    """
    balls = [(r[0], k * r[1]) for r in rich if _neck_valid(r, k)]
    if not balls:
        return math.inf
    cb = np.array([b[0] for b in balls])
    Rb = np.array([b[1] for b in balls])
    out = math.inf
    d = np.linalg.norm(cb[:, None, :] - cb[None, :, :], axis=2)
    iu = np.triu_indices(len(balls), 1)
    near = d[iu] < (Rb[:, None] + Rb[None, :])[iu] + 1e-3
    if near.any():
        dd = d[iu][near]
        s_ = (Rb[:, None] + Rb[None, :])[iu][near]
        df = np.abs(Rb[:, None] - Rb[None, :])[iu][near]
        out = min(out, float(np.min(np.abs(dd - s_))), float(np.min(np.abs(dd - df))))
    for sh in lateral_shifts(L):
        cp = centres + sh
        dp = np.linalg.norm(cb[:, None, :] - cp[None, :, :], axis=2)  # balls x particles
        touch = dp < Rb[:, None] + radii[None, :]
        if not touch.any():
            continue
        a = np.abs(dp - (Rb[:, None] + radii[None, :]))[touch]
        b = np.abs(dp - np.abs(Rb[:, None] - radii[None, :]))[touch]
        out = min(out, float(a.min()), float(b.min()))
        # the ball-particle intersection circle must not touch a lateral face plane
        ia, ip = np.nonzero(touch)
        dv = cp[ip] - cb[ia]
        dn = np.linalg.norm(dv, axis=1)
        nv = dv / dn[:, None]
        xa = (dn**2 + Rb[ia] ** 2 - radii[ip] ** 2) / (2 * dn)
        rho = np.sqrt(np.maximum(Rb[ia] ** 2 - xa**2, 0.0))
        q = cb[ia] + xa[:, None] * nv
        for k_, Lk in ((0, L[0]), (1, L[1])):
            reach = rho * np.sqrt(np.maximum(1 - nv[:, k_] ** 2, 0.0))
            for plane in (0.0, Lk):
                dplane = np.abs(q[:, k_] - plane)
                near = dplane < reach + 0.5 * Rb[ia]
                if near.any():
                    out = min(out, float(np.min(np.abs(dplane - reach)[near])))
        for pj in np.flatnonzero(touch.any(axis=0)):
            ia = np.flatnonzero(touch[:, pj])
            if ia.size < 2:
                continue
            rp = radii[pj]
            v = cb[ia] - cp[pj]
            dn = np.linalg.norm(v, axis=1)
            cos_t = np.clip((rp**2 + dn**2 - Rb[ia] ** 2) / (2 * rp * dn), -1, 1)
            th = np.arccos(cos_t)
            u = v / dn[:, None]
            psi = np.arccos(np.clip(u @ u.T, -1, 1))
            ii, jj = np.triu_indices(ia.size, 1)
            e1 = np.abs(psi[ii, jj] - (th[ii] + th[jj]))
            e2 = np.abs(psi[ii, jj] - np.abs(th[ii] - th[jj]))
            out = min(out, float(rp * min(e1.min(), e2.min())))
    return out


def _untangle(k0, frac, target, rich, centres, radii, L, h) -> float:
    """A neck factor near k0 whose fraction is within 0.003 of the target and whose
    tangency clearance is largest (or at least 0.3 h)."""
    best, best_c = k0, tangency_clearance(k0, rich, centres, radii, L)
    if best_c >= 0.3 * h:
        return k0
    for kk in k0 * (1 + np.concatenate([[0], np.ravel(np.column_stack([np.arange(1, 41), -np.arange(1, 41)]))]) * 0.004):
        if abs(frac(kk) - target) > 0.003:
            continue
        c = tangency_clearance(kk, rich, centres, radii, L)
        if c > best_c:
            best, best_c = kk, c
        if c >= 0.3 * h:
            break
    return float(best)


def _solve_coating(spec, centres, radii, vs: VoxelSampler, solid, target) -> dict:
    """Coating thickness t with vol({0 < dist to nearest particle <= t}) = target V_box."""
    W, D = spec.width, spec.depth
    tmax = float(radii.max())
    dmin = np.full(tuple(vs.n), np.inf)
    for c0, r in zip(centres, radii):
        for sh in image_shifts(c0, r + tmax, W, D):
            c = c0 + sh
            sl = vs._slices(c - r - tmax, c + r + tmax)
            if sl is None:
                continue
            X, Y, Z = vs._grid(sl)
            dd = np.sqrt((X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2) - r
            np.minimum(dmin[sl], dd, out=dmin[sl])
    pos = np.sort(dmin[(dmin > 0) & np.isfinite(dmin)])
    ntot = dmin.size
    need = int(round(target * ntot))
    if need >= pos.size:
        raise PackingError(f"binder_fraction = {target} not reachable with a coating")
    t0 = float(pos[need])
    # avoid near-tangent shells (shell-shell and shell-face), which make slivers
    L = np.array([W, D, spec.thickness])
    I, J, S = _pairs(centres, radii, 4 * t0, L)
    events = list((np.linalg.norm(centres[I] - centres[J] - S, axis=1) - radii[I] - radii[J]) / 2)
    for c, r in zip(centres, radii):
        events += [c[2] - r, spec.thickness - c[2] - r]
        for k in (0, 1):
            x = c[k] % L[k]
            events += [abs(min(x, L[k] - x) - r)]
    events = np.array(events)
    h = spec.h_interface()
    best, best_c = t0, -1.0
    for t in np.linspace(0.85 * t0, 1.15 * t0, 61):
        f = np.searchsorted(pos, t, side="right") / ntot
        if abs(f - target) > 0.003:
            continue
        c = float(np.min(np.abs(events - t))) if events.size else np.inf
        if c > best_c + 1e-15:
            best, best_c = t, c
        if c > 0.25 * h:
            best = t
            break
    f = np.searchsorted(pos, best, side="right") / ntot
    return {"morphology": "coating", "thickness": float(best), "fraction_planned": float(f), "clearance": best_c}


def build_electrode(spec: Electrode, plan: dict) -> BuildResult:
    import gmsh

    occ = _occ()
    half = isinstance(spec, HalfCell)
    W, D, T, tcc = (um(x) for x in (spec.width, spec.depth, spec.thickness, spec.collector_thickness))
    centres = np.asarray(plan["centres"]) / MODEL_UNIT
    radii = np.asarray(plan["radii"]) / MODEL_UNIT
    n = len(radii)
    box = occ.addBox(0, 0, 0, W, D, T)
    cc = occ.addBox(0, 0, -tcc, W, D, tcc)
    objs = [(3, box), (3, cc)]
    if half:
        ts = um(spec.separator_thickness)
        sep = occ.addBox(0, 0, T, W, D, ts)
        objs.append((3, sep))
    # particles: one OCC ball per in-plane image meeting the box, clipped to the box
    bplan = plan.get("binder")
    neck_dirs: list[list[np.ndarray]] = [[] for _ in range(n)]
    necks_um = []
    if bplan is not None and bplan["morphology"] == "necks":
        for (p0, _p1, lab), rb in zip(bplan["segments"], bplan["radii"]):
            necks_um.append((np.asarray(p0) / MODEL_UNIT, um(rb), lab))
    for i in range(n):
        # directions from the particle to neck balls, other particles and faces nearby
        for m, rb, lab in necks_um:
            for sh in image_shifts(m, rb, W, D):
                v = _nearest_image(m + sh - centres[i], W, D)
                if np.linalg.norm(v) < radii[i] + rb:
                    neck_dirs[i].append(v)
        for j in range(n):
            if j != i:
                v = _nearest_image(centres[j] - centres[i], W, D)
                if np.linalg.norm(v) < radii[i] + radii[j] + 2 * um(spec.h_interface()):
                    neck_dirs[i].append(v)
        for k_ in (0, 1):
            if centres[i, k_] - radii[i] < 0 or centres[i, k_] + radii[i] > (W, D)[k_]:
                neck_dirs[i].append(np.eye(3)[k_])
    part_pieces: list[list[int]] = []
    for i, (c, r) in enumerate(zip(centres, radii)):
        shifts = image_shifts(c, r, W, D)
        axis = _pole_axis(neck_dirs[i])
        balls = [(3, _add_sphere(occ, c + sh, r, axis)) for sh in shifts]
        crosses = len(shifts) > 1 or np.any(c[:2] - r < 0) or np.any(c[:2] + r > (W, D))
        if crosses:
            clip = occ.addBox(0, 0, 0, W, D, T)
            out, _ = occ.intersect(balls, [(3, clip)])
            part_pieces.append([t for d, t in out if d == 3])
        else:
            part_pieces.append([balls[0][1]])
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
            for m, rb, lab in necks_um:
                dirs = [_nearest_image(centres[q] - m, W, D) for q in lab[1:2]]
                if lab[0] == "pair":
                    dirs.append(_nearest_image(centres[lab[2]] - m, W, D))
                else:
                    dirs.append(np.array([0.0, 0.0, 1.0]))
                axis = _pole_axis(dirs)
                for sh in image_shifts(m, rb, W, D):
                    binder_tools.append((3, _add_sphere(occ, m + sh, rb, axis)))
    if binder_tools and CUT_BINDER_FIRST:
        # remove the parts of the binder tools inside particles first: no cylinder tips
        # or shell cores inside the particles (they would make thin slabs and slivers)
        binder_tools, _ = occ.cut(binder_tools, [(3, p) for p in parts], removeObject=True, removeTool=False)
    tools = [(3, p) for p in parts] + binder_tools
    _, maps = occ.fragment(objs, tools)
    occ.synchronize()
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
    first_binder = off + len(parts)
    vol_leaf: dict[int, str] = {}
    outside = []
    for v, own in owners.items():
        parts_here = [piece_owner[o] for o in own if o in piece_owner]
        if parts_here:
            if len(set(parts_here)) > 1:
                raise RuntimeError(f"particles {sorted(set(parts_here))} overlap")
            vol_leaf[v] = f"particle_{parts_here[0]}"
        elif 1 in own:
            vol_leaf[v] = "current_collector"
        elif 0 in own:
            vol_leaf[v] = "binder" if any(o >= first_binder for o in own) else "electrolyte"
        elif half and 2 in own:
            vol_leaf[v] = "separator"
        else:
            outside.append(v)
    if outside:
        occ.remove([(3, v) for v in outside], recursive=True)
        occ.synchronize()
    # every volume of the model must be named (the fragment may not create strays)
    for _, v in gmsh.model.getEntities(3):
        if v not in vol_leaf:
            raise RuntimeError(f"volume {v} is not part of any input")
    # electronic connectivity: particles, binder and collector volumes sharing a surface
    def conductive_graph():
        conductive = {v for v, nme in vol_leaf.items() if nme != "electrolyte" and nme != "separator"}
        adj: dict[int, set[int]] = {v: set() for v in conductive}
        for _, s in gmsh.model.getEntities(2):
            up, _ = gmsh.model.getAdjacencies(2, s)
            up = [int(u) for u in up]
            if len(up) == 2 and up[0] in conductive and up[1] in conductive:
                adj[up[0]].add(up[1])
                adj[up[1]].add(up[0])
        return conductive, adj

    def reach(adj, seeds):
        reached, stack = set(seeds), list(seeds)
        while stack:
            v = stack.pop()
            for w in adj[v]:
                if w not in reached:
                    reached.add(w)
                    stack.append(w)
        return reached

    # Binder pieces that touch no particle and no collector (remnants of a neck cut by the
    # particles) carry no current and have no defined potential: a floating, singular block
    # of the potential equations. They are pore space for the physics: merged into the
    # electrolyte, their volume reported.
    conductive, adj = conductive_graph()
    anchored = reach(adj, [v for v in conductive if vol_leaf[v] != "binder"])
    isolated_binder = sorted(v for v in conductive if vol_leaf[v] == "binder" and v not in anchored)
    isolated_binder_volume = sum(occ.getMass(3, v) for v in isolated_binder) * MODEL_UNIT**3
    for v in isolated_binder:
        vol_leaf[v] = "electrolyte"
    conductive, adj = conductive_graph()
    reached = reach(adj, [v for v in conductive if vol_leaf[v] == "current_collector"])
    # a particle counts as connected only when every piece of it is
    not_connected = sorted(
        {int(vol_leaf[v][9:]) for v in conductive if vol_leaf[v].startswith("particle_") and v not in reached}
    )

    tags = ModelTags()
    order = [f"particle_{i}" for i in range(n)] + ["binder", "electrolyte", "current_collector", "separator"]
    by_leaf: dict[str, list[int]] = {}
    for v, name in vol_leaf.items():
        by_leaf.setdefault(name, []).append(v)
    for name in order:
        if name in by_leaf:
            tags.region(name, sorted(by_leaf[name]))
    tags.aggregate("particle", [f"particle_{i}" for i in range(n)])
    if half:
        tags.aggregate("electrolyte_domain", ["electrolyte", "separator"])

    eps = 1e-6 * max(W, D, T)
    ztop = T + (um(spec.separator_thickness) if half else 0.0)

    def rule(names, s):
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
        _, bb = _bbox_centre(2, s)
        if abs(bb[2] + tcc) < eps and abs(bb[5] + tcc) < eps:
            return "collector_bottom"
        if abs(bb[2] - ztop) < eps and abs(bb[5] - ztop) < eps:
            if half:
                return "lithium_separator"
            return {"electrolyte": "separator_electrolyte", "binder": "separator_binder"}.get(a, "electrode_top_other")
        return "side"

    surfs = classify_surfaces(vol_leaf, rule)
    if "electrode_top_other" in surfs:
        raise RuntimeError("a particle touches the electrode top")
    iface_order = (
        [f"particle_{i}_electrolyte" for i in range(n)]
        + [f"particle_{i}_binder" for i in range(n)]
        + ["binder_electrolyte", "collector_electrolyte", "collector_binder", "collector_particle",
           "separator_electrolyte", "separator_binder", "lithium_separator", "side", "collector_bottom"]
    )  # fmt: skip
    for name in iface_order:
        if name in surfs:
            tags.interface(name, surfs[name])

    def agg(name, members):
        present = [m for m in members if m in surfs]
        if present:
            tags.aggregate(name, present, dim=2)

    agg("particle_electrolyte", [f"particle_{i}_electrolyte" for i in range(n)])
    agg("particle_binder", [f"particle_{i}_binder" for i in range(n)])
    agg("collector_electrode", ["collector_electrolyte", "collector_binder", "collector_particle"])
    agg("electrode_separator", ["separator_electrolyte", "separator_binder"])

    cad = cad_volumes(vol_leaf)
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
        "particles_not_connected": not_connected,
        "isolated_binder_merged_into_electrolyte": {"pieces": len(isolated_binder), "volume": isolated_binder_volume},
        "exact_volume": _aggregate_volumes(cad, tags),
        "exact_area": _aggregate_areas(areas, tags),
    }  # fmt: skip
    if bplan is not None and bplan["morphology"] == "necks":
        info["binder"]["num_necks"] = sum(1 for s in bplan["segments"] if s[2][0] == "pair")
        info["binder"]["num_bridges"] = sum(1 for s in bplan["segments"] if s[2][0] == "collector")
        info["binder"].pop("radii", None)
        rho = np.asarray(bplan["radii"])
        info["binder"]["neck_radius_min"] = float(rho.min())
        info["binder"]["neck_radius_max"] = float(rho.max())

    # size fields: refine particle and binder interfaces; small balls at close contacts
    # (region Constant fields are cheap: particles and binder get h_i inside and on their
    # boundary; a Distance field over hundreds of surfaces is slow to evaluate)
    refine: list[str] = []
    extra = []
    f = gmsh.model.mesh.field
    hi = um(spec.h_interface())
    for i in range(n):
        for j in range(i + 1, n):
            dvec = _nearest_image(centres[j] - centres[i], W, D)
            dij = float(np.linalg.norm(dvec))
            g = dij - radii[i] - radii[j]
            if g < 2 * hi:
                m = centres[i] + (radii[i] + g / 2) * dvec / dij
                rb = float(0.2 * min(radii[i], radii[j]))
                for sh in image_shifts(m, rb + hi, W, D):
                    b = f.add("Ball")
                    for key, val in zip(("XCenter", "YCenter", "ZCenter"), m + sh):
                        f.setNumber(b, key, float(val))
                    f.setNumber(b, "Radius", rb)
                    f.setNumber(b, "Thickness", float(hi))
                    f.setNumber(b, "VIn", float(max(2 * g, hi / 2)))
                    f.setNumber(b, "VOut", 1e22)
                    extra.append(b)
    res = BuildResult(tags=tags, info=info, refine_interfaces=refine, extra_fields=extra, algorithm3d=1)
    res.region_sizes = {"particle": spec.h_interface()}
    if bplan is not None:
        hi_m = spec.h_interface()
        if bplan["morphology"] == "coating":  # about one element across the shell
            res.region_sizes["binder"] = min(hi_m, max(bplan["thickness"], hi_m / 2))
        else:
            res.region_sizes["binder"] = min(hi_m, max(min(bplan["radii"]) / 2, hi_m / 3))
    return res


_FIB = None


def _pole_axis(dirs) -> np.ndarray:
    """A unit axis far from every direction in ``dirs`` (max |a . u| minimal).

    OpenCASCADE spheres have degenerate poles on their z axis; an intersection curve
    passing near a pole gives unmeshable surface patches, so the poles are turned away
    from the contacts and necks.
    """
    global _FIB
    if _FIB is None:
        n = 200
        k = np.arange(n) + 0.5
        phi = np.arccos(1 - k / n)  # upper hemisphere suffices (axis, both poles)
        th = np.pi * (1 + 5**0.5) * k
        _FIB = np.column_stack([np.cos(th) * np.sin(phi), np.sin(th) * np.sin(phi), np.cos(phi)])
    if len(dirs) == 0:
        return np.array([0.0, 0.0, 1.0])
    U = np.asarray(dirs, float)
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    score = np.max(np.abs(_FIB @ U.T), axis=1)
    return _FIB[int(np.argmin(score))]


def _add_sphere(occ, c, r, axis) -> int:
    """OCC sphere with its pole axis turned from z to ``axis``."""
    t = occ.addSphere(*c, r)
    ez = np.array([0.0, 0.0, 1.0])
    ax = np.cross(ez, axis)
    sn = float(np.linalg.norm(ax))
    if sn > 1e-9:
        occ.rotate([(3, t)], *c, *(ax / sn), math.atan2(sn, float(ez @ axis)))
    return t


def _nearest_image(v, W, D):
    v = np.array(v, float)
    v[0] -= W * round(v[0] / W)
    v[1] -= D * round(v[1] / D)
    return v


CUT_BINDER_FIRST = True

PLANS = {
    "porous_particle": plan_porous,
    "secondary_particle": plan_secondary,
    "electrode": plan_electrode,
    "half_cell": plan_electrode,
}

BUILDERS = {
    "porous_particle": build_porous,
    "secondary_particle": build_secondary,
    "electrode": build_electrode,
    "half_cell": build_electrode,
}
