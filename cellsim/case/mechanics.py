"""Case section ``[mechanics]`` of the half-cell: the electrode skeleton and its interfaces
(no DOLFINx import).

``physics.mechanics = true`` alone keeps the free particles (each held by a weak elastic
foundation, the particles' mechanics of earlier versions). ``[mechanics] skeleton = true``
turns on the electrode's solid skeleton: displacement in the particles and in the
carbon-binder, the collector face clamped, the lateral faces on rollers, the separator face
free, and a particle/binder interface that is either ``bonded`` (a stiff penalty tie) or
``cohesive`` (the bilinear mixed-mode law of :mod:`cellsim.physics.cohesive`), whose damage
scales the particle/binder contact conductance down (docs/mechanics.md).

Default values and their sources:

* binder Young's modulus 0.5 GPa, Poisson's ratio 0.3: PVDF-based carbon-binder domains
  in electrolyte are soft; values of 0.1-1 GPa are reported for swollen PVDF/carbon black
  films (e.g. Santimetaneedol et al., J. Power Sources 285 (2015) 303, whose exact values
  were NOT checked here; dry PVDF is about 1-2.5 GPa). 0.5 GPa is the middle of the range
  issue 9 names; treat it as an assumption.
* cohesive law: see :class:`cellsim.physics.cohesive.CohesiveParameters` (G_Ic 0.3 J m-2
  after Pakhare et al. 2025, strengths in 1-20 MPa).
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, create_model, model_validator

from ..schema import StrictModel


class MechanicsSpec(StrictModel):
    """Electrode skeleton (particles + carbon-binder) and the particle/binder interface."""

    skeleton: bool = Field(
        False, description="Solve the electrode skeleton: displacement in particles and carbon-binder, collector "
        "clamped, lateral faces on rollers, separator face free (needs physics.mechanics = true and a binder "
        "region). false: free particles (weak elastic foundation).",
    )
    binder_youngs_modulus: float = Field(
        0.5e9, gt=0, le=1e11, description="Young's modulus of the carbon-binder in electrolyte [Pa] (0.1-1 GPa "
        "reported for swollen PVDF/carbon films; 0.5 GPa an assumption in that range).",
    )
    binder_poisson_ratio: float = Field(0.3, ge=0, lt=0.5, description="Poisson's ratio of the carbon-binder [-].")
    binder_swelling_strain: float = Field(
        0.0, ge=-0.2, le=0.2, description="Isotropic eigenstrain of the binder from electrolyte uptake [-] "
        "(applied from the start; 0: none).",
    )
    interface: Literal["bonded", "cohesive"] = Field(
        "cohesive", description="Particle/binder interface: 'bonded' (penalty tie, no damage) or 'cohesive' "
        "(bilinear mixed-mode cohesive law with damage).",
    )
    penalty: float = Field(1.0e16, gt=0, le=1e22, description="Interface penalty stiffness K [Pa m-1].")
    normal_strength: float = Field(5.0e6, gt=0, le=1e9, description="Mode I strength N [Pa].")
    shear_strength: float = Field(10.0e6, gt=0, le=1e9, description="Mode II strength S [Pa].")
    fracture_energy_I: float = Field(0.3, gt=0, le=100, description="Mode I fracture energy G_Ic [J m-2].")
    fracture_energy_II: float = Field(0.6, gt=0, le=100, description="Mode II fracture energy G_IIc [J m-2].")
    mixed_mode: Literal["BK", "power"] = Field("BK", description="Mixed-mode rule: Benzeggagh-Kenane or power law.")
    bk_exponent: float = Field(2.0, gt=0, le=10, description="BK exponent eta [-].")
    max_damage: float = Field(
        0.999, gt=0, le=1, description="Largest damage d_max [-]; below 1 a fully debonded particle keeps the "
        "residual stiffness (1 - d_max) K, so its displacement block stays non-singular.",
    )
    viscosity: float = Field(
        0.0, ge=0, le=1e6, description="Viscous regularisation time of the damage mu [s] (0: rate independent).",
    )
    damage_update: Literal["lagged", "implicit"] = Field(
        "lagged", description="Damage inside the Newton solve: 'lagged' (that of the last accepted step; robust, "
        "first order in the damage increment, which max_damage_change limits) or 'implicit' (the law at the current "
        "opening, consistent tangent; can cycle at the onset kink).",
    )
    clamp_penalty: float = Field(
        1.0e3, gt=0, le=1e8, description="Collector clamp and roller penalty, relative: k = clamp_penalty * "
        "E_particle / R [Pa m-1] (R: the mean particle radius) [-].",
    )
    conductance_exponent: float = Field(
        3.0, gt=0, le=10, description="p of the damaged contact conductance G(d) = (1 - d)^p G_0 + G_res [-] "
        "(with d_max = 0.999 and p = 3 a fully debonded contact keeps 1e-9 G_0 from the first term).",
    )
    residual_conductance: float = Field(
        1.0e-9, ge=0, le=1, description="G_res / G_0 of a fully debonded particle/binder contact [-] (keeps the "
        "isolated particle's potential block non-singular; 1e-9 of the default G_0 = 1e6 S m-2 is 1e-3 S m-2).",
    )
    isolation_voltage: float = Field(
        0.1, gt=0, le=100, description="A contact of the conductance graph (particle/binder piece, particle/"
        "particle, collector) conducts when the 1C current of its particle needs at most this voltage across it, "
        "I_1C,i <= isolation_voltage sum_f G(d_f) A_f; a particle with no path of conducting contacts to the "
        "collector is isolated [V].",
    )
    max_damage_change: float = Field(
        0.1, gt=0, le=1, description="Target largest increase of the interface damage per time step [-] (the "
        "time-step control of the damage, as time.max_change for the stoichiometry).",
    )
    damage_jump_limit: float = Field(
        2.0, ge=1, le=1e3, description="A converged step whose largest damage increase exceeds damage_jump_limit "
        "* max_damage_change is rejected and retried with dt/2 (unless dt/2 would fall below time.dt_min; then the "
        "jump is accepted: a snap-through no smaller step resolves) [-].",
    )
    gap_reaction: bool = Field(
        False, description="The opened particle/binder gap fills with electrolyte and its surface reacts: "
        "Butler-Volmer on the particle/binder facets, per facet on the area fraction d (the committed damage), "
        "against the carbon-binder's pore electrolyte, which this option resolves (the binder cells join the "
        "electrolyte with porosity binder_porosity and Bruggeman factor eps^binder_bruggeman).",
    )
    binder_porosity: float = Field(0.3, gt=0.01, lt=1, description="Electrolyte volume fraction of the "
                                   "carbon-binder (only with gap_reaction = true) [-].")
    binder_bruggeman: float = Field(1.5, ge=1, le=5, description="Bruggeman exponent of the carbon-binder's pore "
                                    "electrolyte (only with gap_reaction = true) [-].")
    collector_interface: Literal["clamped", "cohesive"] = Field(
        "clamped", description="Electrode/collector faces (collector_binder, collector_particle): 'clamped' (u = 0 "
        "by the clamp penalty) or 'cohesive' (the bilinear cohesive law against the rigid collector, opening = u; "
        "the collector contact conductance falls as G_cc ((1 - d)^p + residual_conductance); needs a "
        "current_collector region).",
    )
    grain_boundary: Literal["bonded", "cohesive"] = Field(
        "bonded", description="Grain boundaries of secondary (polycrystalline) particles in the skeleton: 'bonded' "
        "(one continuous displacement per particle) or 'cohesive' (the grains coloured so that touching grains "
        "differ, one displacement block per colour, every touching colour pair tied by the bilinear cohesive law "
        "with the grain_boundary_* parameters; needs mechanics.skeleton = true, geometry particle_type = "
        "'secondary' and discretisation.displacement_degree = 1).",
    )
    grain_boundary_penalty: float = Field(
        1.0e20, gt=0, le=1e24, description="Grain-boundary penalty stiffness K [Pa m-1] (a numerical penalty of "
        "order 50 E / h: 4e19 for E = 375 GPa and h = 0.5 um).",
    )
    grain_boundary_normal_strength: float = Field(
        1.0e8, gt=0, le=1e10, description="Mode I strength of the grain boundaries [Pa] (an assumption of the "
        "order used for NMC grain boundaries, 0.1 GPa; no measured source checked).",
    )
    grain_boundary_shear_strength: float = Field(
        2.0e8, gt=0, le=1e10, description="Mode II strength of the grain boundaries [Pa] (assumption: 2 x mode I).",
    )
    grain_boundary_fracture_energy_I: float = Field(
        1.0, gt=0, le=100, description="Mode I fracture energy of the grain boundaries [J m-2] (assumption, order "
        "1 J m-2 for an oxide grain boundary; no measured source checked).",
    )
    grain_boundary_fracture_energy_II: float = Field(
        2.0, gt=0, le=100, description="Mode II fracture energy of the grain boundaries [J m-2] (assumption).",
    )
    grain_boundary_max_damage: float = Field(
        0.999999, gt=0, le=1, description="Largest damage of the grain boundaries [-]: the residual stiffness "
        "(1 - d_max) K of a separated boundary must be small against E/h of the grains (1e14 Pa m-1 at the default "
        "penalty, 1e-4 of E/h for E = 375 GPa, h = 0.5 um; the particle/binder max_damage 0.999 would leave 1e17).",
    )
    interface_transport: Literal["damaged", "continuous"] = Field(
        "damaged", description="Lithium across the cohesive grain boundaries (grain_boundary = 'cohesive'): "
        "'damaged' (each colour of grains its own concentration block, the flux through a boundary k(d) (c_a - c_b) "
        "with k(d) = (1 - d)^p k_0 + k_res and d its committed damage: a cracked boundary blocks the lithium) or "
        "'continuous' (one concentration over every particle: lithium crosses any crack).",
    )
    interface_transport_coefficient: Optional[float] = Field(
        None, gt=0, le=1e6, description="k_0 of an intact grain boundary [m s-1]; default (unset): 1e3 D(x_0) / h, h "
        "the cube root of the mean particle cell volume (a bonded boundary then recovers the continuous "
        "concentration).",
    )
    interface_transport_residual: float = Field(
        0.0, ge=0, le=1e6, description="k_res: what a fully cracked grain boundary (d = 1) still passes [m s-1].")
    interface_transport_exponent: float = Field(
        1.0, gt=0, le=10, description="p of k(d) = (1 - d)^p k_0 + k_res [-] (1: proportional to the bonded area).")
    crack_reaction: bool = Field(
        False, description="Cracked grain boundaries (grain_boundary = 'cohesive', interface_transport = "
        "'damaged') fill with electrolyte and react: Butler-Volmer on both crack faces on the area fraction d of each "
        "facet, the crack electrolyte of a particle lumped with the electrolyte at its outer surface (the means of "
        "c_e and phi_e over its particle_electrolyte facets; the crack current drawn uniformly from there).",
    )
    collector_normal_strength: float = Field(5.0e6, gt=0, le=1e9, description="Mode I strength of the "
                                             "collector bond [Pa].")
    collector_shear_strength: float = Field(10.0e6, gt=0, le=1e9, description="Mode II strength of the "
                                            "collector bond [Pa].")
    collector_fracture_energy_I: float = Field(0.3, gt=0, le=100, description="Mode I fracture energy of the "
                                               "collector bond [J m-2].")
    collector_fracture_energy_II: float = Field(0.6, gt=0, le=100, description="Mode II fracture energy of the "
                                                "collector bond [J m-2].")

    @model_validator(mode="after")
    def _law(self):
        """The cohesive law's admissibility (shared with the particle's [mechanics])."""
        checks = []
        if self.interface == "cohesive":
            checks += [("fracture_energy_I", self.fracture_energy_I, self.normal_strength),
                       ("fracture_energy_II", self.fracture_energy_II, self.shear_strength)]
        # the half-cell's collector bond (the particle's section has no collector keys)
        if getattr(self, "collector_interface", "clamped") == "cohesive":
            checks += [("collector_fracture_energy_I", self.collector_fracture_energy_I, self.collector_normal_strength),
                       ("collector_fracture_energy_II", self.collector_fracture_energy_II,
                        self.collector_shear_strength)]
        checks = [(n, g, s, self.penalty, "penalty") for n, g, s in checks]
        if getattr(self, "grain_boundary", "bonded") == "cohesive":
            K = self.grain_boundary_penalty
            checks += [("grain_boundary_fracture_energy_I", self.grain_boundary_fracture_energy_I,
                        self.grain_boundary_normal_strength, K, "grain_boundary_penalty"),
                       ("grain_boundary_fracture_energy_II", self.grain_boundary_fracture_energy_II,
                        self.grain_boundary_shear_strength, K, "grain_boundary_penalty")]
        for name, g, s, K, kname in checks:
            if not g > s * s / (2 * K):
                raise ValueError(f"mechanics.{name} = {g}: must exceed strength^2 / (2 {kname}) = "
                                 f"{s * s / (2 * K):.3g} J m-2 (raise {kname} or the fracture energy)")
        return self

    @model_validator(mode="after")
    def _halfcell_options(self):
        """Options of the half-cell's skeleton that need other options."""
        if self.gap_reaction and not (self.skeleton and self.interface == "cohesive"):
            raise ValueError("mechanics.gap_reaction = true needs mechanics.skeleton = true and interface = "
                             f"'cohesive' (got skeleton = {self.skeleton}, interface = {self.interface!r})")
        if self.collector_interface == "cohesive" and not self.skeleton:
            raise ValueError("mechanics.collector_interface = 'cohesive' needs mechanics.skeleton = true (allowed "
                             "without the skeleton: 'clamped')")
        if self.grain_boundary == "cohesive":
            bad = [f"{k} = {v!r}" for k, v, ok in (("skeleton", self.skeleton, True),
                                                   ("collector_interface", self.collector_interface, "clamped"),
                                                   ("gap_reaction", self.gap_reaction, False))
                   if v != ok]
            if bad:
                raise ValueError("mechanics.grain_boundary = 'cohesive' needs mechanics.skeleton = true, "
                                 "collector_interface = 'clamped' and gap_reaction = false (got "
                                 + ", ".join(bad) + "); allowed otherwise: grain_boundary = 'bonded'")
            if self.crack_reaction and self.interface_transport != "damaged":
                raise ValueError("mechanics.crack_reaction = true needs interface_transport = 'damaged' (got "
                                 f"{self.interface_transport!r}): each crack face reacts with its own grain's "
                                 "concentration")
        else:
            changed = [f"{k} = {getattr(self, k)!r}" for k, v in (
                ("crack_reaction", False), ("interface_transport", "damaged"), ("interface_transport_coefficient", None),
                ("interface_transport_residual", 0.0), ("interface_transport_exponent", 1.0)) if getattr(self, k) != v]
            if changed:
                raise ValueError("mechanics." + ", ".join(changed) + ": the grain-boundary transport and crack keys "
                                 f"need grain_boundary = 'cohesive' (got {self.grain_boundary!r}); allowed with "
                                 "'bonded': their defaults")
        return self

    def grain_boundary_parameters(self) -> dict:
        """Keyword arguments of :class:`cellsim.physics.cohesive.CohesiveParameters` of the grain boundaries
        (mixed-mode rule and viscosity shared with the particle/binder interface)."""
        return {**self.cohesive_parameters(), "K": self.grain_boundary_penalty,
                "N": self.grain_boundary_normal_strength, "S": self.grain_boundary_shear_strength,
                "G_Ic": self.grain_boundary_fracture_energy_I, "G_IIc": self.grain_boundary_fracture_energy_II,
                "d_max": self.grain_boundary_max_damage}

    def collector_cohesive_parameters(self) -> dict:
        """Keyword arguments of :class:`cellsim.physics.cohesive.CohesiveParameters` of the collector bond
        (penalty, mixed-mode rule, d_max and viscosity shared with the particle/binder interface)."""
        return {**self.cohesive_parameters(), "N": self.collector_normal_strength, "S": self.collector_shear_strength,
                "G_Ic": self.collector_fracture_energy_I, "G_IIc": self.collector_fracture_energy_II}

    def cohesive_parameters(self) -> dict:
        """Keyword arguments of :class:`cellsim.physics.cohesive.CohesiveParameters`."""
        return {"K": self.penalty, "N": self.normal_strength, "S": self.shear_strength,
                "G_Ic": self.fracture_energy_I, "G_IIc": self.fracture_energy_II, "mixed_mode": self.mixed_mode,
                "eta": self.bk_exponent, "d_max": self.max_damage, "mu": self.viscosity}


#: the keys of [mechanics] that a single particle takes: the interface, its cohesive law, the
#: lithium across it and the crack reaction (same types, defaults and bounds as the half-cell's)
PARTICLE_KEYS = ("interface", "penalty", "normal_strength", "shear_strength", "fracture_energy_I",
                 "fracture_energy_II", "mixed_mode", "bk_exponent", "max_damage", "viscosity", "damage_update",
                 "max_damage_change", "damage_jump_limit", "crack_reaction", "interface_transport",
                 "interface_transport_coefficient", "interface_transport_residual", "interface_transport_exponent")

#: what differs for the single particle: its interfaces are those between its solid regions
#: (``interface`` defaults to 'bonded', the particle of earlier versions), its crack
#: electrolyte is the bath's
_PARTICLE_OVERRIDES = {
    "interface": dict(default="bonded", description="Interfaces between the solid regions of the particle (the "
                      "core_coating interface of a core_shell particle): 'bonded' (one continuous displacement over "
                      "the particle, as before) or 'cohesive' (each region, or each colour of touching regions, its "
                      "own displacement and sigma_h block, tied by the bilinear mixed-mode cohesive law with "
                      "damage; needs discretisation.displacement_degree = 1)."),
    "crack_reaction": dict(description="Cracked grain boundaries of a secondary particle (interface = 'cohesive') "
                           "fill with the bath's electrolyte and react: Butler-Volmer on both crack faces, on the "
                           "area fraction d (committed damage) of each grain-boundary facet, with the crack "
                           "electrolyte at the bath state (c_e of the bath, phi_e = 0); needs Butler-Volmer control "
                           "(not 'flux')."),
    "interface_transport": dict(description="Lithium across the cohesive interfaces (interface = 'cohesive'): "
                                "'damaged' (each colour of solid regions its own concentration, the flux through an "
                                "interface k(d) (c_a - c_b) with k(d) = (1 - d)^p k_0 + k_res and d its committed "
                                "damage: a cracked grain boundary or a debonded coating blocks the lithium) or "
                                "'continuous' (one concentration over the particle, lithium crosses any crack)."),
    "interface_transport_coefficient": dict(description="k_0 of the intact interface [m s-1]; default (unset): 1e3 "
                                            "D(x_0) / h, h the cube root of the mean cell volume (the interface "
                                            "resistance a thousandth of one element's, so a bonded interface "
                                            "recovers the continuous concentration)."),
    "interface_transport_residual": dict(description="k_res: what a fully cracked interface (d = 1) still passes "
                                         "[m s-1]."),
}


class _ParticleMechanicsBase(StrictModel):
    _law = model_validator(mode="after")(MechanicsSpec._law)
    cohesive_parameters = MechanicsSpec.cohesive_parameters


def _particle_fields() -> dict:
    """The particle's fields: the half-cell's declarations, with :data:`_PARTICLE_OVERRIDES`."""
    from pydantic.fields import FieldInfo

    out = {}
    for key in PARTICLE_KEYS:
        info = MechanicsSpec.model_fields[key]
        if key in _PARTICLE_OVERRIDES:
            info = FieldInfo.merge_field_infos(info, **_PARTICLE_OVERRIDES[key])
        out[key] = (info.annotation, info)
    return out


#: ``[mechanics]`` of the single-particle model: the particle's interfaces only (the half-cell's
#: skeleton, binder and contact keys do not apply); same keys, bounds and law as
#: :class:`MechanicsSpec`, but ``interface`` defaults to 'bonded' (the particle of earlier versions)
ParticleMechanicsSpec = create_model(
    "ParticleMechanicsSpec", __base__=_ParticleMechanicsBase, __doc__="Interfaces between the particle's solid "
    "regions (core/coating): bonded, or a cohesive zone that can debond.", **_particle_fields())
ParticleMechanicsSpec.__module__ = __name__
