"""Random particle packings and phase-fraction solvers (pure numpy, deterministic by seed).

* :func:`sample_radii`: radii from a distribution until the particles' volume reaches
  the target V* = phi V_box, then all radii scaled by (V*/V)^(1/3) so the total is
  exact;
* :func:`pack_spheres`: random sequential addition (RSA), largest first: a centre is
  accepted when |c_i - c_j| >= r_i + r_j + gap for all placed j and the sphere stays
  ``wall_gap`` inside the box; when RSA stalls the remaining spheres are placed at
  random and overlaps are removed by pairwise repulsion (each overlapping pair moved
  apart along its centre line by half the overlap, weighted by the other's volume,
  centres clamped to the box) until no pair violates the gap;
* :class:`VoxelSampler`: volume fractions of implicit shapes on a regular grid of
  sample points (a random sub-cell offset), used to solve for the binder
  neck radius / coating thickness that gives a target binder fraction.

Errors are :class:`PackingError` (a ValueError) raised before any gmsh call.
"""

from __future__ import annotations

import math

import numpy as np


RELAX_STEP = 0.5
RELAX_EXTRA = 1e-2
RELAX_ITERS = 2000


class PackingError(ValueError):
    """The requested particles cannot be placed (raised before meshing)."""


def sample_radii(dist, target_volume: float, rng: np.random.Generator, max_count: int = 5000) -> np.ndarray:
    """Radii drawn from ``dist`` (a RadiusDistribution) whose sphere volumes sum to target."""
    out: list[float] = []
    vol = 0.0
    lo, hi = dist.bounds()
    while vol < target_volume:
        r = _draw(dist, rng)
        if not (lo <= r <= hi):
            continue
        if vol + 4 / 3 * math.pi * r**3 > target_volume and out:
            # take the last one only if it brings the total closer to the target
            over = vol + 4 / 3 * math.pi * r**3 - target_volume
            if over > target_volume - vol:
                break
        out.append(r)
        vol += 4 / 3 * math.pi * r**3
        if len(out) > max_count:
            raise PackingError(
                f"more than {max_count} particles needed for the target volume fraction; "
                "enlarge radius_distribution.mean or shrink the box"
            )
    radii = np.array(out)
    radii *= (target_volume / (4 / 3 * math.pi * np.sum(radii**3))) ** (1 / 3)
    return np.sort(radii)[::-1]


def _draw(dist, rng) -> float:
    m, s = dist.mean, dist.std
    if dist.kind == "constant" or s == 0:
        return m
    if dist.kind == "normal":
        return float(rng.normal(m, s))
    if dist.kind == "uniform":
        w = math.sqrt(3.0) * s
        return float(rng.uniform(m - w, m + w))
    if dist.kind == "lognormal":
        sig2 = math.log(1 + (s / m) ** 2)
        return float(rng.lognormal(math.log(m) - sig2 / 2, math.sqrt(sig2)))
    raise ValueError(dist.kind)  # pragma: no cover - schema forbids


def lateral_shifts(L: np.ndarray) -> np.ndarray:
    """The 9 in-plane image shifts (a Lx, b Ly, 0), a, b in {-1, 0, 1}; (0, 0, 0) first."""
    out = [(0.0, 0.0, 0.0)]
    for a in (-1, 0, 1):
        for b in (-1, 0, 1):
            if a or b:
                out.append((a * L[0], b * L[1], 0.0))
    return np.array(out)


def image_shifts(c, r, W, D) -> list[np.ndarray]:
    """In-plane periodic shifts (a W, b D, 0) whose copy of the ball (c, r) meets the box."""
    out = []
    for a in (0, -1, 1):
        for b in (0, -1, 1):
            x, y = c[0] + a * W, c[1] + b * D
            if x - r < W and x + r > 0 and y - r < D and y + r > 0:
                out.append(np.array([a * W, b * D, 0.0]))
    return out


def nearest_image(v, W, D) -> np.ndarray:
    """The in-plane periodic image of the vector v shortest in x and y."""
    v = np.array(v, float)
    v[0] -= W * round(v[0] / W)
    v[1] -= D * round(v[1] / D)
    return v


def _band_project(c, r, L, wall_gap, band):
    """Move in-plane coordinates out of the forbidden band near the lateral faces.

    With in-plane periodic images a sphere either stays ``wall_gap`` away from a
    lateral face (centre distance >= r + wall_gap) or crosses it deeply (centre
    distance <= (1 - band) r, so the cut circle has radius >= r sqrt(1-(1-band)^2));
    near-tangent cuts would make slivers.
    """
    for k in (0, 1):
        x = np.mod(c[:, k], L[k])
        near0 = x <= L[k] / 2
        dist = np.where(near0, x, L[k] - x)
        lo_b = (1 - band) * r
        hi_b = r + wall_gap
        bad = (dist > lo_b) & (dist < hi_b)
        to_hi = dist - lo_b > hi_b - dist
        newd = np.where(to_hi, hi_b, lo_b)
        x = np.where(bad, np.where(near0, newd, L[k] - newd), x)
        c[:, k] = x
    return c


def _z_bounds(r, L, wall_gap):
    return r + wall_gap, L[2] - r - wall_gap


def pack_spheres(
    radii: np.ndarray,
    L: np.ndarray,
    gap: float,
    wall_gap: float,
    rng: np.random.Generator,
    band: float = 0.3,
    batch: int = 32,
    tries: int = 200,
) -> np.ndarray:
    """Centres of spheres in the box [0, Lx] x [0, Ly] x [0, Lz], in-plane periodic.

    Surface gaps between spheres (and their in-plane periodic images) are >= ``gap``;
    the spheres stay ``wall_gap`` from z = 0 and z = Lz; lateral faces are either
    avoided by ``wall_gap`` or crossed deeply (see :func:`_band_project`).

    1. random sequential addition (largest first) of spheres shrunk by f0 (1, else 0.9,
       0.8, ... until RSA succeeds);
    2. inflation: radii grow from f0 r to r in steps of 1 %; after each step the overlaps
       are removed by pairwise repulsion (:func:`relax`).
    """
    radii = np.asarray(radii, float)
    L = np.asarray(L, float)
    if np.any(2 * radii + 2 * wall_gap > L[2]) or np.any(2 * radii + gap > L[:2].min()):
        raise PackingError(
            f"particle radius {radii.max():.4g} m does not fit in the box {L.tolist()} m "
            f"(wall_gap = {wall_gap:.4g} m, gap = {gap:.4g} m)"
        )
    centres = None
    # RSA is quick only well below its jamming limit (~0.38): start from spheres shrunk
    # so that their (gap-inflated) fraction is <= 0.25
    rm = float(np.mean(radii))
    phi = float(np.sum(4 / 3 * np.pi * (radii + gap / 2) ** 3) / np.prod(L))
    f_start = min(1.0, (0.25 / phi) ** (1 / 3))
    for f0 in np.arange(np.floor(f_start * 20) / 20, 0.44, -0.05):
        centres = _rsa(radii * f0, L, gap, wall_gap, band, rng, batch, tries)
        if centres is not None:
            break
    if centres is None:  # pragma: no cover - half-size spheres always fit at <= 0.6
        raise PackingError("random sequential addition failed even for half-size particles")
    if f0 >= 1.0:
        return centres
    ok = True
    f = f0
    del rm
    for f in np.append(np.arange(f0 + 0.01, 1.0 - 1e-9, 0.01), 1.0):
        rf = radii * f
        zlo, zhi = _z_bounds(rf, L, wall_gap)

        def project(c, rf=rf, zlo=zlo, zhi=zhi):
            c[:, 2] = np.clip(c[:, 2], zlo, zhi)
            return _band_project(c, rf, L, wall_gap, band)

        ok = relax(centres, rf, gap, project, rng, RELAX_ITERS, L)
        if not ok:
            break
    if ok:
        return centres
    raise PackingError(
        f"could not place {len(radii)} particles (volume fraction too high for gap = "
        f"{gap:.4g} m and wall_gap = {wall_gap:.4g} m): inflation from {f0:.2g} x radius jammed "
        f"at {f:.3g} x radius; lower volume_fraction, gap or wall_gap, or enlarge the box"
    )


def _rsa(radii, L, gap, wall_gap, band, rng, batch, tries) -> np.ndarray | None:
    n = len(radii)
    shifts = lateral_shifts(L)
    centres = np.zeros((n, 3))
    for i in range(n):
        zlo, zhi = radii[i] + wall_gap, L[2] - radii[i] - wall_gap
        for _ in range(tries):
            cand = rng.uniform((0, 0, zlo), (L[0], L[1], zhi), size=(batch, 3))
            cand = _band_project(cand, np.full(batch, radii[i]), L, wall_gap, band)
            if i:
                imgs = (centres[None, :i, :] + shifts[:, None, :]).reshape(-1, 3)
                rr = np.tile(radii[:i], len(shifts)) + radii[i] + gap
                # only images that can reach the candidates' z-slab
                near = np.abs(imgs[:, 2] - 0.5 * (zlo + zhi)) <= rr + 0.5 * (zhi - zlo)
                imgs, rr = imgs[near], rr[near]
                diff = cand[:, None, :] - imgs[None, :, :]
                d2 = np.einsum("ijk,ijk->ij", diff, diff)
                good = np.flatnonzero(np.all(d2 >= rr[None, :] ** 2, axis=1))
            else:
                good = np.array([0])
            if good.size:
                centres[i] = cand[good[0]]
                break
        else:
            return None
    return centres


def _half_shifts(L) -> np.ndarray:
    """Zero plus one of each +-pair of in-plane image shifts (5 shifts)."""
    if L is None:
        return np.zeros((1, 3))
    return np.array([(0, 0, 0), (L[0], -L[1], 0), (L[0], 0, 0), (L[0], L[1], 0), (0, L[1], 0)], float)


#: above this many spheres :func:`_pairs` searches a k-d tree instead of all pairs
PAIRS_TREE_MIN = 64


def _pairs(centres, radii, cutoff_extra, L):
    """Close pairs (i, j, s) with |c_i - c_j - s| < r_i + r_j + cutoff_extra, each once.

    s runs over the zero shift (pairs i < j) and half of the in-plane image shifts
    (ordered pairs i != j; the other half gives the same pairs reversed). Ordered by
    shift, then i, then j; the k-d tree search (many spheres, finite cutoff) returns the
    same pairs in the same order as the all-pairs one, with the same arithmetic.
    """
    if len(radii) > PAIRS_TREE_MIN and np.isfinite(cutoff_extra):
        return _pairs_tree(centres, radii, cutoff_extra, L)
    return _pairs_dense(centres, radii, cutoff_extra, L)


def _pairs_tree(centres, radii, cutoff_extra, L):
    from scipy.spatial import cKDTree

    shifts = _half_shifts(L)
    n = len(radii)
    tree = cKDTree((centres[None, :, :] + shifts[:, None, :]).reshape(-1, 3))
    reach = (radii + radii.max() + cutoff_extra) * (1 + 1e-9) + 1e-300
    hits = tree.query_ball_point(centres, reach)
    counts = np.fromiter((len(h) for h in hits), int, n)
    I = np.repeat(np.arange(n), counts)
    KJ = np.fromiter((x for h in hits for x in h), int, int(counts.sum()))
    K, J = KJ // n, KJ % n
    keep = np.where(K == 0, I < J, I != J)
    I, J, K = I[keep], J[keep], K[keep]
    lim2 = (radii[I] + radii[J] + cutoff_extra) ** 2
    dx = centres[I, 0] - centres[J, 0]
    dy = centres[I, 1] - centres[J, 1]
    dz2 = (centres[I, 2] - centres[J, 2]) ** 2
    close = (dz2 < lim2) & ((dx - shifts[K, 0]) ** 2 + (dy - shifts[K, 1]) ** 2 + dz2 < lim2)
    I, J, K = I[close], J[close], K[close]
    order = np.lexsort((J, I, K))
    return I[order], J[order], shifts[K[order]]


def _pairs_dense(centres, radii, cutoff_extra, L):
    Is, Js, Ss = [], [], []
    shifts = _half_shifts(L)
    lim2 = (radii[:, None] + radii[None, :] + cutoff_extra) ** 2
    dx = centres[:, None, 0] - centres[None, :, 0]
    dy = centres[:, None, 1] - centres[None, :, 1]
    dz2 = (centres[:, None, 2] - centres[None, :, 2]) ** 2
    zclose = dz2 < lim2
    for k, sh in enumerate(shifts):
        close = zclose & ((dx - sh[0]) ** 2 + (dy - sh[1]) ** 2 + dz2 < lim2)
        close = np.triu(close, 1) if k == 0 else close & ~np.eye(len(radii), dtype=bool)
        I, J = np.nonzero(close)
        Is.append(I)
        Js.append(J)
        Ss.append(np.full(I.size, k))
    return np.concatenate(Is), np.concatenate(Js), shifts[np.concatenate(Ss)]


def relax(centres, radii, gap, project, rng, iters: int, L=None) -> bool:
    """Remove overlaps in place by pairwise repulsion; True when none is left.

    Each sweep moves the spheres of every overlapping pair (overlap
    delta_ij = r_i + r_j + gap - |c_i - c_j - s|, s an in-plane image shift) apart along
    their centre line by RELAX_STEP delta_ij + 1e-3 gap in total, shared as
    w_ij = r_j^3 / (r_i^3 + r_j^3), then ``project``s the centres back into the
    container. Pairs come from a neighbour list rebuilt every 10 sweeps.
    """
    n = len(radii)
    if n < 2:
        centres[:] = project(centres)
        return True
    vol = radii**3
    skin = 0.5 * float(np.mean(radii))
    for it in range(iters):
        if it % 10 == 0:
            I, J, S = _pairs(centres, radii, gap + skin, L)
            if I.size == 0:
                return True
            need = radii[I] + radii[J] + gap
            wi = vol[J] / (vol[I] + vol[J])
        diff = centres[I] - centres[J] - S
        dist = np.linalg.norm(diff, axis=1)
        over = need - dist
        m = over > 0
        if not m.any():
            I2, J2, S2 = _pairs(centres, radii, gap, L)
            if I2.size == 0:
                return True
            I, J, S = I2, J2, S2
            need = radii[I] + radii[J] + gap
            wi = vol[J] / (vol[I] + vol[J])
            continue
        unit = diff[m] / np.maximum(dist[m, None], 1e-300)
        push = (RELAX_STEP * over[m] + RELAX_EXTRA * gap)[:, None] * unit
        disp = np.zeros_like(centres)
        np.add.at(disp, I[m], push * wi[m, None])
        np.add.at(disp, J[m], -push * (1 - wi[m])[:, None])
        centres += disp
        centres[:] = project(centres)
    return False


def min_clearance(centres: np.ndarray, radii: np.ndarray, L=None) -> float:
    """Smallest surface-to-surface distance between spheres (and in-plane images)."""
    if len(radii) < 2:
        return math.inf
    I, J, S = _pairs(np.asarray(centres), np.asarray(radii), np.inf, None if L is None else np.asarray(L))
    d = np.linalg.norm(centres[I] - centres[J] - S, axis=1) - radii[I] - radii[J]
    return float(d.min())


class VoxelSampler:
    """Regular grid of sample points (spacing ~ ``spacing``, random sub-cell offset).

    Shapes are painted into boolean masks through index slices of their bounding boxes,
    so the cost is proportional to the shapes' volume, not to the number of points.
    """

    def __init__(self, lo, hi, spacing: float, rng: np.random.Generator):
        self.lo = np.asarray(lo, float)
        self.hi = np.asarray(hi, float)
        n = np.maximum(np.ceil((self.hi - self.lo) / spacing).astype(int), 1)
        self.n = n
        self.dx = (self.hi - self.lo) / n
        off = rng.uniform(0.0, 1.0, 3)
        self.axes = [self.lo[k] + (np.arange(n[k]) + off[k]) * self.dx[k] for k in range(3)]

    @property
    def cell_volume(self) -> float:
        return float(np.prod(self.dx))

    def mask(self) -> np.ndarray:
        return np.zeros(tuple(self.n), dtype=bool)

    def _slices(self, bmin, bmax):
        sl = []
        for k in range(3):
            i0 = int(max(0, math.floor((bmin[k] - self.lo[k]) / self.dx[k]) - 1))
            i1 = int(min(self.n[k], math.ceil((bmax[k] - self.lo[k]) / self.dx[k]) + 1))
            if i1 <= i0:
                return None
            sl.append(slice(i0, i1))
        return tuple(sl)

    def _grid(self, sl):
        return np.meshgrid(self.axes[0][sl[0]], self.axes[1][sl[1]], self.axes[2][sl[2]], indexing="ij")

    def paint_sphere(self, m: np.ndarray, c, r: float) -> None:
        sl = self._slices(np.asarray(c) - r, np.asarray(c) + r)
        if sl is None:
            return
        X, Y, Z = self._grid(sl)
        m[sl] |= (X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2 <= r * r

    def paint_cylinder(self, m: np.ndarray, p0, p1, r: float) -> None:
        p0 = np.asarray(p0, float)
        p1 = np.asarray(p1, float)
        bmin = np.minimum(p0, p1) - r
        bmax = np.maximum(p0, p1) + r
        sl = self._slices(bmin, bmax)
        if sl is None:
            return
        X, Y, Z = self._grid(sl)
        axis = p1 - p0
        L2 = float(axis @ axis)
        rx, ry, rz = X - p0[0], Y - p0[1], Z - p0[2]
        t = (rx * axis[0] + ry * axis[1] + rz * axis[2]) / L2
        dx = rx - t * axis[0]
        dy = ry - t * axis[1]
        dz = rz - t * axis[2]
        m[sl] |= (t >= 0) & (t <= 1) & (dx * dx + dy * dy + dz * dz <= r * r)

    def fraction(self, m: np.ndarray) -> float:
        return float(m.mean())


def uniform_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix drawn from the uniform (Haar) distribution on SO(3).

    A unit quaternion q = (w, x, y, z) from three uniforms u1, u2, u3 (Shoemake 1992):
    q = (sqrt(1-u1) sin 2pi u2, sqrt(1-u1) cos 2pi u2, sqrt(u1) sin 2pi u3, sqrt(u1) cos 2pi u3).
    """
    u1, u2, u3 = rng.uniform(size=3)
    a, b = math.sqrt(1 - u1), math.sqrt(u1)
    x, y = a * math.sin(2 * math.pi * u2), a * math.cos(2 * math.pi * u2)
    z, w = b * math.sin(2 * math.pi * u3), b * math.cos(2 * math.pi * u3)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def bunge_euler(Rm: np.ndarray) -> tuple[float, float, float]:
    """Bunge (Z-X-Z) Euler angles (phi1, Phi, phi2) [rad] of a rotation matrix.

    Convention: R = Rz(phi1) Rx(Phi) Rz(phi2), so R[2,2] = cos Phi,
    R[0,2] = sin phi1 sin Phi, R[1,2] = -cos phi1 sin Phi,
    R[2,0] = sin phi2 sin Phi, R[2,1] = cos phi2 sin Phi.
    """
    Phi = math.acos(max(-1.0, min(1.0, Rm[2, 2])))
    if abs(math.sin(Phi)) > 1e-12:
        phi1 = math.atan2(Rm[0, 2], -Rm[1, 2])
        phi2 = math.atan2(Rm[2, 0], Rm[2, 1])
    else:  # gimbal lock: only phi1 + phi2 is defined
        phi1 = math.atan2(Rm[1, 0], Rm[0, 0])
        phi2 = 0.0
    return (phi1 % (2 * math.pi), Phi, phi2 % (2 * math.pi))


def euler_to_matrix(phi1: float, Phi: float, phi2: float) -> np.ndarray:
    """R = Rz(phi1) Rx(Phi) Rz(phi2) (Bunge convention)."""

    def rz(a):
        c, s = math.cos(a), math.sin(a)
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])

    def rx(a):
        c, s = math.cos(a), math.sin(a)
        return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])

    return rz(phi1) @ rx(Phi) @ rz(phi2)
