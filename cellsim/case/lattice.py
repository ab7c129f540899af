"""The ``[material] lattice_strain`` input (no DOLFINx import): a shipped table's name, a CSV
file (relative to the case file) or an inline table of lattice parameters a(x), c(x) in
angstrom. The numbers' checks and the conversion to a
:class:`~cellsim.materials.lattice.LatticeStrain` live in :mod:`cellsim.materials.lattice`
(``lattice_table_problems``, ``resolve_lattice_strain``); this module is the schema side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, Union

from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, model_validator

from ..materials.lattice import (
    LATTICE_STRAINS, lattice_table_problems, lattice_table_values, read_lattice_csv, resolve_lattice_strain,
)
from ..schema import StrictModel


class LatticeTableSpec(StrictModel):
    """A user lattice-strain table (``[material] lattice_strain = {...}``): hexagonal lattice
    parameters a(x), c(x) in angstrom at stoichiometries x, stress-free at x_ref (or ``file``,
    a CSV of the columns x, a, c, read while the case is read)."""

    x: Optional[list[float]] = Field(None, description="Stoichiometries x = c/c_max, strictly increasing, "
                                     "in [0, 1] [-] (2 to 200 points).")
    a: Optional[list[float]] = Field(None, description="Lattice parameter a at each x [A] (ångström), in [0.5, 100].")
    c: Optional[list[float]] = Field(None, description="Lattice parameter c at each x [A] (ångström), in [0.5, 100].")
    x_ref: float = Field(1.0, description="Stoichiometry of the stress-free lattice [-], inside the table.")
    file: Optional[str] = Field(None, min_length=1, max_length=4096, description="CSV file with the columns x, a, c "
                                "(relative to the case file) instead of x, a, c; read when the case is read.")
    name: str = Field("user", min_length=1, max_length=200, description="A label for the table.")
    citation: str = Field("", max_length=2000, description="Where the values come from.")

    def __str__(self) -> str:  # how the case checks' messages show it
        return f"table '{self.name}'"

    @model_validator(mode="after")
    def _table(self, info: ValidationInfo):
        if self.file is not None:
            if any(v is not None for v in (self.x, self.a, self.c)):
                raise ValueError(f"file = {self.file!r} and x/a/c given: allowed: either a file or x, a, c")
            p = Path(self.file).expanduser()
            if not p.is_absolute() and (info.context or {}).get("case_dir"):
                p = Path(info.context["case_dir"]) / p
            vals = read_lattice_csv(p.resolve())
            object.__setattr__(self, "file", None)  # the table itself goes into the output case.toml
            for k in ("x", "a", "c"):
                object.__setattr__(self, k, vals[k])
            if not self.citation:
                object.__setattr__(self, "citation", f"table read from {p.resolve()}")
        missing = [k for k in ("x", "a", "c") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)}: required (or file = 'table.csv'); allowed: lists of one value per "
                             "stoichiometry, a and c in angstrom")
        problems = lattice_table_problems(self.x, self.a, self.c, self.x_ref)
        if problems:
            raise ValueError("\n".join(problems))
        return self


def lattice_strain_input(v, info: ValidationInfo):
    """The ``lattice_strain`` value before the field's own validation: a shipped name stays a
    name; a table is validated here (so that its errors name its own keys); any other string
    is a CSV file (relative to the case file), read now into a table."""
    if isinstance(v, dict):
        try:
            return LatticeTableSpec.model_validate(v, context=info.context, strict=True)
        except ValidationError as exc:
            raise ValueError("; ".join(
                ((".".join(str(p) for p in e["loc"]) + ": ") if e["loc"] else "")
                + e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    if v is None or isinstance(v, LatticeTableSpec) or (isinstance(v, str) and v in LATTICE_STRAINS):
        return v
    if not isinstance(v, str):
        raise ValueError(f"a {type(v).__name__}; allowed: {', '.join(repr(k) for k in LATTICE_STRAINS)}, a CSV file "
                         "'name.csv' (columns x, a, c in angstrom) or an inline table {x = [...], a = [...], c = [...]}")
    if not v.lower().endswith(".csv"):
        raise ValueError("not a shipped table nor a .csv file; allowed: "
                         f"{', '.join(repr(k) for k in LATTICE_STRAINS)}, a CSV file 'name.csv' (columns x, a, c "
                         "in angstrom) or an inline table {x = [...], a = [...], c = [...], x_ref = 1.0}")
    return lattice_strain_input({"file": v, "name": Path(v).stem[:200] or "user"}, info)


def lattice_strain_output(value) -> dict:
    """What the output case.toml's [material] holds for a ``lattice_strain`` value: {} for None,
    else the table itself (a shipped name expanded, a, c in A), so that reloading it gives the
    same strains."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"lattice_strain": lattice_table_values(resolve_lattice_strain(value))}
    return {"lattice_strain": value.model_dump(mode="json", exclude_none=True)}


#: the type of ``[material] lattice_strain``: a shipped name or an inline table (a CSV path is
#: read into a table while the case is read)
LatticeStrainKey = Annotated[Optional[Union[str, LatticeTableSpec]], BeforeValidator(lattice_strain_input)]
