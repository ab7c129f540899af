r"""Electronic conduction in solids and through contacts (DESIGN.md §3).

    div i = 0,   i = -sigma grad phi                    in a solid region,
    i . n = G (phi_a - phi_b)                           across a contact of conductance G
                                                        [S m-2] (n from a into b).

Weak forms (in amperes): ``int sigma grad phi . grad w dx`` in a region, and on a contact
``+int G (phi_a - phi_b) w_a dA`` for side a, ``-int G (phi_a - phi_b) w_b dA`` for side b
(current leaving a enters b). Potential differences are formed from the stored unknowns,
which share one reference potential, so a large conductance never multiplies the round-off
of a 4 V offset.
"""

from __future__ import annotations

import ufl

from .term import Term


class Conduction(Term):
    """Ohmic conduction of one potential block over a volume measure."""

    def __init__(self, unknown: str, sigma, dx):
        self.unknown, self.sigma, self.dx = unknown, sigma, dx
        self.owns = (unknown,)

    def residual(self, m):
        phi, w = m.u[self.unknown], m.v[self.unknown]
        return {self.unknown: self.sigma * ufl.inner(ufl.grad(phi), ufl.grad(w)) * self.dx}


class ContactConductance(Term):
    """Contact conductance G between potential blocks a ("+" side) and b ("-" side)."""

    def __init__(self, a: str, b: str, G, dS):
        self.a, self.b, self.G, self.dS = a, b, G, dS
        self.reads = (a, b)

    def residual(self, m):
        jump = m.u[self.a]("+") - m.u[self.b]("-")
        return {self.a: self.G * jump * m.v[self.a]("+") * self.dS,
                self.b: -self.G * jump * m.v[self.b]("-") * self.dS}


__all__ = ["Conduction", "ContactConductance"]
