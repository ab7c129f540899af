"""Every carbon-binder piece of an electrode is anchored to a particle or the collector.

A binder piece touching neither (the remnant of a neck cut by the particles) has no defined
potential: a floating, singular block of the potential equations, which made the iterative
half-cell solver (GAMG) stall at 120k unknowns. The builder merges such pieces into the
electrolyte and reports them. Checked on the mesh itself: connected components of the binder
cells (sharing a facet) must each carry a particle/binder or collector/binder facet.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))


def _binder_components_anchored(tm):
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    msh = tm.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    f2c = msh.topology.connectivity(tdim - 1, tdim)
    binder_tags = np.array(tm.regions["binder"])
    cells = np.flatnonzero(np.isin(tm.cell_tags.values, binder_tags))
    binder_cells = tm.cell_tags.indices[cells]
    local = -np.ones(msh.topology.index_map(tdim).size_local, dtype=np.int64)
    local[binder_cells] = np.arange(len(binder_cells))
    off, links = f2c.offsets, f2c.array
    two = np.flatnonzero(np.diff(off) == 2)
    a, b = local[links[off[two]]], local[links[off[two] + 1]]
    keep = (a >= 0) & (b >= 0)
    n = len(binder_cells)
    G = sp.coo_matrix((np.ones(keep.sum()), (a[keep], b[keep])), shape=(n, n))
    ncomp, label = connected_components(G, directed=False)
    anchor_tags = [t for name in ("particle_binder", "collector_binder") for t in tm.interfaces.get(name, ())]
    facets = tm.facet_tags.indices[np.isin(tm.facet_tags.values, anchor_tags)]
    anchored = set()
    for f in facets:
        for c in links[off[f]:off[f + 1]]:
            if local[c] >= 0:
                anchored.add(int(label[local[c]]))
    return ncomp, anchored


def test_no_floating_binder_pieces():
    """The benchmark half-cell (seed 7) had one floating binder piece before the fix."""
    pytest.importorskip("scipy")
    from halfcell_bench import geometry

    from cellsim.geometry.mesh import build_mesh
    from cellsim.case.halfcell import HalfCellCase

    case = HalfCellCase.model_validate({"model": "halfcell", "geometry": geometry(1.0)})
    tm = build_mesh(case.geometry, MPI.COMM_SELF)
    merged = tm.info["isolated_binder_merged_into_electrolyte"]
    assert merged["pieces"] >= 1 and 0 < merged["volume"] < 1e-3 * 13e-6 * 13e-6 * 18e-6, merged
    ncomp, anchored = _binder_components_anchored(tm)
    assert ncomp >= 1 and anchored == set(range(ncomp)), (ncomp, anchored)
