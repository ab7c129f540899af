"""Gmsh helpers on the current model (rank 0): session, CAD measures, surface naming,
mesh-size fields and element quality.

Every function imports gmsh lazily, so importing this module needs no gmsh.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np

from cellsim.geometry.base import MODEL_UNIT, ModelTags, um
from cellsim.geometry.spec_controls import MeshControls


@contextlib.contextmanager
def gmsh_session(verbose: bool = False, name: str = "cellsim"):
    """Initialise gmsh if needed (non-interruptible, silent) and give a fresh model.

    If gmsh was already initialised by the caller, only the model is added and removed.
    """
    import gmsh

    owner = not gmsh.isInitialized()
    if owner:
        gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
        gmsh.option.setNumber("General.Verbosity", 5 if verbose else 2)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.model.add(name)
        gmsh.model.setCurrent(name)
        yield gmsh
    finally:
        with contextlib.suppress(Exception):
            gmsh.model.remove()
        if owner:
            gmsh.finalize()


def occ():
    import gmsh

    return gmsh.model.occ


def empty_model() -> None:
    """Replace the current gmsh model by an empty one of the same name (its OCC model too)."""
    import gmsh

    name = gmsh.model.getCurrent()
    gmsh.model.remove()
    gmsh.model.add(name)
    gmsh.model.setCurrent(name)


def volumes_from_map(out_map, index: int) -> set[int]:
    return {t for d, t in out_map[index] if d == 3}


def classify_surfaces(vol_leaf: dict[int, str], rule: Callable) -> dict[str, list[int]]:
    """Name every surface of the model by ``rule(sorted leaf names, surface tag)``.

    ``rule`` returns an interface leaf name or None (untagged). Surfaces are adjacent to
    one (exterior) or two (interior) volumes.
    """
    import gmsh

    out: dict[str, list[int]] = {}
    for _, s in gmsh.model.getEntities(2):
        up, _ = gmsh.model.getAdjacencies(2, s)
        names = tuple(sorted(vol_leaf[int(v)] for v in up))
        name = rule(names, s)
        if name is not None:
            out.setdefault(name, []).append(s)
    return out


def cad_volumes(vol_leaf: dict[int, str], mass: dict[int, float] | None = None) -> dict[str, float]:
    """CAD (exact geometry) volume of each leaf region [m^3]; ``mass``: the volumes' CAD
    volumes in model units where already measured."""
    o = occ()
    out: dict[str, float] = {}
    for v, n in vol_leaf.items():
        out[n] = out.get(n, 0.0) + (mass[v] if mass and v in mass else o.getMass(3, v)) * MODEL_UNIT**3
    return out


def cad_areas(surfs: dict[str, list[int]]) -> dict[str, float]:
    o = occ()
    return {n: sum(o.getMass(2, s) for s in ss) * MODEL_UNIT**2 for n, ss in surfs.items()}


def bbox_centre(dim, tag):
    import gmsh

    b = gmsh.model.getBoundingBox(dim, tag)
    return np.array([(b[0] + b[3]) / 2, (b[1] + b[4]) / 2, (b[2] + b[5]) / 2]), np.array(b)


def aggregate_volumes(cad: dict[str, float], tags: ModelTags) -> dict[str, float]:
    out = dict(cad)
    for agg in tags.agg_regions:
        out[agg] = sum(cad.get(m, 0.0) for m in leaves(tags.agg_regions, agg))
    return out


def aggregate_areas(cad: dict[str, float], tags: ModelTags) -> dict[str, float]:
    out = dict(cad)
    for agg in tags.agg_interfaces:
        out[agg] = sum(cad.get(m, 0.0) for m in leaves(tags.agg_interfaces, agg))
    return out


def leaves(aggs, name):
    if name not in aggs:
        return [name]
    out = []
    for m in aggs[name]:
        out.extend(leaves(aggs, m))
    return out


# ---------------------------------------------------------------------------------------
# mesh size
# ---------------------------------------------------------------------------------------


def apply_mesh_sizes(
    spec: MeshControls,
    tags: ModelTags,
    refine_interfaces: list[str] | None = None,
    extra_fields: list[int] | None = None,
    builder_sizes: dict[str, float] | None = None,
) -> None:
    """Background size field = min(global h, region sizes, interface thresholds).

    * global: ``Mesh.MeshSizeMax = h``;
    * region r with size h_r: a ``Constant`` field (h_r inside r and on its boundary);
    * interfaces (names in ``refine_interfaces``, default all leaves) when h_i < h:
      a ``Distance`` + ``Threshold`` field, size h_i at distance 0 growing linearly to
      h at distance ``refinement_distance``.
    """
    import gmsh

    f = gmsh.model.mesh.field
    h = um(spec.h())
    fields: list[int] = list(extra_fields or [])
    hmin = h
    sizes = {k: min(v, spec.h()) for k, v in spec.default_region_sizes().items()}
    sizes.update(builder_sizes or {})
    sizes.update(spec.region_mesh_size)
    for name, size in sizes.items():
        vols = tags.volumes_of(name)
        if not vols:
            continue
        fid = f.add("Constant")
        f.setNumbers(fid, "VolumesList", vols)
        f.setNumber(fid, "VIn", um(size))
        f.setNumber(fid, "VOut", 1e22)
        f.setNumber(fid, "IncludeBoundary", 1)
        fields.append(fid)
        hmin = min(hmin, um(size))
    hi = um(spec.h_interface())
    if hi < h:
        names = refine_interfaces if refine_interfaces is not None else list(tags.leaf_interfaces)
        surfs = sorted({s for n in names for s in tags.surfaces_of(n)})
        if surfs:
            dist = f.add("Distance")
            f.setNumbers(dist, "SurfacesList", surfs)
            f.setNumber(dist, "Sampling", 30)
            thr = f.add("Threshold")
            f.setNumber(thr, "InField", dist)
            f.setNumber(thr, "SizeMin", hi)
            f.setNumber(thr, "SizeMax", h)
            f.setNumber(thr, "DistMin", 0.0)
            f.setNumber(thr, "DistMax", um(spec.d_refine()))
            fields.append(thr)
            hmin = min(hmin, hi)
    gmsh.option.setNumber("Mesh.MeshSizeMax", h)
    gmsh.option.setNumber("Mesh.MeshSizeMin", 0.05 * hmin)
    if fields:
        fmin = f.add("Min")
        f.setNumbers(fmin, "FieldsList", fields)
        f.setAsBackgroundMesh(fmin)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)


def element_quality() -> dict:
    """min/mean gmsh minSICN quality and counts of the 3D mesh (rank 0, gmsh active)."""
    import gmsh

    types, tags, _ = gmsh.model.mesh.getElements(3)
    all_tags = np.concatenate([np.asarray(t) for t in tags]) if tags else np.zeros(0)
    q = np.asarray(gmsh.model.mesh.getElementQualities(all_tags, "minSICN")) if len(all_tags) else np.zeros(1)
    ntri = 0
    for t, et in zip(*gmsh.model.mesh.getElements(2)[:2]):
        ntri += len(et)
    nodes = gmsh.model.mesh.getNodes()[0]
    return {
        "num_tetrahedra": int(len(all_tags)),
        "num_boundary_triangles": int(ntri),
        "num_nodes": int(len(nodes)),
        "quality_measure": "minSICN (1 = regular tetrahedron, <= 0 inverted)",
        "quality_min": float(q.min()),
        "quality_mean": float(q.mean()),
        "quality_histogram": np.histogram(q, bins=10, range=(0.0, 1.0))[0].tolist(),
    }



def low_quality_volumes(threshold: float) -> tuple[float, dict[int, int]]:
    """(minimum minSICN, {volume tag: number of tetrahedra below ``threshold``}) of the 3D
    mesh (rank 0, gmsh active); volumes without such tetrahedra are left out."""
    import gmsh

    tags = gmsh.model.mesh.getElements(3)[1]
    tags = np.concatenate([np.asarray(t) for t in tags]) if tags else np.zeros(0, np.uint64)
    if not len(tags):
        return 1.0, {}
    q = np.asarray(gmsh.model.mesh.getElementQualities(tags, "minSICN"))  # all at once
    out: dict[int, int] = {}
    for t in tags[q < threshold]:  # the few bad ones: the volume each is classified on
        v = int(gmsh.model.mesh.getElement(int(t))[3])
        out[v] = out.get(v, 0) + 1
    return float(q.min()), out
