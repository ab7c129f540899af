"""Schema of the particle type of a composite electrode or half-cell: dense spheres
(default), porous particles (pores or channels) or secondary (polycrystalline) particles
(pydantic; lengths in metres).

Every packed particle of ``particle_type = "porous"`` gets the pores of a
:class:`~cellsim.geometry.spec_particles.PorousParticle` of its radius (the same keys
``pore_shape``, ``pore_radius``, ``porosity``, ``min_wall``); with ``"secondary"`` it is
split into ``n_grains`` Voronoi grains as a
:class:`~cellsim.geometry.spec_particles.SecondaryParticle`. The checks run with the
rest of the geometry validation, before any mesh is built.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field, ValidationError

from cellsim.geometry.spec_controls import fmt
from cellsim.geometry.spec_particles import EULER_DOC, ORIENTATIONS_DOC, EulerTriple, OrientationsKey, check_orientations
from cellsim.schema import StrictModel

POROUS_KEYS = ("pore_shape", "pore_radius", "porosity", "min_wall")
SECONDARY_KEYS = ("n_grains", "orientations", "euler")


class ParticleTypeKeys(StrictModel):
    """The particle-type keys of :class:`~cellsim.geometry.spec_electrode.Electrode`."""

    particle_type: Literal["dense", "porous", "secondary"] = Field(
        "dense",
        description="Kind of every packed particle: 'dense' spheres, 'porous' (electrolyte-filled "
        "pores or channels, keys pore_shape, pore_radius, porosity, min_wall) or 'secondary' "
        "(polycrystalline: n_grains Voronoi grains, orientations by the key orientations).",
    )
    pore_shape: Literal["spherical", "channel"] | None = Field(
        None, description="particle_type = 'porous': 'channel' (straight channels through the particle, "
        "open to the electrode's electrolyte; default) or 'spherical' (closed pores, sealed electrolyte)."
    )
    pore_radius: float | None = Field(
        None, gt=0, le=1e-2, description="particle_type = 'porous': pore (channel) radius [m]."
    )
    porosity: float | None = Field(
        None, gt=0, lt=0.5, description="particle_type = 'porous': pore volume / particle volume [-]."
    )
    min_wall: float | None = Field(
        None, gt=0, le=1e-2,
        description="particle_type = 'porous': smallest solid wall between pores and to the particle "
        "surface [m]; default pore_radius/2.",
    )
    n_grains: int | None = Field(
        None, ge=2, le=50, description="particle_type = 'secondary': Voronoi grains per particle [-]."
    )
    orientations: OrientationsKey | None = Field(
        None, description="particle_type = 'secondary': " + ORIENTATIONS_DOC.replace(
            "one per grain", "one per grain of a particle (n_grains triples, the same for every particle)")
        + " Default 'random'; 'radial' is radial from each particle's centre.")
    euler: EulerTriple | None = Field(None, description="particle_type = 'secondary': " + EULER_DOC)

    # ------------------------------------------------------------------ derived
    def pore_spec(self, radius: float, seed: int = 0):
        """The single-particle spec of a porous particle of ``radius`` (raises ValueError)."""
        from cellsim.geometry.spec_particles import PorousParticle

        return PorousParticle(kind="porous_particle", radius=radius, pore_shape=self.pore_shape or "channel",
                              pore_radius=self.pore_radius, porosity=self.porosity, min_wall=self.min_wall,
                              seed=seed)

    def grain_spec(self, radius: float, seed: int = 0):
        """The single-particle spec of a secondary particle of ``radius``."""
        from cellsim.geometry.spec_particles import SecondaryParticle

        return SecondaryParticle(kind="secondary_particle", radius=radius, n_grains=self.n_grains, seed=seed,
                                 orientations=self.orientations or "random", euler=self.euler)

    def pore_mesh_size(self, h_interface: float) -> float:
        """Element size inside the pores [m]: min(interface size, pore_radius/3), as in a single porous particle."""
        return min(h_interface, (self.pore_radius or math.inf) / 3)

    def check_particle_type(self, r_min: float, r_max: float, h_interface: float) -> None:
        """Cross-field checks of the particle-type keys (ValueError naming key, value, allowed)."""
        t = self.particle_type
        wrong = [k for k in POROUS_KEYS if getattr(self, k) is not None] if t != "porous" else []
        wrong += [k for k in SECONDARY_KEYS if getattr(self, k) is not None] if t != "secondary" else []
        if wrong:
            k = wrong[0]
            need = "porous" if k in POROUS_KEYS else "secondary"
            raise ValueError(f"{k} = {getattr(self, k)!r} is only used with particle_type = '{need}' (got "
                             f"particle_type = '{t}'); allowed: remove {k}, or set particle_type = '{need}'")
        if t == "porous":
            for k in ("pore_radius", "porosity"):
                if getattr(self, k) is None:
                    raise ValueError(f"{k}: required with particle_type = 'porous'")
            # channel counts reach the porosity on windows of radii: check across the range
            radii = {r_min, r_max} | ({float(r) for r in np.linspace(r_min, r_max, 10)}
                                      if (self.pore_shape or "channel") == "channel" else set())
            for r in sorted(radii):
                try:
                    self.pore_spec(r)
                except ValidationError as exc:
                    msg = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                    raise ValueError(f"particle_type = 'porous' with particle radius {fmt(r)} m: {msg}") from None
        if t == "secondary":
            if self.n_grains is None:
                raise ValueError("n_grains: required with particle_type = 'secondary'")
            check_orientations(self.orientations or "random", self.euler, self.n_grains, "n_grains")
            g = (4 / 3 * math.pi * r_min**3 / self.n_grains) ** (1 / 3)
            if g < 1.5 * h_interface:
                raise ValueError(
                    f"n_grains = {self.n_grains}: the grains of the smallest particle (radius {fmt(r_min)} m, "
                    f"grain size {fmt(g)} m) are smaller than 1.5 x interface_mesh_size = "
                    f"{fmt(1.5 * h_interface)} m; allowed: n_grains <= "
                    f"{max(int(4 / 3 * math.pi * r_min**3 / (1.5 * h_interface) ** 3), 1)}, or a smaller "
                    "interface_mesh_size"
                )
