"""Case-file sections shared by every model, defined once (no DOLFINx import).

``material``, ``time``, ``stop``, ``output``, ``solver``, ``discretisation`` and
``protocol`` are the same classes for every model. Where models differ only in a
default (a half-cell steps more cautiously than a lone particle), the model's schema
uses :func:`with_defaults`, which derives a section with other defaults and the same
keys, bounds and checks. Units are SI.

Every number has physical bounds (the field constraints, shown in docs/case_reference.md,
plus floors given in the validators where a value above zero but far too small would make
a run meaningless, e.g. a diffusivity of 1e-300 m2 s-1 that never moves the state). NaN
and infinity are rejected by :class:`~cellsim.schema.StrictModel` for every key.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, ValidationError, ValidationInfo, create_model, field_validator, model_validator

from ..schema import StrictModel, cap
from .lattice import LatticeStrainKey, lattice_strain_output

#: longest run [s] and longest protocol step or time step (about 32 years)
T_MAX = 1e9
#: bounds shared by the protocol steps and the particle's [control] (one definition each)
C_RATE = dict(gt=0, le=100)  # h-1
CURRENT = dict(ge=-1.0, le=1.0)  # A, a single particle
FLUX = dict(ge=-1.0, le=1.0)  # mol m-2 s-1
VOLTAGE = dict(gt=0, lt=6)  # V


def check_floor(value, floor: float, what: str):
    """``value`` if it is None or >= ``floor`` (a positive number far too small to be physical)."""
    if value is not None and value < floor:
        raise ValueError(f"{value!r} is too small: {what}; allowed: >= {floor:g}")
    return value


def nonzero(value, hint: str):
    """``value`` unless it is exactly 0."""
    if value is not None and value == 0:
        raise ValueError(f"must not be 0 ({hint})")
    return value


def no_bool(value):
    """Reject a boolean where an integer choice is expected (pydantic takes True as 1)."""
    if isinstance(value, bool):
        raise ValueError("Input should be a whole number, not a boolean")
    return value


def with_defaults(cls, name: str, doc: str | None = None, **defaults):
    """A subclass of the section ``cls`` whose listed keys get other defaults.

    Bounds, descriptions and validators stay those of ``cls`` (one definition of the
    section); only the defaults shown in docs/case_reference.md and used when a key is
    left out change.
    """
    fields = {}
    for key, value in defaults.items():
        info = cls.model_fields[key]
        new = type(info).merge_field_infos(info, default=value)
        fields[key] = (info.annotation, new)
    sub = create_model(name, __base__=cls, __doc__=doc or cls.__doc__, **fields)
    sub.__module__ = cls.__module__
    return sub


class MaterialSpec(StrictModel):
    """An active material: a named parameter set or one electrode of a BPX file, with optional
    key-by-key overrides (docs/bpx.md)."""

    bpx: Optional[str] = Field(
        None, min_length=1, max_length=4096, description="BPX file (JSON) to take the material from: c_max, "
        "OCP(x), D(x), rate constant, stoichiometry limits (docs/bpx.md); a path relative to the case file. Needs "
        "the bpx package (`pip install 'cellsim[bpx]'`).")
    electrode: Optional[Literal["positive", "negative"]] = Field(
        None, description="Which electrode of the BPX file: 'positive' or 'negative'; default: the only one the "
        "file defines.")
    name: str = Field("graphite_chen2020", description="Parameter set name (see `cellsim info --materials`); "
                      "with `bpx`, given explicitly: the set that gives what BPX does not hold (mechanics, "
                      "particle conductivity).")
    c_max: Optional[float] = Field(
        None, gt=0, le=1e6, description="Maximum lithium concentration [mol m-3], in [100, 1e6] (silicon: about 3e5)."
    )
    diffusivity: Optional[float] = Field(
        None, gt=0, le=1e-6, description="Constant lithium diffusivity [m2 s-1] (replaces the set's D(x)), in "
        "[1e-25, 1e-6]."
    )
    diffusivity_slope: float = Field(
        0.0,
        gt=-1,
        description="Linear concentration dependence D(x) = D_set(x) (1 + slope (x - 0.5)); "
        "|slope| < 2 keeps D > 0 on [0, 1] [-].",
    )
    rate_constant: Optional[float] = Field(
        None, gt=0, le=1e-3, description="k in i0 = F k c_e^alpha_a (c_max - c)^alpha_a c^alpha_c [SI], in "
        "[1e-25, 1e-3] (Chen2020: 7e-12 graphite, 3.5e-11 NMC811)."
    )
    alpha_a: Optional[float] = Field(None, gt=0, lt=1, description="Anodic transfer coefficient [-].")
    alpha_c: Optional[float] = Field(None, gt=0, lt=1, description="Cathodic transfer coefficient [-].")
    partial_molar_volume: Optional[float] = Field(
        None, gt=-1e-3, lt=1e-3, description="Partial molar volume Omega [m3 mol-1] (chemical strain Omega/3 (c - "
        "c_ref)), |Omega| < 1e-3 (real materials: |Omega| < 2e-5)."
    )
    lattice_strain: LatticeStrainKey = Field(
        None, description="Per-grain lattice strain of a secondary particle: 'nmc811_kondrakov2017', a CSV file (x, a, c; "
        "relative to the case file) or {x = [...], a = [...], c = [...], x_ref = 1.0}, a, c in angstrom "
        "(docs/multiscale.md 13); default: the isotropic Omega/3 (c - c_ref).")
    exchange_current_activation_energy: Optional[float] = Field(
        None, ge=0, le=2e5, description="Arrhenius activation energy of the exchange current E_r [J mol-1], "
        "i0(T) = i0(298.15 K) exp(E_r/R (1/298.15 - 1/T)); in [0, 2e5].")
    youngs_modulus: Optional[float] = Field(
        None, gt=0, le=1e13, description="Young's modulus E [Pa], in [1e3, 1e13]."
    )
    poisson_ratio: Optional[float] = Field(None, gt=-1, lt=0.5, description="Poisson's ratio nu, in (-1, 0.5) [-].")
    c_ref: Optional[float] = Field(
        None, ge=0, le=1e6, description="Stress-free lithium concentration [mol m-3], in [0, c_max]."
    )
    x_0: Optional[float] = Field(None, gt=0, lt=1, description="Stoichiometry at 0 % state of charge [-], in (0, 1).")
    x_100: Optional[float] = Field(
        None, gt=0, lt=1, description="Stoichiometry at 100 % state of charge [-], in (0, 1); |x_100 - x_0| >= 1e-3."
    )

    @field_validator("bpx")
    @classmethod
    def _bpx_path(cls, v, info: ValidationInfo):
        """An absolute path: relative to the case file's folder (``case_dir`` in the context)."""
        if v is None:
            return v
        from pathlib import Path

        p = Path(v).expanduser()
        if not p.is_absolute():
            base = (info.context or {}).get("case_dir")
            p = Path(base) / p if base else p
        return str(p.resolve())

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from ..materials import MATERIALS, get_material

        if v not in MATERIALS:
            try:
                get_material(cap(v, 60))
            except KeyError as exc:
                raise ValueError(str(exc).strip("'\"")) from None
        return v

    @field_validator("c_max")
    @classmethod
    def _c_floor(cls, v):
        return check_floor(v, 100.0, "an insertion material holds thousands of mol m-3")

    @field_validator("diffusivity")
    @classmethod
    def _d_floor(cls, v):
        return check_floor(v, 1e-25, "lithium would not move in any simulated time")

    @field_validator("rate_constant")
    @classmethod
    def _k_floor(cls, v):
        return check_floor(v, 1e-25, "no current could pass the particle surface")

    @field_validator("youngs_modulus")
    @classmethod
    def _e_floor(cls, v):
        return check_floor(v, 1e3, "softer than any electrode material (small-strain mechanics breaks down)")

    @model_validator(mode="after")
    def _resolved(self):
        """Checks of the parameter set with the overrides applied."""
        if self.electrode is not None and self.bpx is None:
            raise ValueError(f"material.electrode = {self.electrode!r} is only used with material.bpx (a BPX file)")
        if self.bpx is not None:
            from ..materials.bpx import BpxError

            try:
                self._base()
            except BpxError as exc:
                raise ValueError(f"material.bpx = {self.bpx!r}: {exc}") from None
            self._check_bpx_values()
        mat = self.resolve()
        problems = []
        if not (0 < mat.x_0 < 1 and 0 < mat.x_100 < 1):
            problems.append(f"x_0 = {mat.x_0}, x_100 = {mat.x_100} (after overrides): both must lie in (0, 1)")
        if abs(mat.x_100 - mat.x_0) < 1e-3:
            problems.append(
                f"x_0 = {mat.x_0} and x_100 = {mat.x_100} (after overrides): must differ by "
                "at least 1e-3 (the 1C current is proportional to |x_100 - x_0|)")
        if mat.c_ref > mat.c_max:
            problems.append(f"c_ref = {mat.c_ref} must not exceed c_max = {mat.c_max} (after "
                            "overrides); allowed: 0 <= c_ref <= c_max")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @field_validator("diffusivity_slope")
    @classmethod
    def _slope(cls, v: float) -> float:
        if abs(v) >= 2:
            raise ValueError(f"diffusivity_slope must satisfy |slope| < 2 so that D > 0 on [0, 1], got {v}")
        return v

    def _base(self):
        """The named set, or the BPX file's material (on the named set when ``name`` is given)."""
        from ..materials import get_material

        if self.bpx is None:
            return get_material(self.name)
        from ..materials.bpx import bpx_material

        return bpx_material(self.bpx, self.electrode, self.name if "name" in self.model_fields_set else None)

    def _check_bpx_values(self):
        """The file's values within the bounds of the keys that override them (so that the
        resolved values written into the output case.toml validate again)."""
        base = self._base()
        vals = {k: getattr(base, k) for k in OVERRIDE_KEYS if k != "diffusivity"}
        const = getattr(base.diffusivity, "constant_value", None)
        if const is not None:
            vals["diffusivity"] = const
        vals.update(self.model_dump(include=set(OVERRIDE_KEYS), exclude_none=True))
        try:
            MaterialSpec.model_validate(vals)
        except ValidationError as exc:
            bad = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'} = {e.get('input')!r}: {e['msg']}"
                            for e in exc.errors())
            raise ValueError(f"material.bpx = {self.bpx!r}: a value of the file is out of range: {bad}") from None

    def resolved_values(self) -> dict:
        """The ``[material]`` table with every value the run uses as an explicit key (the
        set's defaults with the overrides applied); reloading it gives the same material."""
        d = self.model_dump(mode="json", exclude_none=True)
        if self.bpx is not None and "name" not in self.model_fields_set:
            d.pop("name", None)  # no base set: the generic defaults (a name would change them)
        mat = self._base().with_overrides(**self.model_dump(include=set(OVERRIDE_KEYS), exclude_none=True))
        for k in OVERRIDE_KEYS:
            if k == "diffusivity":
                const = getattr(mat.diffusivity, "constant_value", None)
                if const is not None:
                    d[k] = float(const)
            else:
                d[k] = float(getattr(mat, k))
        d.update(lattice_strain_output(self.lattice_strain))  # the table itself: a reload gives the same strains
        return {k: d[k] for k in type(self).model_fields if k in d}  # the schema's order, as a reload dumps it

    def resolve(self):
        """The ActiveMaterial with overrides applied."""
        base = self._base()
        kw = self.model_dump(include=set(OVERRIDE_KEYS), exclude_none=True)
        mat = base.with_overrides(**kw)
        if self.diffusivity_slope != 0.0:
            d0, s = mat.diffusivity, self.diffusivity_slope

            def d_lin(x, d0=d0, s=s):
                return d0(x) * (1.0 + s * (x - 0.5))

            mat = mat.with_overrides(diffusivity=d_lin)
        return mat


#: the keys of [material] that override a value of the set (resolved_values writes them all)
OVERRIDE_KEYS = ("c_max", "diffusivity", "rate_constant", "alpha_a", "alpha_c", "partial_molar_volume",
                 "exchange_current_activation_energy", "youngs_modulus", "poisson_ratio", "c_ref", "x_0", "x_100")


class PhysicsSpec(StrictModel):
    """Physics switches, temperature and the initial state."""

    temperature: float = Field(298.15, gt=150, lt=500, description="Temperature [K], in (150, 500).")
    mechanics: bool = Field(
        True, description="Solve small-strain elasticity with chemical (Vegard) strain in the particles."
    )
    stress_assisted_diffusion: bool = Field(
        True, description="Flux term D c Omega/(R T) grad sigma_h in the particles (needs mechanics)."
    )
    stress_in_overpotential: bool = Field(
        True, description="Overpotential term -Omega sigma_h/F in Butler-Volmer (needs mechanics)."
    )
    initial_stoichiometry: Optional[float] = Field(
        None, gt=0, lt=1, description="Initial uniform x = c_s/c_max [-]; default: the model's (see its schema)."
    )

    @model_validator(mode="after")
    def _needs_mech(self):
        if not self.mechanics and (self.stress_assisted_diffusion or self.stress_in_overpotential):
            # silently turning them off would surprise; be explicit
            raise ValueError(
                "physics.stress_assisted_diffusion / physics.stress_in_overpotential = true need "
                "physics.mechanics = true (set them to false, or mechanics = true)"
            )
        return self


class TimeSpec(StrictModel):
    """Backward-Euler time steps with adaptive size, retry on failure and event location."""

    t_end: Optional[float] = Field(
        None, gt=0, le=T_MAX, description="Stop the whole run at this time [s] (optional), in (0, 1e9]."
    )
    dt_initial: float = Field(5.0, gt=0, le=T_MAX, description="First time step of every protocol step [s].")
    dt_min: float = Field(
        1e-3, ge=1e-9, le=T_MAX, description="Smallest time step [s], in [1e-9, 1e9]; below it the run stops as "
        "failed."
    )
    dt_max: float = Field(300.0, gt=0, le=T_MAX, description="Largest time step [s], in (0, 1e9].")
    adaptive: bool = Field(True, description="Adapt dt from Newton effort and the change per step.")
    max_change: float = Field(
        0.01, ge=1e-6, le=0.5,
        description="Target largest change of particle stoichiometry per step [-], in [1e-6, 0.5]."
    )
    max_electrolyte_change: float = Field(
        0.05, ge=1e-6, le=1, description="Target largest relative change of c_e per step [-], in [1e-6, 1] "
        "(models with an electrolyte)."
    )

    @model_validator(mode="after")
    def _order(self):
        if not self.dt_min <= self.dt_initial <= self.dt_max:
            raise ValueError(
                f"need dt_min <= dt_initial <= dt_max, got dt_min = {self.dt_min}, dt_initial = "
                f"{self.dt_initial}, dt_max = {self.dt_max}"
            )
        if self.t_end is not None and self.t_end < self.dt_min:
            raise ValueError(f"time.t_end = {self.t_end} is shorter than time.dt_min = {self.dt_min}")
        return self


class StopSpec(StrictModel):
    """Safety limits: reaching one stops the run with status 'cut-off' (the crossing is located)."""

    min_voltage: Optional[float] = Field(None, **VOLTAGE, description="Stop below this voltage [V], in (0, 6).")
    max_voltage: Optional[float] = Field(None, **VOLTAGE, description="Stop above this voltage [V], in (0, 6).")
    min_soc: Optional[float] = Field(
        None, ge=0, le=1, description="Stop when the state of charge falls below [-], in [0, 1]."
    )
    max_soc: Optional[float] = Field(
        None, ge=0, le=1, description="Stop when the state of charge exceeds [-], in [0, 1]."
    )
    max_surface_stoichiometry: float = Field(
        0.999, gt=0, le=1, description="Stop when a particle surface stoichiometry exceeds [-]."
    )
    min_surface_stoichiometry: float = Field(
        0.001, ge=0, lt=1, description="Stop when a particle surface stoichiometry falls below [-]."
    )

    @model_validator(mode="after")
    def _order(self):
        if self.min_voltage is not None and self.max_voltage is not None and self.min_voltage >= self.max_voltage:
            raise ValueError(f"stop.min_voltage = {self.min_voltage} must be below stop.max_voltage = {self.max_voltage}")
        if self.min_surface_stoichiometry >= self.max_surface_stoichiometry:
            raise ValueError(f"stop.min_surface_stoichiometry = {self.min_surface_stoichiometry} must be below "
                             f"stop.max_surface_stoichiometry = {self.max_surface_stoichiometry}")
        if self.min_soc is not None and self.max_soc is not None and self.min_soc >= self.max_soc:
            raise ValueError(f"stop.min_soc = {self.min_soc} must be below stop.max_soc = {self.max_soc}")
        return self


class OutputSpec(StrictModel):
    """What is written besides case.toml, manifest.json and timeseries.csv."""

    fields: bool = Field(True, description="Write fields of every region (XDMF and VTK .pvd).")
    fields_every: int = Field(
        10, ge=1, le=1_000_000, description="Write fields every N accepted steps (and at step ends) [-], in [1, 1e6]."
    )
    checkpoint_every: int = Field(
        10, ge=0, le=1_000_000, description="Write a checkpoint (the whole state, for `cellsim run --resume`) every N "
        "accepted steps, besides protocol step ends, interruptions and the end; 0: only those [-], in [0, 1e6].")


class SolverSpec(StrictModel):
    """Newton (PETSc SNES) and the linear solver of the (blocked) Jacobian.

    A Newton solve stops when ||F|| < atol (scaled as described below) or ||F|| < rtol
    ||F_0||. Both are bounded so that a solve cannot stop before it has done anything:
    with atol = 1e30 the initial guess is accepted with 0 iterations and the state never
    moves; with rtol = 0.5 one iteration that halves the residual is accepted while the
    error is still of the order of the change per step. rtol <= 1e-3 (three digits)
    keeps the Newton error well below the time-discretisation error of a step; atol <=
    1e-4 is a residual of at most 0.01 % of the 1C current (half-cell) or of the
    dimensionless rows (particle).
    """

    linear_solver: Literal["mumps", "superlu_dist", "petsc", "iterative"] = Field(
        "mumps", description="'mumps' / 'superlu_dist' / 'petsc': LU factorisation by that package; 'iterative': "
        "GMRES with a fieldsplit preconditioner (half-cell: GAMG on the potential blocks; particle: GAMG with the "
        "rigid-body modes on the displacement)."
    )
    atol: float = Field(
        1e-10, gt=0, le=1e-4, description="Newton absolute tolerance on the model's scaled residual (half-cell: "
        "relative to the 1C current, ||F|| < atol I_1C; particle: dimensionless residual) [-], in (0, 1e-4]."
    )
    rtol: float = Field(
        1e-10, gt=0, le=1e-3, description="Newton relative residual tolerance [-], in (0, 1e-3] (see above)."
    )
    max_iterations: int = Field(20, ge=1, le=200, description="Newton iteration limit per time step.")
    line_search: Literal["basic", "bt", "l2"] = Field(
        "basic", description="PETSc SNES line search: basic (full Newton steps), bt (backtracking), l2.")
    reuse_factorisation: Union[bool, Literal["step"]] = Field(
        False, description="LU solvers: true: keep the LU factors across Newton iterations and steps as a GMRES "
        "preconditioner, rebuilt when GMRES slows down or a step fails; 'step': fresh factors at the first Newton "
        "iteration of every step, kept (GMRES) for its other iterations (iterative: the same for its preconditioner); "
        "false: factorise every Newton iteration.")
    ksp_rtol: float = Field(
        1e-10, gt=0, le=0.1, description="Krylov relative tolerance (iterative solver) [-], in (0, 0.1]."
    )


class DiscretisationSpec(StrictModel):
    """Finite elements and quadrature."""

    concentration_degree: Literal[1, 2] = Field(1, description="Lagrange degree of the particle concentration.")
    displacement_degree: Literal[1, 2] = Field(
        1, description="Lagrange degree of the displacement (2: stresses piecewise linear).")
    geometry_order: Literal[1, 2] = Field(
        1, description="Order of the mesh geometry (2: curved isoparametric elements, slower to assemble).")
    quadrature_degree: int = Field(
        4, ge=1, le=10, description="Quadrature degree of interface integrals (Butler-Volmer, contacts), in [1, 10].")
    volume_quadrature_degree: Optional[int] = Field(
        None, ge=1, le=10, description="Quadrature degree of volume integrals, in [1, 10]; default: exact for the "
        "element degrees on affine cells.")

    @field_validator("concentration_degree", "displacement_degree", "geometry_order", mode="before")
    @classmethod
    def _not_bool(cls, v):
        return no_bool(v)


# ---------------------------------------------------------------------------------------
# protocol (one for every model)
# ---------------------------------------------------------------------------------------
DIRECTIONS = Literal["discharge", "charge", "lithiation", "delithiation"]


class CCStep(StrictModel):
    """Constant current: a C-rate (with direction), a current density or a current.

    Ends at the first of: ``until_voltage`` (the voltage falling to it while lithiating,
    rising to it while delithiating), ``until_soc`` (the state of charge reaches it),
    ``duration``. Direction: ``discharge`` = ``lithiation`` of the working electrode
    (positive current, as in PyBaMM), ``charge`` = ``delithiation``.
    """

    mode: Literal["cc"] = Field(description="Step kind: constant current.")
    c_rate: Optional[float] = Field(
        None, **C_RATE, description="C-rate [h-1]; 1C moves the resolved active-material capacity "
        "F c_max |x_100 - x_0| V_active in one hour. In (0, 100]."
    )
    direction: DIRECTIONS = Field(
        "discharge", description="Sign of a c_rate: discharge / lithiation (into the particles) or charge / "
        "delithiation."
    )
    current_density: Optional[float] = Field(
        None, ge=-1e4, le=1e4, description="Applied current density per cross-section [A m-2], discharge positive "
        "(half-cell), in [-1e4, 1e4], not 0 (use a rest step)."
    )
    current: Optional[float] = Field(
        None, **CURRENT, description="Applied current [A], lithiation positive (particle), in [-1, 1], not 0, "
        "and at most about 1000C for the particle."
    )
    until_voltage: Optional[float] = Field(
        None, **VOLTAGE, description="Voltage limit that ends the step [V], in (0, 6)."
    )
    until_soc: Optional[float] = Field(
        None, ge=0, le=1, description="Overall state of charge that ends the step [-], in [0, 1]."
    )
    duration: Optional[float] = Field(None, gt=0, le=T_MAX, description="Longest duration of the step [s].")

    @field_validator("current", "current_density")
    @classmethod
    def _nonzero(cls, v):
        return nonzero(v, "a cc step with zero current is a rest: use mode = 'rest'")

    @model_validator(mode="after")
    def _check(self):
        given = [k for k in ("c_rate", "current_density", "current") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a cc step needs exactly one of c_rate and current_density (or current)")
        if self.until_voltage is None and self.duration is None and self.until_soc is None:
            raise ValueError("a cc step needs an end: until_voltage, until_soc or duration")
        return self

    @property
    def lithiating(self) -> bool:
        return self.direction in ("discharge", "lithiation")

    def label(self) -> str:
        if self.c_rate is not None:
            return f"CC {self.direction} at {self.c_rate:g}C"
        if self.current is not None:
            return f"CC at {self.current:g} A"
        return f"CC at {self.current_density:g} A m-2"


class CVStep(StrictModel):
    """Constant voltage; ends when |i| falls below the current limit, or after ``duration``."""

    mode: Literal["cv"] = Field(description="Step kind: constant voltage.")
    voltage: float = Field(**VOLTAGE, description="Held voltage [V] (cell voltage, or particle potential vs the "
                           "bath), in (0, 6).")
    until_c_rate: Optional[float] = Field(
        None, **C_RATE, description="Current limit as a C-rate: the step ends when |i| < this [h-1]."
    )
    until_current_density: Optional[float] = Field(
        None, gt=0, le=1e4, description="Current limit [A m-2] (half-cell): the step ends when |i| < this."
    )
    duration: Optional[float] = Field(None, gt=0, le=T_MAX, description="Longest duration of the step [s].")

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
    duration: float = Field(gt=0, le=T_MAX, description="Duration of the rest [s], in (0, 1e9].")

    def label(self) -> str:
        return f"rest {self.duration:g} s"


class FluxStep(StrictModel):
    """Prescribed uniform insertion flux on the particle surface (particle model, verification)."""

    mode: Literal["flux"] = Field(description="Step kind: prescribed uniform insertion flux.")
    flux: Optional[float] = Field(
        None, **FLUX, description="Insertion flux [mol m-2 s-1] (+ = into the particle), in [-1, 1], not 0, "
        "and at most about 1000C."
    )
    c_rate: Optional[float] = Field(
        None, **C_RATE, description="The flux of this C-rate [h-1] (with direction), in (0, 100]."
    )
    direction: DIRECTIONS = Field("lithiation", description="Sign of a c_rate.")
    duration: Optional[float] = Field(None, gt=0, le=T_MAX, description="Longest duration of the step [s].")

    @field_validator("flux")
    @classmethod
    def _nonzero(cls, v):
        return nonzero(v, "a zero flux is a rest: use mode = 'rest'")

    @model_validator(mode="after")
    def _check(self):
        if (self.flux is None) == (self.c_rate is None):
            raise ValueError("a flux step needs exactly one of flux and c_rate")
        return self

    @property
    def lithiating(self) -> bool:
        return self.direction in ("discharge", "lithiation")

    def label(self) -> str:
        return f"flux {self.flux:g} mol m-2 s-1" if self.flux is not None else f"flux {self.direction} at {self.c_rate:g}C"


StepSpec = Annotated[Union[CCStep, CVStep, RestStep, FluxStep], Field(discriminator="mode")]


def _default_steps():
    return [CCStep(mode="cc", c_rate=1.0, direction="discharge", until_voltage=3.0)]


class ProtocolSpec(StrictModel):
    """The cycling protocol: ``steps`` run in order, the whole list ``cycles`` times."""

    steps: list[StepSpec] = Field(
        default_factory=_default_steps, min_length=1, max_length=1000,
        description="Steps (tables with mode = 'cc' | 'cv' | 'rest' | 'flux'); default: a 1C discharge to 3.0 V.",
    )
    cycles: int = Field(1, ge=1, le=10000, description="Number of repetitions of the step list, in [1, 10000].")


def check_protocol_voltages(protocol, vmin, vmax) -> list[str]:
    """Problems of protocol voltages outside the [stop] window (for the model validators)."""
    problems = []
    for i, s in enumerate(protocol.steps):
        v = getattr(s, "until_voltage", None) if s.mode == "cc" else (s.voltage if s.mode == "cv" else None)
        key = f"protocol.steps.{i}.{'until_voltage' if s.mode == 'cc' else 'voltage'}"
        lo = vmin if vmin is not None else 0.0
        hi = vmax if vmax is not None else 6.0
        if v is not None and not lo <= v <= hi:
            problems.append(f"{key} = {v}: must lie within the safety limits [stop.min_voltage, stop.max_voltage] = "
                            f"[{vmin}, {vmax}]")
    return problems
