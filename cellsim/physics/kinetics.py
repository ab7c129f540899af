r"""Butler–Volmer kinetics at particle/electrolyte interfaces (DESIGN.md §3).

Insertion rate j [mol m-2 s-1], positive into the particle:

    eta = phi_s - phi_e - U(x) - Omega sigma_h / F
    j   = (i0 / F) [exp(-alpha_c F eta / (R T)) - exp(alpha_a F eta / (R T))]
    i0  = F k c_e^alpha_a (c_max - c_s)^alpha_a c_s^alpha_c  exp(E_r/R (1/T_ref - 1/T))

(the Arrhenius factor of the material's activation energy E_r, 1 at T_ref = 298.15 K), so a negative overpotential drives insertion, and hydrostatic tension (sigma_h > 0)
lowers eta, i.e. raises the effective equilibrium potential and promotes insertion.
All functions accept numpy arrays or UFL expressions.
"""

from __future__ import annotations

import math

from ..materials import _math as m
from ..materials.base import FARADAY, R_GAS, arrhenius
from .term import Term



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


# ---------------------------------------------------------------------------------------
# the term
# ---------------------------------------------------------------------------------------
#: stoichiometry clip inside i0 and U (keeps the kinetics defined while Newton iterates)
X_CLIP = 1e-9
#: smallest salt concentration used inside i0 [mol m-3]
CE_CLIP = 1e-6


def _restrict(side):
    return (lambda f: f(side)) if side else (lambda f: f)


def _other(side: str) -> str:
    return "-" if side == "+" else "+"


class ButlerVolmer(Term):
    """Butler–Volmer reaction on a particle surface, written once for every model.

    The solid side ("+" of an interface, or the particle of a boundary measure) has the
    concentration block ``c_s`` and, unless the potential is prescribed, the potential
    block ``phi_s``; the electrolyte side is either resolved (blocks ``c_e``, ``phi_e``,
    restricted to "-") or a bath (``bath_ce`` [mol m-3] at phi_e = 0). ``sigma_h(m)``
    gives the hydrostatic stress on the surface (or None); ``mech_potential(m)`` instead the
    mechanical part of the chemical potential w = sigma : d eps_ch/dc [J mol-1] (eta then has
    - w / F in place of - Omega sigma_h / F; equal for an isotropic chemical strain).
    ``flux`` (a UFL constant) replaces the kinetics by a prescribed insertion rate.

    ``solid_side``: the restriction of the solid on an interface ("+", the default; "-" for
    the second face of a crack whose solid is on both sides; the electrolyte then on "+").

    Contributions (insertion rate j > 0 into the particle): ``-j w`` to c_s [mol s-1],
    ``-F j w`` to phi_s [A] (unless ``solid_charge_row`` is False), ``+j v`` to c_e [mol s-1] and ``+F j v`` to phi_e [A]
    (lithium and charge leaving the electrolyte enter the particle).
    """

    #: the solid's side of an interface measure (the electrolyte's is the other)
    solid_side = "+"

    def __init__(self, material, measure, c_s="c_s", phi_s=None, c_e=None, phi_e=None, bath_ce=None,
                 sigma_h=None, interface=False, flux=None, solid_charge_row=True, mech_potential=None):
        self.mat, self.measure = material, measure
        self.c_s, self.phi_s, self.c_e, self.phi_e = c_s, phi_s, c_e, phi_e
        self.bath_ce, self.sigma_h, self.interface, self.flux = bath_ce, sigma_h, interface, flux
        self.mech_potential = mech_potential
        # False: the potential is a global unknown whose row is the current balance (particle)
        self.solid_charge_row = solid_charge_row
        self.reads = tuple(b for b in (c_s, phi_s, c_e, phi_e) if b)

    def _sides(self):
        """(solid, electrolyte) restrictions (identities on a boundary measure)."""
        if not self.interface:
            return _restrict(None), _restrict(None)
        return _restrict(self.solid_side), _restrict(_other(self.solid_side))

    def build(self, m):
        """Define ``self.j`` [mol m-2 s-1], ``self.eta`` [V], ``self.xs`` (surface stoichiometry),
        once: terms that read the rate (the particle's current balance) call it too."""
        if getattr(self, "j", None) is not None:
            return
        import ufl

        m_min, m_max = ufl.min_value, ufl.max_value
        mat = self.mat
        rs, re_ = self._sides()
        xs = rs(m.q(self.c_s)) / mat.c_max
        xs_c = m_min(m_max(xs, X_CLIP), 1.0 - X_CLIP)
        self.xs = xs_c
        if self.flux is not None:
            self.j, self.eta = self.flux, None
            return
        ce = m_max(re_(m.q(self.c_e)), CE_CLIP) if self.c_e else self.bath_ce
        # the temperature dependence of the exchange current (exactly 1 at T_ref) goes into the
        # rate constant, one number: the form's structure does not depend on T
        f_T = arrhenius(mat.exchange_current_activation_energy, float(m.T), mat.reference_temperature)
        i0 = exchange_current_density(mat.rate_constant * f_T, ce, xs_c * mat.c_max, mat.c_max,
                                      mat.alpha_a, mat.alpha_c)
        phi_e = re_(m.q(self.phi_e)) if self.phi_e else 0.0
        sh = self.sigma_h(m) if self.sigma_h is not None else 0.0
        if self.mech_potential is not None:  # w / F = "Omega sigma_h / F" of an anisotropic strain
            sh, om = self.mech_potential(m), 1.0
        else:
            om = mat.partial_molar_volume
        self.eta = overpotential(rs(m.q(self.phi_s)), phi_e, mat.ocp(xs_c), sh, om)
        self.j = insertion_flux(self.eta, i0, m.T, mat.alpha_a, mat.alpha_c)

    def residual(self, m):
        self.build(m)
        rs, re_ = self._sides()
        j, dA = self.j, self.measure
        rows = {self.c_s: -m.live * j * rs(m.v[self.c_s]) * dA}
        if self.phi_s and self.solid_charge_row:
            rows[self.phi_s] = -FARADAY * j * rs(m.v[self.phi_s]) * dA
        if self.c_e:
            rows[self.c_e] = m.live * j * re_(m.v[self.c_e]) * dA
        if self.phi_e:
            rows[self.phi_e] = FARADAY * j * re_(m.v[self.phi_e]) * dA
        return rows
