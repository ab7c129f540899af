r"""Electrolyte: binary salt in a solvent, concentrated solution theory (Newman).

Unknowns: salt concentration c = c_e [mol m-3] and electrolyte potential phi = phi_e [V]
(measured against a lithium reference electrode). R = 8.314462618 J mol-1 K-1,
F = 96485.33212 C mol-1, T [K].

Flux laws (B = transport factor, 1 in a resolved pore, eps/tau = eps^b with Bruggeman
exponent b in a homogenised porous region such as a separator or nanoporous binder)::

    i_e = B [ -kappa(c) grad phi + 2 kappa(c) (R T / F) (1 - t+(c)) (1 + dln f/dln c) grad ln c ]
    N_e = -B D_e(c) grad c + t+(c) i_e / F                              [mol m-2 s-1]

N_e is the flux of lithium (cations) and of salt: the diffusive part plus the part carried
by migration. Balance laws::

    div i_e = 0                                   (charge, quasi-electroneutral)
    eps dc/dt + div N_e = 0                       (salt; eps = porosity, 1 in a pore)

which is DESIGN.md section 3 (eps dc/dt = div(D_e grad c) - div(t+ i_e)/F) written in
divergence form. The migration term is integrated by parts together with the diffusion
term, so the discrete scheme conserves lithium exactly and the natural boundary quantity of
the salt equation is the total lithium flux N_e . n.

Weak form (backward Euler, test functions v_c, v_phi; the salt equation is multiplied by
F so that both blocks are in amperes, see ENVIRONMENT.md)::

    F_c   = int F eps (c - c_old)/dt v_c dx - int F N_e . grad v_c dx + int F (N_e . n) v_c ds
    F_phi = - int i_e . grad v_phi dx + int (i_e . n) v_phi ds

:func:`electrolyte_residual` returns the two volume parts; boundary and interface parts are
added with :func:`boundary_flux_terms` (given outward normal fluxes) or, for an electrode
surface, :func:`electrolyte_interface_terms`.

Interface sign convention (DESIGN.md section 3), written once, here
--------------------------------------------------------------------
At an electrode/electrolyte interface the reaction rate j [mol m-2 s-1] is positive when
lithium leaves the electrolyte and enters the electrode (insertion into a particle, plating
on lithium metal). Then, with n_e the electrolyte's outward normal:

* total lithium flux out of the electrolyte     N_e . n_e = j
  (of which (1 - t+) j by diffusion, -D_e grad c . n_e = (1 - t+) j, and t+ j by migration)
* ionic current out of the electrolyte          i_e . n_e = F j

so the electrolyte residuals gain ``+F j v_c`` and ``+F j v_phi`` on the interface, and the
solid gains ``-F j w_c`` (N_s . n = -j, n from solid to electrolyte) and ``-F j w_phi``
(i_s . n = -F j): lithium and charge leaving one side enter the other. The same functions
take a volume measure for a homogenised electrode, with j replaced by the volumetric rate
a j [mol m-3 s-1].

Butler-Volmer kinetics (section "Kinetics helpers" below; the lead will move these to
cellsim/physics/kinetics.py)::

    eta = phi_s - phi_e - U
    j   = (i0/F) [exp(-alpha_c F eta/(R T)) - exp(alpha_a F eta/(R T))]
    i0  = F k c_e^alpha_a (c_max - c_s)^alpha_a c_s^alpha_c
    lithium metal (counter electrode, reference): phi_s = 0, U = 0, eta = -phi_e.

Everything here builds UFL expressions and forms; nothing is assembled. Property callables
must accept UFL expressions (see :class:`cellsim.materials.nyman2008.ElectrolyteProperties`).
"""

from __future__ import annotations

from typing import Any

import ufl

from ..materials.base import FARADAY  # noqa: F401  (re-exported: FARADAY [C mol-1])
from ..materials.base import R_GAS as GAS_CONSTANT  # [J mol-1 K-1]
from . import kinetics


def transport_factor(porosity: Any = 1.0, bruggeman: float | None = None, tortuosity: Any = None) -> Any:
    """Effective transport factor B = eps / tau applied to kappa and D_e.

    ``bruggeman=b`` gives B = eps^b (tau = eps^(1-b)); ``tortuosity=tau`` gives B = eps/tau;
    neither gives B = 1 (a resolved pore, no homogenisation). Giving both is an error.
    """
    if bruggeman is not None and tortuosity is not None:
        raise ValueError("give either bruggeman or tortuosity, not both")
    if bruggeman is not None:
        if not (isinstance(bruggeman, (int, float)) and 0.0 <= bruggeman <= 10.0):
            raise ValueError(f"bruggeman = {bruggeman!r}: must be a number in [0, 10]")
        return porosity**bruggeman
    if tortuosity is not None:
        if isinstance(tortuosity, (int, float)) and not tortuosity >= 1.0:
            raise ValueError(f"tortuosity = {tortuosity!r}: must be >= 1")
        return porosity / tortuosity
    return 1.0


def ionic_current(c: Any, phi: Any, props: Any, T: Any, B: Any = 1.0) -> Any:
    """Ionic current density i_e [A m-2] (UFL vector).

    i_e = B [ -kappa grad phi + 2 kappa (R T/F) (1 - t+) (1 + dln f/dln c) grad c / c ]
    """
    kappa = props.conductivity(c)
    tp = props.transference_number(c)
    tdf = props.thermodynamic_factor(c)
    kappa_d = 2.0 * kappa * (GAS_CONSTANT * T / FARADAY) * (1.0 - tp) * tdf / c
    return B * (-kappa * ufl.grad(phi) + kappa_d * ufl.grad(c))


def salt_flux(c: Any, phi: Any, props: Any, T: Any, B: Any = 1.0) -> Any:
    """Lithium (salt) flux N_e = -B D_e grad c + t+ i_e / F [mol m-2 s-1] (UFL vector)."""
    i_e = ionic_current(c, phi, props, T, B)
    return -B * props.diffusivity(c) * ufl.grad(c) + props.transference_number(c) * i_e / FARADAY


def electrolyte_residual(
    c: Any,
    c_old: Any,
    phi: Any,
    v_c: Any,
    v_phi: Any,
    dt: Any,
    props: Any,
    dx: ufl.Measure,
    T: Any,
    porosity: Any = 1.0,
    B: Any = 1.0,
) -> tuple[ufl.Form, ufl.Form]:
    """Volume parts of the backward-Euler residuals (F_c, F_phi), both in amperes.

    F_c   = int F eps (c - c_old)/dt v_c dx - int F N_e . grad v_c dx
    F_phi = - int i_e . grad v_phi dx

    ``dx`` may be restricted to a region (``dx(tag)``) and may carry quadrature metadata.
    ``porosity`` (eps) and ``B`` (transport factor, :func:`transport_factor`) are 1 in a
    resolved pore. Add boundary/interface parts with :func:`boundary_flux_terms` or
    :func:`electrolyte_interface_terms`; add a volume source f (mol m-3 s-1 of salt
    produced) as ``- F f v_c dx`` and a current source q (A m-3, div i_e = q) as ``- q v_phi dx``.
    """
    i_e = ionic_current(c, phi, props, T, B)
    N_e = -B * props.diffusivity(c) * ufl.grad(c) + props.transference_number(c) * i_e / FARADAY  # = salt_flux
    F_c = FARADAY * porosity * (c - c_old) / dt * v_c * dx - FARADAY * ufl.inner(N_e, ufl.grad(v_c)) * dx
    F_phi = -ufl.inner(i_e, ufl.grad(v_phi)) * dx
    return F_c, F_phi


def boundary_flux_terms(N_out: Any, i_out: Any, v_c: Any, v_phi: Any, measure: ufl.Measure) -> tuple[Any, Any]:
    """Boundary parts of (F_c, F_phi) for given outward normal fluxes.

    ``N_out`` = N_e . n_e [mol m-2 s-1], ``i_out`` = i_e . n_e [A m-2] (n_e outward from the
    electrolyte). Returns (int F N_out v_c, int i_out v_phi) over ``measure``; either flux may
    be None (insulated / no flux). Zero-flux walls need no term at all.
    """
    t_c = FARADAY * N_out * v_c * measure if N_out is not None else None
    t_phi = i_out * v_phi * measure if i_out is not None else None
    return t_c, t_phi


def electrolyte_interface_terms(j: Any, v_c: Any, v_phi: Any, measure: ufl.Measure) -> tuple[Any, Any]:
    """Electrolyte side of an electrode reaction with rate j (positive: Li leaves the electrolyte).

    N_e . n_e = j and i_e . n_e = F j, hence (+int F j v_c, +int F j v_phi). On an interior
    facet measure the caller passes the electrolyte-side restrictions (``v_c("-")``, and j
    built from restricted traces).
    """
    return boundary_flux_terms(j, FARADAY * j, v_c, v_phi, measure)


def solid_interface_terms(j: Any, w_c: Any, w_phi: Any, measure: ufl.Measure) -> tuple[Any, Any]:
    """Solid side of the same reaction: N_s . n = -j, i_s . n = -F j (n from solid to electrolyte).

    For a solid residual F_cs = int F dc_s/dt w_c - int F N_s . grad w_c + int F (N_s . n) w_c
    and F_phis = int sigma grad phi_s . grad w_phi + int (i_s . n) w_phi, this returns
    (-int F j w_c, -int F j w_phi); either test function may be None (no such unknown).
    """
    t_c = -FARADAY * j * w_c * measure if w_c is not None else None
    t_phi = -FARADAY * j * w_phi * measure if w_phi is not None else None
    return t_c, t_phi


# ---------------------------------------------------------------------------------------
# Kinetics helpers (Butler-Volmer). Work on floats, NumPy arrays and UFL expressions.
# ---------------------------------------------------------------------------------------


def overpotential(phi_s: Any, phi_e: Any, U: Any) -> Any:
    """Surface overpotential eta = phi_s - phi_e - U [V] (add -Omega sigma_h/F for stress)."""
    return phi_s - phi_e - U


def butler_volmer_flux(eta: Any, i0: Any, alpha_a: float, alpha_c: float, T: Any) -> Any:
    """Reaction rate j [mol m-2 s-1], positive into the electrode (insertion / plating).

    j = (i0/F) [exp(-alpha_c F eta/(R T)) - exp(alpha_a F eta/(R T))]
    """
    return kinetics.insertion_flux(eta, i0, T, alpha_a, alpha_c)


def exchange_current(k: Any, c_e: Any, c_s: Any, c_max: Any, alpha_a: float, alpha_c: float) -> Any:
    """Exchange-current density i0 = F k c_e^alpha_a (c_max - c_s)^alpha_a c_s^alpha_c [A m-2].

    k is the rate constant [mol m-2 s-1 (mol m-3)^-(2 alpha_a + alpha_c)]; for
    alpha_a = alpha_c = 1/2 that is m^2.5 mol^-0.5 s-1, and PyBaMM's Chen2020 ``m_ref``
    [A m-2 (m3 mol-1)^1.5] equals F k. Requires 0 < c_s < c_max and c_e > 0.
    """
    return kinetics.exchange_current_density(k, c_e, c_s, c_max, alpha_a, alpha_c)


def lithium_metal_flux(phi_e: Any, i0: Any, alpha_a: float, alpha_c: float, T: Any) -> Any:
    """Plating rate j_Li [mol m-2 s-1] on the lithium-metal counter electrode.

    The lithium metal is the potential reference (phi_s = 0) with U = 0, so eta = -phi_e and
    j_Li = butler_volmer_flux(-phi_e, i0, ...): positive = plating (Li leaves the
    electrolyte), negative = stripping (discharge of a half-cell). Add it to the electrolyte
    with :func:`electrolyte_interface_terms` on the lithium facets (``ds(tag)``).
    """
    return butler_volmer_flux(overpotential(0.0, phi_e, 0.0), i0, alpha_a, alpha_c, T)


def thermal_voltage(T: float) -> float:
    """R T / F [V]."""
    return GAS_CONSTANT * T / FARADAY


__all__ = [
    "FARADAY",
    "GAS_CONSTANT",
    "transport_factor",
    "ionic_current",
    "salt_flux",
    "electrolyte_residual",
    "boundary_flux_terms",
    "electrolyte_interface_terms",
    "solid_interface_terms",
    "overpotential",
    "butler_volmer_flux",
    "exchange_current",
    "lithium_metal_flux",
    "thermal_voltage",
]


# ---------------------------------------------------------------------------------------
# the term
# ---------------------------------------------------------------------------------------
from .term import Term  # noqa: E402


class Electrolyte(Term):
    """Concentrated-solution electrolyte over resolved pores and homogenised layers.

    ``pieces``: [(volume measure, porosity eps, transport factor B)]. Rows: salt balance
    ``c_e`` in mol s-1, charge balance ``phi_e`` in A (interface and boundary terms come
    from the kinetics and lithium-metal terms). With ``tplus_ref`` the salt rows are
    combined, after every term has contributed, with the charge rows: salt rows minus
    (t+_ref / F) times the charge rows (same solution). With a constant t+ this removes the
    migration term t+ i_e / F from the salt equation (div i_e = 0), leaving
    eps dc/dt = div(D grad c) with (1 - t+) j at the reactive surfaces; its rows are then
    no longer dominated by the potential, which the block preconditioner of the iterative
    solver needs. For t+(c) only (t+ - t+_ref) remains.
    """

    def __init__(self, props, pieces, c_e="c_e", phi_e="phi_e", tplus_ref=None):
        self.props, self.pieces, self.c_e, self.phi_e = props, list(pieces), c_e, phi_e
        self.tplus_ref = tplus_ref
        self.owns = (c_e, phi_e)

    def residual(self, m):
        c, c_old, phi = m.q(self.c_e), m.q_old(self.c_e), m.q(self.phi_e)
        v_c, v_p = m.v[self.c_e], m.v[self.phi_e]
        Fc = Fp = 0
        for dx, eps, B in self.pieces:
            i_e = ionic_current(c, phi, self.props, m.T, B)
            N_e = -B * self.props.diffusivity(c) * ufl.grad(c) + self.props.transference_number(c) * i_e / FARADAY
            Fc = Fc + eps * (c - c_old) / m.dt * v_c * dx - m.live * ufl.inner(N_e, ufl.grad(v_c)) * dx
            Fp = Fp - ufl.inner(i_e, ufl.grad(v_p)) * dx
        return {self.c_e: Fc, self.phi_e: Fp}

    def finalize(self, m, rows):
        if self.tplus_ref is not None:
            v_c, v_p = m.v[self.c_e], m.v[self.phi_e]
            rows[self.c_e] = rows[self.c_e] - m.live * (self.tplus_ref / FARADAY) * ufl.replace(
                rows[self.phi_e], {v_p: v_c})
