"""Lithium-metal counter electrode of Xu et al. (2019), as used for half-cells.

S. Xu, K.-H. Chen, N. P. Dasgupta, J. B. Siegel, A. G. Stefanopoulou, "Evolution of Dead
Lithium Growth in Lithium Metal Batteries: Experimentally Validated Model of the Apparent
Capacity Loss", J. Electrochem. Soc. 166 (2019) A3456-A3463, doi:10.1149/2.0991914jes.

Exchange-current density of lithium plating/stripping in LiPF6 carbonate electrolyte::

    i0 = m_ref c_Li^0.7 c_e^0.3,   m_ref = 3.5e-8 F  [(A m-2)(mol m-3)^-1],
    c_Li = 1 / V_Li,               V_Li = 1.3e-5 m3 mol-1 (partial molar volume of Li metal)

(about 71 A m-2 at c_e = 1000 mol m-3). These are the values PyBaMM's ``Xu2019`` half-cell
parameter set carries. The lithium metal is the potential reference (phi_s = 0, U = 0),
so its Butler-Volmer overpotential is eta = -phi_e (see cellsim.physics.electrolyte).
"""

from __future__ import annotations

from .base import FARADAY

CITATION = "Xu et al., J. Electrochem. Soc. 166 (2019) A3456, doi:10.1149/2.0991914jes"

#: Partial molar volume of lithium metal [m3 mol-1].
LITHIUM_MOLAR_VOLUME = 1.3e-5
#: Lithium metal concentration c_Li = 1/V_Li [mol m-3].
C_LI = 1.0 / LITHIUM_MOLAR_VOLUME
#: Rate constant m_ref [(A m-2)(mol m-3)^-1].
M_REF = 3.5e-8 * FARADAY


def exchange_current_density(c_e, T=None):
    """i0 = m_ref c_Li^0.7 c_e^0.3 [A m-2]; c_e in mol m-3 (float, array or UFL)."""
    return M_REF * C_LI**0.7 * c_e**0.3
