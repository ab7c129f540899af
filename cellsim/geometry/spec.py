"""Case-file schema of the ``[geometry]`` section (pydantic; no gmsh/DOLFINx import).

All lengths are in metres, as everywhere in cellsim. The builders convert them to
micrometres for OpenCASCADE (booleans are unreliable at 1e-5 m scales) and the
distributed mesh is scaled back to metres.

The section is a tagged union on the key ``kind``; :data:`GeometrySpec` is the type to
embed in a case model, :data:`GEOMETRY_ADAPTER` validates a bare ``[geometry]`` table::

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

import math
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, TypeAdapter, model_validator

from cellsim.schema import StrictModel

#: number of regular tetrahedra of edge h that fill h^3 (6 sqrt 2)
TETS_PER_H3 = 6.0 * math.sqrt(2.0)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class MeshControls(StrictModel):
    """Mesh-size controls shared by every geometry kind (sizes in metres)."""

    mesh_size: float | None = Field(
        None,
        gt=0,
        description="Target element edge length in the bulk [m]. Default: a fraction of the "
        "smallest feature of the geometry (radius/8 for a sphere; see each kind).",
    )
    region_mesh_size: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="Element size per region name [m], overriding mesh_size inside that "
        "region and on its boundary, e.g. {coating = 5e-8}.",
    )
    interface_mesh_size: float | None = Field(
        None,
        gt=0,
        description="Element size on the named interfaces [m]; the size grows linearly to "
        "mesh_size over refinement_distance. Default: mesh_size (no refinement) for single "
        "particles, mesh_size/2 for electrodes.",
    )
    refinement_distance: float | None = Field(
        None,
        gt=0,
        description="Distance from an interface over which the size grows from "
        "interface_mesh_size to mesh_size [m]. Default: 2 * mesh_size.",
    )
    max_elements: int = Field(
        3_000_000,
        gt=0,
        description="Largest acceptable estimated number of tetrahedra; larger requests are "
        "rejected before meshing.",
    )

    # ---- per-kind interface (overridden) ----------------------------------------------
    #: cell region names the kind creates (aggregates included)
    REGIONS: ClassVar[tuple[str, ...]] = ()
    #: facet interface names the kind creates
    INTERFACES: ClassVar[tuple[str, ...]] = ()

    def feature_size(self) -> float:
        """Smallest geometric feature [m]; the default mesh size is a fraction of it."""
        raise NotImplementedError

    def default_mesh_size(self) -> float:
        return self.feature_size() / 8.0

    def h(self) -> float:
        """Effective bulk element size [m]."""
        return self.mesh_size if self.mesh_size is not None else self.default_mesh_size()

    def default_region_sizes(self) -> dict[str, float]:
        """Region sizes the kind imposes unless the user overrides them [m]."""
        return {}

    def region_sizes(self) -> dict[str, float]:
        """Per-region element sizes [m] (defaults of the kind, then user overrides)."""
        out = {k: min(v, self.h()) for k, v in self.default_region_sizes().items()}
        out.update(self.region_mesh_size)
        return out

    def h_interface(self) -> float:
        return self.interface_mesh_size if self.interface_mesh_size is not None else self.h()

    def d_refine(self) -> float:
        return self.refinement_distance if self.refinement_distance is not None else 2.0 * self.h()

    def region_volumes(self) -> dict[str, float]:
        """Approximate volume of each (non-aggregate) region [m^3], for the size estimate."""
        raise NotImplementedError

    def interface_area(self) -> float:
        """Approximate total area of the refined interfaces [m^2]."""
        return 0.0

    def estimated_elements(self) -> int:
        h = self.h()
        sizes = self.region_sizes()
        n = 0.0
        for name, vol in self.region_volumes().items():
            n += TETS_PER_H3 * vol / sizes.get(name, h) ** 3
        hi = self.h_interface()
        if hi < h:
            n += TETS_PER_H3 * self.interface_area() * self.d_refine() * (1.0 / hi**3 - 1.0 / h**3)
        return int(n)

    def check_shape(self) -> None:
        """Cross-field checks of the shape itself (before the mesh-size checks)."""

    @model_validator(mode="after")
    def _check_mesh_controls(self):
        if not self.REGIONS:  # abstract base
            return self
        self.check_shape()
        for name in self.region_mesh_size:
            if name not in self.REGIONS:
                raise ValueError(
                    f"region_mesh_size: unknown region '{name}'; allowed for kind "
                    f"'{self.kind}': {', '.join(self.REGIONS)}"  # type: ignore[attr-defined]
                )
        feat = self.feature_size()
        if self.h() > feat:
            raise ValueError(
                f"mesh_size = {_fmt(self.h())} m is larger than the smallest feature "
                f"({_fmt(feat)} m); allowed: 0 < mesh_size <= {_fmt(feat)}"
            )
        n = self.estimated_elements()
        if n > self.max_elements:
            raise ValueError(
                f"mesh_size = {_fmt(self.h())} m (region sizes {self.region_sizes()}) gives about "
                f"{n:.3g} tetrahedra, more than max_elements = {self.max_elements}; "
                "use a larger mesh_size / region size or raise max_elements"
            )
        return self


# ---------------------------------------------------------------------------------------
# single particles
# ---------------------------------------------------------------------------------------


class Sphere(MeshControls):
    """A spherical particle of radius R centred at the origin.

    Regions: ``particle`` (= ``particle_0``). Interfaces: ``particle_electrolyte`` (the
    whole surface). Exact: V = 4/3 pi R^3, A = 4 pi R^2. Default mesh size R/8.
    """

    REGIONS: ClassVar = ("particle", "particle_0")
    INTERFACES: ClassVar = ("particle_electrolyte",)

    kind: Literal["sphere"] = Field(description="Geometry kind: a single spherical particle.")
    radius: float = Field(gt=0, description="Particle radius R [m].")

    def feature_size(self) -> float:
        return self.radius

    def region_volumes(self):
        return {"particle_0": 4.0 / 3.0 * math.pi * self.radius**3}

    def interface_area(self):
        return 4.0 * math.pi * self.radius**2


class Ellipsoid(MeshControls):
    """An ellipsoidal particle x^2/a^2 + y^2/b^2 + z^2/c^2 <= 1, axes along x, y, z.

    Regions: ``particle`` (= ``particle_0``). Interfaces: ``particle_electrolyte``.
    Exact: V = 4/3 pi a b c; the area is computed by quadrature. Default mesh size
    min(a, b, c)/8.
    """

    REGIONS: ClassVar = ("particle", "particle_0")
    INTERFACES: ClassVar = ("particle_electrolyte",)

    kind: Literal["ellipsoid"] = Field(description="Geometry kind: a single ellipsoidal particle.")
    semi_axes: tuple[
        Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]
    ] = Field(description="Semi-axes [a, b, c] along x, y, z [m].")

    def check_shape(self):
        a = max(self.semi_axes) / min(self.semi_axes)
        if a > 20:
            raise ValueError(
                f"semi_axes = {list(self.semi_axes)}: aspect ratio {a:.3g} too large; allowed: "
                "max/min <= 20 (use kind = 'cylinder' for wires)"
            )

    def feature_size(self) -> float:
        return min(self.semi_axes)

    def region_volumes(self):
        a, b, c = self.semi_axes
        return {"particle_0": 4.0 / 3.0 * math.pi * a * b * c}

    def interface_area(self):
        a, b, c = self.semi_axes
        p = 1.6075  # Knud Thomsen's approximation, used for the size estimate only
        return 4 * math.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)


class Cylinder(MeshControls):
    """A cylindrical wire/rod of radius R and length L, axis along z, centred at the origin.

    Regions: ``particle`` (= ``particle_0``). Interfaces: ``particle_electrolyte`` (side
    and flat ends), also split as ``particle_side`` and ``particle_ends``.
    Exact: V = pi R^2 L, A = 2 pi R L + 2 pi R^2. Default mesh size min(R, L/2)/8.
    """

    REGIONS: ClassVar = ("particle", "particle_0")
    INTERFACES: ClassVar = ("particle_electrolyte", "particle_side", "particle_ends")

    kind: Literal["cylinder"] = Field(description="Geometry kind: a single cylindrical wire.")
    radius: float = Field(gt=0, description="Wire radius R [m].")
    length: float = Field(gt=0, description="Wire length L along z [m].")

    def check_shape(self):
        if self.length / self.radius > 200:
            raise ValueError(
                f"length = {_fmt(self.length)} m is more than 200 radii (radius = "
                f"{_fmt(self.radius)} m); allowed: length <= 200 * radius"
            )

    def feature_size(self) -> float:
        return min(self.radius, self.length / 2)

    def region_volumes(self):
        return {"particle_0": math.pi * self.radius**2 * self.length}

    def interface_area(self):
        return 2 * math.pi * self.radius * (self.length + self.radius)


class CoreShell(MeshControls):
    """A spherical core of radius R_c coated by a concentric shell of thickness t.

    Regions: ``core``, ``coating``, ``particle`` (= both). Interfaces:
    ``particle_electrolyte`` (outer surface, r = R_c + t) and ``core_coating`` (r = R_c).
    Exact: V_core = 4/3 pi R_c^3, V_coating = 4/3 pi ((R_c+t)^3 - R_c^3).
    Default mesh size (R_c + t)/8; the coating gets min(h, t/2) so that it is at least
    about two elements thick.
    """

    REGIONS: ClassVar = ("particle", "core", "coating")
    INTERFACES: ClassVar = ("particle_electrolyte", "core_coating")

    kind: Literal["core_shell"] = Field(description="Geometry kind: a coated spherical particle.")
    core_radius: float = Field(gt=0, description="Core radius R_c [m].")
    coating_thickness: float = Field(gt=0, description="Coating (shell) thickness t [m].")

    def check_shape(self):
        if self.coating_thickness >= self.core_radius:
            raise ValueError(
                f"coating_thickness = {_fmt(self.coating_thickness)} m is not thinner than the "
                f"particle core (core_radius = {_fmt(self.core_radius)} m); allowed: "
                f"0 < coating_thickness < core_radius"
            )

    @property
    def radius(self) -> float:
        return self.core_radius + self.coating_thickness

    def feature_size(self) -> float:
        return self.radius

    def default_region_sizes(self):
        return {"coating": self.coating_thickness / 2.0}

    def region_volumes(self):
        v = lambda r: 4.0 / 3.0 * math.pi * r**3  # noqa: E731
        return {"core": v(self.core_radius), "coating": v(self.radius) - v(self.core_radius)}

    def interface_area(self):
        return 4 * math.pi * (self.radius**2 + self.core_radius**2)


GeometrySpec = Annotated[
    Union[Sphere, Ellipsoid, Cylinder, CoreShell],
    Field(discriminator="kind"),
]
"""The ``[geometry]`` section: one of the kinds above, chosen by ``kind``."""

GEOMETRY_ADAPTER: TypeAdapter = TypeAdapter(GeometrySpec)

KINDS: dict[str, type[MeshControls]] = {
    "sphere": Sphere,
    "ellipsoid": Ellipsoid,
    "cylinder": Cylinder,
    "core_shell": CoreShell,
}


def parse_geometry(data: dict) -> MeshControls:
    """Validate a ``[geometry]`` table; raises pydantic.ValidationError."""
    return GEOMETRY_ADAPTER.validate_python(data)
