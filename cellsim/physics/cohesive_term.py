r"""Physics terms of a solid/solid interface: the cohesive zone, a bonded tie, and the
damaged contact conductance.

:class:`Cohesive` wraps :class:`cellsim.physics.cohesive.CohesiveInterface` (the bilinear
mixed-mode law, history on a facet submesh) as a term: it declares no unknown, reads the
two displacement blocks (``inner`` on the "+" side of the interface measure, ``outer`` on
"-"), and adds

    inner row:  - int T(delta) . v_inner dA,      outer row:  + int T(delta) . v_outer dA

with delta = u_outer - u_inner (in N, the unit of the elasticity rows). ``outer = None`` makes
the outer side a rigid, fixed body (a current collector): delta = 0 - u_inner, n the inner
region's outward normal (into the rigid body), so the inner solid moving away from it opens
the interface; only the inner row exists. The damage inside T
is either ``implicit`` (the law at the current opening: the consistent softening tangent,
quadratic Newton away from the law's kinks, but a Newton that can cycle when facets sit at
the onset kink, where the tangent jumps from K to the softening slope) or ``lagged`` (the
default: T = (1 - d_n o_n) K delta_n n + (1 - d_n) K delta_t with d_n the committed damage
and o_n = 1 where the interface was open (delta_n > 0) at the last accepted step, 0 where
it was closed (compression then carried by the undamaged penalty K): the traction is linear
in the displacement within a step; the step's damage is then computed from the
converged opening by the law and committed, and the time step is limited by the damage
growth per step, ``max_damage_change``; an IMPL-EX-like scheme, Oliver et al., Comput.
Methods Appl. Mech. Eng. 197 (2008) 1865, without the extrapolation). After an accepted
step the model calls :meth:`Cohesive.update_history`; its history arrays (max opening,
damage, inviscid damage, dissipated energy per area, last opening) are part of the model
state (:meth:`Cohesive.snapshot`) and of checkpoints (:meth:`Cohesive.functions`).

:class:`BondedTie` is the same interface without damage: T = K delta (a stiff penalty).

:class:`DamagedContact` is the electronic contact of the interface whose conductance falls
with the (committed) damage of the cohesive term:

    G(d) = (1 - d)^p G_0 + G_res            (:func:`cellsim.physics.cohesive.contact_conductance`)

The damage in G is that of the last accepted step (lagged by one step): the charge
balance holds exactly in every step whatever the damage does inside the Newton iteration.
"""

from __future__ import annotations

import numpy as np
import ufl

from .cohesive import CohesiveInterface, CohesiveParameters, contact_conductance
from .kinetics import ButlerVolmer
from .term import Term

HISTORY = ("kappa", "d", "d_inv", "D", "dm")


class Cohesive(Term):
    """Cohesive-zone term on the interface ``tag`` of the shared ``measure`` (a parent dS whose
    subdomain data put the ``inner`` region on "+").

    facets: local parent facets of the interface (owned and ghost); plus_cells: parent cells
    of the inner region; params: :class:`CohesiveParameters`.
    """

    def __init__(self, inner: str, outer: str | None, facets, plus_cells, params: CohesiveParameters, measure,
                 tag: int, name: str = "interface", damage_update: str = "lagged"):
        if damage_update not in ("lagged", "implicit"):
            raise ValueError(f"damage_update = {damage_update!r}: 'lagged' or 'implicit'")
        self.damage_update = damage_update
        self.inner, self.outer = inner, outer
        self.facets, self.plus_cells, self.params = facets, plus_cells, params
        self.measure, self.tag, self.name = measure, tag, name
        self.reads = (inner,) if outer is None else (inner, outer)
        self.itf = None
        self.open = None  # lagged mode: 1 where the interface was open at the last accepted step

    def _outer(self, m):
        """(u_outer, v_outer): the outer block, or a zero vector for a rigid outer body."""
        if self.outer is not None:
            return m.q(self.outer), m.v[self.outer]
        from dolfinx import fem

        zero = fem.Constant(m.parent, np.zeros(m.parent.geometry.dim))
        return zero, zero

    def _rows(self, inner_row, outer_row):
        return {self.inner: inner_row} if self.outer is None else {self.inner: inner_row, self.outer: outer_row}

    def build(self, m) -> CohesiveInterface:
        """The interface (facet submesh, history), created once: other terms may need its damage
        before this term's residual is composed (:meth:`damage`)."""
        if self.itf is None:
            u_out, v_out = self._outer(m)
            self.itf = CohesiveInterface(m.parent, self.facets, self.plus_cells, m.q(self.inner), u_out,
                                         m.v[self.inner], v_out, m.entity_maps, self.params, tag=self.tag,
                                         name=self.name, measure=self.measure)
        return self.itf

    def residual(self, m):
        u_out, v_out = self._outer(m)
        self.build(m)
        if self.damage_update == "implicit":
            return self._rows(self.itf.residual_inner, self.itf.residual_outer)
        # lagged: the damage and the open/closed state of the last accepted step; the traction
        # is then linear in the displacement within a step (no kink for Newton to cycle on)
        from dolfinx import fem

        self.open = fem.Function(self.itf.V0, name=f"{self.name}_open")
        K = self.params.K
        jump = u_out("-") - m.q(self.inner)("+")
        n = ufl.FacetNormal(m.parent)("+")
        dn = ufl.dot(jump, n)
        dtv = jump - dn * n
        d = self.itf.d("+")
        T = (1.0 - d * self.open("+")) * K * dn * n + (1.0 - d) * K * dtv
        self.traction = T
        dS = self.itf.dS
        return self._rows(-ufl.inner(T, m.v[self.inner]("+")) * dS, ufl.inner(T, v_out("-")) * dS)

    # ---------------------------------------------------------------- what the model needs
    @property
    def entity_map(self):
        """The EntityMap of the interface facet submesh (add it to the forms' entity maps)."""
        return self.itf.fmap

    @property
    def damage(self):
        """The committed damage (DG0 on the facet submesh), named ``interface_damage``."""
        return self.itf.d

    def set_time_step(self, dt: float) -> None:
        self.itf.set_time_step(dt)

    def update_history(self) -> float:
        """Commit the history of the accepted step; the largest damage increment (collective)."""
        if self.open is not None:
            jump, _, _ = self.itf.facet_state()
            nown = self.itf._nown
            self.open.x.array[:nown] = (np.sum(jump * self.itf.normal, axis=1) > 0).astype(float)
            self.open.x.scatter_forward()
        return self.itf.update_history()

    def max_damage_change(self) -> float:
        return self.itf.max_damage_change()

    def snapshot(self) -> dict:
        snap = self.itf.snapshot()
        if self.open is not None:
            snap["open"] = self.open.x.array.copy()
        return snap

    def restore(self, snap: dict) -> None:
        self.itf.restore(snap)
        if self.open is not None and "open" in snap:
            self.open.x.array[:] = snap["open"]

    def perturb_history(self, rng) -> None:
        """Random damage in (0.1, 0.9) on closed facets (for probing the Jacobian pattern: at
        zero damage, or on an open facet, the lagged tangent is isotropic, c K I, and does not
        couple the displacement components; on a closed damaged facet it does; restore with
        :meth:`restore`)."""
        it = self.itf
        it.d.x.array[:] = 0.1 + 0.8 * rng.random(it.d.x.array.size)
        it.d_inv.x.array[:] = it.d.x.array
        it.kappa.x.array[:] = 1e-3
        if self.open is not None:
            # closed facets: normal K, tangential (1 - d) K (an open one with d > 0 is isotropic)
            self.open.x.array[:] = 0.0

    def functions(self) -> dict:
        """History Functions by checkpoint name."""
        out = {f"{self.name}_{k}": getattr(self.itf, k) for k in HISTORY}
        if self.open is not None:
            out[f"{self.name}_open"] = self.open
        return out

    def scatter(self) -> None:
        for k in HISTORY:
            getattr(self.itf, k).x.scatter_forward()
        if self.open is not None:
            self.open.x.scatter_forward()

    def diagnostics(self) -> dict:
        """Damaged / debonded area fractions, dissipated energy, max opening (collective)."""
        it = self.itf
        return {"damaged area fraction [-]": it.damaged_area_fraction(),
                "debonded area fraction [-]": it.debonded_area_fraction(),
                "dissipated energy [J]": it.dissipated_energy(),
                "max opening [m]": it.max_opening()}


class BondedTie(Term):
    """A bonded interface: traction K (u_outer - u_inner), no damage (rows in N)."""

    def __init__(self, inner: str, outer: str, K: float, dS):
        self.inner, self.outer, self.K, self.dS = inner, outer, K, dS
        self.reads = (inner, outer)

    def residual(self, m):
        jump = m.q(self.outer)("-") - m.q(self.inner)("+")
        T = self.K * jump
        return {self.inner: -ufl.inner(T, m.v[self.inner]("+")) * self.dS,
                self.outer: ufl.inner(T, m.v[self.outer]("-")) * self.dS}


class DamagedContact(Term):
    """Contact conductance G(d) between potential blocks a ("+") and b ("-") on the cohesive
    term's interface; ``G0`` [S m-2], ``p`` > 0, ``G_res`` [S m-2]."""

    def __init__(self, a: str, b: str, G0: float, dS, cohesive: Cohesive, p: float = 2.0, G_res: float = 0.0):
        self.a, self.b, self.G0, self.dS, self.coh, self.p, self.G_res = a, b, G0, dS, cohesive, p, G_res
        contact_conductance(np.zeros(1), G0, p, G_res)  # checks p and G_res
        self.reads = (a, b)

    def conductance(self):
        """G(d) as UFL (the committed damage on the "+" side)."""
        return contact_conductance(self.coh.damage("+"), self.G0, self.p, self.G_res)

    def residual(self, m):
        G = self.conductance()
        jump = m.u[self.a]("+") - m.u[self.b]("-")
        return {self.a: G * jump * m.v[self.a]("+") * self.dS,
                self.b: -G * jump * m.v[self.b]("-") * self.dS}


class DebondedReaction(ButlerVolmer):
    """Butler–Volmer on the debonded part of a cohesive interface: the rate of
    :class:`cellsim.physics.kinetics.ButlerVolmer` (solid on "+", electrolyte blocks on "-")
    times the committed damage d of ``cohesive`` (the area fraction of each facet that is open
    and filled with electrolyte), so that its rows carry d j on every facet."""

    def __init__(self, material, measure, cohesive: Cohesive, **kw):
        super().__init__(material, measure, interface=True, **kw)
        self.coh = cohesive

    def build(self, m):
        if getattr(self, "j", None) is not None:
            return
        super().build(m)
        self.j = self.coh.build(m).d("+") * self.j


class DamagedTransport(DamagedContact):
    """Lithium transport across the cohesive term's interface between two concentration
    blocks a ("+") and b ("-"), scaled by its integrity: the flux from a to b is
    k(d) (c_a - c_b) [mol m-2 s-1] with k(d) = (1 - d)^p k_0 + k_res (the form of
    :func:`cellsim.physics.cohesive.contact_conductance`; ``k0``, ``k_res`` in m s-1): a
    bonded interface (large k_0) recovers a continuous concentration, a debonded one passes
    only k_res. Species rows (mol s-1), multiplied by ``m.live`` (no transport while the
    concentrations are frozen)."""

    def residual(self, m):
        return {k: m.live * f for k, f in super().residual(m).items()}


__all__ = ["Cohesive", "BondedTie", "DamagedContact", "DamagedTransport", "DebondedReaction"]
