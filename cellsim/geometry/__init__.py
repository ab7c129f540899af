"""Gmsh geometry library: particles, composite electrodes and half-cells, tagged by name.

* :mod:`cellsim.geometry.spec`: pydantic schema of the ``[geometry]`` case section
  (:data:`GeometrySpec`, no gmsh/DOLFINx import);
* :mod:`cellsim.geometry.mesh`: :func:`build_mesh` (gmsh on rank 0 -> distributed
  :class:`TaggedMesh`);
* builders: :mod:`~cellsim.geometry.particle` (single particles) and the composite
  kinds; :mod:`~cellsim.geometry.measure` (volumes/areas over MPI);
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
