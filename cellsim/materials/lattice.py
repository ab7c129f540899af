r"""Anisotropic lattice (chemical) strain of layered oxides as a function of lithium content.

A layered oxide (R-3m, NMC) changes its hexagonal lattice parameters a (in the transition-
metal layers) and c (across them) differently as lithium leaves it. In crystal axes the
chemical strain of a grain is

    eps_ch^crystal(x) = diag(eps_a(x), eps_a(x), eps_c(x)),
    eps_a(x) = a(x)/a(x_ref) - 1,   eps_c(x) = c(x)/c(x_ref) - 1,

x the stoichiometry (lithium fraction, c/c_max) and x_ref the stress-free state; in sample
axes eps_ch = R eps_ch^crystal R^T, R the grain's rotation (crystal to sample axes, as
``info['grain_orientations']`` of a secondary particle records it). Its trace is the
volumetric chemical strain; an isotropic material with partial molar volume Omega has
eps_a = eps_c = Omega c_max (x - x_ref)/3.

:class:`LatticeStrain` holds a table of a(x), c(x) and interpolates it piecewise linearly
(numpy and UFL give the same numbers). The NMC811 table follows the operando X-ray
diffraction of LiNi0.8Co0.1Mn0.1O2 by Kondrakov et al., J. Phys. Chem. C 121 (2017) 3286
(Fig. 2; values read from the figure to about 0.005 A and NOT re-checked against the
paper's data here): a falls monotonically as lithium leaves, c first grows (the O-O
repulsion across the emptied lithium layers) and then collapses below about 40 % lithium
(the collapse Jousseaume et al., Energy Environ. Sci. 17 (2024) 2753, find universal in
Ni-rich NMC). Over 3.0-4.3 V the unit-cell volume shrinks by about 5 %.

A case names a shipped table, gives its own inline or as a CSV file (``[material]
lattice_strain``, docs/multiscale.md "Your own lattice strains and orientations"). User
tables give the lattice parameters in ångström (1 A = 1e-10 m); only the ratios a/a(x_ref),
c/c(x_ref) enter the strain. :func:`resolve_lattice_strain` is the one place that turns
any of these into a :class:`LatticeStrain`; :func:`lattice_table_problems` lists what is
wrong with a table (the case check), :func:`read_lattice_csv` reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatticeStrain:
    """Lattice parameters a(x), c(x) [m] tabulated at stoichiometries ``x`` (increasing)."""

    name: str
    citation: str
    x: tuple
    a: tuple
    c: tuple
    #: stoichiometry of the stress-free lattice (e.g. the as-made, fully lithiated state)
    x_ref: float = 1.0

    def __post_init__(self):
        x = np.asarray(self.x, float)
        if x.ndim != 1 or len(x) < 2 or np.any(np.diff(x) <= 0):
            raise ValueError(f"{self.name}: x must increase strictly (got {self.x})")
        if len(self.a) != len(x) or len(self.c) != len(x):
            raise ValueError(f"{self.name}: a and c need one value per x ({len(x)})")
        if not x[0] <= self.x_ref <= x[-1]:
            raise ValueError(f"{self.name}: x_ref = {self.x_ref} outside the table [{x[0]}, {x[-1]}]")

    def _ref(self):
        return (float(np.interp(self.x_ref, self.x, self.a)), float(np.interp(self.x_ref, self.x, self.c)))

    def strains(self, x):
        """(eps_a, eps_c) at stoichiometry x (numpy; clamped to the table's ends)."""
        a0, c0 = self._ref()
        x = np.asarray(x, float)
        return np.interp(x, self.x, self.a) / a0 - 1.0, np.interp(x, self.x, self.c) / c0 - 1.0

    def volumetric(self, x):
        """Volumetric chemical strain tr(eps_ch) = 2 eps_a + eps_c (small strain)."""
        ea, ec = self.strains(x)
        return 2 * ea + ec

    def ufl_strains(self, x):
        """(eps_a, eps_c) as UFL expressions of a UFL stoichiometry x: the same piecewise-linear
        interpolation as :meth:`strains` (constant beyond the ends)."""
        a0, c0 = self._ref()
        return (_ufl_interp(x, self.x, np.asarray(self.a) / a0 - 1.0),
                _ufl_interp(x, self.x, np.asarray(self.c) / c0 - 1.0))


def _ufl_interp(x, xs, ys):
    import ufl

    xs, ys = [float(v) for v in xs], [float(v) for v in ys]
    out = ys[-1]
    # from the last interval down: x < x_{i+1} selects interval i (or below: the first value)
    for i in range(len(xs) - 2, -1, -1):
        slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
        out = ufl.conditional(ufl.lt(x, xs[i + 1]), ys[i] + slope * (x - xs[i]), out)
    return ufl.conditional(ufl.lt(x, xs[0]), ys[0], out)


def chemical_strain_tensor(R, eps_a, eps_c):
    """eps_ch = R diag(eps_a, eps_a, eps_c) R^T (UFL): R a 3x3 UFL tensor (e.g. a DG0 tensor
    Function holding each grain's rotation) or a numpy array."""
    import ufl

    D = ufl.as_matrix([[eps_a, 0, 0], [0, eps_a, 0], [0, 0, eps_c]])
    Ru = ufl.as_matrix(np.asarray(R).tolist()) if isinstance(R, np.ndarray) else R
    return Ru * D * Ru.T


#: Li_x Ni0.8 Co0.1 Mn0.1 O2 (see the module docstring for the source and its accuracy)
NMC811_KONDRAKOV2017 = LatticeStrain(
    name="nmc811_kondrakov2017",
    citation=("A. O. Kondrakov et al., J. Phys. Chem. C 121 (2017) 3286 (operando XRD of NCM811; "
              "values read from Fig. 2, approximate); c-axis collapse below ~40 % Li: "
              "T. Jousseaume et al., Energy Environ. Sci. 17 (2024) 2753"),
    x=(0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00),
    a=(2.815e-10, 2.818e-10, 2.823e-10, 2.830e-10, 2.838e-10, 2.847e-10, 2.856e-10, 2.864e-10, 2.872e-10),
    c=(14.03e-10, 14.26e-10, 14.44e-10, 14.46e-10, 14.42e-10, 14.36e-10, 14.30e-10, 14.25e-10, 14.20e-10),
    x_ref=1.0,
)

LATTICE_STRAINS = {NMC811_KONDRAKOV2017.name: NMC811_KONDRAKOV2017}

#: user tables: lattice parameters in angstrom [A]; 1 A in metres
ANGSTROM = 1e-10
#: user tables: at most this many points (each is one UFL conditional), parameters within [0.5, 100] A
MAX_POINTS, MIN_ANGSTROM, MAX_ANGSTROM = 200, 0.5, 100.0


def _short(v, n: int = 80) -> str:
    """repr of a value, at most n characters (messages never echo an unbounded value)."""
    text = repr(v.tolist() if isinstance(v, np.ndarray) else v)
    return text if len(text) <= n else text[: n - 3] + "..."


def lattice_table_problems(x, a, c, x_ref) -> list[str]:
    """What is wrong with a user table (lattice parameters a, c in A at stoichiometries x),
    one line per problem naming the key, its value and what is allowed; [] if it is valid."""
    out = []
    try:
        xs, av, cv = (np.asarray(v, float) for v in (x, a, c))
    except (TypeError, ValueError):
        return ["x, a, c: lists of numbers"]
    if xs.ndim != 1 or not 2 <= len(xs) <= MAX_POINTS:
        return [f"x: {len(np.atleast_1d(xs))} values; allowed: 2 to {MAX_POINTS} stoichiometries"]
    if np.any(np.diff(xs) <= 0):
        i = int(np.argmax(np.diff(xs) <= 0))
        out.append(f"x = {_short(xs)}: x[{i + 1}] = {xs[i + 1]} is not above x[{i}] = {xs[i]}; allowed: strictly "
                   "increasing stoichiometries")
    if xs[0] < 0 or xs[-1] > 1:
        out.append(f"x = {_short(xs)}: outside [0, 1]; allowed: stoichiometries (lithium fraction c/c_max) in [0, 1]")
    for key, v in (("a", av), ("c", cv)):
        if v.ndim != 1 or len(v) != len(xs):
            out.append(f"{key}: {len(np.atleast_1d(v))} values; allowed: one per x ({len(xs)})")
        elif np.any(v < MIN_ANGSTROM) or np.any(v > MAX_ANGSTROM):
            bad = float(v[(v < MIN_ANGSTROM) | (v > MAX_ANGSTROM)][0])
            out.append(f"{key} = {bad:g}: allowed: lattice parameters in angstrom, {MIN_ANGSTROM:g} <= {key} <= "
                       f"{MAX_ANGSTROM:g} "
                       "(NMC811: a ~ 2.87, c ~ 14.2); metres would read 2.87e-10")
    if not out and not xs[0] <= x_ref <= xs[-1]:
        out.append(f"x_ref = {x_ref}: outside the table; allowed: {xs[0]} <= x_ref <= {xs[-1]}")
    return out


def read_lattice_csv(path) -> dict:
    """x, a, c from a CSV file: a header row naming the columns x, a, c (a unit in brackets
    after the name is allowed, e.g. ``a [A]``; other columns are ignored), then one row per
    stoichiometry; lines starting with # are comments. Raises ValueError naming the file."""
    import csv
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the lattice table file {_short(str(p))}: {exc.__class__.__name__}") from None
    rows = [r for r in csv.reader(ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))]
    if not rows:
        raise ValueError(f"{_short(str(p))}: empty; allowed: a header row 'x, a, c' (a, c in A) and one row per x")
    head = [h.split("[")[0].strip().lower() for h in rows[0]]
    miss = [k for k in ("x", "a", "c") if k not in head]
    if miss:
        raise ValueError(f"{_short(str(p))}: header {_short(rows[0], 60)} lacks column(s) {miss}; allowed: a header row naming x, a, c "
                         "(a, c in A)")
    cols = {k: head.index(k) for k in ("x", "a", "c")}
    out = {k: [] for k in cols}
    for n, r in enumerate(rows[1:], start=2):
        try:
            for k, j in cols.items():
                out[k].append(float(r[j]))
        except (IndexError, ValueError):
            raise ValueError(f"{_short(str(p))}: data row {n} = {_short(r, 60)}: allowed: numbers in the columns x, a, c") from None
    return out


def resolve_lattice_strain(value, case_dir=None):
    """The :class:`LatticeStrain` of a ``[material] lattice_strain`` value: None; a shipped
    name (:data:`LATTICE_STRAINS`, looked up now); a CSV file path (relative to ``case_dir``);
    or a table with attributes or keys x, a, c [A], x_ref, name, citation (the case's
    validated inline table). Raises ValueError (or KeyError for an unknown name)."""
    if value is None or isinstance(value, LatticeStrain):
        return value
    if isinstance(value, str):
        if value in LATTICE_STRAINS:
            return LATTICE_STRAINS[value]
        from pathlib import Path

        p = Path(value).expanduser()
        if not p.is_absolute() and case_dir is not None:
            p = Path(case_dir) / p
        value = {**read_lattice_csv(p), "citation": f"table read from {p.resolve()}", "name": p.stem}
    get = value.get if isinstance(value, dict) else (lambda k, d=None: getattr(value, k, d))
    x, a, c, x_ref = get("x"), get("a"), get("c"), float(get("x_ref", 1.0) if get("x_ref") is not None else 1.0)
    problems = lattice_table_problems(x, a, c, x_ref)
    if problems:
        raise ValueError("; ".join(problems))
    return LatticeStrain(name=str(get("name") or "user"), citation=str(get("citation") or ""),
                         x=tuple(float(v) for v in x), a=tuple(float(v) * ANGSTROM for v in a),
                         c=tuple(float(v) * ANGSTROM for v in c), x_ref=x_ref)


def lattice_table_values(table: LatticeStrain) -> dict:
    """A table as the keys of an inline ``lattice_strain`` table (a, c in A): what the output
    case.toml holds, so that reloading it gives the same strains."""
    def ang(vs):  # 12 digits: 2.872e-10 m is written 2.872, not 2.8720000000000003
        return [float(f"{float(v) / ANGSTROM:.12g}") for v in vs]

    return {"x": [float(v) for v in table.x], "a": ang(table.a), "c": ang(table.c), "x_ref": float(table.x_ref),
            "name": table.name, "citation": table.citation}
