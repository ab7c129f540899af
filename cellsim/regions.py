"""Regions as submeshes and particle/electrolyte interfaces as one-sided facet measures.

The resolved half-cell has one DOLFINx submesh per region (particle, electrolyte, ...)
carved out of a parent mesh whose cells are tagged by region. Unknowns live on the
submeshes; every integral is written on the *parent* mesh (``dx(tag)``, ``ds(tag)``, and
``dS`` for an interface) and the forms receive the submeshes' entity maps
(``entity_maps=[...]``). See ENVIRONMENT.md, "DOLFINx 0.11 facts for multi-region problems".

Interface integrals use the parent's interior facets. A UFL interior-facet integral has two
sides, "+" and "-", and DOLFINx decides per facet which cell is which. A submesh function
exists on one side only, so this module builds the integration data itself and orders every
(cell, local facet) pair so that **"+" is always the plus region (the particle / solid) and
"-" the other region (the electrolyte)**. Then ``n = FacetNormal(parent)("+")`` points from
the particle into the electrolyte, as DESIGN.md section 3 assumes, and a term
``c_s("+") * w("+")`` is never silently zero on half of the facets.

Parallel: the parent must be distributed with ghost mode ``shared_facet`` so that both
cells of every interface facet are present on the rank that owns the facet
(``dolfinx.mesh.create_cell_partitioner(GhostMode.shared_facet, 2)``; the unit-square/cube
constructors use shared_facet by default). Integration data contain owned facets only, so
each facet is integrated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import ufl

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import fem, mesh  # noqa: E402


@dataclass
class Region:
    """A region of the parent mesh as a submesh.

    mesh:          the submesh (cells of the region, same gdim)
    entity_map:    parent cells <-> submesh cells (pass to forms via ``entity_maps``)
    vertex_map:    parent vertices <-> submesh vertices
    geometry_map:  submesh geometry nodes -> parent geometry nodes
    parent_cells:  local parent cell indices (owned and ghost) of the region
    tags:          the cell-tag values that make up the region
    """

    name: str
    mesh: Any
    entity_map: Any
    vertex_map: Any
    geometry_map: np.ndarray
    parent_cells: np.ndarray
    tags: tuple[int, ...]


def _as_tags(tags: int | Iterable[int]) -> tuple[int, ...]:
    if isinstance(tags, (int, np.integer)):
        return (int(tags),)
    return tuple(int(t) for t in tags)


def region_cells(cell_tags: Any, tags: int | Iterable[int]) -> np.ndarray:
    """Sorted local parent cells (owned and ghost) carrying any of ``tags``."""
    tags = _as_tags(tags)
    sel = np.isin(cell_tags.values, np.asarray(tags, dtype=cell_tags.values.dtype))
    return np.unique(cell_tags.indices[sel]).astype(np.int32)


def make_submeshes(parent: Any, cell_tags: Any, regions: dict[str, int | Sequence[int]]) -> dict[str, Region]:
    """One submesh per named region: ``{"particle": 1, "electrolyte": (2, 3)}`` -> {name: Region}.

    ``cell_tags`` must tag the cells of the parent (owned and ghost, as
    ``dolfinx.io.gmsh.model_to_mesh`` and ``dolfinx.mesh.meshtags`` built from
    ``locate_entities`` give them). Raises ValueError for a region with no cell on any rank
    (collective check).
    """
    tdim = parent.topology.dim
    if cell_tags.dim != tdim:
        raise ValueError(f"cell_tags has dimension {cell_tags.dim}; cell tags of dimension {tdim} expected")
    out: dict[str, Region] = {}
    comm = parent.comm
    for name, tags in regions.items():
        tags_t = _as_tags(tags)
        cells = region_cells(cell_tags, tags_t)
        n_owned = int(np.sum(cells < parent.topology.index_map(tdim).size_local))
        if comm.allreduce(n_owned) == 0:
            present = sorted(set(comm.allreduce(list(np.unique(cell_tags.values).tolist()))))
            raise ValueError(f"region {name!r}: no cell has tag(s) {list(tags_t)}; tags present: {present}")
        sub, emap, vmap, gmap = mesh.create_submesh(parent, tdim, cells)
        out[name] = Region(name, sub, emap, vmap, gmap, cells, tags_t)
    return out


def _cell_mask(parent: Any, cells: np.ndarray | None) -> np.ndarray:
    tdim = parent.topology.dim
    imap = parent.topology.index_map(tdim)
    n = imap.size_local + imap.num_ghosts
    cells = np.asarray(cells)
    if cells.dtype == bool:
        if cells.shape != (n,):
            raise ValueError(f"boolean cell marker has shape {cells.shape}; ({n},) expected")
        return cells
    mask = np.zeros(n, dtype=bool)
    mask[cells.astype(np.int64)] = True
    return mask


def interface_facets(parent: Any, plus_cells: np.ndarray, minus_cells: np.ndarray) -> np.ndarray:
    """Local facets (owned and ghost) shared by a cell of ``plus_cells`` and one of ``minus_cells``.

    For meshes whose interface facets are not tagged (e.g. a unit square with cell tags).
    Both arguments are arrays of local parent cell indices or boolean masks over local cells.
    """
    tdim = parent.topology.dim
    parent.topology.create_connectivity(tdim - 1, tdim)
    f2c = parent.topology.connectivity(tdim - 1, tdim)
    pm, mm = _cell_mask(parent, plus_cells), _cell_mask(parent, minus_cells)
    offsets = f2c.offsets
    links = f2c.array
    nlinks = np.diff(offsets)
    two = np.flatnonzero(nlinks == 2)
    c0, c1 = links[offsets[two]], links[offsets[two] + 1]
    hit = (pm[c0] & mm[c1]) | (pm[c1] & mm[c0])
    return two[hit].astype(np.int32)


def interface_integration_data(parent: Any, facets: np.ndarray, plus_cells: np.ndarray) -> np.ndarray:
    """Interior-facet integration data, shape (n, 4): (cell+, local facet+, cell-, local facet-).

    ``facets``: local parent facet indices of the interface (ghosts allowed; only owned
    facets are returned). ``plus_cells``: parent cells (indices or boolean mask) of the "+"
    side. Every returned row has its first cell in ``plus_cells`` and its second not; a
    facet with both or neither cell in ``plus_cells`` raises ValueError (not an interface).
    A measure takes the flattened array: ``subdomain_data=[(tag, data.reshape(-1))]``.
    """
    tdim = parent.topology.dim
    parent.topology.create_connectivity(tdim - 1, tdim)
    parent.topology.create_connectivity(tdim, tdim - 1)
    mask = _cell_mask(parent, plus_cells)
    facets = np.unique(np.asarray(facets, dtype=np.int32))
    data = fem.compute_integration_domains(fem.IntegralType.interior_facet, parent.topology, facets)
    data = np.asarray(data, dtype=np.int32).reshape(-1, 4).copy()
    plus0, plus1 = mask[data[:, 0]], mask[data[:, 2]]
    bad = plus0 == plus1
    if np.any(bad):
        raise ValueError(
            f"{int(bad.sum())} of the given facets do not separate the plus region from another "
            "region (both or neither adjacent cell is a plus cell)"
        )
    swap = ~plus0
    data[swap] = data[swap][:, [2, 3, 0, 1]]
    return data


def interface_measure(
    parent: Any,
    facet_tags: Any,
    tag: int | Iterable[int],
    plus_cells: np.ndarray,
    metadata: dict | None = None,
) -> ufl.Measure:
    """``dS`` on the parent over the facets tagged ``tag`` with "+" = the ``plus_cells`` side.

    ``tag`` may be one tag or several (e.g. one per particle); each keeps its own subdomain
    id, so use ``dGamma(t)`` for one interface or ``dGamma(tags)`` (a tuple) for several.
    For an untagged interface use :func:`interface_measure_from_facets`.
    """
    tags = _as_tags(tag)
    data = []
    for t in tags:
        facets = facet_tags.indices[facet_tags.values == t]
        data.append((t, interface_integration_data(parent, facets, plus_cells).reshape(-1)))
    return ufl.Measure("dS", domain=parent, subdomain_data=data, metadata=metadata or {})


def interface_measure_from_facets(
    parent: Any, facets: np.ndarray, plus_cells: np.ndarray, tag: int = 1, metadata: dict | None = None
) -> ufl.Measure:
    """As :func:`interface_measure`, for an explicit facet list (e.g. from :func:`interface_facets`)."""
    data = interface_integration_data(parent, facets, plus_cells).reshape(-1)
    return ufl.Measure("dS", domain=parent, subdomain_data=[(int(tag), data)], metadata=metadata or {})


def tag_cells(parent: Any, markers: dict[int, Any]) -> Any:
    """Cell MeshTags from geometric markers ``{tag: marker(x) -> bool array}`` (all vertices
    of a cell must satisfy its marker; the first matching tag wins). Covers owned and ghost
    cells. Cells matching no marker are left untagged."""
    tdim = parent.topology.dim
    imap = parent.topology.index_map(tdim)
    n = imap.size_local + imap.num_ghosts
    values = np.full(n, -1, dtype=np.int32)
    for t, marker in markers.items():
        cells = mesh.locate_entities(parent, tdim, marker)
        free = cells[values[cells] < 0]
        values[free] = t
    idx = np.flatnonzero(values >= 0).astype(np.int32)
    return mesh.meshtags(parent, tdim, idx, values[idx])


__all__ = [
    "Region",
    "region_cells",
    "make_submeshes",
    "interface_facets",
    "interface_integration_data",
    "interface_measure",
    "interface_measure_from_facets",
    "tag_cells",
]


def facet_integration_data(parent: Any, facets: np.ndarray, plus_cells: np.ndarray) -> tuple[str, np.ndarray]:
    """Integration data of ``facets``: ("ds", pairs) when they lie on the outer boundary,
    ("dS", quadruples with "+" on ``plus_cells``) when they are interior; flattened 1-D.
    A set that mixes both raises ValueError (collectively)."""
    from mpi4py import MPI

    comm = parent.comm
    tdim = parent.topology.dim
    parent.topology.create_connectivity(tdim - 1, tdim)
    f2c = parent.topology.connectivity(tdim - 1, tdim)
    nloc = parent.topology.index_map(tdim - 1).size_local
    own = np.asarray(facets[facets < nloc], dtype=np.int32)
    counts = np.diff(f2c.offsets)[own] if len(own) else np.zeros(0, np.int32)
    n_int = comm.allreduce(int(np.sum(counts == 2)), op=MPI.SUM)
    n_all = comm.allreduce(len(own), op=MPI.SUM)
    if n_int == 0:
        d = fem.compute_integration_domains(fem.IntegralType.exterior_facet, parent.topology, own)
        return "ds", np.asarray(d, dtype=np.int32).reshape(-1)
    if n_int != n_all:
        raise ValueError("a facet set mixes outer-boundary and interior facets")
    return "dS", interface_integration_data(parent, facets, plus_cells).reshape(-1)


def particle_groups(regions: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(name, cell tags) of every ``particle_i`` region, sorted by i: one tag for a dense or
    porous particle, the tags of its grains for a secondary particle (``particle_i`` is then
    the aggregate of the leaf regions ``particle_i_grain_k``). Grains of one particle are one
    particle for the electrochemistry and its bookkeeping."""
    import re

    out = []
    for name, tags in regions.items():
        m = re.fullmatch(r"particle_(\d+)", name)
        if m and len(tags):
            out.append((int(m.group(1)), name, tuple(int(t) for t in tags)))
    out.sort()
    return [(n, t) for _, n, t in out]


def tag_to_particle(groups, tags: np.ndarray) -> np.ndarray:
    """Index (into ``groups``) of the particle of every cell tag in ``tags``; -1 for tags of
    no particle."""
    tags = np.asarray(tags)
    lut = {t: i for i, (_, ts) in enumerate(groups) for t in ts}
    if not len(tags):
        return np.zeros(0, dtype=np.int64)
    keys = np.array(sorted(lut), dtype=np.int64)
    if not len(keys):
        return np.full(tags.shape, -1, dtype=np.int64)
    vals = np.array([lut[k] for k in keys], dtype=np.int64)
    idx = np.clip(np.searchsorted(keys, tags), 0, len(keys) - 1)
    return np.where(keys[idx] == tags, vals[idx], -1)
