"""Measures of a :class:`~cellsim.geometry.mesh.TaggedMesh`, reduced over MPI ranks.

Plain numpy on the P1 geometry (no form compilation): the volume of tetrahedron
(x0, x1, x2, x3) is |det[x1-x0, x2-x0, x3-x0]| / 6 and the area of triangle (x0, x1, x2)
is |(x1-x0) x (x2-x0)| / 2. Only owned entities are summed, so every cell and facet
counts once over the communicator (collective calls: every rank must call them).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI


def cell_volumes(msh, cells: np.ndarray) -> np.ndarray:
    """Signed volumes of the local tetrahedra ``cells`` (the sign follows the vertex order)."""
    x = msh.geometry.x
    dm = msh.geometry.dofmaps[0][np.asarray(cells, dtype=np.int32)]
    p = x[dm]
    return np.linalg.det(p[:, 1:4, :] - p[:, :1, :]) / 6.0


def facet_areas(msh, facets: np.ndarray) -> np.ndarray:
    from dolfinx.mesh import entities_to_geometry

    facets = np.asarray(facets, dtype=np.int32)
    if facets.size == 0:
        return np.zeros(0)
    g = entities_to_geometry(msh, msh.topology.dim - 1, facets)
    p = msh.geometry.x[g]
    return 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)


def region_volume(tm, name: str) -> float:
    """Volume of region ``name`` [m^3] (collective)."""
    return tm.comm.allreduce(float(np.abs(cell_volumes(tm.mesh, tm.cells(name, owned=True))).sum()), MPI.SUM)


def interface_area(tm, name: str) -> float:
    """Area of interface ``name`` [m^2] (collective)."""
    return tm.comm.allreduce(float(facet_areas(tm.mesh, tm.facets(name, owned=True)).sum()), MPI.SUM)


def count_cells(tm, name: str) -> int:
    return tm.comm.allreduce(int(tm.cells(name, owned=True).size), MPI.SUM)


def count_facets(tm, name: str) -> int:
    return tm.comm.allreduce(int(tm.facets(name, owned=True).size), MPI.SUM)


def interface_sides(tm, name: str) -> dict[tuple[int, ...], int]:
    """Count of owned facets of ``name`` by the sorted cell-tag values on their sides.

    An exterior facet gives a 1-tuple, an interior facet a 2-tuple (collective; the
    dictionary is merged over ranks).
    """
    msh = tm.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    f2c = msh.topology.connectivity(tdim - 1, tdim)
    ncell = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    tagval = np.full(ncell, -1, dtype=np.int64)
    tagval[tm.cell_tags.indices] = tm.cell_tags.values
    out: dict[tuple[int, ...], int] = {}
    for f in tm.facets(name, owned=True):
        key = tuple(sorted(int(tagval[c]) for c in f2c.links(f)))
        out[key] = out.get(key, 0) + 1
    merged: dict[tuple[int, ...], int] = {}
    for part in tm.comm.allgather(out):
        for k, v in part.items():
            merged[k] = merged.get(k, 0) + v
    return merged


def conducting_components(tm, regions=("particle", "binder", "current_collector")) -> dict:
    """Connectivity of the conducting cells on the distributed mesh (collective).

    Graph: the cells of ``regions``, linked when they share a facet. Components are found
    per rank (owned and ghost cells), then merged over ranks by passing the smallest
    global cell index of each local component through the ghost cells until no label
    changes (the shared-facet ghost layer makes every cross-rank edge visible on both
    sides). A particle is connected when every one of its cells lies in a component with
    a ``current_collector`` cell. Same keys as ``info['connectivity']`` of the builder
    (``particles_connected``, ``particles_not_connected``, ``num_components``,
    ``num_components_with_collector``, ``connected_fraction`` by mesh volume).
    """
    import dolfinx.la

    from cellsim.geometry.connectivity import label_components

    msh, comm = tm.mesh, tm.comm
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    f2c = msh.topology.connectivity(tdim - 1, tdim)
    imap = msh.topology.index_map(tdim)
    nown, nloc = imap.size_local, imap.size_local + imap.num_ghosts
    tagval = np.full(nloc, -1, dtype=np.int64)
    tagval[tm.cell_tags.indices] = tm.cell_tags.values
    cond_tags = sorted({t for r in regions if r in tm.regions for t in tm.regions[r]})
    cond = np.isin(tagval, cond_tags)
    off, links = f2c.offsets, f2c.array
    two = np.flatnonzero(np.diff(off) == 2)
    c0, c1 = links[off[two]], links[off[two] + 1]
    keep = cond[c0] & cond[c1]
    local = label_components(nloc, c0[keep], c1[keep])
    gidx = imap.local_to_global(np.arange(nloc, dtype=np.int32)).astype(np.int64)
    big = np.iinfo(np.int64).max

    def component_min(values):
        m = np.full(nloc, big, dtype=np.int64)
        np.minimum.at(m, local, values)
        return m[local]

    label = component_min(gidx)
    vec = dolfinx.la.vector(imap, 1, dtype=np.float64)  # global indices < 2^53: exact
    while True:
        vec.array[:] = label
        vec.scatter_forward()  # ghosts take their owner's label
        new = component_min(np.rint(vec.array).astype(np.int64))
        changed = comm.allreduce(bool(np.any(new != label)), op=MPI.LOR)
        label = new
        if not changed:
            break
    owned_cond = np.flatnonzero(cond[:nown])
    coll = tm.regions.get("current_collector", ())
    grounded = set().union(*comm.allgather(set(label[:nown][np.isin(tagval[:nown], coll)].tolist())))
    comps = set().union(*comm.allgather(set(label[owned_cond].tolist())))
    ok = np.isin(label, np.fromiter(grounded, dtype=np.int64, count=len(grounded)))
    # particle_i: a leaf region, or the aggregate of its grains (particle_type = 'secondary')
    names = sorted((n for n in tm.regions if n.startswith("particle_") and n[9:].isdigit()), key=lambda n: int(n[9:]))
    bad = np.zeros(len(names), dtype=np.int32)
    vol = np.zeros(2)
    for k, name in enumerate(names):
        cells = np.flatnonzero(np.isin(tagval[:nown], tm.regions[name]))
        bad[k] = int(np.any(~ok[cells]))
        v = np.abs(cell_volumes(msh, cells))
        vol += (v.sum(), v[ok[cells]].sum())
    comm.Allreduce(MPI.IN_PLACE, bad, op=MPI.MAX)
    comm.Allreduce(MPI.IN_PLACE, vol, op=MPI.SUM)
    connected = [not b for b in bad.tolist()]
    return {
        "particles_connected": connected,
        "particles_not_connected": [int(n[9:]) for n, c in zip(names, connected) if not c],
        "num_components": len(comps),
        "num_components_with_collector": len(grounded),
        "connected_fraction": float(vol[1] / vol[0]) if vol[0] > 0 else 0.0,
    }
