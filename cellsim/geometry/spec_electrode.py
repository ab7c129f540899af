"""Schema of the composite kinds: electrode (particles + carbon-binder + electrolyte on a
collector) and half-cell (lithium metal | separator | electrode | collector), with the
particle radius distribution and explicit particle lists (pydantic; lengths in metres)."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from cellsim.geometry.spec_composite import ParticleTypeKeys
from cellsim.geometry.spec_controls import TETS_PER_H3, MeshControls, _inv_cube, fmt
from cellsim.schema import StrictModel

#: largest gap-inflated random packing fraction accepted for electrodes
PACKING_LIMIT = 0.55


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
                f"radius_distribution: min_radius = {fmt(lo)} m / max_radius = {fmt(hi)} m "
                f"must bracket mean = {fmt(self.mean)} m"
            )
        if self.kind == "uniform" and self.mean <= math.sqrt(3) * self.std:
            raise ValueError(
                f"radius_distribution.std = {fmt(self.std)} m too large for a uniform "
                f"distribution of mean {fmt(self.mean)} m; allowed: std < mean/sqrt(3)"
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
    radius: float = Field(gt=0, le=1e-2, description="Particle radius [m].")


class Electrode(MeshControls, ParticleTypeKeys):
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

    Electronic connectivity: every piece of every particle (a particle cut by a lateral
    face has one piece per side: the mesh is not periodic) must reach the collector
    through binder. Pieces the necks leave isolated get a repair bridge (a binder
    cylinder of radius 0.3 min(r_a, r_b), thinner where that fits nowhere) to the nearest
    connected piece or down into the collector; isolated caps below 1e-3 of their
    particle's volume become electrolyte; a packing that still leaves a particle isolated
    is refused, naming the seed, unless ``allow_isolated_particles = true``.

    Particle type (``particle_type``, :mod:`~cellsim.geometry.spec_composite`): ``porous``
    adds the region ``pore`` (electrolyte-filled) and the interfaces ``particle_i_pore_wall``
    (aggregates ``pore_wall`` and, with the outer surfaces, ``particle_electrolyte``),
    ``pore_opening``, ``pore_binder``; ``secondary`` makes every particle the aggregate
    ``particle_i`` of its grain regions ``particle_i_grain_k`` with the interfaces
    ``particle_i_grain_boundary`` (aggregate ``grain_boundary``).

    Regions: ``particle_i`` (aggregate ``particle``), ``binder``, ``electrolyte``,
    ``current_collector``. Interfaces: ``particle_i_electrolyte`` (aggregate
    ``particle_electrolyte``), ``particle_i_binder`` (``particle_binder``),
    ``binder_electrolyte``, ``collector_electrolyte`` + ``collector_binder``
    (``collector_electrode``), ``separator_electrolyte`` + ``separator_binder``
    (``electrode_separator``, the top z = thickness), ``side`` (x, y faces),
    ``collector_bottom`` (z = -collector_thickness).
    Default sizes: h = min(r_mean/2.5, thickness/6, width/4, depth/4) in the
    electrolyte and collector; particles and binder (inside and on their surfaces)
    ``interface_mesh_size`` = min(h, r_mean/4, r_min/2.5); balls of size max(2 gap, h_i/2) at
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
    thickness: float = Field(gt=0, le=1e-2, description="Electrode (coating) thickness along z [m].")
    width: float = Field(gt=0, le=1e-2, description="In-plane size along x [m].")
    depth: float = Field(gt=0, le=1e-2, description="In-plane size along y [m].")
    collector_thickness: float = Field(gt=0, le=1e-2, description="Current-collector layer thickness [m].")
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
        None, gt=0, le=1e-2, description="Minimum surface gap between particles [m]; default 0.05 * mean radius."
    )
    wall_gap: float | None = Field(
        None, gt=0, description="Minimum gap between particles and the collector, the electrode "
        "top and (for particles that do not cross them) the lateral faces [m]; default = gap.",
    )
    seed: int = Field(0, ge=0, description="Random seed of the particle sizes and positions.")
    allow_isolated_particles: bool = Field(
        False,
        description="Keep particles (or pieces of particles cut by a lateral face) that no "
        "binder path links to the current collector, on purpose. Default false: such pieces "
        "get a binder bridge to the nearest connected piece or the collector, and a packing "
        "that cannot be repaired is refused with an error naming the seed.",
    )

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
                f"thickness = {fmt(self.thickness)} m: the largest particle (radius {fmt(hi)} m) "
                f"does not fit with wall_gap = {fmt(self.g_wall())} m; allowed: thickness >= "
                f"2 (max radius + wall_gap) = {fmt(2 * hi + 2 * self.g_wall())}"
            )
        for key, L in (("width", self.width), ("depth", self.depth)):
            if 2 * hi + self.g() > L:
                raise ValueError(
                    f"{key} = {fmt(L)} m is smaller than the largest particle diameter plus gap "
                    f"({fmt(2 * hi + self.g())} m); allowed: {key} >= 2 max radius + gap"
                )
        if self.g() > 0.5 * lo:
            raise ValueError(
                f"gap = {fmt(self.g())} m too large for particles of radius {fmt(lo)} m; "
                f"allowed: 0 < gap <= min radius / 2 = {fmt(lo / 2)}"
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
                    f"volume_fraction = {phi} is not packable with gap = {fmt(self.g())} m and "
                    f"wall_gap = {fmt(self.g_wall())} m (gap-inflated random packing fraction "
                    f"{eff:.3g} > {PACKING_LIMIT}); allowed: volume_fraction <= "
                    f"{PACKING_LIMIT / infl * shrink:.3g}"
                )
        else:
            self._check_explicit()
        if self.binder_fraction == 0 and not self.allow_isolated_particles:
            raise ValueError(
                "binder_fraction = 0: particles keep a gap to each other and to the collector, so "
                "without carbon-binder no particle conducts to the current collector; allowed: "
                "binder_fraction > 0, or allow_isolated_particles = true for an electrode whose "
                "particles are isolated on purpose"
            )
        if phi + self.binder_fraction > 0.9:
            raise ValueError(
                f"binder_fraction = {self.binder_fraction} with an active fraction of {phi:.3g} leaves "
                f"less than 10 % electrolyte; allowed: volume_fraction + binder_fraction <= 0.9"
            )
        self.check_particle_type(lo, hi, self.h_interface())

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
                    f"particles[{i}] (centre {list(c)}, radius {fmt(r)}) is not inside 0 <= z <= "
                    f"thickness = {fmt(self.thickness)} with wall_gap = {fmt(self.g_wall())} m"
                )
            for k in (0, 1):
                if not (0 <= c[k] <= L[k]):
                    raise ValueError(
                        f"particles[{i}].centre[{k}] = {fmt(c[k])} m outside [0, {fmt(L[k])}]"
                    )
                d = min(c[k], L[k] - c[k])
                if 0.7 * r < d < r + self.g_wall():
                    raise ValueError(
                        f"particles[{i}] grazes the face {'xy'[k]} = {'0' if c[k] < L[k] / 2 else fmt(L[k])}: "
                        f"centre distance {fmt(d)} m; allowed: >= radius + wall_gap = "
                        f"{fmt(r + self.g_wall())} or <= 0.7 radius = {fmt(0.7 * r)} (crossing)"
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
                                f"{' (periodic image)' if a or b else ''} are {fmt(g)} m apart "
                                f"(surface to surface); allowed: >= gap = {fmt(self.g())} m"
                            )

    def feature_size(self):
        lo, _ = self.radius_bounds()
        return min(lo, self.collector_thickness * 2, self.thickness)

    def default_mesh_size(self):
        return min(self.mean_radius() / 2.5, self.thickness / 6, self.width / 4, self.depth / 4)

    def h_interface(self):
        """Size inside and on the particles and binder [m] (default min(h, r_mean/4, r_min/2.5))."""
        if self.interface_mesh_size is not None:
            return self.interface_mesh_size
        lo, _ = self.radius_bounds()
        return min(self.h(), self.mean_radius() / 4, lo / 2.5)

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
        """Tetrahedra estimate: each region's volume at its size; a particle named in
        ``region_mesh_size`` (``particle_i``) takes its own size (the smaller of it and
        the particles' size, as gmsh's Min field) over its volume (its radius if given,
        else the mean particle volume), the rest of the particles the particles' size."""
        hi = self.h_interface()
        sizes = {"particle": hi, "binder": hi, **self.region_mesh_size}
        vols = self.region_volumes()
        n = sum(TETS_PER_H3 * v * _inv_cube(sizes.get(k, self.h())) for k, v in vols.items() if k != "particle")
        rest = vols["particle"]
        each = rest / max(self.estimated_particles(), 1)
        for name, size in self.region_mesh_size.items():
            stem, _, num = name.rpartition("_")
            if stem != "particle" or not num.isdigit():
                continue
            i = int(num)
            v = 4 / 3 * math.pi * self.particles[i].radius ** 3 if i < len(self.particles) else each
            v = min(v, rest)
            rest -= v
            n += TETS_PER_H3 * v * _inv_cube(min(size, sizes["particle"]))
        n += TETS_PER_H3 * rest * _inv_cube(sizes["particle"])
        return int(n) if math.isfinite(n) and n < 1e18 else 10**18

    def estimated_particles(self) -> int:
        if self.particles:
            return len(self.particles)
        r = self.mean_radius()
        return int(math.ceil(self.target_fraction() * self.box_volume() / (4 / 3 * math.pi * r**3)))

    def _check_region_name(self, name):
        if name == "pore":  # the pores of particle_type = 'porous'
            return self.particle_type == "porous"
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
    separator_thickness: float = Field(gt=0, le=1e-2, description="Separator thickness [m].")

    def top(self) -> float:
        return self.thickness + self.separator_thickness

    def feature_size(self):
        return min(super().feature_size(), self.separator_thickness * 2)

    def region_volumes(self):
        out = super().region_volumes()
        out["separator"] = self.separator_thickness * self.width * self.depth
        return out
