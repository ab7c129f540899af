"""Distribute a meshed gmsh model (rank 0) as a DOLFINx mesh with cell and facet tags.

:func:`model_to_mesh` gives what ``dolfinx.io.gmsh.model_to_mesh`` gives for a mesh of
one cell type with (at most) one facet type, bitwise: the same arrays, in the same
order, go to the same DOLFINx functions (``create_mesh``, ``distribute_entity_data``,
``meshtags_from_entities``). Only the collection of the tagged elements differs:
DOLFINx 0.11 appends each gmsh entity's elements to the arrays gathered so far (one
``np.concatenate`` of the whole array per entity, quadratic in the number of entities:
about 1,000 volumes and 2,000 tagged surfaces at 200 particles), here the blocks are
collected in lists and joined once. Any other model (mixed cell types, tagged edges or
points) goes to DOLFINx's own function.
"""

from __future__ import annotations

import numpy as np


def _collect(model):
    """{gmsh element type: (dim, [node blocks], [group tags])} of the
    elements of every physical group, in DOLFINx's order (groups as gmsh lists them,
    entities of a group in gmsh's order), plus whether each entity is tagged once."""
    blocks: dict[int, tuple[int, list, list]] = {}
    seen: set[tuple[int, int]] = set()
    once = True
    nodes_per: dict[int, int] = {}
    for dim, tag in model.getPhysicalGroups():
        for ent in model.getEntitiesForPhysicalGroup(dim, tag):
            once &= (dim, int(ent)) not in seen
            seen.add((dim, int(ent)))
            types, etags, enodes = model.mesh.getElements(dim, tag=ent)
            for et, t, nd in zip(types, etags, enodes, strict=True):
                et = int(et)
                if et not in nodes_per:
                    nodes_per[et] = model.mesh.getElementProperties(et)[3]
                b = blocks.setdefault(et, (dim, [], []))
                b[1].append(nd.reshape(-1, nodes_per[et]) - 1)  # gmsh numbers nodes from 1
                b[2].append(np.full_like(t, tag))
    return blocks, nodes_per, seen, once


def model_to_mesh(model, comm, rank: int, gdim: int, partitioner):
    """(mesh, cell tags, facet tags) of the gmsh ``model`` (on ``rank``; None elsewhere),
    distributed over ``comm`` by ``partitioner``; see the module docstring."""
    import dolfinx.io.gmsh as dgmsh
    from dolfinx import cpp as _cpp
    from dolfinx import default_real_type
    from dolfinx.graph import adjacencylist
    from dolfinx.io.utils import distribute_entity_data
    from dolfinx.mesh import create_mesh, meshtags_from_entities

    layout = error = None
    if comm.rank == rank:
        blocks, nodes_per, seen, once = _collect(model)
        dims = sorted({b[0] for b in blocks.values()}, reverse=True)
        types_of = {d: [et for et, b in blocks.items() if b[0] == d] for d in dims}
        if not blocks:
            error = "No 'physical groups' in gmsh mesh. Cannot continue."
        elif len(types_of[dims[0]]) == 1 and all(d == dims[0] - 1 and len(types_of[d]) == 1 for d in dims[1:]):
            tdim = dims[0]
            cell_type = types_of[tdim][0]
            facet_type = types_of[tdim - 1][0] if len(dims) > 1 else None
            layout = (tdim, cell_type, nodes_per[cell_type], facet_type, nodes_per.get(facet_type))
            # every cell tagged once (DOLFINx's check): no entity in two groups of the
            # cell dimension, and no entity with cells outside every group
            untagged = [t for _, t in model.getEntities(tdim) if (tdim, t) not in seen
                        and sum(len(e) for e in model.mesh.getElements(tdim, tag=t)[1])]
            if not once or untagged:
                error = "All cells are expected to be tagged once"
        else:
            layout = "dolfinx"
    layout, error = comm.bcast((layout, error), root=rank)
    if error is not None:
        raise RuntimeError(error)
    if layout == "dolfinx":  # not the case this module is for: DOLFINx's own function
        md = dgmsh.model_to_mesh(model, comm, rank, gdim=gdim, partitioner=partitioner)
        return md.mesh, md.cell_tags, md.facet_tags
    tdim, cell_type, ncn, facet_type, nfn = layout

    def joined(et, nn):
        if comm.rank != rank or et is None:
            return np.empty((0, nn or 0), dtype=np.int64), np.empty((0,), dtype=np.int32)
        _, nodes, marks = blocks[et]
        return (np.asarray(np.concatenate(nodes, axis=0), dtype=np.int64),
                np.asarray(np.hstack(marks), dtype=np.int32))

    cells, cell_values = joined(cell_type, ncn)
    facets, facet_values = joined(facet_type, nfn)
    dtype = default_real_type
    x = dgmsh.extract_geometry(model) if comm.rank == rank else np.empty([0, gdim], dtype=dtype)
    domain = dgmsh.ufl_mesh(cell_type, gdim, dtype=dtype)
    nn = domain.ufl_coordinate_element().basix_element.dim
    perm = dgmsh.cell_perm_array(_cpp.mesh.to_type(str(domain.ufl_cell())), nn)
    mesh = create_mesh(comm, cells[:, perm].copy().flatten().reshape(-1, nn), domain,
                       x[:, :gdim].astype(dtype, copy=False), partitioner, max_facet_to_cell_links=2)

    def tags(dim, entities, values, name):
        local, local_values = distribute_entity_data(mesh, dim, entities, values)
        mesh.topology.create_connectivity(dim, tdim)
        t = meshtags_from_entities(mesh, dim, adjacencylist(local), local_values.astype(np.int32, copy=False))
        t.name = name
        return t

    cell_tags = tags(tdim, cells, cell_values, "cell_tags")
    facet_tags = tags(tdim - 1, facets, facet_values, "facet_tags") if facet_type is not None else None
    return mesh, cell_tags, facet_tags
