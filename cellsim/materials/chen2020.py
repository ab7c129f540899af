"""LG M50 cell materials from Chen et al. (2020), mechanics from O'Kane et al. (2022).

Electrochemistry: C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage,
E. Kendrick, "Development of Experimental Techniques for Parameterization of Multi-scale
Lithium-ion Battery Models", J. Electrochem. Soc. 167 (2020) 080534,
doi:10.1149/1945-7111/ab9050. OCP fits, diffusivities, maximum concentrations, radii,
exchange-current constants and stoichiometry limits as published there.

Mechanics (partial molar volume, Young's modulus, Poisson's ratio): S. E. J. O'Kane et al.,
"Lithium-ion battery degradation: how to model it", Phys. Chem. Chem. Phys. 24 (2022)
7909-7922, doi:10.1039/D2CP00417H (graphite after Ai et al. 2020, J. Electrochem. Soc. 167
013512; NMC811 as used there).

Rate constants k follow DESIGN.md: i0 = F k c_e^0.5 (c_max - c)^0.5 c^0.5, so
k = m_ref / F with Chen's m_ref [(A m-2)(m3 mol-1)^1.5].
"""

from __future__ import annotations

from . import _math as m
from .base import FARADAY, ActiveMaterial, constant_function

CITATION = "Chen et al., J. Electrochem. Soc. 167 (2020) 080534, doi:10.1149/1945-7111/ab9050"
MECH_CITATION = "O'Kane et al., Phys. Chem. Chem. Phys. 24 (2022) 7909, doi:10.1039/D2CP00417H"


def graphite_ocp(x):
    """LG M50 graphite OCP [V] vs Li/Li+ (Chen 2020, eq. for U_n, fit valid 0 < x < 1)."""
    return (
        1.9793 * m.exp(-39.3631 * x)
        + 0.2482
        - 0.0909 * m.tanh(29.8538 * (x - 0.1234))
        - 0.04478 * m.tanh(14.9159 * (x - 0.2769))
        - 0.0205 * m.tanh(30.4444 * (x - 0.6103))
    )


def nmc811_ocp(x):
    """LG M50 NMC811 OCP [V] vs Li/Li+ (Chen 2020, fit valid 0.25 < x < 1)."""
    return (
        -0.8090 * x
        + 4.4875
        - 0.0428 * m.tanh(18.5138 * (x - 0.5542))
        - 17.7326 * m.tanh(15.7890 * (x - 0.3117))
        + 17.5842 * m.tanh(15.9308 * (x - 0.3120))
    )


GRAPHITE = ActiveMaterial(
    name="graphite_chen2020",
    citation=CITATION,
    c_max=33133.0,
    ocp=graphite_ocp,
    diffusivity=constant_function(3.3e-14),
    rate_constant=6.48e-7 / FARADAY,
    exchange_current_activation_energy=35000.0,  # Chen et al. (2020), as in PyBaMM's Chen2020 set
    x_0=0.0279,
    x_100=0.9014,
    partial_molar_volume=3.1e-6,
    youngs_modulus=15e9,
    poisson_ratio=0.3,
    c_ref=0.0,
    electronic_conductivity=215.0,
    mechanics_citation=MECH_CITATION,
    notes="LG M50 negative electrode; radius in the paper 5.86 um.",
)

NMC811 = ActiveMaterial(
    name="nmc811_chen2020",
    citation=CITATION,
    c_max=63104.0,
    ocp=nmc811_ocp,
    diffusivity=constant_function(4.0e-15),
    rate_constant=3.42e-6 / FARADAY,
    exchange_current_activation_energy=17800.0,  # Chen et al. (2020), as in PyBaMM's Chen2020 set
    x_0=0.9084,
    x_100=0.2661,
    partial_molar_volume=1.25e-5,
    youngs_modulus=375e9,
    poisson_ratio=0.2,
    c_ref=0.0,
    electronic_conductivity=0.18,
    mechanics_citation=MECH_CITATION,
    notes="LG M50 positive electrode; radius in the paper 5.22 um.",
)
