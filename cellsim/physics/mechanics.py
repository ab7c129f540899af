r"""Small-strain linear elasticity with chemical (Vegard) strain (DESIGN.md §3).

    div sigma = 0,    sigma = C : (eps(u) - eps_ch),    eps(u) = sym(grad u),
    eps_ch = Omega/3 (c - c_ref) I   (or R diag(eps_a, eps_a, eps_c) R^T of a grain),
    C : e = lambda tr(e) I + 2 mu e  (isotropic),
    sigma_h = tr(sigma)/3,  sigma_vm = sqrt(3/2 s:s), s = dev(sigma).

A free particle is loaded only by its chemical strain; its six rigid-body modes are
removed with Lagrange multipliers (``rigid_body_modes``): int u . r_k dx = 0.
"""

from __future__ import annotations

import ufl


def lame(E, nu):
    """Lamé parameters (lambda, mu) from Young's modulus and Poisson's ratio."""
    return E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))


def strain(u):
    return ufl.sym(ufl.grad(u))


class TensorEigenstrain:
    """A chemical strain given as a tensor function of the concentration, eps_ch = fn(c) (the
    anisotropic lattice strain of a grain, :func:`cellsim.materials.lattice.chemical_strain_tensor`),
    passed as ``omega`` to :func:`stress` in place of the partial molar volume. (A wrapper,
    not any callable: UFL coefficients are callable too, for their restrictions.)"""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, c):
        return self.fn(c)


def stress(u, c, E, nu, omega, c_ref):
    """Cauchy stress sigma = C : (eps(u) - eps_ch), eps_ch = Omega/3 (c - c_ref) I with
    ``omega`` = Omega (number or coefficient); or eps_ch = omega(c) when ``omega`` is a
    :class:`TensorEigenstrain` (c_ref is then unused)."""
    lmbda, mu = lame(E, nu)
    gdim = len(u)
    if isinstance(omega, TensorEigenstrain):
        eps_ch = omega(c)
    else:
        eps_ch = omega / 3.0 * (c - c_ref) * ufl.Identity(gdim)
    eps = strain(u) - eps_ch
    return lmbda * ufl.tr(eps) * ufl.Identity(gdim) + 2 * mu * eps


def hydrostatic(sigma):
    return ufl.tr(sigma) / 3.0


def von_mises(sigma):
    gdim = ufl.shape(sigma)[0]
    s = sigma - ufl.tr(sigma) / 3.0 * ufl.Identity(gdim)
    return ufl.sqrt(1.5 * ufl.inner(s, s) + 1e-300)


def rigid_body_modes(x, centre, length):
    """The 6 (3D) rigid-body modes as UFL vectors: translations and rotations about centre.

    Rotations are scaled by 1/length so that all modes are of order one.
    """
    gdim = len(x)
    e = [ufl.as_vector([1.0 if i == k else 0.0 for i in range(gdim)]) for k in range(gdim)]
    y = (x - ufl.as_vector(centre)) / length
    if gdim == 3:
        rots = [ufl.cross(e[k], y) for k in range(3)]
    else:
        rots = [ufl.as_vector([-y[1], y[0]])]
    return e + rots


# ---------------------------------------------------------------------------------------
# the term
# ---------------------------------------------------------------------------------------
from .term import Term  # noqa: E402

#: relative stiffness of the elastic foundation that removes the rigid-body modes of a free
#: particle: k = RBM_SPRING E / L^2. The chemical load is self-equilibrated (orthogonal to
#: rigid motions), so the stresses change by O(RBM_SPRING) relative.
RBM_SPRING = 1e-9


class Elasticity(Term):
    """Quasi-static small-strain elasticity with chemical strain, and the continuous
    projection of the hydrostatic stress.

    Blocks: ``u`` (displacement; row int sigma : eps(v) dx + int k u . v dx, in N) and
    ``sigma_h`` (row int (sigma_h - tr(sigma)/3) v dx, in Pa m3). ``pieces``:
    [(volume measure, E, nu, Omega, c_ref)] (numbers or DG0 coefficients), all reading the
    concentration block ``c``. ``spring``: (measure, stiffness k [N m-3]) of the elastic
    foundation of free particles, or None.

    A solid without lithium (the carbon-binder): ``c=None`` and ``eigenstrain`` (an
    isotropic strain, number or Constant, e.g. a swelling strain; pieces' Omega and c_ref
    are then ignored); ``sigma_h=None`` drops the projection block.
    """

    def __init__(self, pieces, c="c_s", u="u", sigma_h="sigma_h", spring=None, eigenstrain=0.0):
        self.pieces, self.c, self.ub, self.sb, self.spring = list(pieces), c, u, sigma_h, spring
        self.eigenstrain = eigenstrain
        self.owns = (u, sigma_h) if sigma_h else (u,)
        self.reads = (c,) if c else ()

    def stresses(self, m) -> list:
        """The stress tensor of every piece (UFL), in the order of ``pieces``."""
        u = m.q(self.ub)
        if self.c is None:
            return [stress(u, self.eigenstrain, E, nu, 3.0, 0.0) for _, E, nu, *_ in self.pieces]
        c = m.q(self.c)
        return [stress(u, c, E, nu, om, cref) for _, E, nu, om, cref in self.pieces]

    def residual(self, m):
        vu = m.v[self.ub]
        Fu = Fs = 0
        for (dx, *_), sig in zip(self.pieces, self.stresses(m)):
            Fu = Fu + ufl.inner(sig, strain(vu)) * dx
            if self.sb:
                Fs = Fs + (m.q(self.sb) - hydrostatic(sig)) * m.v[self.sb] * dx
        if self.spring is not None:
            dx, k = self.spring
            Fu = Fu + k * ufl.inner(m.q(self.ub), vu) * dx
        out = {self.ub: Fu}
        if self.sb:
            out[self.sb] = Fs
        return out


class ElasticSupport(Term):
    """Penalty supports of a displacement block on facets (rows in N).

    ``clamps``: [(measure, restricted)] where u = 0 (row ``+int k u . v dA``);
    ``rollers``: [(measure, restricted)] where u . n = 0 (row ``+int k (u . n)(v . n) dA``,
    n the facet normal of the parent mesh). ``restricted``: the facets are interior facets
    with the solid on the "+" side. ``k`` [Pa m-1]: a stiffness large against E/h of the
    solid (the supports then act as Dirichlet conditions to O(E / (k h)));
    ``traction``: optional [(measure, restricted, p)] of a normal pressure p [Pa]
    (row ``+int p n . v dA``, compressive for p > 0).
    """

    def __init__(self, u: str, k, clamps=(), rollers=(), traction=()):
        self.ub, self.k = u, k
        self.clamps, self.rollers, self.traction = list(clamps), list(rollers), list(traction)
        self.reads = (u,)

    def residual(self, m):
        u, v = m.q(self.ub), m.v[self.ub]
        n = ufl.FacetNormal(m.parent)
        F = 0
        for ds, r in self.clamps:
            uu, vv = (u("+"), v("+")) if r else (u, v)
            F = F + self.k * ufl.inner(uu, vv) * ds
        for ds, r in self.rollers:
            uu, vv, nn = (u("+"), v("+"), n("+")) if r else (u, v, n)
            F = F + self.k * ufl.dot(uu, nn) * ufl.dot(vv, nn) * ds
        for ds, r, p in self.traction:
            vv, nn = (v("+"), n("+")) if r else (v, n)
            F = F + p * ufl.dot(nn, vv) * ds
        return {self.ub: F} if (self.clamps or self.rollers or self.traction) else {}
