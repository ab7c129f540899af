r"""Independent closed forms for the bilinear mixed-mode cohesive law (tests only).

Written from Camanho & Davila's formulation in terms of the mode ratio beta = delta_s/delta_n
(delta_s = |delta_t|), scalar by scalar with explicit branches, without sharing any code
with :mod:`cellsim.physics.cohesive` (which works with B = beta^2/(1 + beta^2)).

    delta_n0 = N/K, delta_s0 = S/K
    opening (delta_n > 0):  beta = delta_s/delta_n,
        delta_0 = delta_n0 delta_s0 sqrt((1 + beta^2)/(delta_s0^2 + beta^2 delta_n0^2))
        BK:    delta_f = 2/(K delta_0) [G_Ic + (G_IIc - G_Ic) (beta^2/(1 + beta^2))^eta]
        power: delta_f = 2 (1 + beta^2)/(K delta_0) [(1/G_Ic)^alpha + (beta^2/G_IIc)^alpha]^(-1/alpha)
    closed (delta_n <= 0): pure shear, delta_0 = delta_s0, delta_f = 2 G_IIc / S
    delta_m = sqrt(<delta_n>_+^2 + delta_s^2), kappa = max over the path of delta_m,
    d = delta_f (delta_m - delta_0)/(delta_m (delta_f - delta_0)) on loading (delta_m above
    every earlier delta_m) past delta_0, frozen otherwise, d <= d_max, never decreasing; T_n = (1 - d) K delta_n (opening) or K delta_n (contact),
    T_t = (1 - d) K delta_t.

Also the sphere bonded in a concentric shell through a cohesive spring (see
:func:`sphere_in_shell`).
"""

from __future__ import annotations

import math


def onset_and_final(dn: float, ds: float, K, N, S, G_Ic, G_IIc, mixed_mode="BK", eta=2.0, alpha=1.0):
    """(delta_0, delta_f) at the opening (dn, ds) (ds = |delta_t| >= 0)."""
    dn0, ds0 = N / K, S / K
    if dn <= 0.0:
        return ds0, 2.0 * G_IIc / (K * ds0)
    beta = ds / dn
    b2 = beta * beta
    d0 = dn0 * ds0 * math.sqrt((1.0 + b2) / (ds0 * ds0 + b2 * dn0 * dn0))
    if mixed_mode == "BK":
        gc = G_Ic + (G_IIc - G_Ic) * (b2 / (1.0 + b2)) ** eta
        df = 2.0 / (K * d0) * gc
    else:
        df = 2.0 * (1.0 + b2) / (K * d0) * ((1.0 / G_Ic) ** alpha + (b2 / G_IIc) ** alpha) ** (-1.0 / alpha)
    return d0, df


def mixed_mode_toughness(dn: float, ds: float, K, N, S, G_Ic, G_IIc, mixed_mode="BK", eta=2.0, alpha=1.0):
    """The energy per area to separate fully along a proportional path through (dn, ds):
    the area of the bilinear envelope, K delta_0 delta_f / 2."""
    d0, df = onset_and_final(dn, ds, K, N, S, G_Ic, G_IIc, mixed_mode, eta, alpha)
    return 0.5 * K * d0 * df


class ReferenceLaw:
    """Path-following closed form: call :meth:`step` with each opening (dn, dt1[, dt2])
    in sequence; it returns the traction (Tn, Tt1[, Tt2]) and keeps kappa and d."""

    def __init__(self, K, N, S, G_Ic, G_IIc, mixed_mode="BK", eta=2.0, alpha=1.0, d_max=1.0, mu=0.0):
        self.K, self.N, self.S, self.G_Ic, self.G_IIc = K, N, S, G_Ic, G_IIc
        self.mixed_mode, self.eta, self.alpha, self.d_max, self.mu = mixed_mode, eta, alpha, d_max, mu
        self.kappa = 0.0
        self.d = 0.0
        self.d_inv = 0.0  # rate-independent damage (= d when mu = 0)

    def evaluate(self, dn, dts, dt_time=1.0):
        """(traction tuple, kappa, d) at opening (dn, dts) without committing."""
        ds = math.sqrt(sum(t * t for t in dts))
        dm = math.sqrt(max(dn, 0.0) ** 2 + ds * ds)
        kappa = max(self.kappa, dm)
        d0, df = onset_and_final(dn, ds, self.K, self.N, self.S, self.G_Ic, self.G_IIc, self.mixed_mode,
                                 self.eta, self.alpha)
        if dm > self.kappa:  # loading: the inviscid damage follows the envelope
            phi = df * (dm - d0) / (dm * (df - d0)) if dm > d0 else 0.0
            d_inv = max(self.d_inv, min(phi, self.d_max))
        else:  # unloading / reloading below the history: frozen
            d_inv = self.d_inv
        if self.mu > 0.0:
            r = self.mu / dt_time
            d_new = (d_inv + r * self.d) / (1.0 + r)
        else:
            d_new = d_inv
        d_new = max(d_new, self.d)
        if dn > 0.0:
            tn = (1.0 - d_new) * self.K * dn
        else:
            tn = self.K * dn
        tt = tuple((1.0 - d_new) * self.K * t for t in dts)
        self._d_inv_trial = d_inv
        return (tn,) + tt, kappa, d_new

    def step(self, dn, dts, dt_time=1.0):
        t, self.kappa, self.d = self.evaluate(dn, dts, dt_time)
        self.d_inv = self._d_inv_trial
        return t


# ----------------------------------------------------------------------------- sphere in shell
def sphere_in_shell(a, b, E1, nu1, E2, nu2, K, eps_star):
    r"""Elastic sphere (radius a; E1, nu1) with a uniform eigenstrain eps* (isotropic,
    eps*_ij = eps* delta_ij) bonded inside a concentric shell (a < r < b; E2, nu2; outer
    surface r = b traction-free) through a linear interface spring of stiffness K
    (normal traction sigma_rr(a) = K [u_r]), small strain.

    Lame solutions: sphere u = A r (uniform), stress sigma_rr = 3 k1 (A - eps*) with
    k1 = E1/(3(1 - 2 nu1)); shell u = C r + D/r^2,
        sigma_rr = 3 k2 C - 4 mu2 D/r^3,  sigma_tt = 3 k2 C + 2 mu2 D/r^3.
    Conditions: sigma_rr(b) = 0 -> C = 4 mu2 D/(3 k2 b^3);
    continuity of traction and the spring: p := sigma_rr(a) = 3 k1 (A - eps*) (sphere)
    = 3 k2 C - 4 mu2 D/a^3 (shell) and p = K (u2(a) - u1(a)) = K (C a + D/a^2 - A a).

    The shell alone: p = -(4 mu2 D/a^3)(1 - a^3/b^3) and u2(a) = C a + D/a^2, so the shell's
    radial compliance at r = a is u2(a) = p a * c_shell with
        c_shell = -[a^3/(4 mu2) + a^3/(3 k2 b^3) * ... ]   (computed below from C, D in terms of p)
    and the sphere's: u1(a) = A a = a (eps* + p/(3 k1)).
    Eliminating: p = K (u2 - u1) with u2 = g2 p a, u1 = a eps* + a p/(3 k1):
        p (1 - K a g2 + K a/(3 k1)) = -K a eps*  ->  p = -K a eps* / (1 + K a (1/(3 k1) - g2)).
    Shrinking (eps* < 0) gives p > 0: the interface is pulled open (tension); swelling gives
    compression. g2 < 0 (a pressure p > 0 pulling the shell inwards, i.e. tension on its
    inner face, moves the inner face inwards).

    Returns a dict with the interface normal traction p [Pa], the opening [u_r] = p/K [m],
    u1(a), u2(a), and the factor f = p/eps* [Pa].
    """
    k1 = E1 / (3.0 * (1.0 - 2.0 * nu1))
    k2 = E2 / (3.0 * (1.0 - 2.0 * nu2))
    mu2 = E2 / (2.0 * (1.0 + nu2))
    # shell under inner radial traction p (sigma_rr(a) = p, sigma_rr(b) = 0):
    # C = 4 mu2 D/(3 k2 b^3); p = 3 k2 C - 4 mu2 D/a^3 = 4 mu2 D (1/b^3 - 1/a^3)
    # -> D = p / (4 mu2 (1/b^3 - 1/a^3)), u2(a) = C a + D/a^2
    Dp = 1.0 / (4.0 * mu2 * (1.0 / b**3 - 1.0 / a**3))  # D per unit p
    Cp = 4.0 * mu2 * Dp / (3.0 * k2 * b**3)
    g2 = (Cp * a + Dp / a**2) / a  # u2(a) = g2 p a
    f = -K * a / (1.0 + K * a * (1.0 / (3.0 * k1) - g2))
    p = f * eps_star
    u1 = a * (eps_star + p / (3.0 * k1))
    u2 = g2 * p * a
    return {"p": p, "opening": p / K, "u1": u1, "u2": u2, "factor": f, "g2": g2, "k1": k1}


def sphere_in_shell_onset(a, b, E1, nu1, E2, nu2, K, N):
    """Shrinking eigenstrain at damage onset (normal traction = N): eps*_0 = N / f (< 0)."""
    return N / sphere_in_shell(a, b, E1, nu1, E2, nu2, K, 1.0)["factor"]


def sphere_in_shell_separation(a, b, E1, nu1, E2, nu2, K, N, G_Ic):
    r"""Shrinking eigenstrain at full separation, pure mode I (radial symmetry).

    At full separation the traction vanishes, so both solids are stress-free: the sphere
    has shrunk by u1(a) = a eps* and the shell is undeformed; the opening is delta_f = 2 G_Ic/N
    = -a eps*. Hence |eps*_f| = delta_f / a = 2 G_Ic/(N a), independent of the elastic
    compliances (the compliance only changes the path, and whether it snaps back: the
    unloading of the solids releases opening -d(p)/dp * (a/(3 k1) - a g2) a ... while the
    interface softens; stable if the softening slope N/(delta_f - delta_0) is below
    1/(a (1/(3 k1) - g2)), the stiffness of the two solids seen by the interface).
    Dissipated energy at separation: 4 pi a^2 G_Ic.
    """
    return -2.0 * G_Ic / (N * a)


def sphere_in_shell_path(a, b, E1, nu1, E2, nu2, K, N, G_Ic, eps_star):
    """Interface traction p(eps*) on the whole path for a monotone shrinking eps* <= 0 (mode I,
    inviscid, d_max = 1), or None where the path snaps back (then not unique).

    Elastic solids: opening delta = p/K_el-relation  delta = -a eps* - c p with
    c = a (1/(3 k1) - g2) > 0 (compliance of the solids seen by the interface);
    interface law p = T(delta) (bilinear envelope, loading). Before onset p = K delta;
    softening p = N (delta_f - delta)/(delta_f - delta_0).
    """
    s = sphere_in_shell(a, b, E1, nu1, E2, nu2, K, 1.0)
    c = a * (1.0 / (3.0 * s["k1"]) - s["g2"])
    d0, df = N / K, 2.0 * G_Ic / N
    load = -a * eps_star  # opening if the solids were rigid
    # elastic branch: delta = load - c K delta -> delta = load/(1 + c K)
    delta = load / (1.0 + c * K)
    if delta <= d0:
        return K * delta
    ks = N / (df - d0)
    if c * ks >= 1.0:
        return None  # snap-back
    # softening: delta = load - c N (df - delta)/(df - d0)  -> delta (1 - c ks) = load - c ks df
    delta = (load - c * ks * df) / (1.0 - c * ks)
    if delta >= df:
        return 0.0
    return N * (df - delta) / (df - d0)
