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

#: largest gap-inflated random packing fraction accepted for electrodes
PACKING_LIMIT = 0.55

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

    def _check_region_name(self, name: str) -> bool:
        """Whether ``name`` is a numbered leaf region of this kind (e.g. ``grain_3``)."""
        return False

    def check_shape(self) -> None:
        """Cross-field checks of the shape itself (before the mesh-size checks)."""

    @model_validator(mode="after")
    def _check_mesh_controls(self):
        if not self.REGIONS:  # abstract base
            return self
        self.check_shape()
        for name in self.region_mesh_size:
            if name not in self.REGIONS and not self._check_region_name(name):
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



# ---------------------------------------------------------------------------------------
# structured particles
# ---------------------------------------------------------------------------------------


class PorousParticle(MeshControls):
    """A spherical micro-particle of radius R with internal nanopores filled by electrolyte.

    ``pore_shape = "spherical"``: N closed spherical pores of radius r_p placed at random
    (seeded) with walls >= ``min_wall`` between pores and to the outer surface,
    N = round(porosity R^3 / r_p^3). ``pore_shape = "channel"``: straight cylindrical
    channels of radius r_p through the particle in random directions (open at both
    ends), added until the channel volume reaches porosity * V, axes kept
    2 r_p + min_wall apart so that channels never cross.

    Regions: ``particle`` (= ``particle_0``, the solid), ``pore`` (electrolyte in the
    pores). Interfaces: ``particle_electrolyte`` = ``outer_surface`` (solid, exterior)
    + ``pore_wall`` (solid | pore); channels also have ``pore_opening`` (pore, exterior).
    Default mesh size R/8; the pores get min(h, r_p/2).
    """

    REGIONS: ClassVar = ("particle", "particle_0", "pore")
    INTERFACES: ClassVar = ("particle_electrolyte", "outer_surface", "pore_wall", "pore_opening")

    kind: Literal["porous_particle"] = Field(description="Geometry kind: a particle with internal nanopores or channels.")
    radius: float = Field(gt=0, description="Particle radius R [m].")
    pore_shape: Literal["spherical", "channel"] = Field(
        "spherical", description="Pore shape: closed spherical pores or open straight channels."
    )
    pore_radius: float = Field(gt=0, description="Pore (or channel) radius r_p [m].")
    porosity: float = Field(gt=0, lt=0.5, description="Target pore volume / particle volume [-].")
    min_wall: float | None = Field(
        None, gt=0, description="Smallest solid wall between pores and to the surface [m]; default r_p/2."
    )
    seed: int = Field(0, ge=0, description="Random seed of the pore placement.")

    @property
    def wall(self) -> float:
        return self.min_wall if self.min_wall is not None else self.pore_radius / 2

    def check_shape(self):
        R, rp = self.radius, self.pore_radius
        if rp > R / 3:
            raise ValueError(
                f"pore_radius = {_fmt(rp)} m is too large for radius = {_fmt(R)} m; allowed: "
                f"0 < pore_radius <= radius/3 = {_fmt(R / 3)}"
            )
        if self.pore_shape == "spherical":
            # pores inflated by half a wall, in the ball their centres may fill
            lim = 0.45
            n = round(self.porosity * (R / rp) ** 3)
            s = rp + self.wall / 2
            eff = n * (s / (R - self.wall / 2)) ** 3
        else:
            lim = 0.25
            eff = self.porosity * ((rp + self.wall / 2) / rp) ** 2
        if eff > lim:
            raise ValueError(
                f"porosity = {self.porosity} with pore_radius = {_fmt(rp)} m and min_wall = "
                f"{_fmt(self.wall)} m is not packable ({self.pore_shape} pores incl. walls "
                f"would fill {eff:.3g} > {lim}); lower porosity or min_wall"
            )
        if self.pore_shape == "spherical":
            n = round(self.porosity * (R / rp) ** 3)
            if n < 1:
                raise ValueError(
                    f"porosity = {self.porosity} gives no pore of radius {_fmt(rp)} m; allowed: "
                    f"porosity >= {0.5 * (rp / R) ** 3:.3g}"
                )

    def feature_size(self):
        return self.radius

    def default_region_sizes(self):
        return {"pore": self.pore_radius / 3}

    def region_volumes(self):
        v = 4 / 3 * math.pi * self.radius**3
        return {"particle_0": v * (1 - self.porosity), "pore": v * self.porosity}

    def interface_area(self):
        return 4 * math.pi * self.radius**2 + 3 * self.porosity * 4 / 3 * math.pi * self.radius**3 / self.pore_radius


class SecondaryParticle(MeshControls):
    """A spherical secondary particle of radius R made of N primary grains.

    The grains are the Voronoi cells of N seeds (drawn in the ball with a minimum
    spacing 0.6 (V/N)^(1/3)) clipped to the ball: grain i = ball intersected with the
    half-spaces (x - (s_i + s_j)/2) . (s_j - s_i) <= 0 for all j != i. Each grain gets a
    uniformly random crystal orientation (rotation matrix and Bunge Euler angles in
    ``info['grain_orientations']``) from the same seed.

    Regions: ``grain_0`` ... ``grain_{N-1}``, ``particle`` = ``particle_0`` = all grains.
    Interfaces: ``particle_electrolyte`` (outer surface), ``grain_boundary`` (internal).
    Default mesh size min(R/8, grain size/4) with grain size (V/N)^(1/3).
    """

    REGIONS: ClassVar = ("particle", "particle_0", "grain_*")
    INTERFACES: ClassVar = ("particle_electrolyte", "grain_boundary")

    kind: Literal["secondary_particle"] = Field(description="Geometry kind: a polycrystalline (secondary) particle.")
    radius: float = Field(gt=0, description="Secondary particle radius R [m].")
    n_grains: int = Field(ge=2, le=200, description="Number of primary grains N [-].")
    seed: int = Field(0, ge=0, description="Random seed of the Voronoi seeds and orientations.")

    def grain_size(self) -> float:
        return (4 / 3 * math.pi * self.radius**3 / self.n_grains) ** (1 / 3)

    def feature_size(self):
        return min(self.radius, self.grain_size())

    def default_mesh_size(self):
        return min(self.radius / 8, self.grain_size() / 4)

    def region_volumes(self):
        return {"particle_0": 4 / 3 * math.pi * self.radius**3}

    def _check_region_name(self, name):
        return name.startswith("grain_") and name[6:].isdigit() and int(name[6:]) < self.n_grains


# ---------------------------------------------------------------------------------------
# composite electrode and half-cell
# ---------------------------------------------------------------------------------------


class RadiusDistribution(StrictModel):
    """Particle radius distribution, by mean and standard deviation of the radius.

    lognormal: ln r ~ N(mu, s^2), s^2 = ln(1 + std^2/mean^2), mu = ln(mean) - s^2/2;
    normal: r ~ N(mean, std^2); uniform: r ~ U(mean - sqrt3 std, mean + sqrt3 std);
    constant: r = mean. Draws outside [min_radius, max_radius] are rejected.
    """

    kind: Literal["lognormal", "normal", "uniform", "constant"] = Field(
        "lognormal", description="Distribution family of the particle radius."
    )
    mean: float = Field(gt=0, description="Mean particle radius [m].")
    std: float = Field(0.0, ge=0, description="Standard deviation of the radius [m].")
    min_radius: float | None = Field(
        None, gt=0, description="Smallest radius kept [m]; default max(mean - 2 std, mean/2)."
    )
    max_radius: float | None = Field(
        None, gt=0, description="Largest radius kept [m]; default mean + 2.5 std."
    )

    def bounds(self) -> tuple[float, float]:
        lo = self.min_radius if self.min_radius is not None else max(self.mean - 2 * self.std, self.mean / 2)
        hi = self.max_radius if self.max_radius is not None else self.mean + 2.5 * self.std
        return lo, hi

    @model_validator(mode="after")
    def _check(self):
        lo, hi = self.bounds()
        if lo > self.mean or hi < self.mean:
            raise ValueError(
                f"radius_distribution: min_radius = {_fmt(lo)} m / max_radius = {_fmt(hi)} m "
                f"must bracket mean = {_fmt(self.mean)} m"
            )
        if self.kind == "uniform" and self.mean <= math.sqrt(3) * self.std:
            raise ValueError(
                f"radius_distribution.std = {_fmt(self.std)} m too large for a uniform "
                f"distribution of mean {_fmt(self.mean)} m; allowed: std < mean/sqrt(3)"
            )
        if self.std > 0 and self.kind == "constant":
            raise ValueError("radius_distribution.std must be 0 for kind = 'constant'")
        return self


class ExplicitParticle(StrictModel):
    """One particle at a given position."""

    centre: tuple[float, float, float] = Field(
        description="Centre [x, y, z] [m]; the electrode occupies 0 <= z <= thickness, "
        "0 <= x <= width, 0 <= y <= depth."
    )
    radius: float = Field(gt=0, description="Particle radius [m].")


class Electrode(MeshControls):
    """A composite electrode: current collector | particles + binder + electrolyte.

    Box 0 <= x <= width, 0 <= y <= depth, 0 <= z <= thickness (the electrode), with the
    current collector below (-collector_thickness <= z <= 0). Spherical particles from
    ``radius_distribution`` are packed (seeded RSA + relaxation) to the active volume
    fraction ``volume_fraction`` of the electrode box, or given explicitly in
    ``particles``; surfaces keep ``gap`` between particles and ``wall_gap`` to the box.

    Carbon-binder domain (target fraction ``binder_fraction`` of the electrode box):
    ``binder_morphology = "necks"``: a binder ball of radius R = k min(r_i, r_j) centred
    in the middle of every particle-particle gap below ``neck_max_gap`` (and, for
    particles within ``neck_max_gap`` of the collector, centred on the collector below
    them), minus the particles: fillets joining the surfaces (a neck exists when
    R >= 0.65 gap); k is solved for the target fraction. ``"coating"``: a shell of thickness t
    around every particle (overlapping shells merge into necks), t solved for the
    target. The electrolyte fills the rest of the box.

    Regions: ``particle_i`` (aggregate ``particle``), ``binder``, ``electrolyte``,
    ``current_collector``. Interfaces: ``particle_i_electrolyte`` (aggregate
    ``particle_electrolyte``), ``particle_i_binder`` (``particle_binder``),
    ``binder_electrolyte``, ``collector_electrolyte`` + ``collector_binder``
    (``collector_electrode``), ``separator_electrolyte`` + ``separator_binder``
    (``electrode_separator``, the top z = thickness), ``side`` (x, y faces),
    ``collector_bottom`` (z = -collector_thickness).
    Default sizes: h = min(r_mean/2.5, thickness/6, width/4, depth/4) in the
    electrolyte and collector; particles and binder (inside and on their surfaces)
    ``interface_mesh_size`` = min(h, r_min/3); balls of size max(2 gap, h_i/2) at
    close particle contacts.
    """

    REGIONS: ClassVar = ("particle", "particle_*", "binder", "electrolyte", "current_collector")
    INTERFACES: ClassVar = (
        "particle_electrolyte", "particle_*_electrolyte", "particle_binder", "particle_*_binder",
        "binder_electrolyte", "collector_electrode", "collector_electrolyte", "collector_binder",
        "collector_particle", "electrode_separator", "separator_electrolyte", "separator_binder",
        "side", "collector_bottom",
    )  # fmt: skip

    kind: Literal["electrode"] = Field(description="Geometry kind: a composite electrode on a current collector.")
    thickness: float = Field(gt=0, description="Electrode (coating) thickness along z [m].")
    width: float = Field(gt=0, description="In-plane size along x [m].")
    depth: float = Field(gt=0, description="In-plane size along y [m].")
    collector_thickness: float = Field(gt=0, description="Current-collector layer thickness [m].")
    volume_fraction: float | None = Field(
        None, gt=0, le=0.6,
        description="Target active-material volume fraction of the electrode box [-] "
        "(required unless particles are listed).",
    )
    radius_distribution: RadiusDistribution | None = Field(
        None, description="Particle radius distribution (required unless particles are listed)."
    )
    particles: list[ExplicitParticle] | None = Field(
        None, description="Explicit particle list (centres, radii); replaces the packing."
    )
    binder_fraction: float = Field(
        0.0, ge=0, le=0.3, description="Target carbon-binder volume fraction of the electrode box [-]."
    )
    binder_morphology: Literal["necks", "coating"] = Field(
        "necks", description="Carbon-binder shape: necks/bridges between particles, or a coating shell."
    )
    neck_max_gap: float | None = Field(
        None, gt=0, description="Largest surface gap (particle-particle or particle-collector) "
        "bridged by a binder neck [m]; default: mean radius / 2.",
    )
    gap: float | None = Field(
        None, gt=0, description="Minimum surface gap between particles [m]; default 0.05 * mean radius."
    )
    wall_gap: float | None = Field(
        None, gt=0, description="Minimum gap between particles and the collector, the electrode "
        "top and (for particles that do not cross them) the lateral faces [m]; default = gap.",
    )
    seed: int = Field(0, ge=0, description="Random seed of the particle sizes and positions.")

    # ---- derived ----------------------------------------------------------------------
    def mean_radius(self) -> float:
        if self.particles:
            return float(sum(p.radius for p in self.particles) / len(self.particles))
        return self.radius_distribution.mean  # type: ignore[union-attr]

    def radius_bounds(self) -> tuple[float, float]:
        if self.particles:
            r = [p.radius for p in self.particles]
            return min(r), max(r)
        return self.radius_distribution.bounds()  # type: ignore[union-attr]

    def g(self) -> float:
        return self.gap if self.gap is not None else 0.05 * self.mean_radius()

    def g_wall(self) -> float:
        return self.wall_gap if self.wall_gap is not None else self.g()

    def neck_gap(self) -> float:
        return self.neck_max_gap if self.neck_max_gap is not None else 0.5 * self.mean_radius()

    def box_volume(self) -> float:
        return self.thickness * self.width * self.depth

    def target_fraction(self) -> float:
        if self.particles:
            return sum(4 / 3 * math.pi * p.radius**3 for p in self.particles) / self.box_volume()
        return float(self.volume_fraction)  # type: ignore[arg-type]

    def top(self) -> float:
        """z of the top of the model (electrode top, or the separator top)."""
        return self.thickness

    def check_shape(self):
        if self.particles is None:
            if self.volume_fraction is None or self.radius_distribution is None:
                missing = "volume_fraction" if self.volume_fraction is None else "radius_distribution"
                raise ValueError(f"{missing}: required when no explicit particles are given")
        else:
            if self.volume_fraction is not None or self.radius_distribution is not None:
                raise ValueError(
                    "particles: give either an explicit particle list or volume_fraction + "
                    "radius_distribution, not both"
                )
            if not self.particles:
                raise ValueError("particles: the list is empty")
        lo, hi = self.radius_bounds()
        if 2 * hi + 2 * self.g_wall() > self.thickness:
            raise ValueError(
                f"thickness = {_fmt(self.thickness)} m: the largest particle (radius {_fmt(hi)} m) "
                f"does not fit with wall_gap = {_fmt(self.g_wall())} m; allowed: thickness >= "
                f"2 (max radius + wall_gap) = {_fmt(2 * hi + 2 * self.g_wall())}"
            )
        for key, L in (("width", self.width), ("depth", self.depth)):
            if 2 * hi + self.g() > L:
                raise ValueError(
                    f"{key} = {_fmt(L)} m is smaller than the largest particle diameter plus gap "
                    f"({_fmt(2 * hi + self.g())} m); allowed: {key} >= 2 max radius + gap"
                )
        if self.g() > 0.5 * lo:
            raise ValueError(
                f"gap = {_fmt(self.g())} m too large for particles of radius {_fmt(lo)} m; "
                f"allowed: 0 < gap <= min radius / 2 = {_fmt(lo / 2)}"
            )
        phi = self.target_fraction()
        if self.particles is None:
            # spheres inflated by half the gap, in the slab left by the z walls (the
            # packing is periodic in-plane); random packings of such spheres jam near
            # 0.6, the packer needs some room below that
            rm = self.mean_radius()
            infl = ((rm + self.g() / 2) / rm) ** 3
            shrink = max(self.thickness - 2 * self.g_wall() + self.g(), 1e-30) / self.thickness
            eff = phi * infl / shrink
            if eff > PACKING_LIMIT:
                raise ValueError(
                    f"volume_fraction = {phi} is not packable with gap = {_fmt(self.g())} m and "
                    f"wall_gap = {_fmt(self.g_wall())} m (gap-inflated random packing fraction "
                    f"{eff:.3g} > {PACKING_LIMIT}); allowed: volume_fraction <= "
                    f"{PACKING_LIMIT / infl * shrink:.3g}"
                )
        else:
            self._check_explicit()
        if phi + self.binder_fraction > 0.9:
            raise ValueError(
                f"binder_fraction = {self.binder_fraction} with an active fraction of {phi:.3g} leaves "
                f"less than 10 % electrolyte; allowed: volume_fraction + binder_fraction <= 0.9"
            )

    def _check_explicit(self):
        """Explicit particles: inside in z, laterally inside or crossing deeply, no overlaps.

        Overlaps are checked with the in-plane periodic images used by the builder.
        """
        ps = self.particles or []
        L = (self.width, self.depth, self.thickness)
        for i, p in enumerate(ps):
            c, r = p.centre, p.radius
            if c[2] - r < self.g_wall() - 1e-15 or c[2] + r > self.thickness - self.g_wall() + 1e-15:
                raise ValueError(
                    f"particles[{i}] (centre {list(c)}, radius {_fmt(r)}) is not inside 0 <= z <= "
                    f"thickness = {_fmt(self.thickness)} with wall_gap = {_fmt(self.g_wall())} m"
                )
            for k in (0, 1):
                if not (0 <= c[k] <= L[k]):
                    raise ValueError(
                        f"particles[{i}].centre[{k}] = {_fmt(c[k])} m outside [0, {_fmt(L[k])}]"
                    )
                d = min(c[k], L[k] - c[k])
                if 0.7 * r < d < r + self.g_wall():
                    raise ValueError(
                        f"particles[{i}] grazes the face {'xy'[k]} = {'0' if c[k] < L[k] / 2 else _fmt(L[k])}: "
                        f"centre distance {_fmt(d)} m; allowed: >= radius + wall_gap = "
                        f"{_fmt(r + self.g_wall())} or <= 0.7 radius = {_fmt(0.7 * r)} (crossing)"
                    )
        for i in range(len(ps)):
            for j in range(i, len(ps)):
                for a in (-1, 0, 1):
                    for b in (-1, 0, 1):
                        if i == j and a == 0 and b == 0:
                            continue
                        cj = (ps[j].centre[0] + a * L[0], ps[j].centre[1] + b * L[1], ps[j].centre[2])
                        g = math.dist(ps[i].centre, cj) - ps[i].radius - ps[j].radius
                        if g < self.g() * (1 - 1e-9):
                            raise ValueError(
                                f"particles[{i}] and particles[{j}]"
                                f"{' (periodic image)' if a or b else ''} are {_fmt(g)} m apart "
                                f"(surface to surface); allowed: >= gap = {_fmt(self.g())} m"
                            )

    def feature_size(self):
        lo, _ = self.radius_bounds()
        return min(lo, self.collector_thickness * 2, self.thickness)

    def default_mesh_size(self):
        return min(self.mean_radius() / 2.5, self.thickness / 6, self.width / 4, self.depth / 4)

    def h_interface(self):
        """Size inside and on the particles and binder [m] (default min(h, r_min/3))."""
        if self.interface_mesh_size is not None:
            return self.interface_mesh_size
        lo, _ = self.radius_bounds()
        return min(self.h(), lo / 3)

    def d_refine(self):
        return self.refinement_distance if self.refinement_distance is not None else self.h()

    def region_volumes(self):
        vb = self.box_volume()
        phi = self.target_fraction()
        return {
            "particle": phi * vb,
            "binder": self.binder_fraction * vb,
            "electrolyte": (1 - phi - self.binder_fraction) * vb,
            "current_collector": self.collector_thickness * self.width * self.depth,
        }

    def estimated_elements(self) -> int:
        hi = self.h_interface()
        sizes = {"particle": hi, "binder": hi, **self.region_mesh_size}
        n = sum(TETS_PER_H3 * v / sizes.get(k, self.h()) ** 3 for k, v in self.region_volumes().items())
        return int(n)

    def estimated_particles(self) -> int:
        if self.particles:
            return len(self.particles)
        r = self.mean_radius()
        return int(math.ceil(self.target_fraction() * self.box_volume() / (4 / 3 * math.pi * r**3)))

    def _check_region_name(self, name):
        return name.startswith("particle_") and name[9:].isdigit()


class HalfCell(Electrode):
    """Half-cell: lithium-metal boundary | separator | composite electrode | collector.

    As :class:`Electrode`, with a separator layer thickness <= z <= thickness +
    separator_thickness (region ``separator``, electrolyte-filled) whose top face is
    the lithium-metal counter electrode (facets ``lithium_separator``). The electrode
    top becomes the internal interface ``electrode_separator``. Aggregate region
    ``electrolyte_domain`` = ``electrolyte`` + ``separator`` (the whole liquid).
    """

    REGIONS: ClassVar = Electrode.REGIONS + ("separator", "electrolyte_domain")
    INTERFACES: ClassVar = Electrode.INTERFACES + ("lithium_separator",)

    kind: Literal["half_cell"] = Field(description="Geometry kind: Li metal | separator | electrode | collector.")  # type: ignore[assignment]
    separator_thickness: float = Field(gt=0, description="Separator thickness [m].")

    def top(self) -> float:
        return self.thickness + self.separator_thickness

    def feature_size(self):
        return min(super().feature_size(), self.separator_thickness * 2)

    def region_volumes(self):
        out = super().region_volumes()
        out["separator"] = self.separator_thickness * self.width * self.depth
        return out


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
