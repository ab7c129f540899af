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
