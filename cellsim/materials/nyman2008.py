"""LiPF6 in EC:EMC (3:7 by weight) electrolyte, as used by Chen et al. (2020).

Sources
-------
[Nyman2008]
    A. Nyman, M. Behm, G. Lindbergh, "Electrochemical characterisation and modelling of
    the mass transport phenomena in LiPF6-EC-EMC electrolyte", Electrochimica Acta 53
    (2008) 6356-6365. Fits of conductivity, salt diffusivity and cation transference
    number against salt concentration at 25 degC (no temperature dependence given).
[Chen2020]
    C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick,
    "Development of experimental techniques for parameterization of multi-scale
    lithium-ion battery models", J. Electrochem. Soc. 167 (2020) 080534. Uses the
    [Nyman2008] kappa(c_e) and D_e(c_e), a constant transference number t+ = 0.2594 and a
    thermodynamic factor of 1 (the values PyBaMM's ``Chen2020`` parameter set carries).

All functions take the salt concentration ``c_e`` in mol m-3 (the fits use
x = c_e / (1000 mol m-3), i.e. mol dm-3) and an optional temperature ``T`` in K, which is
accepted for a uniform signature and ignored ([Nyman2008] gives no temperature
dependence). They are written with ``+ - * **`` only, so the same function evaluates a
float, a NumPy array or a UFL expression (a DOLFINx Function inside a variational form).

Conductivity [S m-1]   kappa(c) = 0.1297 x^3 - 2.51 x^1.5 + 3.329 x
Diffusivity  [m2 s-1]  D(c)     = 8.794e-11 x^2 - 3.972e-10 x + 4.862e-10
Transference number    t+(c)    = 0.4492 - 0.4717 x + 0.4106 x^2 - 0.1287 x^3   (Nyman fit)
                       t+       = 0.2594                                     (Chen2020;
                                  equal to the Nyman fit at x = 1 to 4 digits)
Thermodynamic factor   1 + dln f/dln c = 1                                   (Chen2020)

Validity: [Nyman2008] measured roughly 0.2 to 2 mol dm-3. Outside, the polynomials are
extrapolations: D stays positive for every c (its discriminant is negative), kappa is
positive for c > 0 with kappa(0) = 0 and a maximum of 0.95 S m-1 near 0.96 mol dm-3; the
Nyman t+ fit decreases from 0.449 (x = 0) to 0.119 (x = 2) and turns negative beyond about
x = 2.25, so do not use that variant above 2 mol dm-3. Nothing here clips; callers keep
c_e > 0 (ln c_e appears in the flux law).

The constants below were checked against the published fits and against the values
PyBaMM's ``Chen2020`` parameter set evaluates (see tests/verification/test_electrolyte_mms.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

#: Reference temperature of the fits [K].
T_REF = 298.15
#: Initial / reference salt concentration in Chen2020 [mol m-3].
C_E_INITIAL_CHEN2020 = 1000.0
#: Constant cation transference number used by Chen2020 [-].
TPLUS_CHEN2020 = 0.2594

_C_UNIT = 1000.0  # mol m-3 per mol dm-3


def conductivity(c_e: Any, T: Any = None) -> Any:
    """Ionic conductivity kappa(c_e) [S m-1] of LiPF6 in EC:EMC 3:7 [Nyman2008].

    kappa = 0.1297 x^3 - 2.51 x^1.5 + 3.329 x, x = c_e / (1000 mol m-3).
    """
    x = c_e / _C_UNIT
    return 0.1297 * x**3 - 2.51 * x**1.5 + 3.329 * x


def diffusivity(c_e: Any, T: Any = None) -> Any:
    """Salt diffusivity D_e(c_e) [m2 s-1] of LiPF6 in EC:EMC 3:7 [Nyman2008].

    D_e = 8.794e-11 x^2 - 3.972e-10 x + 4.862e-10, x = c_e / (1000 mol m-3).
    """
    x = c_e / _C_UNIT
    return 8.794e-11 * x**2 - 3.972e-10 * x + 4.862e-10


def transference_number_nyman2008(c_e: Any, T: Any = None) -> Any:
    """Cation transference number t+(c_e) [-], concentration-dependent fit of [Nyman2008].

    t+ = 0.4492 - 0.4717 x + 0.4106 x^2 - 0.1287 x^3, x = c_e / (1000 mol m-3).
    At x = 1 this gives 0.2594, the constant that [Chen2020] uses.
    """
    x = c_e / _C_UNIT
    return 0.4492 - 0.4717 * x + 0.4106 * x**2 - 0.1287 * x**3


def transference_number(c_e: Any, T: Any = None) -> Any:
    """Cation transference number of [Chen2020]: constant t+ = 0.2594 [-].

    Returns ``0 * c_e + 0.2594`` so that the result has the type and shape of ``c_e``.
    """
    return 0.0 * c_e + TPLUS_CHEN2020


def thermodynamic_factor(c_e: Any, T: Any = None) -> Any:
    """Thermodynamic factor 1 + dln f/dln c_e [-] of [Chen2020]: 1 (ideal solution)."""
    return 0.0 * c_e + 1.0


@dataclass(frozen=True)
class ElectrolyteProperties:
    """Concentration-dependent transport properties of a binary-salt electrolyte.

    Each entry is a callable ``f(c_e)`` of the salt concentration [mol m-3] that works on
    floats, NumPy arrays and UFL expressions.

    conductivity           kappa(c_e)             [S m-1]
    diffusivity            D_e(c_e)               [m2 s-1]
    transference_number    t+(c_e)                [-]
    thermodynamic_factor   1 + dln f/dln c_e      [-]
    """

    conductivity: Callable[[Any], Any]
    diffusivity: Callable[[Any], Any]
    transference_number: Callable[[Any], Any]
    thermodynamic_factor: Callable[[Any], Any]
    name: str = "custom"


def properties(variant: str = "Chen2020") -> ElectrolyteProperties:
    """The LiPF6 EC:EMC property set.

    ``variant="Chen2020"`` (default): Nyman kappa and D_e, t+ = 0.2594, thermodynamic factor 1.
    ``variant="Nyman2008"``: as Chen2020 but with the concentration-dependent t+(c_e) fit.
    """
    if variant == "Chen2020":
        tp = transference_number
    elif variant == "Nyman2008":
        tp = transference_number_nyman2008
    else:
        raise ValueError(
            f"electrolyte property variant = {variant!r} is not known; allowed: 'Chen2020', 'Nyman2008'"
        )
    return ElectrolyteProperties(
        conductivity=conductivity,
        diffusivity=diffusivity,
        transference_number=tp,
        thermodynamic_factor=thermodynamic_factor,
        name=f"LiPF6 in EC:EMC 3:7 ({variant})",
    )
