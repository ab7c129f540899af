r"""Lithium transport in an active particle: stress-assisted diffusion (DESIGN.md §3).

    dc/dt + div N = 0,   N = -D(c) grad c + D(c) c Omega/(R T) grad sigma_h,
    N . n = -j  on the reactive surface (j: insertion rate, positive into the particle),

so lithium moves towards tension. Weak form with test function v (backward Euler):

    int (c - c_old)/dt v dx + int D grad c . grad v dx
        - int D c Omega/(R T) grad sigma_h . grad v dx - int j v ds = 0.

sigma_h is the continuous (Lagrange) L2 projection of tr(sigma)/3, solved together with
the displacement, so that its gradient exists for any displacement degree.
"""

from __future__ import annotations

import ufl


def diffusion_residual(c, c_old, v, dt, D, omega_over_RT, grad_sigma_h, dx):
    """Bulk part of the weak form (without the surface source), in mol s-1."""
    flux = -D * ufl.grad(c) + D * c * omega_over_RT * grad_sigma_h
    return (c - c_old) / dt * v * dx - ufl.inner(flux, ufl.grad(v)) * dx
