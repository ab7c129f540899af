"""Case schema of a resolved half-cell (``model = "halfcell"``); no DOLFINx import.

A half-cell case file names the geometry (kind ``half_cell``: lithium metal | separator |
composite electrode | current collector) and adds to the shared sections
(:mod:`cellsim.case.common`) only what is the half-cell's own::

    model = "halfcell"
    [geometry]            # see docs/geometry.md, kind = "half_cell"
    [electrolyte]         # parameter set, initial salt concentration
    [separator]           # porosity and Bruggeman exponent of the separator layer
    [solid]               # conductivities and contact conductances
    [lithium]             # lithium-metal counter electrode kinetics
    [dfn]                 # the DFN twin run with the resolved run (docs/dfn.md)
    [material] [physics] [[protocol.steps]] [time] [stop] [output] [solver] [discretisation]

Sign convention (as PyBaMM): a positive current density is a discharge of the working
electrode (lithium inserted into the particles, current leaving the cell through the
current collector). Units are SI (m, s, mol m-3, A m-2, V, S m-1).
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..geometry.spec import GeometrySpec
from ..schema import StrictModel
from .common import (
    DiscretisationSpec, MaterialSpec, OutputSpec, PhysicsSpec, ProtocolSpec, SolverSpec,
    StopSpec, TimeSpec,
    check_floor, check_protocol_voltages, with_defaults,
)
from .dfn import DfnSpec
from .mechanics import MechanicsSpec
from .pores import ElectrolyteParameters


#: largest current density accepted, as a multiple of the electrode's 1C current density
MAX_C_EQUIVALENT = 1000.0


class ElectrolyteSpec(StrictModel):
    """LiPF6 in EC:EMC (3:7), concentrated-solution properties of Nyman et al. (2008)."""

    parameters: ElectrolyteParameters = "Chen2020"
    initial_concentration: float = Field(
        1000.0, gt=0, le=4000.0, description="Initial uniform salt concentration c_e [mol m-3], in (0, 4000]."
    )


class SeparatorSpec(StrictModel):
    """Homogenised porous separator filled with electrolyte (region ``separator``)."""

    porosity: float = Field(0.47, gt=0, le=1, description="Separator porosity eps [-], in [0.01, 1].")
    bruggeman: float = Field(
        1.5, ge=0, le=10, description="Bruggeman exponent b: effective transport factor eps^b [-], in [0, 10]."
    )


    @field_validator("porosity")
    @classmethod
    def _floor(cls, v):
        return check_floor(v, 0.01, "the separator would not conduct")


class SolidSpec(StrictModel):
    """Electronic conduction in particles and carbon-binder, and contact conductances."""

    particle_conductivity: Optional[float] = Field(
        None, gt=0, le=1e8, description="Electronic conductivity of the active particles [S m-1]; default: the "
        "material's value (0.18 S m-1 for NMC811 Chen2020)."
    )
    binder_conductivity: float = Field(
        50.0, gt=0, le=1e8,
        description="Electronic conductivity of the carbon-binder domain [S m-1], in [1e-12, 1e8].",
    )
    particle_binder_conductance: float = Field(
        1.0e6, gt=0, le=1e12,
        description="Contact conductance of particle/binder interfaces [S m-2] (current density = G * jump "
        "of phi_s); in [1e-12, 1e12]. 1e6 is a near-ideal contact for micrometre particles.",
    )
    collector_conductance: float = Field(
        1.0e7, gt=0, le=1e12,
        description="Contact conductance between the electrode solid and the current collector [S m-2]; the "
        "collector itself is an equipotential at the cell voltage. In [1e-12, 1e12].",
    )

    @field_validator("particle_conductivity", "binder_conductivity", "particle_binder_conductance",
                     "collector_conductance")
    @classmethod
    def _floor(cls, v):
        return check_floor(v, 1e-12, "the electronic network would be singular")


class LithiumSpec(StrictModel):
    """Lithium-metal counter electrode (the potential reference, phi_s = 0, U = 0)."""

    exchange_current: Optional[float] = Field(
        None, gt=0, le=1e5,
        description="Constant exchange-current density [A m-2]; default: Xu et al. (2019), "
        "i0 = 3.5e-8 F c_Li^0.7 c_e^0.3 with c_Li = 1/(1.3e-5 m3 mol-1) (about 71 A m-2 at 1 M).",
    )
    alpha_a: float = Field(0.5, gt=0, lt=1, description="Anodic transfer coefficient [-], in (0, 1).")
    alpha_c: float = Field(0.5, gt=0, lt=1, description="Cathodic transfer coefficient [-], in (0, 1).")


    @field_validator("exchange_current")
    @classmethod
    def _floor(cls, v):
        return check_floor(v, 1e-12, "no current could pass the lithium surface")


HalfCellPhysicsSpec = with_defaults(
    PhysicsSpec, "HalfCellPhysicsSpec", mechanics=False, stress_assisted_diffusion=False, stress_in_overpotential=False)


class HalfCellStopSpec(with_defaults(StopSpec, "_HalfCellStop", min_voltage=2.5, max_voltage=4.4)):
    """Safety limits: reaching one stops the run with status 'cut-off'."""

    min_electrolyte_concentration: float = Field(
        1.0, gt=0, lt=4000.0, description="Stop when min c_e falls below [mol m-3] (electrolyte depletion), below "
        "electrolyte.initial_concentration."
    )


HalfCellSolverSpec = with_defaults(SolverSpec, "HalfCellSolverSpec", reuse_factorisation="step")
HalfCellDiscretisationSpec = with_defaults(DiscretisationSpec, "HalfCellDiscretisationSpec",
                                           volume_quadrature_degree=2)


class HalfCellCase(StrictModel):
    """A resolved half-cell: particles + carbon-binder + electrolyte, Butler-Volmer, lithium metal."""

    model: Literal["halfcell"] = Field(description="Which model: 'halfcell' for this schema.")
    title: str = Field("", max_length=200, description="Free text shown in logs and the manifest (200 characters).")
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
    physics: HalfCellPhysicsSpec = Field(default_factory=HalfCellPhysicsSpec,
                                         description="Physics switches and initial state.")
    mechanics: MechanicsSpec = Field(default_factory=MechanicsSpec,
                                     description="Electrode skeleton and particle/binder interface.")
    protocol: ProtocolSpec = Field(default_factory=ProtocolSpec, description="Cycling protocol.")
    time: TimeSpec = Field(default_factory=TimeSpec, description="Time stepping.")
    stop: HalfCellStopSpec = Field(default_factory=HalfCellStopSpec, description="Safety limits.")
    output: OutputSpec = Field(default_factory=OutputSpec, description="Output options.")
    solver: HalfCellSolverSpec = Field(default_factory=HalfCellSolverSpec, description="Nonlinear and linear solvers.")
    discretisation: HalfCellDiscretisationSpec = Field(default_factory=HalfCellDiscretisationSpec,
                                                       description="Discretisation.")
    dfn: DfnSpec = Field(default_factory=DfnSpec, description="The homogenised (DFN) twin, run after the resolved run.")

    def effective_protocol(self):
        return self.protocol

    def summary(self) -> str:
        """One line describing the case (for ``cellsim check``)."""
        g = self.geometry
        steps = ", ".join(s.label() for s in self.protocol.steps)
        return (f"half-cell ({getattr(g, 'kind', 'no')} geometry), material {self.material.name}, protocol: "
                f"[{steps}] x {self.protocol.cycles} cycle(s)")

    def _check_current_densities(self, mat) -> list[str]:
        """Current densities of at most MAX_C_EQUIVALENT times the electrode's 1C current density
        F c_max |x_100 - x_0| phi_active L / 1 h (about 4.5 A m-2 for the default half-cell)."""
        from ..materials.base import FARADAY

        try:
            q1c = (FARADAY * mat.c_max * abs(mat.x_100 - mat.x_0) * self.geometry.target_fraction()
                   * self.geometry.thickness / 3600.0)
        except (AttributeError, ArithmeticError, ValueError, TypeError):
            return []
        if not q1c > 0:
            return []
        problems = []
        for i, s in enumerate(self.protocol.steps):
            for key in ("current_density", "until_current_density"):
                v = getattr(s, key, None)
                if v is not None and abs(v) > MAX_C_EQUIVALENT * q1c:
                    problems.append(f"protocol.steps.{i}.{key} = {v}: about {abs(v) / q1c:.3g}C for this electrode "
                                    f"(1C = {q1c:.3g} A m-2); allowed: |{key}| <= {MAX_C_EQUIVALENT * q1c:.3g} A m-2 "
                                    f"({MAX_C_EQUIVALENT:g}C)")
        return problems

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
            if s.mode == "flux":
                problems.append(f"protocol.steps.{i}.mode = 'flux': only the particle model takes a prescribed flux")
            if getattr(s, "current", None) is not None:
                problems.append(f"protocol.steps.{i}.current: the half-cell takes a current_density [A m-2] or a "
                                "c_rate")
        if self.mechanics.skeleton and not self.physics.mechanics:
            problems.append("mechanics.skeleton = true needs physics.mechanics = true")
        lat = self.material.lattice_strain
        ptype = getattr(self.geometry, "particle_type", None)
        if lat is not None and (ptype not in ("secondary", None) or (ptype is None and not mesh_given)):
            problems.append(f"material.lattice_strain = '{lat}' with geometry particle_type = '{ptype or 'dense'}': a "
                            "per-grain lattice strain needs grains; allowed: particle_type = 'secondary'")
        if self.mechanics.grain_boundary == "cohesive":
            if ptype not in ("secondary", None) or (ptype is None and not mesh_given):
                problems.append(f"mechanics.grain_boundary = 'cohesive' with geometry particle_type = "
                                f"'{ptype or 'dense'}': grain boundaries need grains; allowed: particle_type = "
                                "'secondary' (or grain_boundary = 'bonded')")
            if self.discretisation.displacement_degree != 1:
                problems.append(f"discretisation.displacement_degree = {self.discretisation.displacement_degree} "
                                "with mechanics.grain_boundary = 'cohesive': allowed: 1 (the cohesive law's "
                                "one-point facet quadrature)")
        if lat is not None and not self.physics.mechanics:
            problems.append(f"material.lattice_strain = '{lat}' needs physics.mechanics = true")
        problems += check_protocol_voltages(self.protocol, st.min_voltage, st.max_voltage)
        problems += self._check_current_densities(mat)
        if st.min_electrolyte_concentration >= self.electrolyte.initial_concentration:
            problems.append(f"stop.min_electrolyte_concentration = {st.min_electrolyte_concentration} must be below "
                            f"electrolyte.initial_concentration = {self.electrolyte.initial_concentration}")
        d = self.discretisation
        for key in ("concentration_degree", "geometry_order"):
            if getattr(d, key) != 1:
                problems.append(f"discretisation.{key} = {getattr(d, key)}: the half-cell model uses 1")
        if self.solver.linear_solver == "petsc":
            problems.append("solver.linear_solver = 'petsc': the half-cell needs a parallel solver: 'mumps', "
                            "'superlu_dist' or 'iterative'")
        if problems:
            raise ValueError("\n".join(problems))
        return self
