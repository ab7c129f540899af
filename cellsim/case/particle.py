"""Case schema of a single particle in an electrolyte bath (``model = "particle"``).

Only what is the particle's own is here: the bath (``physics.electrolyte_concentration``),
the coating material of a core-shell particle, and ``[control]``, the short form of a
one-step protocol kept for existing case files. Every other section is shared
(:mod:`cellsim.case.common`). Sign convention: a positive insertion flux or current puts
lithium into the particle ("lithiation"); the particle potential is measured against
the electrolyte bath (phi_e = 0).
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..geometry.spec import GeometrySpec
from ..schema import StrictModel
from .mechanics import ParticleMechanicsSpec
from .common import (
    CURRENT, FLUX, VOLTAGE, CCStep, CVStep, DiscretisationSpec, FluxStep, MaterialSpec, OutputSpec,
    PhysicsSpec, ProtocolSpec, SolverSpec, StopSpec, TimeSpec, check_floor, check_protocol_voltages, nonzero,
    with_defaults,
)
from .pores import PoreElectrolyteSpec

#: largest current (or flux) accepted, as a multiple of the particle's 1C current
MAX_C_EQUIVALENT = 1000.0
#: equivalent radius (of a sphere of the particle's solid volume) where the continuum model applies [m]
PARTICLE_SIZE = (1e-9, 1e-3)
#: geometry kinds that are a single particle (their size is checked against PARTICLE_SIZE)
PARTICLE_KINDS = ("sphere", "ellipsoid", "cylinder", "core_shell", "porous_particle", "secondary_particle")


class ParticlePhysicsSpec(PhysicsSpec):
    """Physics switches, temperature, the initial state and the electrolyte bath around the particle."""

    electrolyte_concentration: float = Field(
        1000.0, gt=0, le=4000.0, description="Bath salt concentration c_e [mol m-3], in [1, 4000]."
    )

    @field_validator("electrolyte_concentration")
    @classmethod
    def _floor(cls, v):
        return check_floor(v, 1.0, "the exchange current ~ c_e^alpha_a would vanish")


class ControlSpec(StrictModel):
    """Surface reaction control of the particle: the short form of a one-step protocol.

    mode = "flux": uniform insertion flux (`flux` [mol m-2 s-1], or `c_rate`).
    mode = "galvanostatic": total current (`current` [A] or `c_rate`), Butler–Volmer against the
    bath, particle potential a global unknown.
    mode = "potentiostatic": fixed particle potential `potential` [V vs the bath].
    Positive flux/current = lithiation (insertion). With `c_rate`, `direction` gives the sign.
    The step lasts until ``time.t_end`` (default 3600 s) or a ``[stop]`` limit. For several
    steps (CC-CV, rests, cycles) write a ``[protocol]`` instead.
    """

    mode: Literal["flux", "galvanostatic", "potentiostatic"] = Field("galvanostatic", description="Control mode.")
    c_rate: Optional[float] = Field(
        None, gt=0, le=1000, description="C-rate: 1C moves the x_0..x_100 capacity in 1 h [h-1], in (0, 1000] "
        "(a lone particle is driven far harder than an electrode in stress studies)."
    )
    direction: Literal["lithiation", "delithiation"] = Field(
        "lithiation", description="Sign of a c_rate: lithiation (insertion) or delithiation."
    )
    current: Optional[float] = Field(
        None, **CURRENT, description="Total current into the particle [A] (+ = lithiation), in [-1, 1], not 0, "
        "and at most about 1000C."
    )
    flux: Optional[float] = Field(
        None, **FLUX, description="Uniform insertion flux [mol m-2 s-1] (+ = into the particle), in [-1, 1], "
        "not 0, and at most about 1000C."
    )
    potential: Optional[float] = Field(
        None, **VOLTAGE, description="Particle potential vs the bath [V] (potentiostatic), in (0, 6)."
    )

    @field_validator("current", "flux")
    @classmethod
    def _nonzero(cls, v):
        return nonzero(v, "zero current is open circuit: use a [protocol] with a rest step")

    @model_validator(mode="after")
    def _consistent(self):
        given = {k for k in ("c_rate", "current", "flux", "potential") if getattr(self, k) is not None}
        allowed = {
            "flux": ({"flux"}, {"c_rate"}),
            "galvanostatic": ({"current"}, {"c_rate"}),
            "potentiostatic": ({"potential"},),
        }[self.mode]
        if given not in [set(a) for a in allowed]:
            need = " or ".join("'" + "+".join(sorted(a)) + "'" for a in allowed)
            raise ValueError(
                f"mode = '{self.mode}' needs exactly {need}; got {sorted(given) or 'none'}"
            )
        return self

    def as_step(self):
        """The protocol step this control stands for (no duration: it runs to time.t_end)."""
        if self.mode == "potentiostatic":
            return CVStep.model_construct(mode="cv", voltage=self.potential, until_c_rate=None,
                                          until_current_density=None, duration=None)
        if self.mode == "flux":
            return FluxStep.model_construct(mode="flux", flux=self.flux, c_rate=self.c_rate,
                                            direction=self.direction, duration=None)
        return CCStep.model_construct(mode="cc", c_rate=self.c_rate, direction=self.direction, current=self.current,
                                      current_density=None, until_voltage=None, until_soc=None, duration=None)


ParticleTimeSpec = with_defaults(TimeSpec, "ParticleTimeSpec", dt_initial=10.0, dt_max=120.0, max_change=0.02)
ParticleStopSpec = with_defaults(StopSpec, "ParticleStopSpec", min_surface_stoichiometry=0.005,
                                 max_surface_stoichiometry=0.995)
ParticleOutputSpec = with_defaults(OutputSpec, "ParticleOutputSpec", fields_every=5)
ParticleSolverSpec = with_defaults(SolverSpec, "ParticleSolverSpec", atol=1e-12, max_iterations=15,
                                   reuse_factorisation=True)
ParticleDiscretisationSpec = with_defaults(DiscretisationSpec, "ParticleDiscretisationSpec", displacement_degree=2,
                                           quadrature_degree=6)


#: geometry kinds with several touching solid regions (mechanics.interface = 'cohesive')
COHESIVE_KINDS = ("core_shell", "secondary_particle")

#: default time.t_end of a [control] case [s]
CONTROL_T_END = 3600.0


class ParticleCase(StrictModel):
    """A single-particle chemo-mechanics case (``model = "particle"``, the default)."""

    model: Literal["particle"] = Field("particle", description="Which model: 'particle' or 'halfcell'.")
    title: str = Field("", max_length=200, description="Free text shown in logs and the manifest (200 characters).")
    geometry: GeometrySpec = Field(description="The particle geometry (see docs/geometry.md).")
    material: MaterialSpec = Field(default_factory=MaterialSpec, description="Active material of the particle.")
    coating_material: Optional[MaterialSpec] = Field(
        None, description="Material of the coating (core_shell geometry only)."
    )
    physics: ParticlePhysicsSpec = Field(default_factory=ParticlePhysicsSpec, description="Physics switches and bath.")
    mechanics: ParticleMechanicsSpec = Field(
        default_factory=ParticleMechanicsSpec, description="Interfaces between the particle's solid regions "
        "(core/coating): bonded or cohesive (debonding).")
    control: Optional[ControlSpec] = Field(
        None, description="Surface reaction control for the whole run (short form of a one-step protocol); give "
        "either [control] or [protocol]."
    )
    protocol: Optional[ProtocolSpec] = Field(
        None, description="Cycling protocol (cc / cv / rest / flux steps, cycles), as for the half-cell; voltages "
        "are the particle potential vs the bath."
    )
    pores: Optional[PoreElectrolyteSpec] = Field(
        None, description="Electrolyte in the pores (geometry kind 'porous_particle' only; default: the bath's "
        "electrolyte, Chen2020 properties)."
    )
    time: ParticleTimeSpec = Field(default_factory=ParticleTimeSpec, description="Time stepping.")
    stop: ParticleStopSpec = Field(default_factory=ParticleStopSpec, description="Cut-offs.")
    output: ParticleOutputSpec = Field(default_factory=ParticleOutputSpec, description="Output options.")
    discretisation: ParticleDiscretisationSpec = Field(
        default_factory=ParticleDiscretisationSpec, description="Element degrees.")
    solver: ParticleSolverSpec = Field(default_factory=ParticleSolverSpec, description="Nonlinear and linear solvers.")

    def effective_protocol(self):
        """The protocol this case runs: ``[protocol]``, or ``[control]`` as one step."""
        if self.protocol is not None:
            return self.protocol
        return ProtocolSpec.model_construct(steps=[self.control.as_step()], cycles=1)

    def summary(self) -> str:
        steps = ", ".join(s.label() for s in self.effective_protocol().steps)
        return f"particle ({self.geometry.kind}), material {self.material.name}, protocol: [{steps}]"

    def _one_c(self) -> tuple[float, float]:
        """About the 1C current [A] of the particle and the area of a sphere of its volume [m2]
        (the smallest surface it can have), for the current bounds only."""
        from math import pi

        from ..materials.base import FARADAY

        core = self.material.resolve()
        shell = self.coating_material.resolve() if self.coating_material is not None else core
        i1c, vol = 0.0, 0.0
        for name, v in self.geometry.region_volumes().items():
            if name == "pore":
                continue
            mat = shell if name == "coating" else core
            i1c += FARADAY * mat.c_max * abs(mat.x_100 - mat.x_0) * v / 3600.0
            vol += v
        return i1c, (36.0 * pi * vol**2) ** (1.0 / 3.0)

    def _check_size(self) -> list[str]:
        """A particle between 1 nm and 1 mm (equivalent radius): below, continuum diffusion and
        elasticity mean nothing (1e-30 m ran 'completed' without moving); above, it is no
        particle. The geometry schema bounds each length too; this is the model's own limit."""
        from math import pi

        if getattr(self.geometry, "kind", None) not in PARTICLE_KINDS:
            return []
        try:
            vol = sum(v for k, v in self.geometry.region_volumes().items() if k != "pore")
            r_eq = (3.0 * vol / (4.0 * pi)) ** (1.0 / 3.0)
        except (ArithmeticError, ValueError, TypeError):
            return []
        lo, hi = PARTICLE_SIZE
        if lo <= r_eq <= hi:
            return []
        return [f"geometry: a particle of equivalent radius {r_eq:.3g} m (radius of a sphere of its solid volume); "
                f"allowed: {lo:g} m <= equivalent radius <= {hi:g} m"]

    def _check_currents(self) -> list[str]:
        """Currents and fluxes of at most MAX_C_EQUIVALENT times the 1C current."""
        from ..materials.base import FARADAY

        given = []
        if self.control is not None:
            given += [("control.current", self.control.current, False), ("control.flux", self.control.flux, True)]
        for i, s in enumerate(self.protocol.steps if self.protocol is not None else []):
            given += [(f"protocol.steps.{i}.current", getattr(s, "current", None), False),
                      (f"protocol.steps.{i}.flux", getattr(s, "flux", None), True)]
        given = [g for g in given if g[1] is not None]
        if not given:
            return []
        try:
            i1c, area = self._one_c()
        except (ArithmeticError, ValueError):
            return []
        if not (i1c > 0 and area > 0) or i1c == float("inf"):
            return []
        problems = []
        for key, value, is_flux in given:
            rate = abs(value) * (FARADAY * area if is_flux else 1.0) / i1c
            if rate > MAX_C_EQUIVALENT:
                unit = "mol m-2 s-1" if is_flux else "A"
                lim = MAX_C_EQUIVALENT * i1c / (FARADAY * area if is_flux else 1.0)
                problems.append(f"{key} = {value}: about {rate:.3g}C for this particle (1C = {i1c:.3g} A); allowed: "
                                f"|{key.rsplit('.', 1)[-1]}| <= {lim:.3g} {unit} ({MAX_C_EQUIVALENT:g}C)")
        return problems

    def _check_pores(self, kind) -> list[str]:
        """[pores] belongs to a porous particle, whose pore electrolyte needs Butler-Volmer (no flux)."""
        if kind != "porous_particle":
            return [f"pores: only used with geometry kind 'porous_particle', not '{kind}'"] if self.pores else []
        keys = ([("control.mode", self.control)] if self.control is not None else []) + [
            (f"protocol.steps.{i}.mode", st) for i, st in enumerate(self.protocol.steps if self.protocol else [])]
        return [f"{k} = 'flux': a prescribed flux is not available for geometry kind 'porous_particle' (the pore "
                "electrolyte needs Butler-Volmer kinetics); allowed: galvanostatic or potentiostatic control, "
                "cc / cv / rest steps" for k, st in keys if st.mode == "flux"][:1]

    def _check_interface(self, kind) -> list[str]:
        """A cohesive interface needs solid regions that touch, mechanics, and P1 displacement."""
        if self.mechanics.interface != "cohesive":
            return (["mechanics.crack_reaction = true needs mechanics.interface = 'cohesive' (got 'bonded')"]
                    if self.mechanics.crack_reaction else [])
        if self.mechanics.crack_reaction:
            keys = ([("control.mode", self.control)] if self.control is not None else []) + [
                (f"protocol.steps.{i}.mode", st) for i, st in enumerate(self.protocol.steps if self.protocol else [])]
            if any(st.mode == "flux" for _, st in keys):
                return [f"{next(k for k, st in keys if st.mode == 'flux')} = 'flux' with mechanics.crack_reaction = "
                        "true: the cracks react by Butler-Volmer; allowed: galvanostatic or potentiostatic control, "
                        "cc / cv / rest steps"]
        problems = []
        if kind not in COHESIVE_KINDS:
            problems.append(f"mechanics.interface = 'cohesive' with geometry kind '{kind}': a cohesive interface "
                            f"needs two solid regions; allowed kinds: {list(COHESIVE_KINDS)} (or interface = 'bonded')")
        if not self.physics.mechanics:
            problems.append("mechanics.interface = 'cohesive' needs physics.mechanics = true")
        if self.mechanics.crack_reaction and kind != "secondary_particle":
            problems.append(f"mechanics.crack_reaction = true with geometry kind '{kind}': cracks are grain "
                            "boundaries; allowed kind: 'secondary_particle'")
        if kind == "secondary_particle" and self.physics.mechanics and self.physics.stress_in_overpotential:
            problems.append("physics.stress_in_overpotential = true with mechanics.interface = 'cohesive' and "
                            "geometry kind 'secondary_particle': not available (every grain block meets the surface); "
                            "allowed: false")
        if self.discretisation.displacement_degree != 1:
            problems.append(f"discretisation.displacement_degree = {self.discretisation.displacement_degree} with "
                            "mechanics.interface = 'cohesive': allowed: 1 (the cohesive law is integrated at one point "
                            "per interface facet, where its damage history lives)")
        return problems

    @model_validator(mode="after")
    def _check(self):
        problems = []
        kind = getattr(self.geometry, "kind", None)
        if self.coating_material is not None and kind != "core_shell":
            problems.append(f"coating_material is only used with geometry kind 'core_shell', not '{kind}'")
        problems += self._check_pores(kind)
        if self.material.lattice_strain is not None and kind != "secondary_particle":
            problems.append(f"material.lattice_strain = '{self.material.lattice_strain}' with geometry kind '{kind}': "
                            "a per-grain lattice strain needs grains; allowed kind: 'secondary_particle'")
        problems += self._check_interface(kind)
        if (self.control is None) == (self.protocol is None):
            problems.append("control: give exactly one of [control] (one step for the whole run) and [protocol] "
                            f"(steps); got {'both' if self.control is not None else 'neither'}")
        if self.control is not None and self.time.t_end is None:
            self.time.t_end = CONTROL_T_END
        if self.protocol is not None:
            for i, s in enumerate(self.protocol.steps):
                if getattr(s, "current_density", None) is not None:
                    problems.append(f"protocol.steps.{i}.current_density: the particle model takes a current "
                                    "[A] ('current') or a c_rate, not a current density")
                if s.mode == "cv" and s.until_current_density is not None:
                    problems.append(f"protocol.steps.{i}.until_current_density: the particle model takes "
                                    "until_c_rate")
            modes = {s.mode for s in self.protocol.steps}
            if "flux" in modes and modes - {"flux", "rest"}:
                problems.append("protocol.steps: flux steps (prescribed flux) cannot be mixed with cc/cv steps "
                                "(Butler-Volmer control)")
            problems += check_protocol_voltages(self.protocol, self.stop.min_voltage, self.stop.max_voltage)
        problems += self._check_size() or self._check_currents()
        if self.solver.linear_solver == "iterative" and (
                self.geometry.kind == "porous_particle"
                or (self.physics.mechanics and self.mechanics.interface == "cohesive")):
            problems.append("solver.linear_solver = 'iterative': available for a particle with one continuous "
                            "displacement only (not for geometry.kind = 'porous_particle' or mechanics.interface = "
                            "'cohesive'); use 'mumps', 'superlu_dist' or 'petsc'")
        if self.discretisation.volume_quadrature_degree is not None:
            problems.append("discretisation.volume_quadrature_degree: the particle model integrates exactly for "
                            "its degrees; leave it out")
        x_init = self.physics.initial_stoichiometry
        if x_init is not None and not (
            self.stop.min_surface_stoichiometry < x_init < self.stop.max_surface_stoichiometry
        ):
            problems.append(
                f"physics.initial_stoichiometry = {x_init} lies outside the surface stoichiometry cut-offs "
                f"({self.stop.min_surface_stoichiometry}, {self.stop.max_surface_stoichiometry})"
            )
        if self.control is not None and self.control.potential is not None:
            lo, hi = self.stop.min_voltage, self.stop.max_voltage
            if not (lo if lo is not None else 0.0) <= self.control.potential <= (hi if hi is not None else 6.0):
                problems.append(f"control.potential = {self.control.potential}: must lie within the safety limits "
                                f"[stop.min_voltage, stop.max_voltage] = [{lo}, {hi}]")
        if problems:
            raise ValueError("\n".join(problems))
        return self


#: the name older code used for the particle case schema
Case = ParticleCase
