"""Active-material parameter set: electrochemistry, transport and mechanics of a particle."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

R_GAS = 8.314462618  # J mol-1 K-1
FARADAY = 96485.33212  # C mol-1


@dataclass(frozen=True)
class ActiveMaterial:
    """Parameters of an intercalation material (SI units).

    ``ocp(x)`` and ``diffusivity(x)`` take the stoichiometry x = c/c_max and accept numpy
    arrays or UFL expressions. Butler–Volmer exchange current density (DESIGN.md §3):
    i0 = F k c_e^alpha_a (c_max - c)^alpha_a c^alpha_c with k = ``rate_constant``
    [m^(1+3(alpha_a+alpha_c)) mol^(-(alpha_a+alpha_c)) s-1 ... i.e. m^2.5 mol^-0.5 s^-1 for 0.5/0.5].
    """

    name: str
    citation: str
    c_max: float  # mol m-3
    ocp: Callable  # V vs Li/Li+, function of x
    diffusivity: Callable  # m2 s-1, function of x
    rate_constant: float  # k in i0 = F k c_e^aa (cmax-c)^aa c^ac
    alpha_a: float = 0.5
    alpha_c: float = 0.5
    x_0: float = 0.0  # stoichiometry at 0 % state of charge of the electrode
    x_100: float = 1.0  # stoichiometry at 100 % state of charge
    partial_molar_volume: float = 0.0  # Omega, m3 mol-1
    youngs_modulus: float = 1e9  # Pa
    poisson_ratio: float = 0.3
    c_ref: float = 0.0  # stress-free concentration, mol m-3
    electronic_conductivity: float = 1.0  # S m-1
    #: Arrhenius activation energy of the exchange current [J mol-1]: i0(T) = i0(T_ref)
    #: exp(E_r/R (1/T_ref - 1/T)), T_ref = ``reference_temperature``
    exchange_current_activation_energy: float = 0.0
    reference_temperature: float = 298.15  # K
    mechanics_citation: str = ""
    notes: str = ""
    overrides: dict = field(default_factory=dict)

    def with_overrides(self, **kw) -> "ActiveMaterial":
        """A copy with some values replaced (numbers turn functions into constants)."""
        kw = {k: v for k, v in kw.items() if v is not None}
        if "diffusivity" in kw and not callable(kw["diffusivity"]):
            kw["diffusivity"] = constant_function(float(kw["diffusivity"]))
        return replace(self, overrides={**self.overrides, **kw}, **kw)


def arrhenius(activation_energy: float, temperature: float, reference: float = 298.15) -> float:
    """exp(E/R (1/T_ref - 1/T)): the factor of a rate at T against its value at T_ref."""
    import math

    if activation_energy == 0.0 or temperature == reference:
        return 1.0
    return math.exp(activation_energy / R_GAS * (1.0 / reference - 1.0 / temperature))


def constant_function(value: float) -> Callable:
    def f(x):
        return value + 0.0 * x

    f.__doc__ = f"constant {value!r}"
    f.constant_value = value
    return f
