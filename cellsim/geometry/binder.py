"""Carbon-binder planning (pure numpy, before gmsh): neck balls or a coating shell sized
on a voxel grid to the target binder fraction, nudged away from near-tangencies.

``binder_morphology = "necks"``: a ball of radius R = k min(r_i, r_j) in the middle of
every particle gap below ``neck_max_gap`` (and on the collector under particles close to
it), minus the particles; k solved for the fraction. ``"coating"``: a shell of thickness
t around every particle, t solved for the fraction.
"""

from __future__ import annotations

import math

import numpy as np

from cellsim.geometry.cad_features import image_neighbours, shifts9
from cellsim.geometry.packing import PackingError, VoxelSampler, _pairs, image_shifts
from cellsim.geometry.spec_electrode import Electrode


def plan_binder(spec: Electrode, centres: np.ndarray, radii: np.ndarray, rng) -> dict:
    """The carbon-binder plan of a packed electrode (``spec.binder_fraction`` > 0).

    Necks: the ball centres, radii and the neck factor k; coating: the shell thickness.
    ``rng`` continues the packing's generator (voxel offsets), so a seed fixes both.
    """
    W, D, T = spec.width, spec.depth, spec.thickness
    L = np.array([W, D, T])
    lo = np.zeros(3)
    n = len(radii)
    target = spec.binder_fraction
    rmin = float(radii.min())
    spacing = min(rmin / 8, (spec.box_volume() / 1.5e6) ** (1 / 3))
    vs = VoxelSampler(lo, L, spacing, rng)
    solid = vs.mask()
    for c, r in zip(centres, radii):
        for sh in image_shifts(c, r, W, D):
            vs.paint_sphere(solid, c + sh, r)
    if spec.binder_morphology == "coating":
        return _solve_coating(spec, centres, radii, vs, solid, target)
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
    return {
        "morphology": "necks",
        "segments": [(np.asarray(p0).tolist(), np.asarray(p1).tolist(), lab) for p0, p1, lab in segs],
        "shape": "ball at the gap centre (or on the collector below the particle), minus particles",
        "radii": (k * scale).tolist(),
        "neck_factor": float(k),
        "fraction_planned": frac_k,
    }


def _neck_valid(r, k) -> bool:
    """Whether neck ``r`` (see plan_electrode) exists at neck factor k."""
    kz, klo, khi = r[3]
    return r[2] <= k <= kz and (k <= klo or k >= khi)


def tangency_clearance(k, rich, centres, radii, L, cap: float = math.inf) -> float:
    """Smallest distance from tangency among neck balls (R = k s) and particles [m].

    Near-tangent surfaces make tiny CAD edges and slivers. Events: ball-ball and
    ball-particle (with in-plane images) |d - (R1 + R2)| and |d - |R1 - R2||, and on a
    particle p of radius r_p the intersection circles of two balls (angular radii
    cos(theta) = (r_p^2 + d^2 - R^2) / (2 r_p d)) whose angular separation psi is close to
    theta_a + theta_b or |theta_a - theta_b| (clearance r_p |psi - ...|).

    Pairs come from k-d trees (O(N log N) time and memory where all pairs were O(N^2)).
    Ball pairs are searched only within ``cap`` of tangency: the value is exact where it
    is below ``cap`` and at least ``cap`` otherwise.
    """
    from scipy.spatial import cKDTree

    balls = [(r[0], k * r[1]) for r in rich if _neck_valid(r, k)]
    if not balls:
        return math.inf
    cb = np.array([b[0] for b in balls])
    Rb = np.array([b[1] for b in balls])
    out = math.inf
    if len(balls) > 1:
        reach = 2 * float(Rb.max()) + (cap if math.isfinite(cap) else float(np.ptp(cb, axis=0).max()) + 1.0)
        pr = cKDTree(cb).query_pairs(reach, output_type="ndarray")
        if len(pr):
            i, j = pr[:, 0], pr[:, 1]
            dd = np.linalg.norm(cb[i] - cb[j], axis=1)
            out = min(out, float(np.min(np.abs(dd - (Rb[i] + Rb[j])))), float(np.min(np.abs(dd - np.abs(Rb[i] - Rb[j])))))
    ia, ip, V, K = image_neighbours(cb, Rb, centres, radii, L[0], L[1], with_shift=True)  # touching pairs
    if len(ia) == 0:
        return out
    dp = np.linalg.norm(V, axis=1)
    a = np.abs(dp - (Rb[ia] + radii[ip]))
    b = np.abs(dp - np.abs(Rb[ia] - radii[ip]))
    out = min(out, float(a.min()), float(b.min()))
    # the ball-particle intersection circle must not touch a lateral face plane
    nv = V / dp[:, None]
    xa = (dp**2 + Rb[ia] ** 2 - radii[ip] ** 2) / (2 * dp)
    rho = np.sqrt(np.maximum(Rb[ia] ** 2 - xa**2, 0.0))
    q = cb[ia] + xa[:, None] * nv
    for k_, Lk in ((0, L[0]), (1, L[1])):
        reach_ = rho * np.sqrt(np.maximum(1 - nv[:, k_] ** 2, 0.0))
        for plane in (0.0, Lk):
            dplane = np.abs(q[:, k_] - plane)
            near = dplane < reach_ + 0.5 * Rb[ia]
            if near.any():
                out = min(out, float(np.min(np.abs(dplane - reach_)[near])))
    # on each particle image, the circles of every two balls touching it
    sh = shifts9(L[0], L[1])
    key = ip * len(sh) + K
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    starts = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]])
    ends = np.r_[starts[1:], len(key_s)]
    for s0, e0 in zip(starts, ends):
        if e0 - s0 < 2:
            continue
        sel = order[s0:e0]
        pj, kk = ip[sel[0]], K[sel[0]]
        rp = radii[pj]
        v = cb[ia[sel]] - (centres[pj] + sh[kk])
        dn = np.linalg.norm(v, axis=1)
        cos_t = np.clip((rp**2 + dn**2 - Rb[ia[sel]] ** 2) / (2 * rp * dn), -1, 1)
        th = np.arccos(cos_t)
        u = v / dn[:, None]
        psi = np.arccos(np.clip(u @ u.T, -1, 1))
        ii, jj = np.triu_indices(len(sel), 1)
        e1 = np.abs(psi[ii, jj] - (th[ii] + th[jj]))
        e2 = np.abs(psi[ii, jj] - np.abs(th[ii] - th[jj]))
        out = min(out, float(rp * min(e1.min(), e2.min())))
    return out


def _untangle(k0, frac, target, rich, centres, radii, L, h) -> float:
    """A neck factor near k0 whose fraction is within 0.003 of the target and whose
    tangency clearance is largest (or at least 0.3 h)."""
    best, best_c = k0, tangency_clearance(k0, rich, centres, radii, L, cap=0.3 * h)
    if best_c >= 0.3 * h:
        return k0
    for kk in k0 * (1 + np.concatenate([[0], np.ravel(np.column_stack([np.arange(1, 41), -np.arange(1, 41)]))]) * 0.004):
        if abs(frac(kk) - target) > 0.003:
            continue
        c = tangency_clearance(kk, rich, centres, radii, L, cap=0.3 * h)
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

