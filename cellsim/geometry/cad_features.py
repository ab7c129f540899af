"""Neighbour search with in-plane periodic images, and the pole placement of OCC spheres
(pure numpy/scipy, model units, rank 0 before and while the CAD is built).

*Neighbours*: :func:`image_neighbours` finds every pair (i, j, in-plane image s) of two
sets of balls closer than their radii plus a margin with a k-d tree over the 9 image
copies of the second set: O(N log N) where the builder's loops over all pairs were
O(N^2) in Python (minutes at 1,000 particles).

*Poles*: an OpenCASCADE sphere is parametrised by longitude and latitude around its z
axis; its two poles are degenerate points of that parametrisation. Where an intersection
curve (a contact circle with a neck ball, a cut by a box face or by the collector plane)
passes through or near a pole, the surface mesh there has needle triangles and the volume
mesh slivers (minSICN ~ 0.004). Each feature on a sphere is a circle of directions: the
unit vector u from the sphere's centre to the circle's centre and its angular radius
theta (0 for a point feature such as the closest point of a near neighbour). A pole
direction a is at angular distance min(|angle(a, u) - theta|, |angle(-a, u) - theta|)
from that circle; :func:`pole_axis` takes the axis (of 400 nearly uniform ones) whose
nearest circle is farthest. A plane through the centre (the collector plane under a
collector neck) is the circle theta = 90 degrees around its normal, whose best pole is
the normal itself; the earlier rule (the axis far from every feature *direction*) put the
poles exactly on that circle.
"""

from __future__ import annotations

import math

import numpy as np


def shifts9(W: float, D: float) -> np.ndarray:
    """The 9 in-plane image shifts (a W, b D, 0), a, b in {-1, 0, 1}; (0, 0, 0) first."""
    out = [(0.0, 0.0, 0.0)] + [(a * W, b * D, 0.0) for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b]
    return np.array(out)


def image_neighbours(ca, ra, cb, rb, W: float, D: float, margin: float = 0.0, with_shift: bool = False):
    """Pairs of balls (ca_i, ra_i) and in-plane images of (cb_j, rb_j) with
    |cb_j + s - ca_i| < ra_i + rb_j + margin.

    Returns (I, J, V): indices into a and b and the vectors V = cb_j + s - ca_i (one row
    per image that is close, so a ball may meet several images of another), and with
    ``with_shift`` also the index of s in :func:`shifts9`.
    """
    from scipy.spatial import cKDTree

    ca = np.asarray(ca, float).reshape(-1, 3)
    cb = np.asarray(cb, float).reshape(-1, 3)
    ra = np.broadcast_to(np.asarray(ra, float), (len(ca),))
    rb = np.broadcast_to(np.asarray(rb, float), (len(cb),))
    empty = (np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3))) + ((np.zeros(0, int),) if with_shift else ())
    if len(ca) == 0 or len(cb) == 0:
        return empty
    sh = shifts9(W, D)
    pts = (cb[None, :, :] + sh[:, None, :]).reshape(-1, 3)
    jj = np.tile(np.arange(len(cb)), len(sh))
    tree = cKDTree(pts)
    hits = tree.query_ball_point(ca, (ra + float(rb.max()) + margin) * (1 + 1e-9))
    counts = np.array([len(h) for h in hits])
    if counts.sum() == 0:
        return empty
    I = np.repeat(np.arange(len(ca)), counts)
    K = np.concatenate([np.asarray(h, int) for h in hits if len(h)])
    V = pts[K] - ca[I]
    J = jj[K]
    keep = np.linalg.norm(V, axis=1) < ra[I] + rb[J] + margin
    if with_shift:
        return I[keep], J[keep], V[keep], (K // len(cb))[keep]
    return I[keep], J[keep], V[keep]


def sphere_circles(R: float, V: np.ndarray, R2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intersection circles on a sphere of radius R of spheres (radius R2) at offsets V:
    (directions u, angular radii theta), only for spheres whose surfaces cross."""
    V = np.asarray(V, float).reshape(-1, 3)
    R2 = np.broadcast_to(np.asarray(R2, float), (len(V),))
    d = np.linalg.norm(V, axis=1)
    cut = (d < R + R2) & (d > np.abs(R - R2)) & (d > 0)
    d, V, R2 = d[cut], V[cut], R2[cut]
    cos_t = np.clip((R**2 + d**2 - R2**2) / (2 * R * d), -1.0, 1.0)
    return V / d[:, None], np.arccos(cos_t)


def plane_circles(c, R: float, W: float, D: float, z_planes=()) -> tuple[np.ndarray, np.ndarray]:
    """Circles cut on the sphere (c, R) by the lateral planes x = 0, W, y = 0, D and the
    horizontal planes ``z_planes`` that it crosses (the sphere's images are cut by the
    same circles, so one per plane)."""
    us, ths = [], []
    planes = [(0, 0.0), (0, W), (1, 0.0), (1, D)] + [(2, z) for z in z_planes]
    for k, p in planes:
        delta = p - c[k]
        if abs(delta) < R:
            us.append(np.eye(3)[k] * (1.0 if delta >= 0 else -1.0))
            ths.append(math.acos(abs(delta) / R))
    return np.array(us).reshape(-1, 3), np.array(ths)


_AXES = None


def _axes() -> np.ndarray:
    """400 nearly uniform directions of the upper hemisphere (an axis and its opposite
    give the same poles)."""
    global _AXES
    if _AXES is None:
        n = 400
        k = np.arange(n) + 0.5
        phi = np.arccos(1 - k / n)
        th = np.pi * (1 + 5**0.5) * k
        _AXES = np.column_stack([np.cos(th) * np.sin(phi), np.sin(th) * np.sin(phi), np.cos(phi)])
    return _AXES


def pole_axis(u: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The axis whose two poles are farthest (angular distance) from every feature circle
    (directions ``u``, angular radii ``theta``); z when there is no feature."""
    u = np.asarray(u, float).reshape(-1, 3)
    if len(u) == 0:
        return np.array([0.0, 0.0, 1.0])
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    theta = np.asarray(theta, float)
    A = _axes()
    ang = np.arccos(np.clip(A @ u.T, -1.0, 1.0))  # axes x features
    dist = np.minimum(np.abs(ang - theta[None, :]), np.abs(np.pi - ang - theta[None, :]))
    return A[int(np.argmax(dist.min(axis=1)))]


def pole_clearance(axis, u, theta) -> float:
    """Angular distance [rad] of the poles of ``axis`` from the nearest feature circle."""
    u = np.asarray(u, float).reshape(-1, 3)
    if len(u) == 0:
        return math.pi / 2
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    ang = np.arccos(np.clip(u @ np.asarray(axis, float), -1.0, 1.0))
    return float(np.min(np.minimum(np.abs(ang - theta), np.abs(np.pi - ang - theta))))


def tilt_matrix(axis) -> np.ndarray:
    """The rotation taking z to ``axis`` about z x axis (the one :func:`_add_sphere` of the
    electrode builder applies to an OCC sphere)."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    ez = np.array([0.0, 0.0, 1.0])
    n = np.cross(ez, a)
    s, c = float(np.linalg.norm(n)), float(ez @ a)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    n /= s
    K = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    return np.eye(3) + s * K + (1 - c) * K @ K


_SEAM_T = np.linspace(0.0, np.pi, 91)
_SEAM_P = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)


def circle_vertices(u: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The points (unit vectors) where two of the circles (``u``, ``theta``) cross: the
    CAD vertices that the circles make on the sphere."""
    u = np.asarray(u, float).reshape(-1, 3)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    ct = np.cos(np.asarray(theta, float))
    i, j = np.triu_indices(len(u), 1)
    g = np.einsum("ij,ij->i", u[i], u[j])
    w = np.cross(u[i], u[j])
    w2 = np.einsum("ij,ij->i", w, w)
    ok = w2 > 1e-12
    i, j, g, w, w2 = i[ok], j[ok], g[ok], w[ok], w2[ok]
    a = (ct[i] - g * ct[j]) / (1 - g**2)
    b = (ct[j] - g * ct[i]) / (1 - g**2)
    c2 = (1 - (a**2 + b**2 + 2 * a * b * g)) / w2
    cut = c2 >= 0
    base = a[cut, None] * u[i[cut]] + b[cut, None] * u[j[cut]]
    c = np.sqrt(c2[cut])[:, None] * w[cut]
    return np.concatenate([base + c, base - c]).reshape(-1, 3)


def seam_points(axis, spin: float) -> np.ndarray:
    """Unit vectors along the seam (pole to pole, 91 points) of a sphere turned to
    ``axis`` and spun by ``spin`` (the OCC seam is the half meridian at longitude 0)."""
    st, ct = np.sin(_SEAM_T), np.cos(_SEAM_T)
    local = np.column_stack([st * math.cos(spin), st * math.sin(spin), ct])
    return local @ tilt_matrix(axis).T


def seam_crossings(points: np.ndarray, R: float) -> np.ndarray:
    """Unit vectors (from the centre of a sphere of radius R) of the points where the
    polyline ``points`` (relative to that centre, e.g. another sphere's seam) crosses
    the sphere, linearly interpolated between the samples."""
    f = np.linalg.norm(points, axis=1) - R
    k = np.flatnonzero(np.sign(f[1:]) != np.sign(f[:-1]))
    if k.size == 0:
        return np.zeros((0, 3))
    w = f[k] / (f[k] - f[k + 1])
    x = points[k] + w[:, None] * (points[k + 1] - points[k])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def seam_angle(axis, u, theta, vertices=None) -> float:
    """The spin phi0 [rad] about the pole axis that puts the sphere's seam (the half
    meridian at longitude 0 of an OCC sphere, from pole to pole) where it makes no tiny
    CAD edges.

    The seam's crossings with the feature circles (``u``, ``theta``) are CAD vertices; one
    nanometres from another vertex of that circle (where a contact circle meets a face
    cut, or the other solid's seam) gives an edge of that length and slivers. Of 72 spins
    the one is taken whose seam is farthest from (i) the vertices where two circles
    cross, (ii) the circles it does not cross (no grazing) and (iii) its own neighbouring
    crossings of one circle (no double crossing of a small cap); ``vertices`` (unit
    vectors) adds points to keep away from, such as where the seams of the solids
    placed before cross this sphere's circles.
    """
    u = np.asarray(u, float).reshape(-1, 3)
    if len(u) == 0:
        return 0.0
    theta = np.asarray(theta, float)
    R = tilt_matrix(axis)
    ul = (u / np.linalg.norm(u, axis=1, keepdims=True)) @ R  # to the sphere's frame
    vl = circle_vertices(u, theta)
    if vertices is not None and len(vertices):
        vl = np.concatenate([vl, np.asarray(vertices, float).reshape(-1, 3)])
    vl = vl @ R
    st, ct = np.sin(_SEAM_T), np.cos(_SEAM_T)
    M = np.stack([st[None, :] * np.cos(_SEAM_P)[:, None], st[None, :] * np.sin(_SEAM_P)[:, None],
                  np.broadcast_to(ct, (len(_SEAM_P), len(_SEAM_T)))], axis=-1)  # fmt: skip
    score = np.full(len(_SEAM_P), np.pi)
    if len(vl):
        score = np.minimum(score, np.arccos(np.clip(M @ vl.T, -1, 1)).min(axis=(1, 2)))
    diff = np.arccos(np.clip(M @ ul.T, -1.0, 1.0)) - theta[None, None, :]  # spins x points x circles
    step = _SEAM_T[1] - _SEAM_T[0]
    sg = np.sign(diff)
    ch = sg[:, 1:, :] != sg[:, :-1, :]  # a crossing between two seam samples
    free = np.where(ch.any(axis=1), np.inf, np.abs(diff).min(axis=1))  # spins x circles
    pos = np.where(ch, np.arange(ch.shape[1])[None, :, None], np.inf)
    pos.sort(axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf where a circle is crossed < 2 times
        gaps = np.diff(pos, axis=1) if ch.shape[1] > 1 else np.full_like(pos, np.inf)
    gaps[~np.isfinite(gaps)] = np.inf
    cap = 0.5 * step * gaps.min(axis=1)
    score = np.minimum(score, np.minimum(free, cap).min(axis=1))
    return float(_SEAM_P[int(np.argmax(score))])


def sphere_axes(centres, radii, neck_c, neck_r, box, h) -> tuple[np.ndarray, np.ndarray]:
    """(axis, spin) of every particle sphere and neck ball of an electrode (model units).

    Features on a particle: the contact circles of neck balls (all images), the cut
    circles of the lateral faces, and the closest points of particles nearer than 2 h
    (refined there). On a neck ball: its contact circles with particles and other neck
    balls, the lateral faces and the collector plane z = 0 it crosses, and the points
    where the seams of the particles and of the balls placed before it cross its surface
    (see :mod:`~cellsim.geometry.cad_features`).
    """
    W, D = box
    n = len(radii)
    pu: list[list] = [[] for _ in range(n)]
    pt: list[list] = [[] for _ in range(n)]

    def add(store_u, store_t, k, u, t):
        store_u[k].extend(np.asarray(u).reshape(-1, 3))
        store_t[k].extend(np.atleast_1d(t))

    I, J, V = image_neighbours(centres, radii, neck_c, neck_r, W, D)
    for i in np.unique(I):
        sel = I == i
        add(pu, pt, i, *sphere_circles(radii[i], V[sel], neck_r[J[sel]]))
    I, J, V = image_neighbours(centres, radii, centres, radii, W, D, margin=2 * h)
    keep = np.linalg.norm(V, axis=1) > 1e-9
    for i, v in zip(I[keep], V[keep]):
        add(pu, pt, i, v, 0.0)
    for i in range(n):
        add(pu, pt, i, *plane_circles(centres[i], radii[i], W, D))
    part_axes = [axis_and_seam(pu[i], pt[i]) for i in range(n)]
    part_seams = [seam_points(a, sp) for a, sp in part_axes]
    m = len(neck_r)
    nu: list[list] = [[] for _ in range(m)]
    nt: list[list] = [[] for _ in range(m)]
    # seams of the solids placed before a neck ball (particles, earlier balls) that cross
    # its surface: vertices its own seam must keep away from
    nv: list[list] = [[] for _ in range(m)]
    I, J, V = image_neighbours(neck_c, neck_r, centres, radii, W, D)
    for k in np.unique(I):
        sel = I == k
        add(nu, nt, k, *sphere_circles(neck_r[k], V[sel], radii[J[sel]]))
        for j, v in zip(J[sel], V[sel]):
            nv[k].extend(seam_crossings(v + radii[j] * part_seams[j], neck_r[k]))
    I, J, V = image_neighbours(neck_c, neck_r, neck_c, neck_r, W, D)
    keep = np.linalg.norm(V, axis=1) > 1e-9
    I, J, V = I[keep], J[keep], V[keep]
    for k in np.unique(I):
        sel = I == k
        add(nu, nt, k, *sphere_circles(neck_r[k], V[sel], neck_r[J[sel]]))
    for k in range(m):
        add(nu, nt, k, *plane_circles(neck_c[k], neck_r[k], W, D, z_planes=(0.0,)))
    neck_axes: list[tuple[np.ndarray, float]] = []
    neck_seams: list[np.ndarray] = []
    for k in range(m):
        for j, v in zip(J[I == k], V[I == k]):
            if j < k:
                nv[k].extend(seam_crossings(v + neck_r[j] * neck_seams[j], neck_r[k]))
        neck_axes.append(axis_and_seam(nu[k], nt[k], nv[k]))
        neck_seams.append(seam_points(*neck_axes[k]))
    return part_axes, neck_axes


def axis_and_seam(u, t, vertices=()) -> tuple[np.ndarray, float]:
    u, t = np.array(u).reshape(-1, 3), np.array(t)
    axis = pole_axis(u, t)
    return axis, seam_angle(axis, u, t, np.array(vertices).reshape(-1, 3))
