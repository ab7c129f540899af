r"""Electronic network of the half-cell's solid: which particles still reach the collector.

Graph (collective to build, identical on every rank): one node per particle, one node per
connected carbon-binder piece (binder cells joined by shared facets, merged across MPI
ranks), and one node for the current collector. Edges and their conductances:

=========================  ================================================  ==========
edge                       conductance                                       from
=========================  ================================================  ==========
particle -- binder piece   sum_f G(d_f) A_f over their shared facets         particle_binder
particle -- particle       perfect (phi_s is one continuous field)           shared facets
particle -- collector      sum_f G_cc c(d_f) A_f (c = 1 when clamped)        collector_particle
binder piece -- collector  sum_f G_cc c(d_f) A_f (c = 1 when clamped)        collector_binder
=========================  ================================================  ==========

with G(d) = (1 - d)^p G_0 + G_res (the damaged contact) and c(d) = (1 - d)^p + G_res/G_0
on a cohesive collector bond. An edge *conducts* when it carries the 1C current of the
particle it touches with less than ``isolation_voltage`` across it, g V_iso >= I_1C,i (an
edge between a binder piece and the collector: the mean particle's I_1C). A particle is
electronically connected iff a path of conducting edges joins it to the collector node.

Construction: the binder pieces are labelled on each rank (owned and ghost cells, numpy
union-find), each ghost cell links its rank's piece to its owner's piece, and this small
graph of pieces (a few integers per piece) is gathered on every rank and labelled again.
The edge lists are summed per node pair on each rank, gathered on every rank in rank
order, and summed again; every rank then labels the same arrays, so every rank gets the
same answer (serial = parallel up to the order of the conductance sums).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..geometry.connectivity import label_components

dolfinx = require_dolfinx()


class ConductanceGraph:
    """Nodes of the solid network on the parent mesh (see the module docstring).

    tag_of: cell tag of every local parent cell (owned and ghost), -1 for untagged;
    ptags: sorted tags of the particles (particle i has tag ptags[i]); binder_tags: tags of
    the carbon-binder region.
    """

    def __init__(self, parent, tag_of: np.ndarray, ptags: np.ndarray, binder_tags):
        self.comm = comm = parent.comm
        tdim = parent.topology.dim
        parent.topology.create_connectivity(tdim - 1, tdim)
        self.f2c = f2c = parent.topology.connectivity(tdim - 1, tdim)
        imap = parent.topology.index_map(tdim)
        nown, nloc = imap.size_local, imap.size_local + imap.num_ghosts
        self.npart = npart = len(ptags)
        self.collector = npart
        # particle node of every local cell
        idx = np.searchsorted(ptags, tag_of)
        idx[idx >= npart] = 0
        self.cell_node = np.where((npart > 0) & (ptags[idx] == tag_of), idx, -1).astype(np.int64)
        # binder pieces: local labels, then merged over ranks
        bmask = np.isin(tag_of, np.asarray(binder_tags, dtype=tag_of.dtype))
        off, links = f2c.offsets, f2c.array
        two = np.flatnonzero(np.diff(off) == 2)
        c0, c1 = links[off[two]], links[off[two] + 1]
        keep = bmask[c0] & bmask[c1]
        lab = label_components(nloc, c0[keep], c1[keep])
        bcells = np.flatnonzero(bmask)
        _, comp = np.unique(lab[bcells], return_inverse=True)
        ncomp = int(comp.max()) + 1 if len(comp) else 0
        counts = comm.allgather(ncomp)
        first = int(sum(counts[: comm.rank]))
        gid = np.full(nloc, -1, dtype=np.int64)
        gid[bcells] = first + comp
        vec = dolfinx.la.vector(imap, 1, dtype=np.float64)  # ids < 2^53: exact
        vec.array[:] = gid
        vec.scatter_forward()  # ghosts take their owner's piece id
        owner_gid = np.rint(vec.array).astype(np.int64)
        ghosts = np.arange(nown, nloc)[bmask[nown:]]
        pairs = np.concatenate(comm.allgather(np.column_stack([gid[ghosts], owner_gid[ghosts]]).reshape(-1, 2)))
        glab = label_components(int(sum(counts)), pairs[:, 0], pairs[:, 1])
        _, piece = np.unique(glab, return_inverse=True)
        self.num_binder_pieces = int(piece.max()) + 1 if len(piece) else 0
        self.cell_node[bcells] = npart + 1 + piece[gid[bcells]]
        self.num_nodes = npart + 1 + self.num_binder_pieces
        # particle/particle contacts (owned facets between two different particles)
        fmap = parent.topology.index_map(tdim - 1)
        own2 = two[two < fmap.size_local]
        n0, n1 = self.cell_node[links[off[own2]]], self.cell_node[links[off[own2] + 1]]
        pp = (n0 >= 0) & (n1 >= 0) & (n0 < npart) & (n1 < npart) & (n0 != n1)
        self.particle_pairs = (n0[pp], n1[pp])

    def facet_nodes(self, facets) -> tuple[np.ndarray, np.ndarray]:
        """(first, second) solid nodes of local facets (-1 where a side is not a solid node;
        second = -1 on an exterior facet)."""
        f2c = self.f2c
        facets = np.asarray(facets, dtype=np.int64)
        a = np.full(len(facets), -1, dtype=np.int64)
        b = np.full(len(facets), -1, dtype=np.int64)
        for k, f in enumerate(facets):
            cs = f2c.links(int(f))
            a[k] = self.cell_node[cs[0]]
            if len(cs) > 1:
                b[k] = self.cell_node[cs[1]]
        return a, b

    def solid_node(self, facets) -> np.ndarray:
        """The one solid node (particle or binder piece) of each facet (collector facets)."""
        a, b = self.facet_nodes(facets)
        return np.where(a >= 0, a, b)

    def connected(self, edges, i1c: np.ndarray, isolation_voltage: float) -> np.ndarray:
        """Connected flag per particle (collective, identical on every rank).

        edges: [(a, b, g)] arrays over this rank's owned facets: node ids and conductances
        (S; np.inf: a perfect contact); the particle/particle contacts are added here.
        i1c: 1C current of each particle [A]."""
        p0, p1 = self.particle_pairs
        parts = list(edges) + [(p0, p1, np.full(len(p0), np.inf))]
        a = np.concatenate([np.asarray(e[0], dtype=np.int64) for e in parts])
        b = np.concatenate([np.asarray(e[1], dtype=np.int64) for e in parts])
        g = np.concatenate([np.asarray(e[2], dtype=np.float64) for e in parts])
        ok = (a >= 0) & (b >= 0) & (a != b)
        lo, hi, g = np.minimum(a, b)[ok], np.maximum(a, b)[ok], g[ok]
        key, inv = np.unique(np.column_stack([lo, hi]).reshape(-1, 2), axis=0, return_inverse=True)
        gs = np.zeros(len(key))
        np.add.at(gs, inv.reshape(-1), g)
        key = np.concatenate(self.comm.allgather(key)).reshape(-1, 2)
        gs = np.concatenate(self.comm.allgather(gs))
        key, inv = np.unique(key, axis=0, return_inverse=True)
        gsum = np.zeros(len(key))
        np.add.at(gsum, inv.reshape(-1), gs)
        i1c = np.asarray(i1c, dtype=np.float64)
        mean = float(np.mean(i1c)) if len(i1c) else 0.0
        need = np.where(key[:, 0] < self.npart, i1c[np.minimum(key[:, 0], max(self.npart - 1, 0))], mean)
        cond = gsum * isolation_voltage >= need
        lab = label_components(self.num_nodes, key[cond, 0], key[cond, 1])
        return lab[: self.npart] == lab[self.collector]


__all__ = ["ConductanceGraph"]
