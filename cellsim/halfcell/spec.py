"""Case schema of a resolved half-cell (``model = "halfcell"``); no DOLFINx import.

A half-cell case file names the geometry (kind ``half_cell``: lithium metal | separator |
composite electrode | current collector), the active material, the electrolyte, the
electronic network (particle, carbon-binder and contact conductances), the lithium-metal
kinetics and a cycling protocol::

    model = "halfcell"
    [geometry]            # see docs/geometry.md, kind = "half_cell"
    [material]            # active material (cellsim.case.MaterialSpec)
    [electrolyte]         # parameter set, initial salt concentration
    [separator]           # porosity and Bruggeman exponent of the separator layer
    [solid]               # conductivities and contact conductances
    [lithium]             # lithium-metal counter electrode kinetics
    [physics]             # temperature, mechanics switches, initial stoichiometry
    [[protocol.steps]]    # cc / cv / rest steps, repeated protocol.cycles times
    [time] [stop] [output] [solver] [discretisation]

Sign convention (as PyBaMM): a positive current density is a discharge of the working
electrode (lithium inserted into the particles, current leaving the cell through the
current collector). Units are SI (m, s, mol m-3, A m-2, V, S m-1).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, ValidationInfo, model_validator

from ..case import MaterialSpec
from ..geometry.spec import GeometrySpec
from ..schema import StrictModel


class ElectrolyteSpec(StrictModel):
    """LiPF6 in EC:EMC (3:7), concentrated-solution properties of Nyman et al. (2008)."""

    parameters: Literal["Chen2020", "Nyman2008"] = Field(
        "Chen2020",
        description="Property set: 'Chen2020' (Nyman kappa and D_e, t+ = 0.2594, thermodynamic factor 1) or "
        "'Nyman2008' (as Chen2020 with the concentration-dependent t+(c_e) fit).",
    )
    initial_concentration: float = Field(
        1000.0, gt=0, le=4000.0, description="Initial uniform salt concentration c_e [mol m-3], in (0, 4000]."
    )


class SeparatorSpec(StrictModel):
    """Homogenised porous separator filled with electrolyte (region ``separator``)."""

    porosity: float = Field(0.47, gt=0, le=1, description="Separator porosity eps [-], in (0, 1].")
    bruggeman: float = Field(
        1.5, ge=0, le=10, description="Bruggeman exponent b: effective transport factor eps^b [-], in [0, 10]."
    )


class SolidSpec(StrictModel):
    """Electronic conduction in particles and carbon-binder, and contact conductances."""

    particle_conductivity: Optional[float] = Field(
        None, gt=0, le=1e8, description="Electronic conductivity of the active particles [S m-1]; default: the "
        "material's value (0.18 S m-1 for NMC811 Chen2020)."
    )
    binder_conductivity: float = Field(
        50.0, gt=0, le=1e8, description="Electronic conductivity of the carbon-binder domain [S m-1], in (0, 1e8]."
    )
    particle_binder_conductance: float = Field(
        1.0e6, gt=0, le=1e12,
        description="Contact conductance of particle/binder interfaces [S m-2] (current density = G * jump "
        "of phi_s); in (0, 1e12]. 1e6 is a near-ideal contact for micrometre particles.",
    )
    collector_conductance: float = Field(
        1.0e7, gt=0, le=1e12,
        description="Contact conductance between the electrode solid and the current collector [S m-2]; the "
        "collector itself is an equipotential at the cell voltage. In (0, 1e12].",
    )


class LithiumSpec(StrictModel):
    """Lithium-metal counter electrode (the potential reference, phi_s = 0, U = 0)."""

    exchange_current: Optional[float] = Field(
        None, gt=0, le=1e5,
        description="Constant exchange-current density [A m-2]; default: Xu et al. (2019), "
        "i0 = 3.5e-8 F c_Li^0.7 c_e^0.3 with c_Li = 1/(1.3e-5 m3 mol-1) (about 71 A m-2 at 1 M).",
    )
    alpha_a: float = Field(0.5, gt=0, lt=1, description="Anodic transfer coefficient [-], in (0, 1).")
    alpha_c: float = Field(0.5, gt=0, lt=1, description="Cathodic transfer coefficient [-], in (0, 1).")


class PhysicsSpec(StrictModel):
    """Physics switches, temperature and the initial state."""

    temperature: float = Field(298.15, gt=150, lt=500, description="Temperature [K], in (150, 500).")
    mechanics: bool = Field(
        False, description="Solve small-strain elasticity with chemical strain in every particle (free particles)."
    )
    stress_assisted_diffusion: bool = Field(
        False, description="Flux term D c Omega/(R T) grad sigma_h in the particles (needs mechanics)."
    )
    stress_in_overpotential: bool = Field(
        False, description="Overpotential term -Omega sigma_h/F in Butler-Volmer (needs mechanics)."
    )
    initial_stoichiometry: Optional[float] = Field(
        None, gt=0, lt=1, description="Initial uniform x = c_s/c_max [-]; default: the material's x_100 (charged)."
    )

    @model_validator(mode="after")
    def _needs_mech(self):
        if not self.mechanics and (self.stress_assisted_diffusion or self.stress_in_overpotential):
            raise ValueError(
                "physics.stress_assisted_diffusion / physics.stress_in_overpotential = true need "
                "physics.mechanics = true (set them to false, or mechanics = true)"
            )
        return self


# ---------------------------------------------------------------------------------------
# protocol
# ---------------------------------------------------------------------------------------


class CCStep(StrictModel):
    """Constant current: a C-rate (with direction) or a current density (discharge positive).

    Ends at the first of: ``until_voltage`` (discharge: V below it; charge: V above it),
    ``until_soc`` (the overall state of charge reaches it), ``duration``.
    """

    mode: Literal["cc"] = Field(description="Step kind: constant current.")
    c_rate: Optional[float] = Field(
        None, gt=0, le=100, description="C-rate [h-1]; 1C moves the resolved active-material capacity "
        "F c_max |x_100 - x_0| V_active in one hour. In (0, 100]."
    )
    direction: Literal["discharge", "charge"] = Field(
        "discharge", description="Sign of a c_rate: discharge (lithiation of the working electrode) or charge."
    )
    current_density: Optional[float] = Field(
        None, ge=-1e4, le=1e4, description="Applied current density per cross-section [A m-2], discharge positive."
    )
    until_voltage: Optional[float] = Field(
        None, gt=0, lt=6, description="Voltage limit that ends the step [V], in (0, 6)."
    )
    until_soc: Optional[float] = Field(
        None, ge=0, le=1, description="Overall state of charge that ends the step [-], in [0, 1]."
    )
    duration: Optional[float] = Field(None, gt=0, description="Longest duration of the step [s].")

    @model_validator(mode="after")
    def _check(self):
        if (self.c_rate is None) == (self.current_density is None):
            raise ValueError("a cc step needs exactly one of c_rate and current_density")
        if self.until_voltage is None and self.duration is None and self.until_soc is None:
            raise ValueError("a cc step needs an end: until_voltage, until_soc or duration")
        return self

    def label(self) -> str:
        if self.c_rate is not None:
            return f"CC {self.direction} at {self.c_rate:g}C"
        return f"CC at {self.current_density:g} A m-2"


class CVStep(StrictModel):
    """Constant voltage; ends when |i| falls below the current limit, or after ``duration``."""

    mode: Literal["cv"] = Field(description="Step kind: constant voltage.")
    voltage: float = Field(gt=0, lt=6, description="Held cell voltage [V], in (0, 6).")
    until_c_rate: Optional[float] = Field(
        None, gt=0, le=100, description="Current limit as a C-rate: the step ends when |i| < this [h-1]."
    )
    until_current_density: Optional[float] = Field(
        None, gt=0, description="Current limit [A m-2]: the step ends when |i| < this."
    )
    duration: Optional[float] = Field(None, gt=0, description="Longest duration of the step [s].")

    @model_validator(mode="after")
    def _check(self):
        if self.until_c_rate is not None and self.until_current_density is not None:
            raise ValueError("give until_c_rate or until_current_density, not both")
        if self.until_c_rate is None and self.until_current_density is None and self.duration is None:
            raise ValueError("a cv step needs an end: until_c_rate, until_current_density or duration")
        return self

    def label(self) -> str:
        return f"CV at {self.voltage:g} V"


class RestStep(StrictModel):
    """Open circuit (zero current) for ``duration``."""

    mode: Literal["rest"] = Field(description="Step kind: rest (zero current).")
    duration: float = Field(gt=0, description="Duration of the rest [s].")

    def label(self) -> str:
        return f"rest {self.duration:g} s"


StepSpec = Annotated[Union[CCStep, CVStep, RestStep], Field(discriminator="mode")]


def _default_steps():
    return [CCStep(mode="cc", c_rate=1.0, direction="discharge", until_voltage=3.0)]


class ProtocolSpec(StrictModel):
    """The cycling protocol: ``steps`` run in order, the whole list ``cycles`` times."""

    steps: list[StepSpec] = Field(
        default_factory=_default_steps, min_length=1,
        description="Steps (tables with mode = 'cc' | 'cv' | 'rest'); default: a 1C discharge to 3.0 V.",
    )
    cycles: int = Field(1, ge=1, le=10000, description="Number of repetitions of the step list, in [1, 10000].")


class TimeSpec(StrictModel):
    """Backward-Euler time steps with adaptive size and retry on failure."""

    dt_initial: float = Field(5.0, gt=0, description="First time step of every protocol step [s].")
    dt_min: float = Field(1e-3, gt=0, description="Smallest time step [s]; below it the run stops as failed.")
    dt_max: float = Field(300.0, gt=0, description="Largest time step [s].")
    max_change: float = Field(
        0.01, gt=0, le=0.5, description="Target largest change of particle stoichiometry per step [-], in (0, 0.5]."
    )
    max_electrolyte_change: float = Field(
        0.05, gt=0, le=1, description="Target largest relative change of c_e per step [-], in (0, 1]."
    )
    t_end: Optional[float] = Field(None, gt=0, description="Stop the whole run at this time [s] (optional).")

    @model_validator(mode="after")
    def _order(self):
        if not self.dt_min <= self.dt_initial <= self.dt_max:
            raise ValueError(
                f"need dt_min <= dt_initial <= dt_max, got dt_min = {self.dt_min}, dt_initial = "
                f"{self.dt_initial}, dt_max = {self.dt_max}"
            )
        return self


class StopSpec(StrictModel):
    """Safety limits: reaching one stops the run with status 'cut-off'."""

    min_voltage: float = Field(2.5, gt=0, lt=6, description="Stop below this voltage [V], in (0, 6).")
    max_voltage: float = Field(4.4, gt=0, lt=6, description="Stop above this voltage [V], in (0, 6).")
    min_electrolyte_concentration: float = Field(
        1.0, gt=0, description="Stop when min c_e falls below [mol m-3] (electrolyte depletion)."
    )
    max_surface_stoichiometry: float = Field(
        0.999, gt=0, le=1, description="Stop when a particle surface stoichiometry exceeds [-]."
    )
    min_surface_stoichiometry: float = Field(
        0.001, ge=0, lt=1, description="Stop when a particle surface stoichiometry falls below [-]."
    )

    @model_validator(mode="after")
    def _order(self):
        if self.min_voltage >= self.max_voltage:
            raise ValueError(f"stop.min_voltage = {self.min_voltage} must be below stop.max_voltage = {self.max_voltage}")
        if self.min_surface_stoichiometry >= self.max_surface_stoichiometry:
            raise ValueError("stop.min_surface_stoichiometry must be below stop.max_surface_stoichiometry")
        return self


class OutputSpec(StrictModel):
    """Fields besides case.toml, manifest.json and timeseries.csv."""

    fields: bool = Field(True, description="Write fields of every region (XDMF and VTK .pvd).")
    fields_every: int = Field(10, ge=1, description="Write fields every N accepted steps (and at step ends) [-].")


class SolverSpec(StrictModel):
    """Newton (PETSc SNES) and the linear solver of the blocked Jacobian."""

    linear_solver: Literal["mumps", "superlu_dist", "iterative"] = Field(
        "mumps", description="'mumps' / 'superlu_dist': LU; 'iterative': GMRES with a fieldsplit preconditioner "
        "(GAMG on the potential blocks)."
    )
    atol: float = Field(
        1e-10, gt=0, lt=1, description="Newton absolute tolerance relative to the 1C current: ||F|| < atol I_1C [-]."
    )
    rtol: float = Field(1e-10, gt=0, lt=1, description="Newton relative residual tolerance [-].")
    max_iterations: int = Field(20, ge=1, le=200, description="Newton iteration limit per time step.")
    ksp_rtol: float = Field(1e-10, gt=0, lt=1, description="Krylov relative tolerance (iterative solver) [-].")


class DiscretisationSpec(StrictModel):
    """Finite elements (P1 for every concentration and potential)."""

    quadrature_degree: int = Field(
        4, ge=1, le=10, description="Quadrature degree of the interface (Butler-Volmer, contact) integrals, in [1, 10]."
    )
    volume_quadrature_degree: int = Field(
        2, ge=1, le=10, description="Quadrature degree of the volume integrals (P1 fields, smooth coefficients), "
        "in [1, 10].",
    )
    displacement_degree: Literal[1, 2] = Field(1, description="Lagrange degree of the displacement (mechanics).")


class HalfCellCase(StrictModel):
    """A resolved half-cell: particles + carbon-binder + electrolyte, Butler-Volmer, lithium metal."""

    model: Literal["halfcell"] = Field(description="Which model: 'halfcell' for this schema.")
    title: str = Field("", description="Free text shown in logs and the manifest.")
    geometry: Optional[GeometrySpec] = Field(
        None, description="The half-cell geometry (kind = 'half_cell'; see docs/geometry.md). Required."
    )
    material: MaterialSpec = Field(
        default_factory=lambda: MaterialSpec(name="nmc811_chen2020"), description="Active material of the particles."
    )
    electrolyte: ElectrolyteSpec = Field(default_factory=ElectrolyteSpec, description="Electrolyte.")
    separator: SeparatorSpec = Field(default_factory=SeparatorSpec, description="Separator layer.")
    solid: SolidSpec = Field(default_factory=SolidSpec, description="Electronic conduction and contacts.")
    lithium: LithiumSpec = Field(default_factory=LithiumSpec, description="Lithium-metal counter electrode.")
    physics: PhysicsSpec = Field(default_factory=PhysicsSpec, description="Physics switches and initial state.")
    protocol: ProtocolSpec = Field(default_factory=ProtocolSpec, description="Cycling protocol.")
    time: TimeSpec = Field(default_factory=TimeSpec, description="Time stepping.")
    stop: StopSpec = Field(default_factory=StopSpec, description="Safety limits.")
    output: OutputSpec = Field(default_factory=OutputSpec, description="Output options.")
    solver: SolverSpec = Field(default_factory=SolverSpec, description="Nonlinear and linear solvers.")
    discretisation: DiscretisationSpec = Field(default_factory=DiscretisationSpec, description="Discretisation.")

    def summary(self) -> str:
        """One line describing the case (for ``cellsim check``)."""
        g = self.geometry
        steps = ", ".join(s.label() for s in self.protocol.steps)
        return (f"half-cell ({getattr(g, 'kind', 'no')} geometry), material {self.material.name}, protocol: "
                f"[{steps}] x {self.protocol.cycles} cycle(s)")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo):
        problems = []
        mesh_given = bool(info.context and info.context.get("mesh_given"))
        if self.geometry is None and not mesh_given:
            problems.append("geometry: required: a [geometry] table with kind = 'half_cell'")
        if self.geometry is not None:
            kind = getattr(self.geometry, "kind", None)
            if kind != "half_cell":
                problems.append(f"geometry.kind = {kind!r}: a half-cell case needs kind = 'half_cell'")
        st = self.stop
        mat = self.material.resolve()
        x0 = self.physics.initial_stoichiometry if self.physics.initial_stoichiometry is not None else mat.x_100
        if not st.min_surface_stoichiometry < x0 < st.max_surface_stoichiometry:
            problems.append(
                f"physics.initial_stoichiometry = {x0}: must lie inside the stop limits "
                f"({st.min_surface_stoichiometry}, {st.max_surface_stoichiometry})"
            )
        for i, s in enumerate(self.protocol.steps):
            v = getattr(s, "until_voltage", None) if s.mode == "cc" else (s.voltage if s.mode == "cv" else None)
            key = f"protocol.steps.{i}.{'until_voltage' if s.mode == 'cc' else 'voltage'}"
            if v is not None and not st.min_voltage <= v <= st.max_voltage:
                problems.append(
                    f"{key} = {v}: must lie within the safety limits [stop.min_voltage, stop.max_voltage] = "
                    f"[{st.min_voltage}, {st.max_voltage}]"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


__all__ = [
    "HalfCellCase", "ElectrolyteSpec", "SeparatorSpec", "SolidSpec", "LithiumSpec", "PhysicsSpec",
    "CCStep", "CVStep", "RestStep", "ProtocolSpec", "TimeSpec", "StopSpec", "OutputSpec", "SolverSpec",
    "DiscretisationSpec",
]
