"""cellsim.geometry.distribute.model_to_mesh against dolfinx.io.gmsh.model_to_mesh: the
same gmsh model (several volumes per physical group, surfaces in several groups, one
volume in no group's way) gives bitwise the same distributed mesh and tags, serially
and on every rank of a parallel run; a model with an untagged or twice-tagged volume is
refused like DOLFINx refuses it; a model with tagged edges goes to DOLFINx."""

from __future__ import annotations

import numpy as np
import pytest

dolfinx_env = pytest.importorskip("cellsim.dolfinx_env")
dolfinx = dolfinx_env.require_dolfinx()
import dolfinx.io.gmsh as dgmsh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.geometry.distribute import model_to_mesh  # noqa: E402
from cellsim.geometry.gmsh_model import gmsh_session  # noqa: E402


def _model(gmsh, groups: str = "normal", order: int = 1) -> None:
    """Six boxes in a row, fragmented, meshed; volume groups of 1, 2 and 3 boxes (not in
    box order), every internal and some external faces tagged."""
    occ = gmsh.model.occ
    boxes = [(3, occ.addBox(i, 0, 0, 1, 1, 1)) for i in range(6)]
    occ.fragment(boxes[:1], boxes[1:])
    occ.synchronize()
    vols = [t for _, t in gmsh.model.getEntities(3)]
    assert len(vols) == 6
    layout = {"normal": ([vols[3]], [vols[0], vols[5]], [vols[1], vols[2], vols[4]]),
              "untagged": ([vols[3]], [vols[0], vols[5]], [vols[1], vols[2]]),
              "twice": ([vols[3]], [vols[0], vols[5], vols[3]], [vols[1], vols[2], vols[4]])}
    layout = layout.get(groups, layout["normal"])
    for k, vs in enumerate(layout):
        gmsh.model.addPhysicalGroup(3, vs, tag=10 + k)
    faces = [t for _, t in gmsh.model.getEntities(2)]
    inner = [s for s in faces if len(gmsh.model.getAdjacencies(2, s)[0]) == 2]
    outer = [s for s in faces if len(gmsh.model.getAdjacencies(2, s)[0]) == 1]
    gmsh.model.addPhysicalGroup(2, inner[::2], tag=20)
    gmsh.model.addPhysicalGroup(2, inner[1::2] + outer[:3], tag=21)
    gmsh.model.addPhysicalGroup(2, outer[5:9], tag=22)
    if groups == "edges":
        gmsh.model.addPhysicalGroup(1, [t for _, t in gmsh.model.getEntities(1)][:4], tag=30)
    gmsh.option.setNumber("Mesh.MeshSizeMax", 0.35)
    gmsh.model.mesh.generate(3)
    if order > 1:
        gmsh.model.mesh.setOrder(order)


def _arrays(mesh, cell_tags, facet_tags) -> dict[str, np.ndarray]:
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, 0)
    return {
        "x": mesh.geometry.x, "dofmap": mesh.geometry.dofmaps[0],
        "input_index": np.asarray(mesh.geometry.input_global_indices),
        "cells_original": np.asarray(mesh.topology.original_cell_index[0]),
        "cell_idx": cell_tags.indices, "cell_val": cell_tags.values,
        "facet_idx": facet_tags.indices, "facet_val": facet_tags.values,
        "facet_vertices": mesh.topology.connectivity(tdim - 1, 0).array,
    }


def _both(comm, groups="normal", order=1):
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    out = []
    for which in ("dolfinx", "cellsim"):
        if comm.rank == 0:
            with gmsh_session(False) as gmsh:
                _model(gmsh, groups, order)
                if which == "dolfinx":
                    md = dgmsh.model_to_mesh(gmsh.model, comm, 0, gdim=3, partitioner=part)
                    out.append((md.mesh, md.cell_tags, md.facet_tags))
                else:
                    out.append(model_to_mesh(gmsh.model, comm, 0, 3, part))
        elif which == "dolfinx":
            md = dgmsh.model_to_mesh(None, comm, 0, gdim=3, partitioner=part)
            out.append((md.mesh, md.cell_tags, md.facet_tags))
        else:
            out.append(model_to_mesh(None, comm, 0, 3, part))
    return out


@pytest.mark.mpi
@pytest.mark.parametrize("order", [1, 2])
def test_same_mesh_and_tags_as_dolfinx(order):
    comm = MPI.COMM_WORLD
    ref, new = _both(comm, order=order)
    a, b = _arrays(*ref), _arrays(*new)
    assert a["dofmap"].shape[0] > 0 or comm.size > 1
    ncells = comm.allreduce(ref[0].topology.index_map(3).size_local)
    assert ncells > 500  # a real mesh, every cell tagged
    assert comm.allreduce(len(ref[1].indices)) >= ncells
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k]), k
    assert set(np.unique(b["cell_val"])) <= {10, 11, 12} and set(np.unique(b["facet_val"])) <= {20, 21, 22}
    assert comm.allreduce(len(b["facet_val"])) > 0


@pytest.mark.mpi
@pytest.mark.parametrize("groups", ["untagged", "twice"])
def test_refuses_cells_not_tagged_once(groups):
    comm = MPI.COMM_WORLD
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    with pytest.raises(RuntimeError, match="tagged once"):
        if comm.rank == 0:
            with gmsh_session(False) as gmsh:
                _model(gmsh, groups)
                model_to_mesh(gmsh.model, comm, 0, 3, part)
        else:
            model_to_mesh(None, comm, 0, 3, part)


def test_tagged_edges_go_to_dolfinx():
    """A model this module is not for (tagged edges: ridge tags) gives DOLFINx's result."""
    comm = MPI.COMM_SELF
    ref, new = _both(comm, groups="edges")
    a, b = _arrays(*ref), _arrays(*new)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
