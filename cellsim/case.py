"""Case files: TOML validated by a pydantic schema before anything is built.

A case file has the sections below (see docs/case_reference.md, generated from this
schema by ``cellsim schema --markdown``). Units are SI throughout (m, s, mol m-3, A, V,
Pa). This module imports no DOLFINx, so ``cellsim check`` runs anywhere.

Sign conventions (DESIGN.md §3): a positive insertion flux or current puts lithium
into the particle ("lithiation"); the particle potential is measured against the
electrolyte bath (phi_e = 0).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, ValidationError, field_validator, model_validator

from .geometry.spec import GeometrySpec
from .schema import CaseError, StrictModel, format_validation_error


class MaterialSpec(StrictModel):
    """An active material: a named parameter set, with optional key-by-key overrides."""

    name: str = Field("graphite_chen2020", description="Parameter set name (see `cellsim info --materials`).")
    c_max: Optional[float] = Field(None, gt=0, description="Maximum lithium concentration [mol m-3].")
    diffusivity: Optional[float] = Field(
        None, gt=0, description="Constant lithium diffusivity [m2 s-1] (replaces the set's D(x))."
    )
    diffusivity_slope: float = Field(
        0.0,
        gt=-1,
        description="Linear concentration dependence D(x) = D_set(x) (1 + slope (x - 0.5)); "
        "|slope| < 2 keeps D > 0 on [0, 1] [-].",
    )
    rate_constant: Optional[float] = Field(
        None, gt=0, description="k in i0 = F k c_e^alpha_a (c_max - c)^alpha_a c^alpha_c [SI]."
    )
    alpha_a: Optional[float] = Field(None, gt=0, lt=1, description="Anodic transfer coefficient [-].")
    alpha_c: Optional[float] = Field(None, gt=0, lt=1, description="Cathodic transfer coefficient [-].")
    partial_molar_volume: Optional[float] = Field(
        None, description="Partial molar volume Omega [m3 mol-1] (chemical strain Omega/3 (c - c_ref))."
    )
    youngs_modulus: Optional[float] = Field(None, gt=0, description="Young's modulus E [Pa].")
    poisson_ratio: Optional[float] = Field(None, gt=-1, lt=0.5, description="Poisson's ratio nu, in (-1, 0.5) [-].")
    c_ref: Optional[float] = Field(None, ge=0, description="Stress-free lithium concentration [mol m-3].")
    x_0: Optional[float] = Field(None, ge=0, le=1, description="Stoichiometry at 0 % state of charge [-].")
    x_100: Optional[float] = Field(None, ge=0, le=1, description="Stoichiometry at 100 % state of charge [-].")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from .materials import MATERIALS, get_material

        if v not in MATERIALS:
            try:
                get_material(v)
            except KeyError as exc:
                raise ValueError(str(exc).strip("'\"")) from None
        return v

    @field_validator("diffusivity_slope")
    @classmethod
    def _slope(cls, v: float) -> float:
        if abs(v) >= 2:
            raise ValueError(f"diffusivity_slope must satisfy |slope| < 2 so that D > 0 on [0, 1], got {v}")
        return v

    def resolve(self):
        """The ActiveMaterial with overrides applied."""
        from .materials import get_material
        base = get_material(self.name)
        kw = self.model_dump(exclude={"name", "diffusivity_slope"}, exclude_none=True)
        mat = base.with_overrides(**kw)
        if self.diffusivity_slope != 0.0:
            d0, s = mat.diffusivity, self.diffusivity_slope

            def d_lin(x, d0=d0, s=s):
                return d0(x) * (1.0 + s * (x - 0.5))

            mat = mat.with_overrides(diffusivity=d_lin)
        return mat


class PhysicsSpec(StrictModel):
    """Which couplings are on, and the electrolyte bath around the particle."""

    temperature: float = Field(298.15, gt=0, description="Temperature [K].")
    mechanics: bool = Field(True, description="Solve small-strain elasticity with chemical (Vegard) strain.")
    stress_assisted_diffusion: bool = Field(
        True, description="Flux term D c Omega/(R T) grad sigma_h (needs mechanics)."
    )
    stress_in_overpotential: bool = Field(
        True, description="Overpotential term -Omega sigma_h / F in Butler–Volmer (needs mechanics)."
    )
    electrolyte_concentration: float = Field(1000.0, gt=0, description="Bath salt concentration c_e [mol m-3].")
    initial_stoichiometry: Optional[float] = Field(
        None, gt=0, lt=1, description="Initial uniform x = c/c_max [-]; default: the material's x_0."
    )

    @model_validator(mode="after")
    def _needs_mech(self):
        if not self.mechanics and (self.stress_assisted_diffusion or self.stress_in_overpotential):
            # silently turning them off would surprise; be explicit
            raise ValueError(
                "stress_assisted_diffusion and stress_in_overpotential need mechanics = true "
                "(set them to false, or mechanics = true)"
            )
        return self


class ControlSpec(StrictModel):
    """Surface reaction control of the particle.

    mode = "flux": uniform insertion flux (`flux` [mol m-2 s-1], or `c_rate`).
    mode = "galvanostatic": total current (`current` [A] or `c_rate`), Butler–Volmer against the
    bath, particle potential a global unknown.
    mode = "potentiostatic": fixed particle potential `potential` [V vs the bath].
    Positive flux/current = lithiation (insertion). With `c_rate`, `direction` gives the sign.
    """

    mode: Literal["flux", "galvanostatic", "potentiostatic"] = Field("galvanostatic", description="Control mode.")
    c_rate: Optional[float] = Field(None, gt=0, description="C-rate: 1C moves the x_0..x_100 capacity in 1 h [h-1].")
    direction: Literal["lithiation", "delithiation"] = Field(
        "lithiation", description="Sign of a c_rate: lithiation (insertion) or delithiation."
    )
    current: Optional[float] = Field(None, description="Total current into the particle [A] (+ = lithiation).")
    flux: Optional[float] = Field(None, description="Uniform insertion flux [mol m-2 s-1] (+ = into the particle).")
    potential: Optional[float] = Field(None, description="Particle potential vs the bath [V] (potentiostatic).")

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


class TimeSpec(StrictModel):
    """Time integration (backward Euler) and adaptive step control."""

    t_end: float = Field(3600.0, gt=0, description="End time [s].")
    dt_initial: float = Field(10.0, gt=0, description="First time step [s].")
    dt_min: float = Field(1e-3, gt=0, description="Smallest allowed time step [s]; below it the run fails.")
    dt_max: float = Field(120.0, gt=0, description="Largest time step [s].")
    adaptive: bool = Field(True, description="Adapt dt from Newton effort and the change per step.")
    max_change: float = Field(
        0.02, gt=0, le=0.5, description="Target largest change of stoichiometry per step (adaptivity) [-]."
    )

    @model_validator(mode="after")
    def _order(self):
        if not self.dt_min <= self.dt_initial <= self.dt_max:
            raise ValueError(
                f"need dt_min <= dt_initial <= dt_max, got {self.dt_min}, {self.dt_initial}, {self.dt_max}"
            )
        return self


class StopSpec(StrictModel):
    """Cut-offs: the run stops (status "cut-off") when one is reached."""

    min_surface_stoichiometry: float = Field(0.005, ge=0, lt=1, description="Stop when surface x falls below [-].")
    max_surface_stoichiometry: float = Field(0.995, gt=0, le=1, description="Stop when surface x exceeds [-].")
    min_soc: Optional[float] = Field(None, description="Stop when the state of charge falls below [-].")
    max_soc: Optional[float] = Field(None, description="Stop when the state of charge exceeds [-].")
    min_voltage: Optional[float] = Field(None, description="Stop when the particle potential falls below [V].")
    max_voltage: Optional[float] = Field(None, description="Stop when the particle potential exceeds [V].")

    @model_validator(mode="after")
    def _order(self):
        if self.min_surface_stoichiometry >= self.max_surface_stoichiometry:
            raise ValueError("min_surface_stoichiometry must be below max_surface_stoichiometry")
        return self


class OutputSpec(StrictModel):
    """What is written besides case.toml, manifest.json and timeseries.csv."""

    fields: bool = Field(True, description="Write fields (XDMF and VTK .pvd).")
    fields_every: int = Field(5, ge=1, description="Write fields every N accepted steps (and the last) [-].")


class DiscretisationSpec(StrictModel):
    """Finite-element degrees."""

    concentration_degree: Literal[1, 2] = Field(1, description="Lagrange degree of the concentration.")
    displacement_degree: Literal[1, 2] = Field(
        2, description="Lagrange degree of the displacement (2: stresses piecewise linear)."
    )
    geometry_order: Literal[1, 2] = Field(
        1, description="Order of the mesh geometry (2: curved isoparametric elements, slower to assemble).")


class SolverSpec(StrictModel):
    """Newton (PETSc SNES) and the linear solver."""

    linear_solver: Literal["mumps", "superlu_dist", "petsc"] = Field(
        "mumps", description="Direct solver package for the LU factorisation."
    )
    rtol: float = Field(1e-10, gt=0, lt=1, description="Newton relative residual tolerance [-].")
    atol: float = Field(1e-12, gt=0, description="Newton absolute tolerance on the scaled residual [-].")
    max_iterations: int = Field(15, ge=1, description="Newton iteration limit per step.")
    line_search: Literal["basic", "bt", "l2"] = Field(
        "basic", description="PETSc SNES line search: basic (full Newton steps), bt (backtracking), l2.")
    reuse_factorisation: bool = Field(
        True, description="Keep the LU factors across Newton iterations and steps as a GMRES preconditioner; "
        "rebuilt when GMRES slows down or a step fails (false: factorise every Newton iteration).")


class Case(StrictModel):
    """A single-particle chemo-mechanics case (``model = "particle"``, the default)."""

    model: Literal["particle"] = Field("particle", description="Which model: 'particle' or 'halfcell'.")
    title: str = Field("", description="Free text shown in logs and the manifest.")
    geometry: GeometrySpec = Field(description="The particle geometry (see docs/geometry.md).")
    material: MaterialSpec = Field(default_factory=MaterialSpec, description="Active material of the particle.")
    coating_material: Optional[MaterialSpec] = Field(
        None, description="Material of the coating (core_shell geometry only)."
    )
    physics: PhysicsSpec = Field(default_factory=PhysicsSpec, description="Physics switches and bath.")
    control: ControlSpec = Field(description="Surface reaction control (required).")
    time: TimeSpec = Field(default_factory=TimeSpec, description="Time stepping.")
    stop: StopSpec = Field(default_factory=StopSpec, description="Cut-offs.")
    output: OutputSpec = Field(default_factory=OutputSpec, description="Output options.")
    discretisation: DiscretisationSpec = Field(default_factory=DiscretisationSpec, description="Element degrees.")
    solver: SolverSpec = Field(default_factory=SolverSpec, description="Nonlinear and linear solvers.")

    @model_validator(mode="after")
    def _coating(self):
        kind = getattr(self.geometry, "kind", None)
        if self.coating_material is not None and kind != "core_shell":
            raise ValueError(f"coating_material is only used with geometry kind 'core_shell', not '{kind}'")
        if self.stop.min_voltage is not None and self.stop.max_voltage is not None:
            if self.stop.min_voltage >= self.stop.max_voltage:
                raise ValueError("stop.min_voltage must be below stop.max_voltage")
        x_init = self.physics.initial_stoichiometry
        if x_init is not None and not (
            self.stop.min_surface_stoichiometry < x_init < self.stop.max_surface_stoichiometry
        ):
            raise ValueError(
                f"physics.initial_stoichiometry = {x_init} lies outside the surface stoichiometry cut-offs "
                f"({self.stop.min_surface_stoichiometry}, {self.stop.max_surface_stoichiometry})"
            )
        return self


def load_case(path: str | Path):
    """Read and validate a case file; raise CaseError with every problem listed."""
    path = Path(path)
    if not path.is_file():
        raise CaseError(f"{path}: no such case file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{path}: not valid TOML: {exc}") from None
    return case_from_dict(data, source=str(path))


def case_models() -> dict:
    """Model name -> case schema class. The half-cell schema lives with its model."""
    models = {"particle": Case}
    try:
        from .halfcell.spec import HalfCellCase

        models["halfcell"] = HalfCellCase
    except ImportError:  # pragma: no cover - during development only
        pass
    return models


def case_from_dict(data: dict, source: str = "<case>"):
    """Validate a case dict against the schema of its ``model`` (default 'particle')."""
    models = case_models()
    name = data.get("model", "particle")
    if name not in models:
        import difflib

        close = difflib.get_close_matches(str(name), models, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise CaseError(f"{source}: invalid case\nmodel = {name!r}: unknown model{hint} "
                        f"Allowed: {', '.join(models)}.")
    cls = models[name]
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise CaseError(f"{source}: invalid case\n" + format_validation_error(exc, cls)) from None


def case_to_toml(case) -> str:
    """The case with all defaults filled, as TOML (written to the output folder)."""
    import tomli_w

    data = case.model_dump(mode="json", exclude_none=True)
    return tomli_w.dumps(data)
