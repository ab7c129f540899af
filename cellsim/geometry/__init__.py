"""Gmsh geometry library: particles, composite electrodes and half-cells, tagged by name.

Modules, in the order data flows (each imports only those above it; no circles):

* schema (pydantic, no gmsh/DOLFINx): :mod:`~cellsim.geometry.spec_controls` (mesh-size
  controls and validation), :mod:`~cellsim.geometry.spec_particles` (single-particle
  kinds), :mod:`~cellsim.geometry.spec_electrode` (electrode, half-cell),
  :mod:`~cellsim.geometry.spec` (the tagged union :data:`GeometrySpec`);
* :mod:`~cellsim.geometry.packing` (numpy packings, voxel fractions, rotations);
* :mod:`~cellsim.geometry.base` (units, :class:`GeometryError`, ``ModelTags``,
  ``BuildResult``) and :mod:`~cellsim.geometry.gmsh_model` (gmsh session, CAD measures,
  surface naming, size fields, element quality);
* builders: :mod:`~cellsim.geometry.particle` (sphere, ellipsoid, cylinder, core-shell),
  :mod:`~cellsim.geometry.structured` (porous, secondary particles),
  :mod:`~cellsim.geometry.binder` (carbon-binder plan),
  :mod:`~cellsim.geometry.connectivity` (graph of conducting regions, repair bridges) and
  :mod:`~cellsim.geometry.electrode` (electrode, half-cell);
* :mod:`~cellsim.geometry.mesh`: :func:`build_mesh` (gmsh on rank 0 -> distributed
  :class:`TaggedMesh`); :mod:`~cellsim.geometry.measure` (volumes/areas over MPI);
  :mod:`~cellsim.geometry.report` (``cellsim mesh``).

Importing this package imports neither gmsh nor DOLFINx.
"""

from cellsim.geometry.spec import GEOMETRY_ADAPTER, GeometrySpec, parse_geometry

__all__ = ["GEOMETRY_ADAPTER", "GeometrySpec", "parse_geometry", "build_mesh", "TaggedMesh"]


def __getattr__(name):  # lazy: keep `import cellsim.geometry` free of DOLFINx
    if name in ("build_mesh", "TaggedMesh"):
        from cellsim.geometry import mesh

        return getattr(mesh, name)
    raise AttributeError(name)
