r"""The external circuit: how a model's current or voltage is controlled.

Single particle (:class:`ParticlePotential`): the particle potential phi [V vs the bath]
is one global unknown. Its equation is the current balance (CC, rest)

    F int_A j dA - I_app = 0                                        [A],

or the held potential (CV), phi - V_set = 0 (scaled to amperes by I_ref F/(R T)).

Half-cell (:class:`Collector`): the collector is an equipotential at the cell voltage V;
every contact of the electrode solid with it passes i . n = G_cc (phi - V) (current
leaving the solid). V is one global unknown with the equation (CC, rest)

    sum_contacts int G_cc (phi - V) dA = I_app = i_app A            (i_app > 0: discharge)

or (CV) V = V_set. The current balance is written as -(collector current - I_app), so
that the linearised potential block is symmetric (d/dV = +G A on the diagonal, -G to the
contact dofs, as in their own rows).
"""

from __future__ import annotations

from ..materials.base import FARADAY, R_GAS
from .term import Term


class ParticlePotential(Term):
    """Current or potential control of a particle in a bath; block ``phi`` (real)."""

    owns = ("phi",)

    def __init__(self, kinetics, ds, dx, volume, I_app, V_set, cv, I_ref):
        self.kin, self.ds, self.dx, self.volume = kinetics, ds, dx, volume
        self.I_app, self.V_set, self.cv, self.I_ref = I_app, V_set, cv, I_ref

    def residual(self, m):
        q = m.v["phi"]
        self.kin.build(m)  # the reaction rate, whatever the order of the terms
        cc = FARADAY * self.kin.j * q * self.ds - (1.0 / self.volume) * self.I_app * q * self.dx
        g = self.I_ref * FARADAY / (R_GAS * m.T)  # A per volt
        cv = (g / self.volume) * (m.q("phi") - self.V_set) * q * self.dx
        return {"phi": (1 - self.cv) * cc + self.cv * cv}


class Collector(Term):
    """Contacts of solid potential blocks with the collector, and the cell-voltage block ``V``.

    ``contacts``: [(block, measure, restricted)] or [(block, measure, restricted, factor)] with
    ``factor(m)`` a UFL expression (already restricted) that scales G on that contact (a
    damaged collector bond); ``phi_ref``: the reference potential the
    stored potentials are relative to; ``ds_cross``: a measure whose area is the
    cross-section (the applied current is i_app times it).
    """

    owns = ("V",)

    def __init__(self, contacts, G, i_app, V_set, cv, phi_ref, ds_cross):
        self.contacts, self.G, self.i_app, self.V_set, self.cv = list(contacts), G, i_app, V_set, cv
        self.phi_ref, self.ds_cross = phi_ref, ds_cross
        self.reads = tuple(c[0] for c in self.contacts)

    def residual(self, m):
        V, r_V = m.u["V"], m.v["V"]
        rows = {}
        I_cc = ctrl_cc = ctrl_cv = 0
        for block, meas, restricted, *factor in self.contacts:
            r = (lambda f: f("+")) if restricted else (lambda f: f)
            G = self.G * factor[0](m) if factor else self.G
            i_n = G * (r(m.u[block]) - r(V))  # current density leaving the solid into the collector
            rows[block] = rows.get(block, 0) + i_n * r(m.v[block]) * meas
            I_cc = I_cc + i_n * meas
            ctrl_cc = ctrl_cc + i_n * r(r_V) * meas
            ctrl_cv = ctrl_cv + self.G * (r(V) + self.phi_ref - self.V_set) * r(r_V) * meas
        ctrl_cc = ctrl_cc - self.i_app * r_V * self.ds_cross
        self.I_cc = I_cc  # collector current [A] (a UFL form), for diagnostics
        rows["V"] = -(1 - self.cv) * ctrl_cc + self.cv * ctrl_cv
        return rows


__all__ = ["ParticlePotential", "Collector"]
