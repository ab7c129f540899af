r"""Lithium transport in active particles: stress-assisted diffusion (DESIGN.md §3).

    dc/dt + div N = 0,   N = -D(x) grad c + D(x) c Omega/(R T) grad sigma_h,   x = c / c_max,
    N . n = -j  on a reactive surface (j: insertion rate, positive into the particle),

so lithium moves towards tension. Weak form with test function v (backward Euler), in
mol s-1 (the surface source is added by the kinetics term)::

    int (c - c_old)/dt v dx - int N . grad v dx  [+ int (N . n) v ds = - int j v ds]

With an anisotropic chemical strain eps_ch(c) the mechanical part of the chemical potential
is sigma : d eps_ch/dc (J mol-1; Omega sigma_h for eps_ch = Omega/3 (c - c_ref) I), and the
flux is N = -D grad c + D c/(R T) grad w with w its continuous projection (``potential``).

sigma_h is the continuous (Lagrange) projection of tr(sigma)/3 owned by the mechanics
term (:mod:`cellsim.physics.mechanics`), so that its gradient exists for any displacement
degree. Several material regions (core and coating) share one continuous concentration.
"""

from __future__ import annotations

import ufl

from ..materials.base import R_GAS
from .term import Term


def flux(c, D, omega_over_RT=0.0, grad_sigma_h=None):
    """Lithium flux N = -D grad c + D c Omega/(R T) grad sigma_h [mol m-2 s-1] (UFL)."""
    N = -D * ufl.grad(c)
    if grad_sigma_h is not None:
        N = N + D * c * omega_over_RT * grad_sigma_h
    return N


class SolidDiffusion(Term):
    """Stress-assisted diffusion of lithium in the particle regions.

    ``unknown``: the concentration block; ``pieces``: [(volume measure, ActiveMaterial)];
    ``stress``: the sigma_h block, or None (no stress-assisted flux); ``potential``: instead,
    the block of the mechanical potential w = sigma : d eps_ch/dc [J mol-1].
    """

    def __init__(self, unknown: str, pieces, stress: str | None = None, potential: str | None = None):
        self.unknown, self.pieces, self.stress, self.potential = unknown, list(pieces), stress, potential
        self.owns = (unknown,)
        self.reads = tuple(b for b in (stress, potential) if b)

    def residual(self, m):
        c, c_old, v = m.q(self.unknown), m.q_old(self.unknown), m.v[self.unknown]
        RT = R_GAS * m.T
        F = 0
        for dx, mat in self.pieces:
            D = mat.diffusivity(c / mat.c_max)
            g = ufl.grad(m.q(self.stress)) if self.stress else None
            if self.potential:
                N = flux(c, D, 1.0 / RT, ufl.grad(m.q(self.potential)))
            else:
                N = flux(c, D, mat.partial_molar_volume / RT, g)
            F = F + (c - c_old) / m.dt * v * dx - m.live * ufl.inner(N, ufl.grad(v)) * dx
        return {self.unknown: F}


__all__ = ["flux", "SolidDiffusion"]
