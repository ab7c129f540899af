"""Electronic connectivity predicted from the plan (pure numpy, before any CAD).

The CAD check of :mod:`~cellsim.geometry.connectivity` needs the whole OpenCASCADE model
(spheres, binder cut, the global fragment); a packing with isolated particles was built
twice, once to find them and once more with the repair bridges. This module finds the
isolated particle pieces from the plan's spheres instead, so that the bridges go into the
first build; the CAD check of that build stays the judge (a missed or extra isolation
only costs the rebuild it always cost, or one bridge more).

Graph: one node per particle piece (a sphere copy of the in-plane periodic images meeting
the box, clipped to it), one per binder ball copy (neck ball or coating shell), one for
the collector. Edges, each decided on sample points that must lie inside the box:
particle-ball where the cap of the particle's sphere inside the ball has a point in the
box; ball-ball where the surface of one ball inside the other has a point in the box and
outside every particle; ball-collector where the disc of the ball on z = 0 has a point in
the box outside the particles; particle-collector where the sphere crosses z = 0.
A ball copy minus the particles is taken as one piece (a neck ball is centred in the gap
it joins, so it touches both of its particles). Pieces whose volume inside the box is
below ``tiny`` of their sphere are left out, as the builder makes them electrolyte.
"""

from __future__ import annotations

import numpy as np

from cellsim.geometry.connectivity import _directions, label_components
from cellsim.geometry.packing import image_shifts

#: sample directions on a sphere (contact caps, ball-ball lenses)
_DIRS = _directions(400)


def box_fraction(c, r: float, W: float, D: float, T: float, n: int = 400) -> float:
    """Fraction of the ball (c, r) inside the box [0, W] x [0, D] x [0, T]: midpoint rule
    in z and x over the clipped ranges, exact chord lengths in y (relative error about
    1e-4 on a corner cap of 1e-3 of the ball)."""
    z0, z1 = max(c[2] - r, 0.0), min(c[2] + r, T)
    x0, x1 = max(c[0] - r, 0.0), min(c[0] + r, W)
    if z1 <= z0 or x1 <= x0:
        return 0.0
    z = z0 + (np.arange(n) + 0.5) * (z1 - z0) / n
    x = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    s2 = r**2 - (z[:, None] - c[2]) ** 2 - (x[None, :] - c[0]) ** 2
    s = np.sqrt(np.maximum(s2, 0.0))
    chord = np.clip(np.minimum(c[1] + s, D) - np.maximum(c[1] - s, 0.0), 0.0, None)
    return float(chord.sum() * (z1 - z0) / n * (x1 - x0) / n / (4 / 3 * np.pi * r**3))


def _in_box(p: np.ndarray, W: float, D: float, T: float, m: float) -> np.ndarray:
    return (p[:, 0] > m) & (p[:, 0] < W - m) & (p[:, 1] > m) & (p[:, 1] < D - m) & (p[:, 2] > m) & (p[:, 2] < T - m)


def predict_isolated(centres, radii, balls, box, tiny: float):
    """Isolated particle pieces of the plan (model units).

    ``balls``: (centre, radius) of every binder ball before its in-plane images (neck
    balls at their wrapped centres, coating shells at the particle centres). Returns
    ``(isolated, grounded)`` in the form :func:`~cellsim.geometry.connectivity.plan_bridges`
    takes: per isolated component its particle pieces as (particle index, centre of the
    sphere copy), and the connected pieces likewise.
    """
    from scipy.spatial import cKDTree

    W, D, T = box
    m = 1e-9 * max(W, D, T)
    pc, pr, pid = [], [], []  # particle copies
    for i, (c, r) in enumerate(zip(centres, radii)):
        for sh in image_shifts(c, r, W, D):
            q = c + sh
            inside = np.all((q - r > 0) & (q + r < (W, D, T + 1e300)))
            frac = 1.0 if inside else box_fraction(q, r, W, D, T)
            if frac >= tiny:
                pc.append(q)
                pr.append(r)
                pid.append(i)
    bc, br = [], []
    for c, R in balls:
        for sh in image_shifts(np.asarray(c, float), R, W, D):
            bc.append(np.asarray(c, float) + sh)
            br.append(R)
    pc, pr = np.array(pc).reshape(-1, 3), np.array(pr)
    bc, br = np.array(bc).reshape(-1, 3), np.array(br)
    npc, nb = len(pc), len(bc)
    cc_node = npc + nb
    ea, eb = [], []
    ptree = cKDTree(pc) if npc else None
    rmax = float(pr.max()) if npc else 0.0

    def outside_particles(p):
        if ptree is None:
            return np.ones(len(p), bool)
        out = np.ones(len(p), bool)
        for k, near in enumerate(ptree.query_ball_point(p, rmax)):
            if near:
                out[k] = np.all(np.linalg.norm(pc[near] - p[k], axis=1) >= pr[near])
        return out

    # particle - collector
    for k in np.flatnonzero(pc[:, 2] - pr <= 0) if npc else []:
        ea.append(k)
        eb.append(cc_node)
    if nb:
        btree = cKDTree(bc)
        # particle - ball: the particle's cap inside the ball has a point in the box
        if npc:
            for k, near in enumerate(btree.query_ball_point(pc, pr + float(br.max()))):
                for j in near:
                    d = float(np.linalg.norm(bc[j] - pc[k]))
                    if d >= pr[k] + br[j] or d + br[j] <= pr[k]:
                        continue
                    p = pc[k] + pr[k] * _DIRS
                    p = p[np.linalg.norm(p - bc[j], axis=1) < br[j]]
                    if len(p) and _in_box(p, W, D, T, m).any():
                        ea.append(k)
                        eb.append(npc + j)
        # ball - ball: a point of one surface inside the other, in the box, in no particle
        for a, b in btree.query_pairs(2 * float(br.max())):
            d = float(np.linalg.norm(bc[a] - bc[b]))
            if d >= br[a] + br[b]:
                continue
            pts = []
            for s, o in ((a, b), (b, a)):
                p = bc[s] + br[s] * _DIRS
                pts.append(p[np.linalg.norm(p - bc[o], axis=1) < br[o]])
            p = np.concatenate(pts)
            p = p[_in_box(p, W, D, T, m)] if len(p) else p
            if len(p) and outside_particles(p).any():
                ea.append(npc + a)
                eb.append(npc + b)
        # ball - collector: its disc on z = 0 has a point in the box outside the particles
        ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        for j in np.flatnonzero(bc[:, 2] - br < 0):
            rho = np.sqrt(max(br[j] ** 2 - bc[j, 2] ** 2, 0.0)) * np.array([0.0, 0.5, 0.95])
            p = np.array([[bc[j, 0] + s * np.cos(t), bc[j, 1] + s * np.sin(t), m * 2] for s in rho for t in ang])
            p = p[_in_box(p, W, D, T, m)]
            if len(p) and outside_particles(p).any():
                ea.append(npc + j)
                eb.append(cc_node)
    lab = label_components(cc_node + 1, np.array(ea, np.int64), np.array(eb, np.int64))
    comps: dict[int, list[tuple[int, np.ndarray]]] = {}
    grounded = []
    for k in range(npc):
        piece = (int(pid[k]), pc[k])
        if lab[k] == lab[cc_node]:
            grounded.append(piece)
        else:
            comps.setdefault(int(lab[k]), []).append(piece)
    return [comps[k] for k in sorted(comps)], grounded
