r"""Lithium-metal counter electrode: Butler–Volmer plating/stripping on a boundary of the
electrolyte, and the potential reference of a half-cell (DESIGN.md §3).

The metal is at phi_s = 0 with U = 0, so eta = -phi_e and the plating rate is

    j_Li = (i0/F) [exp(alpha_c F phi_e/(R T)) - exp(-alpha_a F phi_e/(R T))]   [mol m-2 s-1],

positive = plating (lithium leaves the electrolyte), negative = stripping (discharge of the
half-cell). On the lithium facets the electrolyte loses N_e . n_e = j_Li and
i_e . n_e = F j_Li, i.e. ``+j_Li v_c`` [mol s-1] and ``+F j_Li v_phi`` [A].
i0 is constant or Xu et al. (2019) (:mod:`cellsim.materials.xu2019`).
"""

from __future__ import annotations

from ..materials import xu2019
from ..materials.base import FARADAY
from . import electrolyte as el
from .kinetics import CE_CLIP
from .term import Term


class LithiumMetal(Term):
    """Plating/stripping on the boundary measure ``ds`` of the electrolyte blocks."""

    def __init__(self, spec, ds, c_e="c_e", phi_e="phi_e"):
        self.spec, self.ds, self.c_e, self.phi_e = spec, ds, c_e, phi_e
        self.reads = (c_e, phi_e)

    def residual(self, m):
        import ufl

        li = self.spec
        ce = ufl.max_value(m.q(self.c_e), CE_CLIP)
        i0 = li.exchange_current if li.exchange_current is not None else xu2019.exchange_current_density(ce)
        self.j = el.lithium_metal_flux(m.q(self.phi_e), i0, li.alpha_a, li.alpha_c, m.T)
        return {self.c_e: m.live * self.j * m.v[self.c_e] * self.ds,
                self.phi_e: FARADAY * self.j * m.v[self.phi_e] * self.ds}


__all__ = ["LithiumMetal"]
