"""Case-file schema of the ``[geometry]`` section (pydantic; no gmsh/DOLFINx import).

All lengths are in metres, as everywhere in cellsim. The builders convert them to
micrometres for OpenCASCADE (booleans are unreliable at 1e-5 m scales) and the
distributed mesh is scaled back to metres.

The section is a tagged union on the key ``kind``; :data:`GeometrySpec` is the type to
embed in a case model, :data:`GEOMETRY_ADAPTER` validates a bare ``[geometry]`` table.
The kinds live in :mod:`~cellsim.geometry.spec_particles` (single particles) and
:mod:`~cellsim.geometry.spec_electrode` (electrode, half-cell), the shared controls in
:mod:`~cellsim.geometry.spec_controls`; every name is re-exported here::

    [geometry]
    kind = "sphere"
    radius = 5.86e-6
    mesh_size = 5e-7          # optional, default radius/8

Every kind shares the mesh-size controls of :class:`MeshControls`:

* ``mesh_size`` h: target edge length in the bulk [m] (default: a fraction of the
  smallest feature of the kind, given in each kind's docstring);
* ``region_mesh_size``: ``{region name: size}`` overriding h inside a region (and on
  its boundary);
* ``interface_mesh_size`` h_i with ``refinement_distance`` d: the size grows
  linearly from h_i on every named interface to h at distance d;
* ``max_elements``: a request whose estimated tetrahedron count
  N ~ sum_regions 8.5 V_r / h_r^3 exceeds it is rejected before meshing
  (8.5 ~ 6 sqrt(2) is the number of regular tetrahedra of edge h per h^3).

Cross-field checks (coating thinner than the particle, mesh size below the smallest
feature, ...) raise ``ValueError`` with a message naming the key, the value given and
the allowed range, so a bad request fails before gmsh is started.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from cellsim.geometry.spec_controls import TETS_PER_H3, MeshControls, fmt  # noqa: F401
from cellsim.geometry.spec_electrode import (  # noqa: F401
    PACKING_LIMIT,
    Electrode,
    ExplicitParticle,
    HalfCell,
    RadiusDistribution,
)
from cellsim.geometry.spec_particles import (  # noqa: F401
    CoreShell,
    Cylinder,
    Ellipsoid,
    PorousParticle,
    SecondaryParticle,
    Sphere,
)
from cellsim.schema import StrictModel

GeometrySpec = Annotated[
    Union[Sphere, Ellipsoid, Cylinder, CoreShell, PorousParticle, SecondaryParticle, Electrode, HalfCell],
    Field(discriminator="kind"),
]
"""The ``[geometry]`` section: one of the kinds above, chosen by ``kind``."""

GEOMETRY_ADAPTER: TypeAdapter = TypeAdapter(GeometrySpec)

KINDS: dict[str, type[MeshControls]] = {
    "sphere": Sphere,
    "ellipsoid": Ellipsoid,
    "cylinder": Cylinder,
    "core_shell": CoreShell,
    "porous_particle": PorousParticle,
    "secondary_particle": SecondaryParticle,
    "electrode": Electrode,
    "half_cell": HalfCell,
}


def parse_geometry(data: dict) -> MeshControls:
    """Validate a ``[geometry]`` table; raises pydantic.ValidationError."""
    return GEOMETRY_ADAPTER.validate_python(data)


class GeometrySection(StrictModel):
    """A case file reduced to its ``[geometry]`` table (used by ``cellsim mesh``)."""

    geometry: GeometrySpec = Field(description="The geometry to build.")
