"""Electronic connectivity of composite electrodes: the graph of conducting regions, and
binder bridges that repair isolated particles.

Graph (CAD level, rank 0, gmsh active): one node per conducting volume (a piece of a
particle, a carbon-binder piece, a collector volume), one edge per CAD surface shared by
two conducting volumes. The mesh is not periodic, so the pieces of a particle cut by a
lateral face are separate nodes: each must reach the collector on its own side. A piece
is *connected* when its component holds a collector volume; a particle when all of its
pieces are. ``connected_fraction`` = CAD volume of the connected particle pieces / CAD
volume of all particles.

Repair (pure numpy): each isolated component gets one straight binder cylinder (radius
0.3 min(r_a, r_b), or 0.15 / 0.08 min(r_a, r_b) where a thicker one fits nowhere, e.g.
from a small corner piece) from one of its particle pieces to the nearest connected
piece, or vertically down into the collector, whichever is shortest among those that
join the two pieces inside the box (a lateral face is crossed only at more than 20
degrees, the part outside being removed) and keep clear of every other particle (and
images). The model is then rebuilt with the bridges and checked again.

:func:`label_components` (numpy union-find) also serves the mesh-level check
(:func:`cellsim.geometry.measure.conducting_components`).
"""

from __future__ import annotations

import numpy as np

#: bridge radius / the smaller radius of the two particles it joins (the second value is
#: values are tried in turn where the first fits nowhere, e.g. from a small corner piece)
BRIDGE_RADIUS_FACTORS = (0.3, 0.15, 0.08)
#: longest bridge (surface to surface, or to the collector) / largest particle radius
BRIDGE_MAX_LENGTH = 2.5
#: rebuilds with bridges before a packing is refused
MAX_REPAIR_ROUNDS = 3


def label_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label (the smallest node index of its component) of nodes 0..n-1 of the
    undirected graph with edges (a[k], b[k]): union-find by hooking the larger root onto
    the smaller, with pointer jumping (vectorised)."""
    lab = np.arange(n, dtype=np.int64)
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while True:
        la, lb = lab[a], lab[b]
        diff = la != lb
        if not diff.any():
            return lab
        np.minimum.at(lab, np.maximum(la[diff], lb[diff]), np.minimum(la[diff], lb[diff]))
        while True:  # every node points to its root
            nxt = lab[lab]
            if np.array_equal(nxt, lab):
                break
            lab = nxt


def cad_graph(vol_leaf: dict[int, str]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Conducting volumes (sorted) and the edges between them (indices into that list)."""
    import gmsh

    nodes = sorted(v for v, name in vol_leaf.items() if name not in ("electrolyte", "separator", "pore"))
    index = {v: k for k, v in enumerate(nodes)}
    a, b = [], []
    for _, s in gmsh.model.getEntities(2):
        up, _ = gmsh.model.getAdjacencies(2, s)
        up = [int(u) for u in up]
        if len(up) == 2 and up[0] in index and up[1] in index:
            a.append(index[up[0]])
            b.append(index[up[1]])
    return nodes, np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)


def cad_connectivity(vol_leaf: dict[int, str], n_particles: int, volume) -> dict:
    """Connectivity report of the current gmsh model; ``volume(v)`` is a CAD volume [m^3].

    Returns the report (JSON-ready) plus, under ``"_isolated"``, the isolated components
    as lists of volume tags (removed by the caller before the report is stored).
    """
    nodes, a, b = cad_graph(vol_leaf)
    lab = label_components(len(nodes), a, b)
    names = [vol_leaf[v] for v in nodes]
    grounded = {lab[k] for k, nm in enumerate(names) if nm == "current_collector"}
    ok = np.array([lab[k] in grounded for k in range(len(nodes))], dtype=bool)
    pieces = np.zeros(n_particles, dtype=int)
    pieces_ok = np.zeros(n_particles, dtype=int)
    v_all = v_ok = 0.0
    for k, nm in enumerate(names):
        if nm.startswith("particle_"):
            i = int(nm[9:])
            vol = volume(nodes[k])
            pieces[i] += 1
            pieces_ok[i] += int(ok[k])
            v_all += vol
            v_ok += vol * ok[k]
    connected = [bool(p > 0 and p == q) for p, q in zip(pieces, pieces_ok)]
    isolated: dict[int, list[int]] = {}
    for k in np.flatnonzero(~ok):
        isolated.setdefault(int(lab[k]), []).append(nodes[k])
    iso_with_particles = [vs for vs in isolated.values() if any(vol_leaf[v].startswith("particle_") for v in vs)]
    return {
        "graph": "nodes: conducting CAD volumes (particle pieces, binder pieces, collector); "
        "edges: shared CAD surfaces; pieces of a particle cut by a lateral face are separate "
        "nodes (the mesh is not periodic)",
        "num_conducting_volumes": len(nodes),
        "num_components": len(set(lab.tolist())),
        "num_components_with_collector": len(grounded),
        "particles_connected": connected,
        "particles_not_connected": [i for i, c in enumerate(connected) if not c],
        "particle_pieces": pieces.tolist(),
        "particle_pieces_connected": pieces_ok.tolist(),
        "connected_fraction": v_ok / v_all if v_all > 0 else 0.0,
        "connected_particle_fraction": float(np.mean(connected)) if connected else 0.0,
        "_isolated": iso_with_particles,
    }


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances of the points p (k x 3) to the segment [a, b]."""
    d = b - a
    t = np.clip(((p - a) @ d) / max(float(d @ d), 1e-300), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * d[None, :]), axis=1)


def _directions(n: int) -> np.ndarray:
    """n nearly uniform unit vectors (Fibonacci sphere)."""
    k = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * k / n)
    th = np.pi * (1 + 5**0.5) * k
    return np.column_stack([np.cos(th) * np.sin(phi), np.sin(th) * np.sin(phi), np.cos(phi)])


def _embed(q: np.ndarray, v: np.ndarray, c: np.ndarray, r: float, rho: float) -> np.ndarray | None:
    """The end point q - delta v of a cylinder (axis v, radius rho) leaving the sphere (c, r)
    at q, with delta the smallest (in steps of rho/4) that puts its end disk inside the
    sphere (the part inside is cut away by the particle: no binder slab at the surface)."""
    e1 = np.cross(v, [1.0, 0.0, 0.0] if abs(v[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(v, e1)
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    rim = rho * (np.cos(t)[:, None] * e1 + np.sin(t)[:, None] * e2)
    for delta in rho * 0.25 * np.arange(1, 4 * int(np.ceil(r / rho)) + 1):
        a = q - delta * v
        if np.all(np.linalg.norm(a + rim - c, axis=1) < 0.97 * r):
            return a
    return None


def plan_bridges(isolated: list[list[tuple[int, np.ndarray]]], grounded: list[tuple[int, np.ndarray]],
                 centres: np.ndarray, radii: np.ndarray, box: tuple[float, float, float],
                 collector_depth: float) -> tuple[list[dict], list[int]]:
    """Binder bridges joining each isolated component to the connected network.

    ``isolated``: per component, its particle pieces as (particle index, centre of the
    sphere copy the piece belongs to); ``grounded``: the connected pieces, likewise.
    Lengths in model units. A bridge is a straight cylinder from a point q of the piece's
    surface inside the box to the nearest point of a connected sphere copy, or straight
    down into the collector; q is searched over 2000 directions, the shortest bridge wins
    among those whose surface points lie 0.3 rho inside the box, that keep 1.1 rho from the
    lateral faces or cross them at more than 20 degrees, leave and enter the surfaces at less
    than 72 degrees from their normals and pass 1.25 rho clear of every other particle.
    A component joins the network once bridged, so later components may bridge to it.
    Returns the bridges (``start``, ``end``, ``radius``, ``kind``, ``from``, ``to``,
    ``length``) and the particles of the components left unbridged.
    """
    W, D, T = box
    shifts = np.array([(a * W, b * D, 0.0) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    all_c = (centres[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    all_r = np.tile(radii, len(shifts))
    lmax = BRIDGE_MAX_LENGTH * float(radii.max())
    dirs = _directions(2000)
    targets = list(grounded)
    todo = list(range(len(isolated)))
    bridges: list[dict] = []

    def inside(p, m):
        p = np.atleast_2d(p)
        return (p[:, 0] >= m) & (p[:, 0] <= W - m) & (p[:, 1] >= m) & (p[:, 1] <= D - m) & (p[:, 2] <= T - m)

    def faces_ok(p, v, rho):
        """Near a lateral face (closer than 1.1 rho, or beyond it) the axis must cross it at
        more than 20 degrees: a transversal cut, never a near-tangent side (slivers)."""
        p, v = np.atleast_2d(p), np.atleast_2d(v)
        ok = np.ones(len(p), dtype=bool)
        for k, Lk in ((0, W), (1, D)):
            near = np.minimum(p[:, k], Lk - p[:, k]) < 1.1 * rho
            ok &= ~near | (np.abs(v[:, k]) >= 0.35)
        return ok

    def clear(q, qb, rho, ends):
        keep = np.ones(len(all_c), dtype=bool)
        for c in ends:
            keep &= np.linalg.norm(all_c - c, axis=1) > 1e-9 * lmax
        return bool(np.all(_segment_distance(all_c[keep], q, qb) >= all_r[keep] + 1.25 * rho))

    def candidates(i, ci, factor):
        """(length, q, end point on the target, target, rho, target centre) of piece (i, ci)."""
        ri = radii[i]
        out = []
        rho = factor * ri
        q = ci + ri * dirs
        ok = inside(q, 1.1 * rho) & (q[:, 2] >= 0) & (-dirs[:, 2] >= 0.3)
        for k in np.flatnonzero(ok):  # down to the collector
            if q[k, 2] <= lmax:
                out.append((float(q[k, 2]), q[k], np.array([q[k, 0], q[k, 1], 0.0]), "collector", rho, None))
        for j, cj in targets:
            rho = factor * min(ri, radii[j])
            q = ci + ri * dirs
            w = q - cj
            dw = np.linalg.norm(w, axis=1)
            qb = cj + radii[j] * w / dw[:, None]
            length = dw - radii[j]
            v = (qb - q) / np.maximum(length, 1e-300)[:, None]
            ok = ((length > 0) & (length <= lmax) & inside(q, 0.3 * rho) & inside(qb, 0.3 * rho)
                  & faces_ok(q, v, rho) & faces_ok(qb, v, rho)
                  & (q[:, 2] >= 1.1 * rho) & (qb[:, 2] >= 1.1 * rho)
                  & (np.sum(v * dirs, axis=1) >= 0.3) & (np.sum(v * w, axis=1) / dw <= -0.3))  # fmt: skip
            for k in np.flatnonzero(ok):
                out.append((float(length[k]), q[k], qb[k], int(j), rho, cj))
        return out

    def best_for(comp):
        for factor in BRIDGE_RADIUS_FACTORS:
            found = best_at(comp, factor)
            if found is not None:
                return found
        return None

    def best_at(comp, factor):
        cands = [(c, i, ci) for i, ci in comp for c in candidates(i, ci, factor)]
        for (length, q, qb, to, rho, cj), i, ci in sorted(cands, key=lambda x: x[0][0]):
            if not clear(q, qb, rho, [ci] if cj is None else [ci, cj]):
                continue
            v = (qb - q) / np.linalg.norm(qb - q)
            a = _embed(q, v, ci, radii[i], rho)
            if a is None or not faces_ok(a, v, rho)[0]:
                continue  # what leaves the box is removed; the part inside joins q to qb
            if cj is None:
                b = np.array([qb[0], qb[1], -0.5 * collector_depth])
            else:
                b = _embed(qb, -v, cj, radii[to], rho)
                if b is None or not faces_ok(b, v, rho)[0]:
                    continue
            kind = "collector" if cj is None else "pair"
            return length, dict(kind=kind, start=a, end=b, radius=rho, to=to), i
        return None

    while todo:
        scored = [(s, k) for k in todo if (s := best_for(isolated[k])) is not None]
        if not scored:
            break
        (length, bridge, i), k = min(scored, key=lambda x: x[0][0])
        bridge["from"] = int(i)
        bridge["length"] = float(length)
        bridges.append(bridge)
        targets.extend(isolated[k])
        todo.remove(k)
    left = sorted({i for k in todo for i, _ in isolated[k]})
    return bridges, left
