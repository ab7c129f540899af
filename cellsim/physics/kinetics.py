r"""Butler–Volmer kinetics at particle/electrolyte interfaces (DESIGN.md §3).

Insertion rate j [mol m-2 s-1], positive into the particle:

    eta = phi_s - phi_e - U(x) - Omega sigma_h / F
    j   = (i0 / F) [exp(-alpha_c F eta / (R T)) - exp(alpha_a F eta / (R T))]
    i0  = F k c_e^alpha_a (c_max - c_s)^alpha_a c_s^alpha_c

so a negative overpotential drives insertion, and hydrostatic tension (sigma_h > 0)
lowers eta, i.e. raises the effective equilibrium potential and promotes insertion.
All functions accept numpy arrays or UFL expressions.
"""

from __future__ import annotations

import math

from ..materials import _math as m
from ..materials.base import FARADAY, R_GAS


def exchange_current_density(k, c_e, c_s, c_max, alpha_a=0.5, alpha_c=0.5):
    """i0 = F k c_e^alpha_a (c_max - c_s)^alpha_a c_s^alpha_c  [A m-2]."""
    return FARADAY * k * c_e**alpha_a * (c_max - c_s) ** alpha_a * c_s**alpha_c


def overpotential(phi_s, phi_e, ocp, sigma_h=0.0, omega=0.0):
    """eta = phi_s - phi_e - U - Omega sigma_h / F  [V]."""
    return phi_s - phi_e - ocp - omega * sigma_h / FARADAY


def insertion_flux(eta, i0, temperature, alpha_a=0.5, alpha_c=0.5):
    """Butler–Volmer insertion rate j [mol m-2 s-1] (positive into the particle)."""
    f = FARADAY / (R_GAS * temperature)
    return i0 / FARADAY * (m.exp(-alpha_c * f * eta) - m.exp(alpha_a * f * eta))


def overpotential_for_flux(j, i0, temperature, alpha_a=0.5, alpha_c=0.5, max_step=0.1, tol=1e-12) -> float:
    """The overpotential eta [V] at which :func:`insertion_flux` equals the rate j (scalars).

    Newton on the monotone Butler–Volmer curve from eta = 0, each update limited to
    ``max_step`` volts. Used for the uniform-surface potential predictors of the models.
    """
    f = FARADAY / (R_GAS * temperature)
    eta = 0.0
    for _ in range(100):
        g = float(insertion_flux(eta, i0, temperature, alpha_a, alpha_c)) - j
        dg = -i0 / FARADAY * f * (alpha_c * math.exp(-alpha_c * f * eta) + alpha_a * math.exp(alpha_a * f * eta))
        step = g / dg
        eta -= max(min(step, max_step), -max_step)
        if abs(step) < tol:
            break
    return eta
