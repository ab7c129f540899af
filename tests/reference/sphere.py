r"""Reference solutions for one spherical particle (pure NumPy, SI units).

A sphere of radius ``R`` [m] holds lithium at concentration ``c(r, t)``
[mol m-3], initially uniform ``c0``. Conventions follow ``DESIGN.md`` §3:

* transport  ``dc/dt + div N = 0``,
  ``N = -D(c) grad c + D(c) c Omega/(R_gas T) grad sigma_h``;
* surface    ``N . n = -j`` with ``j`` [mol m-2 s-1] the insertion flux,
  positive into the particle;
* mechanics  small strain, ``eps_ch = Omega/3 (c - c_ref) I``, isotropic
  ``E`` [Pa], ``nu`` [-], traction-free surface, ``Omega`` [m3 mol-1];
* kinetics   ``eta = phi_s - phi_e - U(x) - Omega sigma_h/F``, ``x = c_s/c_max``,
  ``j = (i0/F) [exp(-alpha_c F eta/(R_gas T)) - exp(alpha_a F eta/(R_gas T))]``,
  ``i0 = F k c_e^alpha_a (c_max - c_s)^alpha_a c_s^alpha_c``; ``phi_e = 0``.

Contents
--------
1. :func:`crank_constant_flux` -- series solution for constant ``D`` and
   constant ``j`` (Carslaw & Jaeger §9.3 / Crank §6.3, derived below),
   :func:`average_concentration`, and the short-time surface expansion
   :func:`crank_constant_flux_surface_short_time` (an independent check of the
   series at small times).
2. :func:`thermoelastic_stresses` -- stresses and displacement of the sphere
   for any radial profile (samples or callable), and
   :func:`crank_constant_flux_stresses` -- the same for the series, with the
   integrals done analytically term by term. :func:`radial_elasticity_fe` --
   an independent 1D finite-element solution of the radial elasticity problem
   (used to check the closed-form stress formulas).
3. :func:`radial_diffusion_1d` -- a vertex-centred finite-volume solver in
   ``r`` with BDF2 (or backward Euler) and Newton, for ``D(c)``,
   stress-assisted diffusion, prescribed flux, galvanostatic and
   potentiostatic Butler--Volmer surfaces. Helpers :func:`bv_flux`,
   :func:`bv_overpotential`, :func:`exchange_current_density`.

Derivations (so that nothing here is taken on trust)
----------------------------------------------------
**Constant-flux series.** Write ``rho = r/R``, ``tau = D t/R^2`` and
``c = c0 + (j R/D) u(rho, tau)``. Then ``u_tau = rho^-2 (rho^2 u_rho)_rho``,
``u_rho(1) = 1`` (from ``-D dc/dr = -j``), ``u(rho, 0) = 0``. The mean
``<u> = 3 int_0^1 u rho^2 drho`` obeys ``d<u>/dtau = 3 u_rho(1) = 3``, so
``<u> = 3 tau``. The particular solution ``3 tau + rho^2/2 - 3/10`` satisfies
the PDE (``Lap(rho^2/2) = 3``), the boundary condition and the mean; the
remainder ``w`` has zero flux at ``rho = 1`` and ``w(rho, 0) = 3/10 - rho^2/2``.
Its eigenfunctions are ``sin(lam rho)/rho`` with ``lam cos lam = sin lam``
(``tan lam = lam``, ``lam_n`` in ``(n pi, n pi + pi/2)``). With
``int_0^1 sin^2(lam rho) drho = sin^2(lam)/2`` and
``int_0^1 (3/10 - rho^2/2) rho sin(lam rho) drho = -cos(lam)/lam`` (both use
``sin lam = lam cos lam``), the coefficients are ``-2/(lam^2 sin lam)``::

    u = 3 tau + rho^2/2 - 3/10
        - 2 sum_n sin(lam_n rho) / (rho lam_n^2 sin lam_n) exp(-lam_n^2 tau).

**Stresses (thermoelastic analogue, alpha T -> Omega c/3).** With
``I(r) = int_0^r c s^2 ds``, ``K = Omega E/(3(1-nu))`` and
``c_avg = 3 I(R)/R^3``::

    sigma_r = 2K [I(R)/R^3 - I(r)/r^3]
    sigma_t =  K [2 I(R)/R^3 + I(r)/r^3 - c]
    sigma_h = (sigma_r + 2 sigma_t)/3 = (2K/3)(c_avg - c)
    u_r     = Omega/(3(1-nu)) [(1+nu) (1/r^2) int_0^r (c-c_ref) s^2 ds
                               + 2(1-2nu) (r/R^3) int_0^R (c-c_ref) s^2 ds]

Check: ``d sigma_r/dr = 2K [3I/r^4 - c/r]`` and
``2(sigma_r - sigma_t)/r = 2K [c/r - 3I/r^4]`` so equilibrium
``d sigma_r/dr + 2(sigma_r - sigma_t)/r = 0`` holds; ``sigma_r(R) = 0``;
``I(r)/r^3 -> c(0)/3`` gives ``sigma_r(0) = sigma_t(0)``; the surface hoop
stress is ``sigma_t(R) = K (c_avg - c(R))``; ``u_r(R) = Omega (c_avg-c_ref) R/3``
(free swelling). Hooke's law with these strains is checked in the tests and
independently by :func:`radial_elasticity_fe`. A uniform ``c`` gives no stress,
so ``c_ref`` only enters the displacement.

For the series, ``A(rho) = I(r)/r^3`` is::

    A = c0 D/(3 j R) + tau + rho^2/10 - 1/10
        - 2 sum_n g(lam_n rho) / (lam_n sin lam_n) exp(-lam_n^2 tau),
    g(x) = (sin x - x cos x)/x^3   (-> 1/3 at x = 0),

from ``int_0^rho s sin(lam s) ds = (sin lam rho - lam rho cos lam rho)/lam^2``.

**Stress-assisted flux in the sphere.** Because
``grad sigma_h = -(2K/3) grad c`` the flux becomes
``N = -D(c) (1 + theta c) dc/dr`` with
``theta = 2 Omega^2 E/(9 R_gas T (1-nu))`` [m3 mol-1]. The solver implements
the general route (``sigma_h`` from the profile through the stress integrals)
and this shortcut; tests check that they agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

R_GAS = 8.314462618  # J mol-1 K-1
FARADAY = 96485.33212  # C mol-1

__all__ = [
    "R_GAS",
    "FARADAY",
    "tan_eigenvalues",
    "crank_constant_flux",
    "average_concentration",
    "crank_constant_flux_surface_short_time",
    "SphereStresses",
    "thermoelastic_stresses",
    "crank_constant_flux_stresses",
    "radial_elasticity_fe",
    "stress_assisted_theta",
    "exchange_current_density",
    "bv_flux",
    "bv_overpotential",
    "Kinetics",
    "Mechanics",
    "RadialSolution",
    "radial_diffusion_1d",
]


# ---------------------------------------------------------------------------
# 1. Constant-flux series
# ---------------------------------------------------------------------------
def tan_eigenvalues(n: int) -> np.ndarray:
    """The first ``n`` positive roots of ``tan(lam) = lam``.

    ``lam_k`` lies in ``(k pi, k pi + pi/2)``, k = 1..n. Found by the
    contraction ``lam = k pi + arctan(lam)`` (rate below ``1/(1+pi^2)``) and
    polished by Newton on ``sin lam - lam cos lam``.
    """
    k = np.arange(1, n + 1, dtype=float)
    lam = (k + 0.5) * np.pi
    for _ in range(12):
        lam = k * np.pi + np.arctan(lam)
    for _ in range(2):
        f = np.sin(lam) - lam * np.cos(lam)
        lam = lam - f / (lam * np.sin(lam))
    return lam


def _auto_nterms(tau: float) -> int:
    """Number of series terms for ``tau = D t / R^2``.

    Term ``n`` is bounded by ``2 min(lam_n, 1/rho)/lam_n^2 exp(-lam_n^2 tau)``
    (``|sin lam_n| > 0.95``). Taking ``lam_N^2 tau >= 40`` makes the first
    omitted term below ``2 e^-40 / lam_N`` (~1e-18) and the tail, which decays
    like a Gaussian in ``n``, negligible against round-off. So
    ``N ~ sqrt(40/tau)/pi``: 20 terms at ``tau = 0.01``, ~2000 at ``1e-6``,
    ~2e5 at ``1e-10``. Very small times are slow but still exact; below
    ``tau ~ 1e-12`` use :func:`crank_constant_flux_surface_short_time`.
    """
    return int(math.ceil(math.sqrt(40.0 / tau) / math.pi)) + 10


_MAX_TERMS = 2_000_000


def _series_setup(t, R, D, nterms):
    t = float(t)
    if t < 0:
        raise ValueError(f"t = {t!r} must be >= 0")
    if R <= 0 or D <= 0:
        raise ValueError(f"R = {R!r} and D = {D!r} must be > 0")
    tau = D * t / R**2
    if nterms is None:
        nterms = _auto_nterms(tau) if tau > 0 else 0
    if nterms > _MAX_TERMS:
        raise ValueError(
            f"tau = D t/R^2 = {tau:.3e} needs {nterms} series terms (> {_MAX_TERMS}); "
            "use crank_constant_flux_surface_short_time for such small times"
        )
    return tau, int(nterms)


def _check_rho(r, R):
    """``r/R`` after checking ``0 <= r <= R`` (1e-6 relative slack for mesh
    vertices that round-off puts just outside the sphere)."""
    rho = np.asarray(r, dtype=float) / R
    if rho.size and (np.min(rho) < 0 or np.max(rho) > 1 + 1e-6):
        raise ValueError(f"r must lie in [0, R = {R!r}]; got r/R in [{np.min(rho):.6g}, {np.max(rho):.6g}]")
    return rho


def _series_sum(rho, tau, nterms, kind, chunk=4096):
    """Sum over eigenvalues of the series parts (dimensionless).

    kind 'u': sum sin(lam rho)/(rho lam^2 sin lam) e^{-lam^2 tau}
    kind 'A': sum g(lam rho)/(lam sin lam) e^{-lam^2 tau}
    """
    rho = np.asarray(rho, dtype=float)
    total = np.zeros_like(rho)
    if nterms == 0:
        return total
    lam_all = tan_eigenvalues(nterms)
    for start in range(0, nterms, chunk):
        lam = lam_all[start : start + chunk]
        decay = np.exp(-(lam**2) * tau)
        keep = decay > 0.0
        lam, decay = lam[keep], decay[keep]
        if lam.size == 0:
            break
        x = np.multiply.outer(rho, lam)
        if kind == "u":
            # sin(lam rho)/rho = lam sinc(lam rho / pi), finite at rho = 0
            f = lam * np.sinc(x / np.pi)
            coef = decay / (lam**2 * np.sin(lam))
        else:
            f = _g(x)
            coef = decay / (lam * np.sin(lam))
        total = total + f @ coef
    return total


def _g(x):
    """``(sin x - x cos x)/x^3`` = j1(x)/x, with its Taylor series near 0."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    small = np.abs(x) < 0.05
    xs = x[small]
    x2 = xs * xs
    out[small] = 1 / 3 - x2 / 30 + x2 * x2 / 840 - x2**3 / 45360
    xl = x[~small]
    out[~small] = (np.sin(xl) - xl * np.cos(xl)) / xl**3
    return out


def crank_constant_flux(r, t, R, D, j, c0, nterms=None):
    r"""Concentration in a sphere with constant ``D`` and constant surface flux.

    Solves ``dc/dt = D r^-2 d/dr(r^2 dc/dr)`` on ``0 <= r <= R``,
    ``D dc/dr(R) = j`` (insertion flux ``j`` [mol m-2 s-1], positive into the
    particle), ``c(r, 0) = c0``::

        c = c0 + (j R/D) [3 tau + rho^2/2 - 3/10
                          - 2 sum_n sin(lam_n rho)/(rho lam_n^2 sin lam_n)
                                exp(-lam_n^2 tau)]

    with ``rho = r/R``, ``tau = D t/R^2`` and ``tan lam_n = lam_n`` (derivation
    in the module docstring; Carslaw & Jaeger 1959 §9.3, Crank 1975 §6.3).

    Parameters
    ----------
    r : array_like, radii in [0, R] [m]; vectorised.
    t : float, time [s] (scalar).
    R, D, j, c0 : radius [m], diffusivity [m2 s-1], flux [mol m-2 s-1],
        initial concentration [mol m-3].
    nterms : int or None. ``None`` picks enough terms for round-off accuracy
        (see :func:`_auto_nterms`: ``lam_N^2 tau >= 40``). Convergence concern:
        at small ``tau`` the terms decay only like ``exp(-lam^2 tau)/lam`` so
        ``N`` grows like ``tau^-1/2``; a fixed small ``nterms`` is wrong at
        early times (the surface value is too small). At ``t = 0`` the series
        is not summed: ``c0`` is returned.

    Returns
    -------
    ndarray shaped like ``r`` [mol m-3].
    """
    rho = _check_rho(r, R)
    tau, nterms = _series_setup(t, R, D, nterms)
    if tau == 0.0:
        return np.full_like(rho, float(c0))
    s = _series_sum(rho, tau, nterms, "u")
    u = 3 * tau + rho**2 / 2 - 0.3 - 2 * s
    return c0 + (j * R / D) * u


def average_concentration(t, R, j, c0):
    """Volume-averaged concentration under constant flux: ``c0 + 3 j t / R``.

    From ``d/dt (4/3 pi R^3 c_avg) = 4 pi R^2 j``. Vectorised over ``t``.
    """
    return c0 + 3.0 * j * np.asarray(t, dtype=float) / R


def crank_constant_flux_surface_short_time(t, R, D, j, c0, nterms=10):
    r"""Short-time expansion of the surface concentration (constant flux).

    Laplace transform in ``tau``: ``u_hat = a sinh(q rho)/rho`` with
    ``q = sqrt(s)`` and ``u_hat'(1) = 1/s`` give
    ``u_hat(1) = tanh q / (s (q - tanh q))``. Up to ``O(exp(-2/sqrt(tau)))``
    (``tanh q -> 1``) this is ``s^-3/2 / (1 - 1/q) = sum_k s^-(k+3)/2``, so::

        c(R, t) = c0 + (j R/D) sum_{k>=0} tau^{(k+1)/2} / Gamma((k+3)/2)
                = c0 + (j R/D) [2 sqrt(tau/pi) + tau + 4 tau^1.5/(3 sqrt(pi)) + ...]

    The first term is the semi-infinite result ``2 j sqrt(t/(pi D))``, the
    second the curvature correction. Accurate for ``tau < ~1e-2``; independent
    of the eigenfunction series, hence a check on it at small times.
    """
    tau = D * np.asarray(t, dtype=float) / R**2
    u = np.zeros_like(tau)
    for k in range(nterms):
        u = u + tau ** ((k + 1) / 2) / math.gamma((k + 3) / 2)
    return c0 + (j * R / D) * u


# ---------------------------------------------------------------------------
# 2. Stresses
# ---------------------------------------------------------------------------
class SphereStresses(NamedTuple):
    """Stress state of the sphere at radii ``r``; all [Pa] except ``displacement`` [m].

    ``sigma_r`` radial, ``sigma_t`` hoop (theta = phi), ``sigma_h`` hydrostatic
    ``(sigma_r + 2 sigma_t)/3``, ``von_mises = |sigma_r - sigma_t|`` (for
    ``diag(sigma_r, sigma_t, sigma_t)``), ``displacement`` radial ``u_r``.
    """

    sigma_r: np.ndarray
    sigma_t: np.ndarray
    sigma_h: np.ndarray
    von_mises: np.ndarray
    displacement: np.ndarray


def _sphere_interval_weights(r):
    """Weights for ``int_{r_i}^{r_{i+1}} c(s) s^2 ds`` from samples of ``c``.

    On each interval ``c`` is replaced by the cubic through 4 neighbouring
    nodes (``i-1..i+2``, shifted inside at the outer end) and ``c s^2`` is
    integrated exactly. On the first interval (``r_0 = 0``) the cubic goes
    through ``(-r_1, c_1), (0, c_0), (r_1, c_1), (r_2, c_2)``: the even
    extension of a radial profile (``dc/dr(0) = 0``). Interpolating ``c``
    rather than ``c s^2`` keeps ``I(r)/r^3`` 4th-order accurate next to the
    centre. Returns ``idx`` (n-1, 4) node indices and ``w`` (n-1, 4) so that
    the interval integrals are ``sum(w * c[idx], axis=1)``. Needs n >= 4.
    """
    r = np.asarray(r, dtype=float)
    n = r.size
    if n < 4:
        raise ValueError(f"need at least 4 radial samples, got {n}")
    i = np.arange(n - 1)
    k = np.clip(i - 1, 0, n - 4)
    idx = k[:, None] + np.arange(4)[None, :]
    pos = r[idx]
    idx[0] = [1, 0, 1, 2]
    pos[0] = [-r[1], 0.0, r[1], r[2]]
    h = r[i + 1] - r[i]
    s = (pos - r[i][:, None]) / h[:, None]  # local coordinate, interval = [0, 1]
    vt = np.stack([s**p for p in range(4)], axis=1)  # (n-1, p, m) = V^T
    p = np.arange(4)[None, :]
    x0 = r[i][:, None]
    hh = h[:, None]
    # int_0^1 t^p (x0 + h t)^2 dt
    moments = x0**2 / (p + 1) + 2 * x0 * hh / (p + 2) + hh**2 / (p + 3)
    w = np.linalg.solve(vt, moments[..., None])[..., 0]
    return idx, w * hh


def _cumulative_sphere_integral(r, c, weights=None):
    """``I(r_k) = int_0^{r_k} c s^2 ds`` from samples (4th order, see above)."""
    idx, w = weights if weights is not None else _sphere_interval_weights(r)
    parts = np.sum(w * np.asarray(c)[idx], axis=1)
    return np.concatenate([[0.0], np.cumsum(parts)])


def _stresses_from_integrals(r, c, a_r, a_R, R, Omega, E, nu, c_ref):
    """Stresses from ``a_r = I(r)/r^3`` and ``a_R = I(R)/R^3`` (see module doc)."""
    K = Omega * E / (3.0 * (1.0 - nu))
    sigma_r = 2.0 * K * (a_R - a_r)
    sigma_t = K * (2.0 * a_R + a_r - c)
    sigma_h = (sigma_r + 2.0 * sigma_t) / 3.0
    vm = np.abs(sigma_r - sigma_t)
    disp = (
        Omega
        / (3.0 * (1.0 - nu))
        * ((1.0 + nu) * r * (a_r - c_ref / 3.0) + 2.0 * (1.0 - 2.0 * nu) * r * (a_R - c_ref / 3.0))
    )
    return SphereStresses(sigma_r, sigma_t, sigma_h, vm, disp)


def thermoelastic_stresses(r, c_of_r, R, Omega, E, nu, c_ref=0.0, *, panels=32, order=8):
    r"""Stresses and displacement of a traction-free sphere with chemical strain.

    Uses the thermoelastic analogue (``alpha T -> Omega c/3``), with
    ``I(r) = int_0^r c s^2 ds`` and ``K = Omega E/(3(1-nu))``::

        sigma_r = 2K [I(R)/R^3 - I(r)/r^3]
        sigma_t =  K [2 I(R)/R^3 + I(r)/r^3 - c(r)]
        sigma_h = (sigma_r + 2 sigma_t)/3 = 2 Omega E/(9(1-nu)) (c_avg - c)
        von Mises = |sigma_r - sigma_t|
        u_r = Omega/(3(1-nu)) [(1+nu)(1/r^2) int_0^r (c - c_ref) s^2 ds
                               + 2(1-2nu)(r/R^3) int_0^R (c - c_ref) s^2 ds]

    Parameters
    ----------
    r : array_like [m]. If ``c_of_r`` is an array, ``r`` must be the sorted
        sample radii with ``r[0] = 0`` and ``r[-1] = R``; the integrals use
        piecewise-cubic interpolation of ``c r^2`` (4th order in the spacing).
    c_of_r : array of samples at ``r`` [mol m-3], or a vectorised callable
        ``c(r)``; then ``I(r)/r^3 = int_0^1 c(r s) s^2 ds`` is computed with
        composite Gauss--Legendre (``panels`` x ``order`` points) at any ``r``
        (finite at ``r = 0``, where it gives ``c(0)/3``).
    R, Omega, E, nu : radius [m], partial molar volume [m3 mol-1], Young's
        modulus [Pa], Poisson ratio [-].
    c_ref : stress-free concentration [mol m-3]; only affects the displacement.

    Returns
    -------
    :class:`SphereStresses` evaluated at ``r``.
    """
    r = np.asarray(r, dtype=float)
    if callable(c_of_r):
        xg, wg = np.polynomial.legendre.leggauss(order)
        edges = np.linspace(0.0, 1.0, panels + 1)
        s = (0.5 * (edges[1:, None] - edges[:-1, None]) * (xg[None, :] + 1) + edges[:-1, None]).ravel()
        ws = (0.5 * (edges[1:, None] - edges[:-1, None]) * wg[None, :]).ravel() * s**2

        def a_of(rr):
            rr = np.atleast_1d(rr)
            vals = np.asarray(c_of_r(np.multiply.outer(rr, s)), dtype=float)
            return vals @ ws

        a_r = a_of(r.ravel()).reshape(r.shape)
        a_R = float(a_of(np.array([float(R)]))[0])
        c = np.asarray(c_of_r(r), dtype=float)
    else:
        c = np.asarray(c_of_r, dtype=float)
        if r.ndim != 1 or c.shape != r.shape:
            raise ValueError(f"samples: r and c must be 1D of equal length, got {r.shape} and {c.shape}")
        if r.size < 2 or r[0] != 0.0 or not np.all(np.diff(r) > 0):
            raise ValueError("samples: r must be strictly increasing and start at r = 0")
        if not math.isclose(r[-1], R, rel_tol=1e-12):
            raise ValueError(f"samples: r[-1] = {r[-1]!r} must equal R = {R!r}")
        cum = _cumulative_sphere_integral(r, c)
        a_r = np.empty_like(r)
        a_r[1:] = cum[1:] / r[1:] ** 3
        a_r[0] = c[0] / 3.0
        a_R = cum[-1] / R**3
    return _stresses_from_integrals(r, c, a_r, a_R, R, Omega, E, nu, c_ref)


def crank_constant_flux_stresses(r, t, R, D, j, c0, Omega, E, nu, c_ref=None, nterms=None):
    r"""Exact stresses for the constant-flux series (integrals done analytically).

    With ``A(rho) = I(r)/r^3`` in closed form (module docstring)::

        A = c0/3 + (j R/D) [tau + rho^2/10 - 1/10
                            - 2 sum_n g(lam_n rho)/(lam_n sin lam_n) exp(-lam_n^2 tau)]
        g(x) = (sin x - x cos x)/x^3,   A(1) = c0/3 + (j R/D) tau = c_avg/3

    the stresses follow from :func:`thermoelastic_stresses`' formulas. In
    particular ``sigma_t(R) = Omega E/(3(1-nu)) (c_avg - c(R))``, and for
    ``tau -> inf`` ``sigma_r -> Omega E j R (1 - rho^2)/(15 (1-nu) D)``.
    ``c_ref`` (default ``c0``) only enters the displacement. Same ``nterms``
    rule as :func:`crank_constant_flux`.
    """
    rho = _check_rho(r, R)
    tau, nterms = _series_setup(t, R, D, nterms)
    c_ref = c0 if c_ref is None else c_ref
    scale = j * R / D
    if tau == 0.0:
        c = np.full_like(rho, float(c0))
        a_r = c / 3.0
    else:
        su = _series_sum(rho, tau, nterms, "u")
        sa = _series_sum(rho, tau, nterms, "A")
        c = c0 + scale * (3 * tau + rho**2 / 2 - 0.3 - 2 * su)
        a_r = c0 / 3.0 + scale * (tau + rho**2 / 10 - 0.1 - 2 * sa)
    a_R = c0 / 3.0 + scale * tau
    return _stresses_from_integrals(rho * R, c, a_r, a_R, R, Omega, E, nu, c_ref)


def radial_elasticity_fe(n_elements, c_of_r, R, Omega, E, nu, c_ref=0.0, quad=4):
    r"""Independent 1D finite-element solution of the radially symmetric sphere.

    Unknown radial displacement ``u(r)`` (P1, ``u(0) = 0``), strains
    ``eps_r = u'``, ``eps_t = u/r``, chemical strain ``e = Omega (c - c_ref)/3``,
    ``lambda = E nu/((1+nu)(1-2nu))``, ``mu = E/(2(1+nu))``::

        sigma_r = lambda (eps_r + 2 eps_t) + 2 mu eps_r - E e/(1-2nu)
        sigma_t = lambda (eps_r + 2 eps_t) + 2 mu eps_t - E e/(1-2nu)

    Weak form of ``(r^2 sigma_r)' - 2 r sigma_t = 0`` with ``sigma_r(R) = 0``:
    ``int_0^R (sigma_r v' r^2 + 2 sigma_t v r) dr = 0`` for all ``v`` with
    ``v(0) = 0``. ``c_of_r`` is a vectorised callable, integrated with
    ``quad``-point Gauss per element.

    Returns ``(r_nodes, u_nodes, r_mid, sigma_r_mid, sigma_t_mid)``: nodal
    displacement [m] and stresses [Pa] at element midpoints.
    """
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    rn = np.linspace(0.0, R, n_elements + 1)
    h = np.diff(rn)
    xg, wg = np.polynomial.legendre.leggauss(quad)
    rq = 0.5 * (rn[:-1, None] + rn[1:, None]) + 0.5 * h[:, None] * xg[None, :]
    wq = 0.5 * h[:, None] * wg[None, :]
    e = Omega * (np.asarray(c_of_r(rq), dtype=float) - c_ref) / 3.0
    # basis on an element: N0 = (r1 - r)/h, N1 = (r - r0)/h
    N = [(rn[1:, None] - rq) / h[:, None], (rq - rn[:-1, None]) / h[:, None]]
    dN = [-1.0 / h[:, None] + 0 * rq, 1.0 / h[:, None] + 0 * rq]
    n = n_elements + 1
    diag = np.zeros(n)
    off = np.zeros(n - 1)
    rhs = np.zeros(n)
    for a in range(2):
        # stress from unit nodal displacement b -> test function a
        for b in range(2):
            er = dN[b]
            et = N[b] / rq
            sr = lam * (er + 2 * et) + 2 * mu * er
            st = lam * (er + 2 * et) + 2 * mu * et
            kab = np.sum(wq * (sr * dN[a] * rq**2 + 2 * st * N[a] * rq), axis=1)
            if a == b:
                np.add.at(diag, np.arange(n_elements) + a, kab)
            elif a == 0 and b == 1:
                off += kab
        s_ch = E * e / (1 - 2 * nu)
        fa = np.sum(wq * (s_ch * dN[a] * rq**2 + 2 * s_ch * N[a] * rq), axis=1)
        np.add.at(rhs, np.arange(n_elements) + a, fa)
    # symmetric system; Dirichlet u(0) = 0: drop node 0
    u = np.zeros(n)
    u[1:] = _solve_tridiagonal(off[1:], diag[1:], off[1:], rhs[1:])
    rm = 0.5 * (rn[:-1] + rn[1:])
    er = np.diff(u) / h
    et = 0.5 * (u[:-1] + u[1:]) / rm
    em = Omega * (np.asarray(c_of_r(rm), dtype=float) - c_ref) / 3.0
    sr = lam * (er + 2 * et) + 2 * mu * er - E * em / (1 - 2 * nu)
    st = lam * (er + 2 * et) + 2 * mu * et - E * em / (1 - 2 * nu)
    return rn, u, rm, sr, st


def stress_assisted_theta(Omega, E, nu, T):
    """``theta = 2 Omega^2 E/(9 R_gas T (1-nu))`` [m3 mol-1]: in the sphere the
    stress-assisted flux is ``N = -D(c)(1 + theta c) dc/dr``."""
    return 2.0 * Omega**2 * E / (9.0 * R_GAS * T * (1.0 - nu))


# ---------------------------------------------------------------------------
# 3. Butler--Volmer and the 1D radial solver
# ---------------------------------------------------------------------------
def exchange_current_density(c_s, c_e, c_max, k, alpha_a=0.5, alpha_c=0.5):
    """``i0 = F k c_e^alpha_a (c_max - c_s)^alpha_a c_s^alpha_c`` [A m-2].

    ``c_s`` is clipped into ``[1e-12, 1 - 1e-12] c_max`` so that ``i0`` stays
    finite and positive at the ends of the stoichiometry range.
    """
    cs = np.clip(np.asarray(c_s, dtype=float), 1e-12 * c_max, (1 - 1e-12) * c_max)
    return FARADAY * k * c_e**alpha_a * (c_max - cs) ** alpha_a * cs**alpha_c


def bv_flux(eta, i0, alpha_a=0.5, alpha_c=0.5, T=298.15):
    """Insertion flux ``j = (i0/F)[exp(-alpha_c F eta/(R T)) - exp(alpha_a F eta/(R T))]``
    [mol m-2 s-1]; ``eta < 0`` gives insertion (``j > 0``), ``j(0) = 0``."""
    f = FARADAY / (R_GAS * T)
    eta = np.asarray(eta, dtype=float)
    return (i0 / FARADAY) * (np.exp(-alpha_c * f * eta) - np.exp(alpha_a * f * eta))


def bv_overpotential(j, i0, alpha_a=0.5, alpha_c=0.5, T=298.15):
    """Inverse of :func:`bv_flux`: the ``eta`` [V] with ``bv_flux(eta) = j``.

    ``g(x) = exp(-alpha_c x) - exp(alpha_a x) - j F/i0`` (``x = F eta/(R T)``)
    is strictly decreasing. The root is bracketed by
    ``[-ln(1+y)/alpha_c, 0]`` for ``y = jF/i0 >= 0`` and
    ``[0, ln(1-y)/alpha_a]`` for ``y < 0``; bisection then Newton. Vectorised.
    """
    f = FARADAY / (R_GAS * T)
    y = np.asarray(j, dtype=float) * FARADAY / np.asarray(i0, dtype=float)
    y, _ = np.broadcast_arrays(y, np.zeros(np.broadcast(y, np.asarray(i0)).shape))
    y = np.array(y, dtype=float)
    lo = np.where(y >= 0, -np.log1p(np.abs(y)) / alpha_c, 0.0)
    hi = np.where(y >= 0, 0.0, np.log1p(np.abs(y)) / alpha_a)

    def g(x):
        return np.exp(-alpha_c * x) - np.exp(alpha_a * x) - y

    for _ in range(60):
        mid = 0.5 * (lo + hi)
        gm = g(mid)
        lo = np.where(gm > 0, mid, lo)
        hi = np.where(gm > 0, hi, mid)
    x = 0.5 * (lo + hi)
    for _ in range(3):
        dg = -alpha_c * np.exp(-alpha_c * x) - alpha_a * np.exp(alpha_a * x)
        x = x - g(x) / dg
    return x / f


@dataclass(frozen=True)
class Kinetics:
    """Butler--Volmer parameters of the particle surface (``phi_e = 0``).

    ``U(x)`` open-circuit potential [V] of ``x = c_s/c_max`` (vectorised
    callable); ``k`` rate constant with ``i0 = F k c_e^alpha_a
    (c_max-c_s)^alpha_a c_s^alpha_c`` [A m-2]; ``c_e`` electrolyte
    concentration [mol m-3]; ``c_max`` [mol m-3]; optional ``dU`` = dU/dx
    (else a central difference is used in the Jacobian).
    """

    U: Callable
    k: float
    c_e: float
    c_max: float
    alpha_a: float = 0.5
    alpha_c: float = 0.5
    dU: Callable | None = None


@dataclass(frozen=True)
class Mechanics:
    """Isotropic elastic particle: ``Omega`` [m3 mol-1], ``E`` [Pa], ``nu`` [-]."""

    Omega: float
    E: float
    nu: float


@dataclass
class RadialSolution:
    """Result of :func:`radial_diffusion_1d`.

    At the requested output times ``t`` (shape ``(m,)``): ``c`` (m, n+1)
    [mol m-3] at the nodes ``r``; ``c_surface``, ``c_average`` [mol m-3]
    (``c_average`` = the finite-volume mass / volume), ``j`` [mol m-2 s-1],
    ``phi_s`` [V] (NaN without kinetics), ``sigma_h_surface`` [Pa] (0
    without mechanics). ``steps`` holds the same scalars at every time level
    (including ``t = 0``) plus ``newton_iterations``.
    """

    r: np.ndarray
    t: np.ndarray
    c: np.ndarray
    c_surface: np.ndarray
    c_average: np.ndarray
    j: np.ndarray
    phi_s: np.ndarray
    sigma_h_surface: np.ndarray
    steps: dict = field(default_factory=dict)

    def concentration_at(self, r, k=-1):
        """``c`` [mol m-3] at radii ``r`` for output ``k``, by linear
        interpolation between nodes (error ``O(h^2)``, like the scheme)."""
        return np.interp(np.asarray(r, dtype=float), self.r, self.c[k])

    def stresses(self, mechanics: "Mechanics", k=-1, r=None, c_ref=0.0) -> "SphereStresses":
        """Stresses of output ``k`` from :func:`thermoelastic_stresses` on the
        nodal profile; at the nodes, or interpolated linearly to ``r``."""
        s = thermoelastic_stresses(self.r, self.c[k], self.r[-1], mechanics.Omega, mechanics.E, mechanics.nu, c_ref)
        if r is None:
            return s
        rr = np.asarray(r, dtype=float)
        return SphereStresses(*(np.interp(rr, self.r, f) for f in s))


def _solve_tridiagonal(lower, diag, upper, rhs):
    """Thomas algorithm (no pivoting; used on diagonally dominant systems)."""
    a = np.asarray(lower, dtype=float).tolist()
    b = np.asarray(diag, dtype=float).tolist()
    c = np.asarray(upper, dtype=float).tolist()
    d = np.asarray(rhs, dtype=float).tolist()
    n = len(b)
    for i in range(1, n):
        m = a[i - 1] / b[i - 1]
        b[i] -= m * c[i - 1]
        d[i] -= m * d[i - 1]
    x = [0.0] * n
    x[-1] = d[-1] / b[-1]
    for i in range(n - 2, -1, -1):
        x[i] = (d[i] - c[i] * x[i + 1]) / b[i]
    return np.array(x)


def _as_function_of_t(value, name):
    if value is None:
        return None
    if callable(value):
        return value
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} = {value!r} must be finite")
    return lambda t: v


def _time_grid(t_out, dt):
    t_out = np.atleast_1d(np.asarray(t_out, dtype=float))
    if t_out.ndim != 1 or np.any(t_out < 0) or np.any(np.diff(t_out) <= 0):
        raise ValueError("t_out must be a strictly increasing 1D array of times >= 0")
    if not dt > 0:
        raise ValueError(f"dt = {dt!r} must be > 0")
    grid = [0.0]
    for te in t_out:
        if te == 0.0:
            continue
        t0 = grid[-1]
        n = max(1, int(math.ceil((te - t0) / dt - 1e-9)))
        grid.extend((t0 + (te - t0) * np.arange(1, n + 1) / n).tolist())
        grid[-1] = float(te)
    return np.array(grid), t_out


def radial_diffusion_1d(
    R,
    D,
    c0,
    t_out,
    *,
    flux=None,
    current=None,
    phi_s=None,
    kinetics: Kinetics | None = None,
    mechanics: Mechanics | None = None,
    stress_assisted: str | None = None,
    stress_in_potential: bool = True,
    T=298.15,
    n_cells=400,
    dt=None,
    scheme="bdf2",
    dD_dc=None,
    newton_tol=1e-11,
    max_newton=30,
):
    r"""Accurate 1D solver for lithium diffusion in a sphere.

    Equations (SI)::

        dc/dt + r^-2 d/dr (r^2 N) = 0,    0 < r < R,   c(r, 0) = c0
        N = -D(c) dc/dr + D(c) c Omega/(R_gas T) d sigma_h/dr
        N(R) = -j(t)

    Surface condition, exactly one of:

    * ``flux``: ``j(t)`` [mol m-2 s-1] (float or callable), positive = insertion;
    * ``current``: total current ``I(t)`` [A], insertion positive, so
      ``j = I/(4 pi R^2 F)`` (galvanostatic);
    * ``phi_s``: particle potential ``phi_s(t)`` [V] (potentiostatic); then
      ``j = bv_flux(eta, i0(c_s))`` with
      ``eta = phi_s - U(c_s/c_max) - Omega sigma_h(R)/F`` (needs ``kinetics``),
      a nonlinear surface condition solved inside Newton.

    With ``kinetics`` and a flux/current condition, ``phi_s = U(c_s/c_max) +
    Omega sigma_h(R)/F + eta`` with ``eta = bv_overpotential(j, i0(c_s))``
    is reported. ``sigma_h(R) = 2 Omega E/(9(1-nu)) (c_avg - c_s)`` enters the
    potential when ``mechanics`` is given and ``stress_in_potential``; it is
    reported whenever ``mechanics`` is given. ``c_avg`` there is the
    finite-volume mass average (exact mass), except with
    ``stress_assisted="generic"``, where the 4th-order integral of the nodal
    profile is used (the two differ by ``O(h^2)``, ~1e-4 relative at 80 cells).

    Stress coupling in the flux (``stress_assisted``):

    * ``None``: no stress term in ``N`` (one-way coupling);
    * ``"generic"``: ``sigma_h`` at the nodes from :func:`thermoelastic_stresses`
      (4th-order integrals of the current profile, ``(sigma_r + 2 sigma_t)/3``),
      its difference across each face enters ``N``;
    * ``"shortcut"``: ``N = -D(c)(1 + theta c) dc/dr`` with ``theta`` from
      :func:`stress_assisted_theta`. Mathematically identical to "generic".

    Discretisation: vertex-centred finite volumes on the uniform nodes
    ``r_i = i R/n_cells`` (so ``c_s`` is a nodal unknown), control volumes
    ``[r_{i-1/2}, r_{i+1/2}]`` of volume ``(r_{i+1/2}^3 - r_{i-1/2}^3)/3`` per
    steradian, face flux ``-D(c_f)(...)(c_{i+1}-c_i)/h`` with ``c_f`` the
    mean of the two nodes (2nd order in space). Time: variable-step BDF2
    (first step backward Euler) or backward Euler (``scheme="euler"``); the
    steps divide each interval between output times evenly with step
    ``<= dt`` (default ``t_out[-1]/400``). Newton with the exact tridiagonal
    Jacobian (plus a rank-one term through ``c_avg`` for the potentiostatic
    stress term, by Sherman--Morrison); derivatives of ``D`` and ``U`` by
    central differences unless ``dD_dc`` / ``kinetics.dU`` are given.
    Lithium is conserved exactly: ``sum V_i c_i`` changes by ``R^2 j dt`` per
    (backward-Euler) step; BDF2 conserves the BDF2 combination of masses.

    Parameters
    ----------
    R : radius [m]. D : diffusivity [m2 s-1], float or vectorised ``D(c)``.
    c0 : initial concentration [mol m-3]. t_out : output times [s] (>= 0,
    increasing). T : temperature [K]. n_cells : number of radial cells.
    newton_tol : convergence when ``max|dc| <= newton_tol * max(|c|)``.

    Returns
    -------
    :class:`RadialSolution`.
    """
    # ---- input checks -------------------------------------------------------
    modes = [m for m, v in (("flux", flux), ("current", current), ("phi_s", phi_s)) if v is not None]
    if len(modes) != 1:
        raise ValueError(f"give exactly one of flux, current, phi_s; got {modes or 'none'}")
    mode = modes[0]
    if mode == "phi_s" and kinetics is None:
        raise ValueError("phi_s (potentiostatic) needs kinetics")
    if stress_assisted not in (None, "generic", "shortcut"):
        raise ValueError(f"stress_assisted = {stress_assisted!r}; allowed: None, 'generic', 'shortcut'")
    if stress_assisted is not None and mechanics is None:
        raise ValueError(f"stress_assisted = {stress_assisted!r} needs mechanics")
    if scheme not in ("bdf2", "euler"):
        raise ValueError(f"scheme = {scheme!r}; allowed: 'bdf2', 'euler'")
    if not (R > 0 and T > 0 and int(n_cells) >= 4):
        raise ValueError(f"need R > 0, T > 0, n_cells >= 4; got R={R!r}, T={T!r}, n_cells={n_cells!r}")
    n_cells = int(n_cells)
    t_out_arr = np.atleast_1d(np.asarray(t_out, dtype=float))
    if dt is None:
        dt = t_out_arr[-1] / 400.0 if t_out_arr[-1] > 0 else 1.0
    grid, t_out_arr = _time_grid(t_out_arr, dt)

    if callable(D):
        Dfun = D
        if dD_dc is not None:
            dDfun = dD_dc
        else:

            def dDfun(c):
                dc = 1e-6 * np.maximum(np.abs(c), 1.0)
                return (np.asarray(D(c + dc)) - np.asarray(D(c - dc))) / (2 * dc)
    else:
        D_val = float(D)
        if not D_val > 0:
            raise ValueError(f"D = {D!r} must be > 0")

        def Dfun(c):
            return np.full_like(c, D_val)

        def dDfun(c):
            return np.zeros_like(c)

    jfun = _as_function_of_t(flux, "flux")
    Ifun = _as_function_of_t(current, "current")
    phifun = _as_function_of_t(phi_s, "phi_s")
    area = 4.0 * np.pi * R**2

    # ---- mesh ----------------------------------------------------------------
    h = R / n_cells
    r = np.linspace(0.0, R, n_cells + 1)
    rf = 0.5 * (r[:-1] + r[1:])
    A = rf**2
    edges = np.concatenate([[0.0], rf, [R]])
    V = (edges[1:] ** 3 - edges[:-1] ** 3) / 3.0
    w_avg_lumped = 3.0 * V / R**3  # c_avg = w . c (finite-volume mass)

    # ---- mechanics ------------------------------------------------------------
    if mechanics is not None:
        Om, E, nu = mechanics.Omega, mechanics.E, mechanics.nu
        kappa = 2.0 * Om * E / (9.0 * (1.0 - nu))  # sigma_h = kappa (c_avg - c)
        theta = stress_assisted_theta(Om, E, nu, T)
    else:
        Om = E = nu = 0.0
        kappa = theta = 0.0
    cub = _sphere_interval_weights(r)
    # weights of the 4th-order rule for c_avg = 3/R^3 int c r^2 dr (generic route)
    w_full = np.zeros(n_cells + 1)
    np.add.at(w_full, cub[0].ravel(), cub[1].ravel())
    w_avg_cubic = 3.0 * w_full / R**3

    def sigma_h_nodes(c):
        """sigma_h at the nodes, generic route through the stress integrals."""
        cum = _cumulative_sphere_integral(r, c, cub)
        a_r = np.empty_like(c)
        a_r[1:] = cum[1:] / r[1:] ** 3
        a_r[0] = c[0] / 3.0
        return _stresses_from_integrals(r, c, a_r, cum[-1] / R**3, R, Om, E, nu, 0.0).sigma_h

    generic = stress_assisted == "generic"
    w_avg = w_avg_cubic if generic else w_avg_lumped
    th_flux = theta if stress_assisted == "shortcut" else 0.0

    def sigma_h_surface_of(c):
        """sigma_h(R) = kappa (c_avg - c_s); 0 without mechanics."""
        if mechanics is None:
            return 0.0
        return kappa * (float(w_avg @ c) - c[-1])

    def surface_sigma_h(c):
        """sigma_h(R) as it enters the potential."""
        return sigma_h_surface_of(c) if stress_in_potential else 0.0

    # ---- kinetics helpers ------------------------------------------------------
    def ocp(x):
        return float(np.asarray(kinetics.U(np.asarray(x, dtype=float))))

    def docp(x):
        if kinetics.dU is not None:
            return float(np.asarray(kinetics.dU(np.asarray(x, dtype=float))))
        dx = 1e-7
        return (ocp(x + dx) - ocp(x - dx)) / (2 * dx)

    def i0_of(cs):
        return float(
            exchange_current_density(cs, kinetics.c_e, kinetics.c_max, kinetics.k, kinetics.alpha_a, kinetics.alpha_c)
        )

    def potential_from_flux(c, jv):
        if kinetics is None:
            return np.nan
        cs = c[-1]
        eta = float(bv_overpotential(jv, i0_of(cs), kinetics.alpha_a, kinetics.alpha_c, T))
        return ocp(cs / kinetics.c_max) + Om * surface_sigma_h(c) / FARADAY + eta

    fth = FARADAY / (R_GAS * T)

    def potentiostatic_flux(c, phi):
        """j and its derivatives wrt c_s and c_avg for fixed phi_s."""
        kin = kinetics
        cs = c[-1]
        x = cs / kin.c_max
        eta = phi - ocp(x) - Om * surface_sigma_h(c) / FARADAY
        i0 = i0_of(cs)
        ea = np.exp(-kin.alpha_c * fth * eta)
        eb = np.exp(kin.alpha_a * fth * eta)
        jv = i0 / FARADAY * (ea - eb)
        dj_deta = i0 / FARADAY * (-kin.alpha_c * fth * ea - kin.alpha_a * fth * eb)
        csc = min(max(cs, 1e-12 * kin.c_max), (1 - 1e-12) * kin.c_max)
        di0 = i0 * (kin.alpha_c / csc - kin.alpha_a / (kin.c_max - csc))
        mech = mechanics is not None and stress_in_potential
        deta_dcs = -docp(x) / kin.c_max + (Om * kappa / FARADAY if mech else 0.0)
        deta_dcavg = -Om * kappa / FARADAY if mech else 0.0
        dj_dcs = di0 / FARADAY * (ea - eb) + dj_deta * deta_dcs
        dj_dcavg = dj_deta * deta_dcavg
        return jv, dj_dcs, dj_dcavg

    # ---- residual and Jacobian ---------------------------------------------------
    def assemble(c, mass_term, dmass, t_new):
        """Residual F(c) and tridiagonal Jacobian (+ rank-one row vector)."""
        cf = 0.5 * (c[:-1] + c[1:])
        dc = np.diff(c)
        Dv = Dfun(cf)
        dDv = dDfun(cf)
        G = Dv * (1.0 + th_flux * cf)
        dG = dDv * (1.0 + th_flux * cf) + Dv * th_flux
        if generic:
            sh = sigma_h_nodes(c)
            Nf = -Dv * (dc / h - cf * Om / (R_GAS * T) * np.diff(sh) / h)
            # Jacobian as for the (identical) shortcut form
            G_j = Dv * (1.0 + theta * cf)
            dG_j = dDv * (1.0 + theta * cf) + Dv * theta
        else:
            Nf = -G * dc / h
            G_j, dG_j = G, dG
        res = mass_term.copy()
        res[:-1] += A * Nf
        res[1:] -= A * Nf
        p = G_j / h - 0.5 * dG_j * dc / h  # dN/dc_i
        q = -G_j / h - 0.5 * dG_j * dc / h  # dN/dc_{i+1}
        diag = dmass.copy()
        diag[:-1] += A * p
        diag[1:] -= A * q
        upper = A * q
        lower = -A * p
        rank1 = None
        if mode == "phi_s":
            jv, dj_dcs, dj_dcavg = potentiostatic_flux(c, phifun(t_new))
            res[-1] -= R**2 * jv
            diag[-1] -= R**2 * dj_dcs
            if dj_dcavg != 0.0:
                rank1 = -R**2 * dj_dcavg * w_avg
        else:
            jv = jfun(t_new) if mode == "flux" else Ifun(t_new) / (area * FARADAY)
            res[-1] -= R**2 * jv
        return res, lower, diag, upper, rank1, jv

    def newton(c_guess, hist, a0, dtn, t_new):
        c = c_guess.copy()
        scale = max(float(np.max(np.abs(c))), 1e-300)
        for it in range(1, max_newton + 1):
            mass_term = V * (a0 * c + hist) / dtn
            dmass = V * a0 / dtn
            res, lo, di, up, rank1, jv = assemble(c, mass_term, dmass, t_new)
            y = _solve_tridiagonal(lo, di, up, -res)
            if rank1 is not None:
                e_n = np.zeros_like(c)
                e_n[-1] = 1.0
                z = _solve_tridiagonal(lo, di, up, e_n)
                y = y - z * (rank1 @ y) / (1.0 + rank1 @ z)
            c = c + y
            if not np.all(np.isfinite(c)):
                raise RuntimeError(f"Newton diverged at t = {t_new:.6e} s (non-finite iterate)")
            scale = max(scale, float(np.max(np.abs(c))))
            if np.max(np.abs(y)) <= newton_tol * scale:
                # flux consistent with the converged state
                if mode == "phi_s":
                    jv = potentiostatic_flux(c, phifun(t_new))[0]
                return c, it, jv
        raise RuntimeError(f"Newton did not converge in {max_newton} iterations at t = {t_new:.6e} s")

    # ---- time loop ----------------------------------------------------------------
    c = np.full(n_cells + 1, float(c0))
    c_prev = None

    def record(c, jv):
        return (
            c[-1],
            float(w_avg_lumped @ c),
            jv,
            potential_from_flux(c, jv) if mode != "phi_s" else np.nan,
            sigma_h_surface_of(c),
        )

    if mode == "phi_s":
        j_init = potentiostatic_flux(c, phifun(0.0))[0]
    else:
        j_init = jfun(0.0) if mode == "flux" else Ifun(0.0) / (area * FARADAY)
    hist_rows = [record(c, j_init)]
    phis_hist = [phifun(0.0) if mode == "phi_s" else hist_rows[0][3]]
    iters = [0]
    outputs = {0.0: c.copy()} if t_out_arr[0] == 0.0 else {}
    for n in range(1, grid.size):
        t_new = grid[n]
        dtn = grid[n] - grid[n - 1]
        if scheme == "euler" or c_prev is None:
            a0, hist = 1.0, -c
        else:
            om = dtn / (grid[n - 1] - grid[n - 2])
            a0 = (1 + 2 * om) / (1 + om)
            hist = -(1 + om) * c + om**2 / (1 + om) * c_prev
        guess = c if c_prev is None else c + (c - c_prev) * dtn / (grid[n - 1] - grid[n - 2])
        c_new, it, jv = newton(guess, hist, a0, dtn, t_new)
        c_prev, c = c, c_new
        row = record(c, jv)
        hist_rows.append(row)
        phis_hist.append(phifun(t_new) if mode == "phi_s" else row[3])
        iters.append(it)
        if np.any(np.isclose(t_new, t_out_arr, rtol=0, atol=1e-12 * max(1.0, t_out_arr[-1]))):
            outputs[t_new] = c.copy()

    rows = np.array(hist_rows)
    steps = {
        "t": grid,
        "c_surface": rows[:, 0],
        "c_average": rows[:, 1],
        "j": rows[:, 2],
        "phi_s": np.array(phis_hist, dtype=float),
        "sigma_h_surface": rows[:, 4],
        "newton_iterations": np.array(iters),
    }
    pick = np.array([int(np.argmin(np.abs(grid - t))) for t in t_out_arr])
    return RadialSolution(
        r=r,
        t=t_out_arr,
        c=np.array([outputs[grid[k]] for k in pick]),
        c_surface=steps["c_surface"][pick],
        c_average=steps["c_average"][pick],
        j=steps["j"][pick],
        phi_s=steps["phi_s"][pick],
        sigma_h_surface=steps["sigma_h_surface"][pick],
        steps=steps,
    )
