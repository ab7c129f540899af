"""Schema of the single-particle kinds: sphere, ellipsoid, cylinder, core-shell, porous
and secondary (polycrystalline) particles (pydantic; lengths in metres)."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal, Optional, Union

import numpy as np
from pydantic import BeforeValidator, Field

from cellsim.geometry.spec_controls import TETS_PER_H3, MeshControls, _inv_cube, fmt


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
    radius: float = Field(gt=0, le=1e-2, description="Particle radius R [m].")

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
        Annotated[float, Field(gt=0, le=1e-2)], Annotated[float, Field(gt=0, le=1e-2)],
        Annotated[float, Field(gt=0, le=1e-2)]
    ] = Field(description="Semi-axes [a, b, c] along x, y, z [m], each at most 1e-2.")

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
    radius: float = Field(gt=0, le=1e-2, description="Wire radius R [m].")
    length: float = Field(gt=0, le=1e-2, description="Wire length L along z [m].")

    def check_shape(self):
        if self.length / self.radius > 200:
            raise ValueError(
                f"length = {fmt(self.length)} m is more than 200 radii (radius = "
                f"{fmt(self.radius)} m); allowed: length <= 200 * radius"
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
    core_radius: float = Field(gt=0, le=1e-2, description="Core radius R_c [m].")
    coating_thickness: float = Field(gt=0, le=1e-2, description="Coating (shell) thickness t [m].")

    def check_shape(self):
        if self.coating_thickness >= self.core_radius:
            raise ValueError(
                f"coating_thickness = {fmt(self.coating_thickness)} m is not thinner than the "
                f"particle core (core_radius = {fmt(self.core_radius)} m); allowed: "
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


#: the channel planner's tolerance on the porosity: |achieved - requested| <= 10 % of requested
POROSITY_TOL = 0.1


def channel_volume(R: float, rp: float, rho: float, n: int = 24) -> float:
    """Volume of a straight channel (infinite cylinder of radius rp, its axis at distance rho
    from the centre) inside the ball of radius R: the integral over the channel's cross-section
    disk of the chord 2 sqrt(R^2 - |q|^2) (Gauss-Legendre in polar coordinates; smooth for
    rho + rp < R). rho = 0: 4/3 pi (R^3 - (R^2 - rp^2)^(3/2))."""
    t, wt = np.polynomial.legendre.leggauss(n)
    r = 0.5 * rp * (t + 1.0)
    th = np.pi * (t + 1.0)
    rr, tt = np.meshgrid(r, th, indexing="ij")
    q2 = rho**2 + rr**2 + 2 * rho * rr * np.cos(tt)
    f = 2.0 * np.sqrt(np.maximum(R**2 - q2, 0.0)) * rr
    return float(0.5 * rp * np.pi * np.einsum("i,j,ij->", wt, wt, f))


def channel_offsets(spec):
    """(rho_max, v(0), v(rho_max)): the largest axis offset that keeps min_wall to the surface,
    rho_max = R - r_p - min_wall, and the channel volumes at offsets 0 and rho_max."""
    R, rp = spec.radius, spec.pore_radius
    rho_max = max(R - rp - spec.wall, 0.0)
    return rho_max, channel_volume(R, rp, 0.0), channel_volume(R, rp, rho_max)


def channel_counts(spec) -> list[tuple[int, float]]:
    """(k, volume per channel) of the channel counts k that reach porosity V within
    POROSITY_TOL, the fewest first: the volume target / k clipped to what offsets in
    [0, R - r_p - min_wall] give."""
    V = 4 / 3 * math.pi * spec.radius**3
    target = spec.porosity * V
    _, v0, v1 = channel_offsets(spec)
    lo, hi = math.ceil(target * (1 - POROSITY_TOL) / v0 - 1e-12), math.floor(target * (1 + POROSITY_TOL) / v1 + 1e-12)
    return [(k, min(max(target / k, v1), v0)) for k in range(max(lo, 1), hi + 1)]


def porosity_unreachable(spec, got: float) -> str:
    """The message when no channel plan reaches the porosity within POROSITY_TOL."""
    _, v0, v1 = channel_offsets(spec)
    V = 4 / 3 * math.pi * spec.radius**3
    k = max(1, math.floor(spec.porosity * V / v0))
    ranges = ", ".join(f"{n} channel(s): {n * v1 / V:.3g} to {n * v0 / V:.3g}" for n in (k, k + 1))
    tried = f"; the random plan reached {got:.3g}" if got is not None else ""
    return (f"porosity = {spec.porosity} with pore_radius = {fmt(spec.pore_radius)} m in a particle of radius "
            f"{fmt(spec.radius)} m is out of reach of whole straight channels ({ranges}{tried}); allowed: a "
            f"porosity within {POROSITY_TOL:.0%} of those, or a smaller pore_radius")


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
    radius: float = Field(gt=0, le=1e-2, description="Particle radius R [m].")
    pore_shape: Literal["spherical", "channel"] = Field(
        "spherical", description="Pore shape: closed spherical pores or open straight channels."
    )
    pore_radius: float = Field(gt=0, le=1e-2, description="Pore (or channel) radius r_p [m].")
    porosity: float = Field(gt=0, lt=0.5, description="Target pore volume / particle volume [-].")
    min_wall: float | None = Field(
        None, gt=0, le=1e-2, description="Smallest solid wall between pores and to the surface [m]; default r_p/2."
    )
    seed: int = Field(0, ge=0, description="Random seed of the pore placement.")

    @property
    def wall(self) -> float:
        return self.min_wall if self.min_wall is not None else self.pore_radius / 2

    def check_shape(self):
        R, rp = self.radius, self.pore_radius
        if rp > R / 3:
            raise ValueError(
                f"pore_radius = {fmt(rp)} m is too large for radius = {fmt(R)} m; allowed: "
                f"0 < pore_radius <= radius/3 = {fmt(R / 3)}"
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
                f"porosity = {self.porosity} with pore_radius = {fmt(rp)} m and min_wall = "
                f"{fmt(self.wall)} m is not packable ({self.pore_shape} pores incl. walls "
                f"would fill {eff:.3g} > {lim}); lower porosity or min_wall"
            )
        if self.pore_shape == "channel" and not channel_counts(self):
            raise ValueError(porosity_unreachable(self, None))
        if self.pore_shape == "spherical":
            n = round(self.porosity * (R / rp) ** 3)
            if n < 1:
                raise ValueError(
                    f"porosity = {self.porosity} gives no pore of radius {fmt(rp)} m; allowed: "
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


#: one Bunge (Z-X-Z) Euler triple [phi1, Phi, phi2] in degrees
EulerTriple = tuple[Annotated[float, Field(ge=-360, le=360)], Annotated[float, Field(ge=-360, le=360)],
                    Annotated[float, Field(ge=-360, le=360)]]
ORIENTATION_RULES = ("random", "radial", "aligned")


def _orientations_input(v):
    """A clear error for a wrong ``orientations`` (before pydantic tries each member of the union)."""
    allowed = "allowed: 'random', 'radial', 'aligned' or a list of [phi1, Phi, phi2] triples in degrees"
    if isinstance(v, str):
        if v not in ORIENTATION_RULES:
            raise ValueError(f"unknown rule; {allowed}")
        return v
    if not isinstance(v, list) or not v:
        raise ValueError(f"{'an empty list' if v == [] else 'not a rule nor a list'}; {allowed}")
    for i, t in enumerate(v):
        ok = isinstance(t, (list, tuple)) and len(t) == 3 and all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                                         for a in t)
        if not ok or not all(-360 <= a <= 360 for a in t):
            raise ValueError(f"item {i} = {fmt_value(t)}: allowed: [phi1, Phi, phi2], three angles in degrees in "
                             "[-360, 360] (Bunge Z-X-Z)")
    return [tuple(float(a) for a in t) for t in v]  # as the union's list member takes them (strict)


def fmt_value(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


OrientationsKey = Annotated[Union[Literal["random", "radial", "aligned"], list[EulerTriple]],
                            BeforeValidator(_orientations_input)]
ORIENTATIONS_DOC = (
    "Crystal orientation of the grains: 'random' (uniform on SO(3) from the seed), 'radial' (every grain's "
    "a-b layers radial and its c-axis tangential to the particle centre, the spin about the radius from the "
    "seed; docs/multiscale.md), 'aligned' (all grains the orientation `euler`) or a list of Bunge Z-X-Z "
    "Euler triples [phi1, Phi, phi2] in degrees, one per grain.")
EULER_DOC = ("orientations = 'aligned': the one orientation of every grain, Bunge Z-X-Z Euler angles "
             "[phi1, Phi, phi2] in degrees (R = Rz(phi1) Rx(Phi) Rz(phi2), crystal to sample axes).")


def check_orientations(orientations, euler, n: int, n_key: str) -> None:
    """Cross-key checks of ``orientations`` and ``euler`` (ValueError naming key, value, allowed)."""
    if orientations == "aligned" and euler is None:
        raise ValueError("orientations = 'aligned' needs euler = [phi1, Phi, phi2] (Bunge Z-X-Z, degrees)")
    if euler is not None and orientations != "aligned":
        shown = orientations if isinstance(orientations, str) else "a list"
        raise ValueError(f"euler = {list(euler)} is only used with orientations = 'aligned' (got {shown!r}); "
                         "allowed: remove euler, or set orientations = 'aligned'")
    if isinstance(orientations, list) and len(orientations) != n:
        raise ValueError(f"orientations: {len(orientations)} Euler triples for {n_key} = {n}; allowed: exactly one "
                         "[phi1, Phi, phi2] per grain")


class SecondaryParticle(MeshControls):
    """A spherical secondary particle of radius R made of N primary grains.

    The grains are the Voronoi cells of N seeds (drawn in the ball with a minimum
    spacing 0.6 (V/N)^(1/3)) clipped to the ball: grain i = ball intersected with the
    half-spaces (x - (s_i + s_j)/2) . (s_j - s_i) <= 0 for all j != i. Each grain gets a
    crystal orientation (rotation matrix and Bunge Euler angles in
    ``info['grain_orientations']``) by ``orientations`` (:func:`orientation_rule`):
    uniformly random from the same seed (default), radial texture, one for all, or a list.

    Regions: ``grain_0`` ... ``grain_{N-1}``, ``particle`` = ``particle_0`` = all grains.
    Interfaces: ``particle_electrolyte`` (outer surface), ``grain_boundary`` (internal).
    Default mesh size min(R/8, grain size/4) with grain size (V/N)^(1/3).
    """

    REGIONS: ClassVar = ("particle", "particle_0", "grain_*")
    INTERFACES: ClassVar = ("particle_electrolyte", "grain_boundary")

    kind: Literal["secondary_particle"] = Field(description="Geometry kind: a polycrystalline (secondary) particle.")
    radius: float = Field(gt=0, le=1e-2, description="Secondary particle radius R [m].")
    n_grains: int = Field(ge=2, le=200, description="Number of primary grains N [-].")
    seed: int = Field(0, ge=0, description="Random seed of the Voronoi seeds and orientations.")
    orientations: OrientationsKey = Field("random", description=ORIENTATIONS_DOC)
    euler: Optional[EulerTriple] = Field(None, description=EULER_DOC)

    def check_shape(self):
        check_orientations(self.orientations, self.euler, self.n_grains, "n_grains")

    def grain_size(self) -> float:
        return (4 / 3 * math.pi * self.radius**3 / self.n_grains) ** (1 / 3)

    def feature_size(self):
        return min(self.radius, self.grain_size())

    def default_mesh_size(self):
        return min(self.radius / 8, self.grain_size() / 4)

    def region_volumes(self):
        return {"particle_0": 4 / 3 * math.pi * self.radius**3}

    def estimated_elements(self) -> int:
        """As for every kind, except that a grain named in ``region_mesh_size``
        (``grain_i``) takes its own size over the mean grain volume V/N."""
        n = super().estimated_elements()
        sizes = self.region_sizes()
        coarse = min([sizes[k] for k in ("particle", "particle_0") if k in sizes] + [self.h()])
        vg = 4 / 3 * math.pi * self.radius**3 / self.n_grains
        for name, size in self.region_mesh_size.items():
            if name.startswith("grain_") and size < coarse:
                n += TETS_PER_H3 * vg * (_inv_cube(size) - _inv_cube(coarse))
        return int(n) if math.isfinite(n) and n < 1e18 else 10**18

    def _check_region_name(self, name):
        return name.startswith("grain_") and name[6:].isdigit() and int(name[6:]) < self.n_grains
