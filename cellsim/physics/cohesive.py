r"""Cohesive zone on a solid/solid interface: bilinear mixed-mode traction-separation law.

Opening (jump) across the interface, "+" = inner region, "-" = outer region
(the facet ordering of :mod:`cellsim.regions`), n = outward normal of the inner
region (from "+" to "-"):

    delta   = u_outer - u_inner,      delta_n = delta . n,      delta_t = delta - delta_n n
    <x>_+ = max(x, 0),  <x>_- = min(x, 0)
    delta_m = sqrt(<delta_n>_+^2 + |delta_t|^2)        (effective opening, no shear weighting)
    B       = |delta_t|^2 / delta_m^2                  (mode mixity G_II / (G_I + G_II))

Onset and final openings (Camanho & Davila 2002, one penalty K for both modes,
delta_n0 = N/K, delta_s0 = S/K):

    delta_0 = delta_n0 delta_s0 / sqrt((1 - B) delta_s0^2 + B delta_n0^2)
    G_c(B)  = G_Ic + (G_IIc - G_Ic) B^eta                                 (Benzeggagh-Kenane)
            = [((1 - B)/G_Ic)^alpha + (B/G_IIc)^alpha]^(-1/alpha)          (power law)
    delta_f = 2 G_c(B) / (K delta_0)

Damage with the history kappa = max over time of delta_m (irreversible), grown only on
loading (delta_m > kappa_old; at or below the history the damage is frozen, whatever the
mode mixity, so a change of mixity at a small opening never adds damage):

    phi(x)   = delta_f (x - delta_0) / (x (delta_f - delta_0))   for x > delta_0, else 0
    d_i      = max(d_i_old, min(phi(delta_m), d_max))   if delta_m > kappa_old,  else d_i_old
    d        = (d_i + (mu/dt) d_old) / (1 + mu/dt)      (viscous regularisation, mu >= 0)
    d        = max(d, d_old)                            (never heals)
    kappa    = max(kappa_old, delta_m)

d_i is the inviscid damage (equal to d when mu = 0), kept as history so that a delayed
damage keeps relaxing towards it at a held opening.

Traction on the outer side (the inner side receives -T):

    T = (1 - d) K (<delta_n>_+ n + delta_t) + K <delta_n>_- n

so a closed interface carries compression with the undamaged penalty K (no damage grows
in compression, no interpenetration beyond the penalty), and unloading follows the secant
(1 - d) K. Energy per unit area: stored psi = (1 - d) K delta_m^2 / 2 + K <delta_n>_-^2 / 2,
dissipation rate K delta_m^2 / 2 * d' (>= 0).

The law is written once (:func:`law`) against a tiny math namespace, so the very same code
gives UFL expressions inside forms and numpy arrays in the history update, the tests and
the plots.

Discretisation (:class:`CohesiveInterface`): the cohesive integral uses a one-point
(midpoint/centroid) quadrature on every interface facet, and the history (kappa, d,
dissipated energy per area) lives in DG0 functions on a codim-1 submesh of the interface
facets. The facet's quadrature point is its midpoint, so the DG0 history *is* the history
at the quadrature point, exactly: the P1 opening at the midpoint equals the facet mean of
the opening, which :meth:`CohesiveInterface.update_history` assembles. Inside the residual
the damage is ``d(max(kappa_old, delta_m))`` with the current opening, so UFL
differentiates through the loading branch and Newton gets the consistent (softening)
tangent; see docs/mechanics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

# ----------------------------------------------------------------------------- math namespace


def _is_ufl(*xs) -> bool:
    return any(type(x).__module__.split(".")[0] in ("ufl", "dolfinx") for x in xs)


@dataclass(frozen=True)
class _Ops:
    """The few functions the law needs, for one kind of operand."""

    sqrt: Any
    maximum: Any
    minimum: Any
    where: Any
    gt: Any


_NUMPY = _Ops(np.sqrt, np.maximum, np.minimum, np.where, np.greater)


def _ops(*xs) -> _Ops:
    if not _is_ufl(*xs):
        return _NUMPY
    import ufl

    return _Ops(ufl.sqrt, ufl.max_value, ufl.min_value, ufl.conditional, ufl.gt)


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class CohesiveParameters:
    """Bilinear mixed-mode cohesive law (SI units).

    Defaults are of the order reported for particle/binder interfaces in electrolyte; they
    are a starting point, not a fit:

    - ``G_Ic = 0.3 J/m2``: Pakhare et al. (2025) measured G_c of a PVdF/Si interface with a
      blister test: 0.55 +- 0.10 J/m2 dry, 0.31 +- 0.10 J/m2 in electrolyte, 0.26 +- 0.03 J/m2
      after cycling ("Quantifying the evolution of binder/active material interface fracture
      properties from the as-prepared state to cycling conditions"; values read from the
      abstract). The range 0.1-1 J/m2 covers the values used in particle/binder debonding
      models (e.g. Lee, Yang & Lu, Extreme Mech. Lett. 6 (2016) 37-44, graphite/PVDF; their
      parameter values were NOT checked here).
    - ``G_IIc = 2 G_Ic``: mode II tougher than mode I, as usual for polymer interfaces; an
      assumption, no source checked for particle/binder interfaces.
    - ``N = 5 MPa``, ``S = 10 MPa``: inside the 1-20 MPa strength range used for
      particle/binder interfaces (issue 9); no single measured source checked.
    - ``K = 1e16 Pa/m``: a numerical penalty (about 50 E_binder / h for E = 1 GPa and
      h = 5 um), not a material property; it must be large against E/h of the adjacent
      solids and still give delta_f > delta_0 (checked).
    - ``eta = 2``: BK exponent; 1-3 is the usual range (Benzeggagh & Kenane, Compos. Sci.
      Technol. 56 (1996) 439-449, for glass/epoxy; not particle/binder data).
    - ``d_max = 1``: full separation. Use e.g. 0.999 to keep a residual stiffness
      (1 - d_max) K that keeps a fully debonded particle's block non-singular.
    - ``mu = 0 s``: viscous regularisation time (delayed damage) off.
    """

    K: float = 1.0e16  #: penalty stiffness [Pa/m]
    N: float = 5.0e6  #: normal (mode I) strength [Pa]
    S: float = 10.0e6  #: shear (mode II) strength [Pa]
    G_Ic: float = 0.3  #: mode I fracture energy [J/m2]
    G_IIc: float = 0.6  #: mode II fracture energy [J/m2]
    mixed_mode: str = "BK"  #: "BK" (Benzeggagh-Kenane) or "power"
    eta: float = 2.0  #: BK exponent [-]
    alpha: float = 1.0  #: power-law exponent [-]
    d_max: float = 1.0  #: maximum damage, (0, 1] [-]
    mu: float = 0.0  #: viscosity of the damage (time constant) [s], >= 0

    def __post_init__(self):
        def positive(name, upper=math.inf):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or not (0.0 < v < upper):
                raise ValueError(f"cohesive parameter {name} = {v!r}: must be a finite number in (0, {upper})")

        for name in ("K", "N", "S", "G_Ic", "G_IIc", "eta", "alpha"):
            positive(name)
        if self.mixed_mode not in ("BK", "power"):
            raise ValueError(f"cohesive parameter mixed_mode = {self.mixed_mode!r}: must be 'BK' or 'power'")
        if not isinstance(self.d_max, (int, float)) or not (0.0 < self.d_max <= 1.0):
            raise ValueError(f"cohesive parameter d_max = {self.d_max!r}: must be in (0, 1]")
        if not isinstance(self.mu, (int, float)) or not math.isfinite(self.mu) or self.mu < 0.0:
            raise ValueError(f"cohesive parameter mu = {self.mu!r}: must be >= 0 [s]")
        # the softening branch must exist at every mode mixity: delta_f > delta_0
        B = np.linspace(0.0, 1.0, 201)
        d0 = onset_opening(B, self)
        df = final_opening(B, self)
        if np.any(df <= d0 * (1 + 1e-12)):
            b = float(B[np.argmax(df <= d0 * (1 + 1e-12))])
            raise ValueError(
                f"cohesive parameters give no softening branch at mode mixity B = {b:.3g}: "
                f"the fracture energy must exceed K delta_0^2 / 2 (mode I: G_Ic = {self.G_Ic!r} > "
                f"N^2/(2K) = {self.N**2 / (2 * self.K):.3g}; mode II: G_IIc = {self.G_IIc!r} > "
                f"S^2/(2K) = {self.S**2 / (2 * self.K):.3g} J/m2); raise K or the fracture energies"
            )

    @property
    def delta_n0(self) -> float:
        return self.N / self.K

    @property
    def delta_s0(self) -> float:
        return self.S / self.K

    def replace(self, **kw) -> "CohesiveParameters":
        unknown = set(kw) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown cohesive parameter(s) {sorted(unknown)}; known: {[f.name for f in fields(self)]}")
        return CohesiveParameters(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **kw})


# ----------------------------------------------------------------------------- the law (once)


def _tiny(p: CohesiveParameters) -> float:
    """Regularisation of delta_m^2 (keeps sqrt and B differentiable at zero opening);
    its relative effect on delta_m is < 1e-20 for openings above 1e-4 delta_0."""
    return (1e-14 * min(p.delta_n0, p.delta_s0)) ** 2


def _pow_guarded(x, e, ops):
    """x**e for x >= 0, and 0 at x = 0 with a zero derivative (also for e < 1)."""
    return ops.where(ops.gt(x, 0.0), x**e, 0.0 * x)


def onset_opening(B, p: CohesiveParameters):
    """delta_0(B): onset effective opening at mode mixity B = G_II/(G_I + G_II) in [0, 1]."""
    ops = _ops(B)
    dn0, ds0 = p.delta_n0, p.delta_s0
    return dn0 * ds0 / ops.sqrt((1.0 - B) * ds0**2 + B * dn0**2)


def fracture_energy(B, p: CohesiveParameters):
    """Mixed-mode fracture energy G_c(B) [J/m2] (BK or power law)."""
    ops = _ops(B)
    if p.mixed_mode == "BK":
        return p.G_Ic + (p.G_IIc - p.G_Ic) * _pow_guarded(B, p.eta, ops)
    a = p.alpha
    s = _pow_guarded((1.0 - B) / p.G_Ic, a, ops) + _pow_guarded(B / p.G_IIc, a, ops)
    return s ** (-1.0 / a)


def final_opening(B, p: CohesiveParameters):
    """delta_f(B) = 2 G_c(B) / (K delta_0(B)): effective opening at full separation."""
    return 2.0 * fracture_energy(B, p) / (p.K * onset_opening(B, p))


def damage_of(kappa, B, p: CohesiveParameters):
    """Inviscid bilinear damage d(kappa) at mixity B, clipped to [0, d_max]."""
    ops = _ops(kappa, B)
    d0 = onset_opening(B, p)
    df = final_opening(B, p)
    soft = df * (kappa - d0) / (kappa * (df - d0))
    return ops.minimum(ops.where(ops.gt(kappa, d0), soft, 0.0 * kappa), p.d_max)


@dataclass
class LawState:
    """What :func:`law` returns (UFL expressions or numpy arrays)."""

    delta_m: Any  #: effective opening [m]
    mixity: Any  #: B = |delta_t|^2 / delta_m^2 [-]
    kappa: Any  #: max(kappa_old, delta_m) [m]
    damage: Any  #: d (irreversible, viscous if mu > 0) [-]
    damage_inviscid: Any  #: d_i, the rate-independent damage d relaxes to [-]
    t_open: Any  #: scalar factor (1 - d) K of the opening part [Pa/m]
    t_comp: Any  #: normal compressive traction K <delta_n>_- [Pa]
    dn_plus: Any  #: <delta_n>_+ [m]
    dn_minus: Any  #: <delta_n>_- [m]
    stored: Any  #: stored energy per area [J/m2]


def law(delta_n, delta_t2, kappa_old, d_old, p: CohesiveParameters, viscous_ratio=0.0, d_inv_old=None) -> LawState:
    """The traction-separation law on scalars: normal opening ``delta_n``, squared tangential
    opening ``delta_t2`` = |delta_t|^2, history ``kappa_old`` (max effective opening so far),
    ``d_old`` (damage after the last accepted step) and ``d_inv_old`` (inviscid damage, the
    same as ``d_old`` when mu = 0, the default). ``viscous_ratio`` = mu/dt (0: inviscid).

    The traction vector is ``t_open * (dn_plus n + delta_t) + t_comp n``
    (:func:`traction_vector` for numpy, :class:`CohesiveInterface` for UFL).
    """
    ops = _ops(delta_n, delta_t2, kappa_old, d_old, viscous_ratio)
    # <dn>_+ and <dn>_- = dn - <dn>_+: at dn = 0 the derivative of the pair is (0, 1), so the
    # tangent of the traction there is the penalty K (closed side), never 0
    dnp = ops.where(ops.gt(delta_n, 0.0), delta_n, 0.0 * delta_n)
    dnm = delta_n - dnp
    dm2 = dnp * dnp + delta_t2
    tiny = _tiny(p)
    dm = ops.sqrt(dm2 + tiny)
    B = delta_t2 / (dm2 + tiny)
    if d_inv_old is None:
        d_inv_old = d_old
    kappa = ops.maximum(kappa_old, dm)
    d_i = ops.where(ops.gt(dm, kappa_old), ops.maximum(damage_of(dm, B, p), d_inv_old), d_inv_old)
    d = d_i
    if _is_ufl(viscous_ratio) or viscous_ratio != 0.0:
        d = (d_i + viscous_ratio * d_old) / (1.0 + viscous_ratio)
    d = ops.maximum(d, d_old)
    t_open = (1.0 - d) * p.K
    stored = 0.5 * t_open * dm2 + 0.5 * p.K * dnm * dnm
    return LawState(dm, B, kappa, d, d_i, t_open, p.K * dnm, dnp, dnm, stored)


def split_opening(delta, n):
    """numpy: (delta_n, delta_t vectors) of openings ``delta`` (..., gdim) in the frame of the
    unit normals ``n`` (..., gdim)."""
    delta = np.asarray(delta, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), delta.shape)
    dn = np.sum(delta * n, axis=-1)
    return dn, delta - dn[..., None] * n


def traction_vector(delta, n, kappa_old, d_old, p: CohesiveParameters, viscous_ratio=0.0, d_inv_old=None):
    """numpy: (traction vectors (..., gdim), LawState) for openings ``delta`` and normals ``n``."""
    delta = np.asarray(delta, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), delta.shape)
    dn, dt = split_opening(delta, n)
    st = law(dn, np.sum(dt * dt, axis=-1), np.asarray(kappa_old, float), np.asarray(d_old, float), p,
             viscous_ratio, None if d_inv_old is None else np.asarray(d_inv_old, float))
    T = st.t_open[..., None] * (st.dn_plus[..., None] * n + dt) + st.t_comp[..., None] * n
    return T, st


def dissipation_increment(kappa_old, kappa_new, dm_old, dm_new, d_old, d_new, B, p: CohesiveParameters,
                          viscous: bool):
    """Energy per area dissipated in one step (>= 0) [J/m2].

    The dissipation rate is K delta_m^2 / 2 * dd/dt. Inviscid: integrated with
    K a_old a_new / 2 * (d_new - d_old), a = kappa clipped to [delta_0, kappa at d_max],
    which is exact for the bilinear law at constant mixity whatever the step size
    (d = c (1 - delta_0/kappa) makes kappa^2 dd exactly linear in dkappa). Viscous: the
    same rule with the current openings (second order in the step).
    """
    if viscous:
        a0, a1 = dm_old, dm_new
    else:
        d0 = onset_opening(B, p)
        df = final_opening(B, p)
        k_end = d0 * df / (df - p.d_max * (df - d0))
        a0 = np.clip(kappa_old, d0, k_end)
        a1 = np.clip(kappa_new, d0, k_end)
    return 0.5 * p.K * a0 * a1 * np.maximum(d_new - d_old, 0.0)


def contact_conductance(d, G0, p: float = 2.0, G_res: float = 0.0):
    """Electronic contact conductance of a damaged interface: G(d) = (1 - d)^p G0 + G_res.

    ``G0``: conductance of the intact interface [S/m2]; ``p`` > 0 shapes the loss (p = 1:
    proportional to the bonded area; p = 2, the default: faster loss, as contact spots
    separate before the interface is fully debonded; a modelling choice, not a fit);
    ``G_res`` >= 0: residual conductance of a fully debonded interface, small (e.g.
    1e-6 G0) but nonzero where a debonded particle would otherwise have a singular
    potential block. Works on numpy arrays and UFL expressions.
    """
    if not p > 0:
        raise ValueError(f"contact conductance exponent p = {p!r}: must be > 0")
    if not G_res >= 0:
        raise ValueError(f"residual contact conductance G_res = {G_res!r}: must be >= 0")
    return (1.0 - d) ** p * G0 + G_res


# ----------------------------------------------------------------------------- FE interface


class CohesiveInterface:
    """A cohesive interface between two displacement fields on their own submeshes.

    parent:       the parent mesh (ghost mode shared_facet in parallel)
    facets:       local parent facets of the interface (owned and ghost), e.g. from
                  :func:`cellsim.regions.interface_facets`
    plus_cells:   parent cells (indices or boolean mask) of the inner ("+") region
    u_inner, u_outer, v_inner, v_outer: displacement Functions and test functions, each on
                  its region's submesh
    entity_maps:  the EntityMaps of the two submeshes (parent cells <-> submesh cells)
    params:       :class:`CohesiveParameters`
    tag:          subdomain id of the interface measure
    measure:      optional: a parent ``dS`` Measure shared with other interface terms of the
                  same forms (DOLFINx takes one ``subdomain_data`` list per integral type and
                  form). Its list must hold ``(tag, itf.integration_data)`` for this interface
                  ("+" = inner); build the data first with
                  :func:`cellsim.regions.interface_integration_data`. The cohesive
                  integral always uses one quadrature point per facet (the history lives there).

    Use ``F_inner += itf.residual_inner``, ``F_outer += itf.residual_outer`` and pass
    ``itf.entity_maps`` (the two block maps + the facet-submesh map) to
    ``NonlinearProblem``. After each accepted step call :meth:`update_history`; before a
    retry call :meth:`restore` with a :meth:`snapshot`.
    """

    def __init__(self, parent, facets, plus_cells, u_inner, u_outer, v_inner, v_outer,
                 entity_maps: Sequence[Any], params: CohesiveParameters, tag: int = 1, name: str = "interface",
                 measure=None):
        from cellsim.dolfinx_env import require_dolfinx

        require_dolfinx()
        import ufl
        from dolfinx import fem, mesh
        from mpi4py import MPI

        from cellsim import regions as itf

        self.p, self.name, self.comm = params, name, parent.comm
        self._MPI, self._fem = MPI, fem
        tdim = parent.topology.dim
        gdim = parent.geometry.dim
        self.gdim = gdim
        facets = np.unique(np.asarray(facets, dtype=np.int32))
        data = itf.interface_integration_data(parent, facets, plus_cells).reshape(-1)
        self.integration_data = data
        if measure is None:
            measure = ufl.Measure("dS", domain=parent, subdomain_data=[(int(tag), data)])
        self.dS = measure(int(tag), metadata={"quadrature_degree": 1})
        self.fmesh, self.fmap, _, _ = mesh.create_submesh(parent, tdim - 1, facets)
        self.entity_maps = list(entity_maps) + [self.fmap]
        V0 = fem.functionspace(self.fmesh, ("DG", 0))
        W0 = fem.functionspace(self.fmesh, ("DG", 0, (gdim,)))
        self.V0, self.W0 = V0, W0
        self.kappa = fem.Function(V0, name="interface_max_opening")
        self.d = fem.Function(V0, name="interface_damage")
        self.d_inv = fem.Function(V0, name="interface_damage_inviscid")
        self.D = fem.Function(V0, name="interface_dissipated_energy_density")
        self.dm = fem.Function(V0, name="interface_effective_opening")  # at the last update
        self.dt = fem.Constant(parent, 1.0)
        self._ratio = params.mu / self.dt if params.mu > 0 else 0.0

        n = ufl.FacetNormal(parent)("+")
        jump = u_outer("-") - u_inner("+")
        dn = ufl.dot(jump, n)
        dtv = jump - dn * n
        st = law(dn, ufl.dot(dtv, dtv), self.kappa("+"), self.d("+"), params, self._ratio,
                 self.d_inv("+") if params.mu > 0 else None)
        self.state = st
        self.traction = st.t_open * (st.dn_plus * n + dtv) + st.t_comp * n
        self.residual_outer = ufl.inner(self.traction, v_outer("-")) * self.dS
        self.residual_inner = -ufl.inner(self.traction, v_inner("+")) * self.dS

        em = self.entity_maps
        q, qv = ufl.TestFunction(V0), ufl.TestFunction(W0)
        # the interface's own forms on a measure of its own facets as subdomain 1 (the same
        # integration data as its tag in ``measure``): forms that differ only in the tag of
        # the interface compile to one (an interface per colour pair of a polycrystal)
        dS1 = ufl.Measure("dS", domain=parent, subdomain_data=[(1, data)])(1, metadata={"quadrature_degree": 1})
        self._f_area_vec = fem.form(q("+") * dS1, entity_maps=em)
        self._f_jump = fem.form(ufl.inner(jump, qv("+")) * dS1, entity_maps=em)
        self._f_normal = fem.form(ufl.inner(n, qv("+")) * dS1, entity_maps=em)
        self._f_stored = fem.form(st.stored * dS1, entity_maps=em)
        self._f_traction = [fem.form(self.traction[i] * dS1, entity_maps=em) for i in range(gdim)]
        nown = V0.dofmap.index_map.size_local
        self._nown = nown
        # blocked DG0 dofs of W0 in the dof order of V0 (both one dof per facet-cell)
        self._w_of_v = np.empty(V0.dofmap.list.shape[0], dtype=np.int64)
        self._w_of_v[V0.dofmap.list[:, 0]] = W0.dofmap.list[:, 0]
        self.area = self._facet_values(self._f_area_vec, 1)[:nown]
        nrm = self._facet_values(self._f_normal, gdim)[:nown]
        with np.errstate(divide="ignore", invalid="ignore"):
            self.normal = nrm / self.area[:, None]
        self.total_area = self.comm.allreduce(float(self.area.sum()), op=MPI.SUM)
        if self.total_area <= 0:
            raise ValueError(f"cohesive interface {name!r} has no facet (total area 0)")
        if np.any(self.area <= 0):
            raise ValueError(f"cohesive interface {name!r}: {int(np.sum(self.area <= 0))} owned facets "
                             "of the facet submesh are not integrated (not interior interface facets)")

    # ------------------------------------------------------------------ helpers
    def _facet_values(self, form, bs):
        from dolfinx import la

        b = self._fem.assemble_vector(form)
        b.scatter_reverse(la.InsertMode.add)
        b.scatter_forward()
        if bs == 1:
            return b.array.copy()
        return b.array.reshape(-1, bs)[self._w_of_v]

    def set_time_step(self, dt: float) -> None:
        """Time step [s] of the coming solve (used by the viscous regularisation only)."""
        if not dt > 0:
            raise ValueError(f"time step dt = {dt!r}: must be > 0")
        self.dt.value = float(dt)

    def _trial(self):
        """Facet-wise state of the current displacement (not committed): arrays over owned facets."""
        nown = self._nown
        jump = self._facet_values(self._f_jump, self.gdim)[:nown] / self.area[:, None]
        ratio = self.p.mu / float(self.dt.value) if self.p.mu > 0 else 0.0
        T, st = traction_vector(jump, self.normal, self.kappa.x.array[:nown], self.d.x.array[:nown], self.p, ratio,
                                self.d_inv.x.array[:nown] if self.p.mu > 0 else None)
        return jump, T, st

    # ------------------------------------------------------------------ history
    def update_history(self) -> float:
        """Commit the state of the current displacement (after an accepted step).

        Returns the largest damage increment of the step over the whole interface
        (collective), for a ``max_damage_change`` time-step control.
        """
        nown = self._nown
        _, _, st = self._trial()
        k_old, d_old, dm_old = (self.kappa.x.array[:nown].copy(), self.d.x.array[:nown].copy(),
                                self.dm.x.array[:nown].copy())
        dD = dissipation_increment(k_old, st.kappa, dm_old, st.delta_m, d_old, st.damage, st.mixity, self.p,
                                   viscous=self.p.mu > 0)
        self.kappa.x.array[:nown] = st.kappa
        self.d.x.array[:nown] = st.damage
        self.d_inv.x.array[:nown] = st.damage_inviscid
        self.dm.x.array[:nown] = st.delta_m
        self.D.x.array[:nown] += dD
        for f in (self.kappa, self.d, self.d_inv, self.dm, self.D):
            f.x.scatter_forward()
        dd = float(np.max(st.damage - d_old)) if nown else 0.0
        return self.comm.allreduce(dd, op=self._MPI.MAX)

    def max_damage_change(self) -> float:
        """Largest damage increment the current displacement would commit (collective)."""
        _, _, st = self._trial()
        nown = self._nown
        dd = float(np.max(st.damage - self.d.x.array[:nown])) if nown else 0.0
        return self.comm.allreduce(dd, op=self._MPI.MAX)

    def snapshot(self) -> dict:
        """Copies of the history arrays (owned and ghost entries), for :meth:`restore`."""
        return {k: getattr(self, k).x.array.copy() for k in ("kappa", "d", "d_inv", "D", "dm")} | {"dt": float(self.dt.value)}

    def restore(self, snap: dict) -> None:
        for k in ("kappa", "d", "d_inv", "D", "dm"):
            getattr(self, k).x.array[:] = snap[k]
        self.dt.value = snap["dt"]

    # ------------------------------------------------------------------ diagnostics (collective)
    def _sum(self, local: float) -> float:
        return self.comm.allreduce(float(local), op=self._MPI.SUM)

    def damaged_area_fraction(self, tol: float = 0.0) -> float:
        """Area fraction of the interface with committed damage d > tol."""
        d = self.d.x.array[: self._nown]
        return self._sum(self.area[d > tol].sum()) / self.total_area

    def debonded(self, tol: float = 1e-6) -> np.ndarray:
        """Owned facets (or points) with d >= d_max - tol or d > 0.99 (committed damage)."""
        d = self.d.x.array[: self._nown]
        return (d >= self.p.d_max - tol) | (d > 0.99)

    def debonded_area_fraction(self, tol: float = 1e-6) -> float:
        """Area fraction of the :meth:`debonded` facets."""
        return self._sum(self.area[self.debonded(tol)].sum()) / self.total_area

    def dissipated_energy(self) -> float:
        """Energy dissipated so far [J] in 3D, [J/m] (per unit depth) in 2D."""
        return self._sum(np.dot(self.area, self.D.x.array[: self._nown]))

    def stored_energy(self) -> float:
        """Elastic energy stored in the interface at the current displacement [J] (3D), [J/m] (2D)."""
        return self._sum(self._fem.assemble_scalar(self._f_stored))

    def max_opening(self) -> float:
        """Largest effective opening delta_m [m] at the current displacement (collective)."""
        _, _, st = self._trial()
        m = float(np.max(st.delta_m)) if self._nown else 0.0
        return self.comm.allreduce(m, op=self._MPI.MAX)

    def mean_traction(self) -> np.ndarray:
        """Assembled mean traction vector (1/|Gamma|) int T dGamma [Pa] on the outer side."""
        return np.array([self._sum(self._fem.assemble_scalar(f)) for f in self._f_traction]) / self.total_area

    def facet_state(self):
        """Owned facets: (midpoint opening vectors, traction vectors, LawState) of the current
        displacement with the committed history (numpy, not committed)."""
        return self._trial()

    def facet_midpoints(self) -> np.ndarray:
        """Midpoints (owned facets, in the order of the history arrays), shape (n, 3)."""
        from dolfinx import mesh

        cells = np.empty(self._nown, dtype=np.int32)
        dofs = self.V0.dofmap.list[:, 0]
        own = dofs < self._nown
        cells[dofs[own]] = np.flatnonzero(own)
        return mesh.compute_midpoints(self.fmesh, self.fmesh.topology.dim, cells)

    def damage_function(self):
        """The committed damage as a DG0 Function on the interface facet submesh (``fmesh``),
        named ``interface_damage``. ``VTKFile``: ``write_function`` alone (tested: read back by
        PyVista); ``XDMFFile``: ``write_mesh(fmesh)`` first in the same file (ENVIRONMENT.md)."""
        return self.d


__all__ = [
    "CohesiveParameters",
    "CohesiveInterface",
    "LawState",
    "law",
    "onset_opening",
    "final_opening",
    "fracture_energy",
    "damage_of",
    "split_opening",
    "traction_vector",
    "dissipation_increment",
    "contact_conductance",
]
