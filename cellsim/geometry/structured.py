"""Structured single particles: porous particles (pores or channels) and secondary
particles (Voronoi grains with crystal orientations).

Each kind has a *plan* (pure numpy, seeded, before gmsh) and a *build* step
(OpenCASCADE in micrometres on rank 0). Volumes are identified from the fragment output
map; surfaces are named from the regions on their two sides
(:func:`~cellsim.geometry.gmsh_model.classify_surfaces`).
"""

from __future__ import annotations

import math

import numpy as np

from cellsim.geometry.base import MODEL_UNIT, BuildResult, ModelTags, um
from cellsim.geometry.gmsh_model import (
    aggregate_areas,
    aggregate_volumes,
    cad_areas,
    cad_volumes,
    classify_surfaces,
    volumes_from_map,
)
from cellsim.geometry.gmsh_model import occ as _occ
from cellsim.geometry.packing import PackingError, bunge_euler, euler_to_matrix, relax, uniform_rotation
from cellsim.geometry.spec_particles import (
    POROSITY_TOL, PorousParticle, SecondaryParticle, channel_counts, channel_offsets, channel_volume,
    porosity_unreachable,
)


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
    # channels: lines p + s d, |p| <= 0.6 R, kept 2 rp + w apart, added at random until the
    # next one would overshoot; if that lands more than POROSITY_TOL off the target (long
    # channels in a small particle), the equal-offset plan (plan_channels_exact)
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    vol = 0.0
    target = spec.porosity * V
    attempts = 0
    while vol < target:
        attempts += 1
        if attempts > 20000:
            break
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
    got = sum(channel_volume(R, rp, float(np.linalg.norm(p))) for p, _ in lines) / V
    if abs(got - spec.porosity) > POROSITY_TOL * spec.porosity:
        exact = plan_channels_exact(spec, rng)
        if exact is None:
            raise PackingError(porosity_unreachable(spec, got))
        lines, got = exact
    return {"lines": [(np.asarray(p).tolist(), np.asarray(d).tolist()) for p, d in lines], "porosity_planned": got}


def plan_channels_exact(spec, rng, tries: int = 4000):
    """k channels, all at the one axis offset rho whose channel volume is the one of
    :func:`channel_counts` (bisection: the volume falls with the offset), random directions,
    axes kept 2 r_p + min_wall apart. Returns (lines, porosity) or None."""
    R, rp, w = spec.radius, spec.pore_radius, spec.wall
    V = 4 / 3 * math.pi * R**3
    rho_max = channel_offsets(spec)[0]
    for k, vk in channel_counts(spec):
        lo, hi = 0.0, rho_max
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if channel_volume(R, rp, mid) > vk else (lo, mid)
        rho = 0.5 * (lo + hi)
        lines: list = []
        for _ in range(tries):
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            q = rng.normal(size=3)
            q -= (q @ d) * d
            p = rho * q / np.linalg.norm(q)
            if all(_line_distance(p, d, p2, d2) >= 2 * rp + w for p2, d2 in lines):
                lines.append((p, d))
                if len(lines) == k:
                    return lines, k * channel_volume(R, rp, rho) / V
    return None


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
        "exact_volume": aggregate_volumes(cad, tags),
        "exact_area": aggregate_areas(area, tags),
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
    return {"seeds": seeds, "rotations": grain_rotations(spec.orientations, spec.euler, seeds, rng)}


def radial_rotation(s, u: float) -> np.ndarray:
    """The crystal-to-sample rotation of a grain seeded at ``s`` (relative to the particle
    centre) in a radial texture: crystal a-axis [100] = the radial direction r = s/|s|
    (the x axis for a seed within 1e-9 m of the centre), c-axis [001] = cos(2 pi u) e1 + sin(2 pi u) e2
    with e1 = z x r / |z x r| (x x r where r is along z) and e2 = r x e1, b = c x a; so the
    a-b (lithium) layers contain the radius and the c-axis is tangential (the texture of radially
    aligned primary particles; sources in docs/multiscale.md section 13)."""
    s = np.asarray(s, float)
    n = np.linalg.norm(s)
    r = s / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross([0.0, 0.0, 1.0], r)
    if np.linalg.norm(e1) < 1e-6:
        e1 = np.cross([1.0, 0.0, 0.0], r)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(r, e1)
    c = math.cos(2 * math.pi * u) * e1 + math.sin(2 * math.pi * u) * e2
    return np.column_stack([r, np.cross(c, r), c])


def grain_rotations(orientations, euler, seeds, rng) -> list[np.ndarray]:
    """One rotation per grain (seeds relative to the particle centre) by the ``orientations``
    key: 'random' draws them from ``rng`` after the seeds (as before the key existed),
    'radial' (:func:`radial_rotation`, the spins from ``rng``), 'aligned' (``euler`` in degrees
    for all), or a list of Bunge Euler triples in degrees."""
    n = len(seeds)
    if orientations == "random":
        return [uniform_rotation(rng) for _ in range(n)]
    if orientations == "radial":
        return [radial_rotation(s, rng.uniform()) for s in seeds]
    triples = [euler] * n if orientations == "aligned" else list(orientations)
    return [euler_to_matrix(*np.radians(np.asarray(t, float))) for t in triples]


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


def voronoi_cells(make_ball, seeds, R) -> list[int]:
    """OCC volumes of the Voronoi cells of ``seeds`` (model units) clipped to the ball that
    ``make_ball()`` adds (radius ``R``, containing the seeds), one per seed."""
    occ = _occ()
    n = len(seeds)
    L = 4 * R
    grains = []
    for i in range(n):
        cell = make_ball()
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
    return grains


def build_secondary(spec: SecondaryParticle, plan: dict) -> BuildResult:
    occ = _occ()
    R = um(spec.radius)
    seeds = np.asarray(plan["seeds"]) / MODEL_UNIT
    n = len(seeds)
    grains = voronoi_cells(lambda: occ.addSphere(0, 0, 0, R), seeds, R)
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
        "exact_volume": aggregate_volumes(cad, tags),
        "exact_area": cad_areas(surfs),
    }
    return BuildResult(tags=tags, info=info)



PLANS = {"porous_particle": plan_porous, "secondary_particle": plan_secondary}
BUILDERS = {"porous_particle": build_porous, "secondary_particle": build_secondary}
