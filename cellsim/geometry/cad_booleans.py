"""OpenCASCADE booleans of large electrodes without gmsh's O(n^2) unbinding (rank 0).

A gmsh boolean (``occ.fragment``, ``cut``, ``intersect``) that removes its inputs unbinds
each of them recursively, and each unbinding of a solid, face, curve or point scans the
whole model: the build of a 1,000-particle electrode spent most of its 435 s of
OpenCASCADE there (benchmarks/README.md, "Ninth session": a toy cut of 1,600 sphere pairs
46.8 s removing its inputs against 14.0 s keeping them). Here the booleans keep their
inputs, the dead top-level inputs are unbound without recursion (cheap: their faces,
curves and points stay bound, orphaned), and once all booleans are done
:func:`rebuild_from_brep` writes the model's solids to a BREP file, empties the gmsh model
and reads them back: the orphans are gone, every live solid is read back with its faces
shared as before, at O(model) once.

The volumes are renumbered 1..n in the order of their old tags (checked against the
bounding boxes); faces, curves and points are renumbered too, so this is for callers
that name surfaces after the rebuild (:func:`cellsim.geometry.electrode.build_electrode`).
The coordinates pass through BREP's text and can move in the last digits, so the meshes
differ from those of the plain booleans by roundoff: it is used only for electrodes of
at least :data:`cellsim.geometry.electrode.BREP_REBUILD_MIN_PARTICLES` particles (the
shipped cases keep their meshes bitwise).
"""

from __future__ import annotations

import os
import tempfile

from cellsim.geometry.gmsh_model import empty_model
from cellsim.geometry.gmsh_model import occ as _occ


def boolean(op: str, objects, tools, keep_inputs: bool, remove_tool: bool = True):
    """``occ.<op>(objects, tools)`` (``op``: 'fragment', 'cut' or 'intersect'); the objects
    (and the tools if ``remove_tool``) are removed, recursively by gmsh (``keep_inputs``
    False) or here without recursion (True; then :func:`rebuild_from_brep` must follow).
    Returns gmsh's (output, map)."""
    occ = _occ()
    if not keep_inputs:
        return getattr(occ, op)(objects, tools, removeObject=True, removeTool=remove_tool)
    out, maps = getattr(occ, op)(objects, tools, removeObject=False, removeTool=False)
    kept = set(out)
    gone = [d for d in list(objects) + (list(tools) if remove_tool else []) if d not in kept]
    occ.remove(list(dict.fromkeys(gone)), recursive=False)
    return out, maps


def rebuild_from_brep() -> dict[int, int]:
    """Synchronise, write the solids of the current model to BREP, empty the model (same
    name) and import them back, synchronised: {old volume tag: new volume tag}.

    Raises RuntimeError if the solids read back are not those written (count or bounding
    boxes)."""
    import gmsh

    occ = _occ()
    occ.synchronize()
    old = sorted(t for _, t in gmsh.model.getEntities(3))
    boxes = [gmsh.model.getBoundingBox(3, t) for t in old]
    with tempfile.TemporaryDirectory(prefix="cellsim_cad_") as tmp:
        path = os.path.join(tmp, "model.brep")
        gmsh.write(path)
        empty_model()
        new = [t for d, t in occ.importShapes(path) if d == 3]
    occ.synchronize()
    if len(new) != len(old):
        raise RuntimeError(f"BREP rebuild: {len(new)} volumes read back, {len(old)} written")
    scale = max(max(abs(x) for x in b) for b in boxes) if boxes else 1.0
    for o, t, b in zip(old, new, boxes):
        nb = gmsh.model.getBoundingBox(3, t)
        if max(abs(x - y) for x, y in zip(b, nb)) > 1e-9 * scale:
            raise RuntimeError(f"BREP rebuild: volume {t} read back is not volume {o} written")
    return dict(zip(old, new))
