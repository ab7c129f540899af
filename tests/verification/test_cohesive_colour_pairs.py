"""One cohesive term per colour pair (issue 13: fewer forms to compile): the particle model
integrates all touching region pairs whose regions have the colours (a, b), a < b, in one
:class:`Cohesive` term over the union of their facets, "+" = colour a.

On an 8-grain secondary particle (coarse mesh), checked against independent code
(:func:`cellsim.regions.interface_facets` per region pair):

* the terms are exactly the touching colour pairs, fewer than the region pairs;
* every region pair's facets lie in its colour pair's term, and the terms hold no other
  facet (global counts equal);
* every facet of a term has its "+" cell in a region of the lower colour;
* per-pair diagnostics from the facets afterwards: damage set on one region pair's facets
  only is reported for that pair alone (area fraction 1, the others 0), and the
  model's damaged area fraction is that pair's share of the grain-boundary area.
"""

from __future__ import annotations

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from mpi4py import MPI  # noqa: E402

from cellsim import regions as itf  # noqa: E402
from cellsim.case import case_from_dict  # noqa: E402
from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.models.particle import ParticleModel  # noqa: E402
from cellsim.models.particle_mechanics import owned_history_facets, touching_pairs  # noqa: E402

pytestmark = pytest.mark.mpi

GEOM = {"kind": "secondary_particle", "radius": 3e-6, "n_grains": 8, "seed": 3, "mesh_size": 1.5e-6}


def test_one_cohesive_term_per_colour_pair():
    case = case_from_dict({
        "geometry": GEOM, "material": {"name": "nmc811_chen2020", "lattice_strain": "nmc811_kondrakov2017"},
        "physics": {"initial_stoichiometry": 0.99, "stress_assisted_diffusion": False,
                    "stress_in_overpotential": False},
        "mechanics": {"interface": "cohesive"}, "discretisation": {"displacement_degree": 1},
        "control": {"mode": "flux", "c_rate": 1.0, "direction": "delithiation"}, "time": {"t_end": 3600.0}})
    comm = MPI.COMM_WORLD
    tm = build_mesh(case.geometry, comm)
    m = ParticleModel(case, tm, comm)
    names = [f"grain_{i}" for i in range(GEOM["n_grains"])]
    cells = [itf.region_cells(tm.cell_tags, tm.regions[g]) for g in names]
    col = [m.region_colour[g] for g in names]
    pairs = touching_pairs(m.mesh, cells)
    colour_pairs = sorted({(min(col[i], col[j]), max(col[i], col[j])) for i, j in pairs})
    assert len(m.cohesives) == len(colour_pairs) < len(pairs)
    tdim = m.mesh.topology.dim
    nf = m.mesh.topology.index_map(tdim - 1).size_local + m.mesh.topology.index_map(tdim - 1).num_ghosts
    ncell = m.mesh.topology.index_map(tdim).size_local + m.mesh.topology.index_map(tdim).num_ghosts
    colour_of_cell = np.full(ncell, -1)
    for c, k in zip(cells, col):
        colour_of_cell[c] = k
    owner = np.full(nf, -1)  # term index of each owned interface facet
    seen = set()
    for t, coh in enumerate(m.cohesives):
        it = coh.itf
        a, b = sorted({col[i] for _, (i, j) in coh.pairs} | {col[j] for _, (i, j) in coh.pairs})
        assert (a, b) in colour_pairs and (a, b) not in seen
        seen.add((a, b))
        assert {(min(col[i], col[j]), max(col[i], col[j])) for _, (i, j) in coh.pairs} == {(a, b)}
        owner[owned_history_facets(it)] = t
        data = it.integration_data.reshape(-1, 4)
        assert np.all(colour_of_cell[data[:, 0]] == a) and np.all(colour_of_cell[data[:, 2]] == b)
    imap_f = m.mesh.topology.index_map(tdim - 1)
    n_terms = comm.allreduce(int(np.sum(owner[: imap_f.size_local] >= 0)), op=MPI.SUM)
    n_pairs = 0
    for i, j in pairs:
        f = itf.interface_facets(m.mesh, cells[i], cells[j])
        f = f[f < imap_f.size_local]
        n_pairs += len(f)
        key = (min(col[i], col[j]), max(col[i], col[j]))
        t = [k for k, coh in enumerate(m.cohesives) if any(p == (i, j) for _, p in coh.pairs)]
        assert len(t) == 1 and np.all(owner[f] == t[0]), (i, j, key)
    assert n_terms == comm.allreduce(n_pairs, op=MPI.SUM) > 0

    # per-pair diagnostics from the facets: damage 1 on one region pair only
    i0, j0 = pairs[len(pairs) // 2]
    f0 = itf.interface_facets(m.mesh, cells[i0], cells[j0])
    mark = np.zeros(nf, bool)
    mark[f0] = True
    area0 = 0.0
    for coh in m.cohesives:
        it = coh.itf
        sel = mark[owned_history_facets(it)]
        it.d.x.array[: it._nown] = sel.astype(float)
        it.d.x.scatter_forward()
        area0 += float(it.area[sel].sum())
    area0 = comm.allreduce(area0, op=MPI.SUM)
    total = sum(coh.itf.total_area for coh in m.cohesives)
    per_pair = m.pair_diagnostics()
    name0 = next(n for coh in m.cohesives for n, p in coh.pairs if p == (i0, j0))
    assert len(per_pair) == len(pairs)
    for n, (dam, deb, _) in per_pair.items():
        assert (dam, deb) == ((1.0, 1.0) if n == name0 else (0.0, 0.0)), n
    assert m.interface_diagnostics()["damaged area fraction [-]"] == pytest.approx(area0 / total, rel=1e-12)
