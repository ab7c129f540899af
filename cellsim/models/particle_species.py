r"""Lithium per colour block across cohesive interfaces (``[mechanics] interface = "cohesive"``,
``interface_transport = "damaged"``, the default): a mixin of
:class:`cellsim.models.particle.ParticleModel`, next to :mod:`.particle_mechanics`.

Each colour k of solid regions (the submesh of the displacement block ``u_k``) has its own
concentration block ``c_k`` (stored X_k = c / c_s, c_s the core's c_max, P1 or P2 on that
submesh). On colour k

    dc_k/dt + div N_k = 0,   N_k = -D(x) grad c_k + D(x) c_k Omega/(R T) grad sigma_h_k,

(:class:`cellsim.physics.solid_diffusion.SolidDiffusion` with the block's own sigma_h_k),
N_k . n = -j_k on the block's part of the outer surface (Butler–Volmer with c_k and the
block's surface stress), and on every touching region pair (a on "+", b on "-") the flux
from a into b through the interface is

    J = k(d) (c_a - c_b),   k(d) = (1 - d)^p k_0 + k_res      [mol m-2 s-1]

(:class:`GrainTransport`, the form of
:class:`cellsim.physics.cohesive_term.DamagedTransport` with the concentrations in SI units;
d the committed damage of the pair's cohesive term, lagged by one step as the traction of
``damage_update = 'lagged'``). The two rows get + J v_a and - J v_b: what leaves a enters b,
so lithium is conserved on every facet whatever d is.

k_0: ``[mechanics] interface_transport_coefficient`` [m s-1], by default 1e3 D(x_0)/h with h
the cube root of the mean cell volume of the particle mesh. A bonded interface then has a
resistance 1/k_0 a thousandth of that of one element of bulk, h/D: the jump c_a - c_b
= J/k_0 is 1e-3 of the change of c across an element, below the P1 discretisation error,
and the bonded run equals the continuous concentration to O(1/k_0)
(tests/verification/test_grain_transport.py fits the order). k_res
(``interface_transport_residual``, default 0) is what a fully cracked boundary (d = 1)
still passes; ``interface_transport_exponent`` is p (default 1: the transport is
proportional to the bonded area).

Cracked grain boundaries that react (``crack_reaction``): each crack face reacts with its
own grain's concentration, d j(c_a) on "+" and d j(c_b) on "-" (:class:`CrackFace`; at
equal concentrations the 2 d j of the continuous field).

Output: the particle file holds ``lithium_concentration`` as one discontinuous Lagrange
field over the whole particle (each cell its block's values, so the jump across a cracked
boundary is visible), each block's file its own ``lithium_concentration`` next to its
displacement and stresses (as with the continuous field).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.base import FARADAY
from ..physics import mechanics
from ..physics.circuit import ParticlePotential
from ..physics.cohesive import contact_conductance
from ..physics.cohesive_term import DamagedTransport, DebondedReaction
from ..physics.kinetics import ButlerVolmer
from ..physics.solid_diffusion import SolidDiffusion
from ..physics.term import Unknown

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from dolfinx import mesh as dmesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

#: k_0 = K0_FACTOR D(x_0) / h by default (see the module docstring)
K0_FACTOR = 1.0e3


class GrainTransport(DamagedTransport):
    """Lithium through a cohesive interface between concentration blocks a ("+") and b ("-"):
    J = k(d) (c_a - c_b) with the concentrations in SI units (``m.q``), rows + J v_a, - J v_b
    (mol s-1), times ``m.live``."""

    def conductance(self):
        return contact_conductance(self.coh.damage("+"), self.G0, self.p, self.G_res)

    def flux(self, m):
        """J [mol m-2 s-1] on the interface facets (UFL)."""
        return self.conductance() * (m.q(self.a)("+") - m.q(self.b)("-"))

    def residual(self, m):
        self.coh.build(m)  # the damage function exists before the cohesive term's own rows
        J = self.flux(m)
        return {self.a: m.live * J * m.v[self.a]("+") * self.dS, self.b: -m.live * J * m.v[self.b]("-") * self.dS}


class CrackFace(DebondedReaction):
    """Butler–Volmer on one face of a cracked grain boundary: the rate d j(c_face) of the
    outer surface's law (bath electrolyte) on the face's area fraction d, with the face's own
    grain concentration (``side`` "+" or "-" of the interface measure)."""

    def __init__(self, material, measure, cohesive, side: str, **kw):
        self.solid_side = side
        super().__init__(material, measure, cohesive, **kw)


class BlockParticlePotential(ParticlePotential):
    """The particle's current balance with several reactions: every outer-surface block's rate
    on its own part of the surface, and the crack faces (galvanostatic rows; CV unchanged)."""

    def __init__(self, kinetics: list, ds, dx, volume, I_app, V_set, cv, I_ref, cracks=()):
        super().__init__(kinetics[0], kinetics[0].measure, dx, volume, I_app, V_set, cv, I_ref)
        self.more, self.cracks = list(kinetics[1:]), list(cracks)

    def residual(self, m):
        out = super().residual(m)
        q = m.v["phi"]
        for k in self.more:
            k.build(m)
            out["phi"] = out["phi"] + (1 - self.cv) * FARADAY * k.j * q * k.measure
        for k in self.cracks:
            k.build(m)
            out["phi"] = out["phi"] + (1 - self.cv) * FARADAY * k.j * q("+") * k.measure
        return out


def mesh_size(msh, volume: float) -> float:
    """h: the cube root of the mean cell volume (collective)."""
    n = msh.topology.index_map(msh.topology.dim).size_global
    return (volume / n) ** (1.0 / msh.topology.dim)


class BlockSpeciesMixin:
    """The concentration blocks ``c_k``, their terms, the surface pieces and the bookkeeping."""

    #: per-block concentration (set by ParticleModel: cohesive + interface_transport = 'damaged')
    split_c = False
    X = X_old = None
    surface_kinetics: list = []
    transports: list = []

    def block_c(self, b) -> str:
        """The concentration block that colour ``b`` reads."""
        return f"c_{b.k}" if self.split_c else "c_s"

    def lattice_coupling(self, name: str, el, sub):
        """With ``[material] lattice_strain`` and the stress-assisted flux: the projection term of
        w = sigma : d eps_ch/dc of elasticity ``el`` (block ``name``, P1 on ``sub``) and its row
        weight; otherwise None."""
        if self.lattice is None or not self.case.physics.stress_assisted_diffusion:
            return None
        from ..materials.lattice import resolve_lattice_strain
        from .particle_grains import CouplingProjection

        tab, cmax = resolve_lattice_strain(self.lattice), self.core.c_max
        ea, ec = tab.strains(np.asarray(tab.x))
        om = max(np.max(np.abs(np.diff(e) / np.diff(tab.x))) for e in (ea, ec)) / cmax  # typical d eps/dc
        om = om if om > 0 else 1e-6
        t = CouplingProjection(name, el, self.lattice, self.R_grain, cmax)
        t.declared = [Unknown(name, fem.functionspace(sub, ("Lagrange", 1)), scale=self.Es * om, role="stress")]
        return t, 1.0 / (self.L**3 * self.Es * om)

    def transport_coefficient(self, D_ref: float) -> float:
        ms = self.case.mechanics
        if ms.interface_transport_coefficient is not None:
            return float(ms.interface_transport_coefficient)
        return K0_FACTOR * D_ref / mesh_size(self.mesh, self.volume)

    def species_terms(self, dx, ds, disc, D_ref: float, stress_flux: bool, sio: bool, flux, bath_ce):
        """(terms, order, weights) of the concentration blocks and the outer-surface reactions
        (``self.surface_kinetics``, one per block that meets the surface); after
        :meth:`split_mechanics_terms`."""
        msh, tm = self.mesh, self.tm
        fdim = msh.topology.dim - 1
        surf = tm.facets("particle_electrolyte")
        msh.topology.create_connectivity(fdim, fdim + 1)
        f2c = msh.topology.connectivity(fdim, fdim + 1)
        ncell = msh.topology.index_map(fdim + 1).size_local + msh.topology.index_map(fdim + 1).num_ghosts
        colour_of = np.full(ncell, -1, dtype=np.int32)
        for b in self.blocks:
            colour_of[b.region.parent_cells] = b.k
        first = f2c.array[f2c.offsets[surf]]
        tags = dmesh.meshtags(msh, fdim, surf.astype(np.int32), (colour_of[first] + 1).astype(np.int32))
        self._ds_block = ufl.Measure("ds", domain=msh, subdomain_data=tags, metadata=ds.metadata())
        cs = self.cs
        terms, order, weights = [], [], {}
        self.surface_kinetics, self._dx_block = [], {}
        for b in self.blocks:
            name = self.block_c(b)
            diff = SolidDiffusion(name, [(dx(tuple(tg)), mat) for tg, mat in zip(b.tags, b.mats)],
                                  stress=b.sh if stress_flux and not b.mu else None,
                                  potential=b.mu if stress_flux else None)
            V = fem.functionspace(b.region.mesh, ("Lagrange", disc.concentration_degree))
            diff.declared = [Unknown(name, V, scale=cs, history=True, role="concentration")]
            terms.append(diff)
            order.append(name)
            weights[name] = 1.0 / (cs * D_ref * self.L)
            self._dx_block[b.k] = dx(tuple(t for tg in b.tags for t in tg))
            n_surf = self.comm.allreduce(int(np.sum(colour_of[first] == b.k)), op=MPI.SUM)
            if n_surf == 0:
                continue  # a core: no outer surface
            el = b.elasticity

            def sigma_h(m, el=el):
                return mechanics.hydrostatic(el.stresses(m)[-1])

            def w(m, el=el, name=name):
                from .particle_grains import coupling_potential

                return coupling_potential(self.lattice, self.R_grain, self.core.c_max, el.stresses(m)[-1], m.q(name))

            lat = sio and self.lattice is not None
            kin = ButlerVolmer(self.surface_mat, self._ds_block(b.k + 1), c_s=name,
                               phi_s=None if self.flux_mode else "phi", bath_ce=bath_ce,
                               sigma_h=sigma_h if sio and not lat else None, flux=flux, solid_charge_row=False,
                               mech_potential=w if lat else None)
            kin.block = b
            self.surface_kinetics.append(kin)
            terms.append(kin)
        # the transport across every cohesive pair
        ms = self.case.mechanics
        k0 = self.k0 = self.transport_coefficient(D_ref)
        self.transports = []
        for coh in self.cohesives:
            ca, cb = (self.block_c(self.blocks[k]) for k in coh.colours)
            t = GrainTransport(ca, cb, k0, coh.reaction_measure, coh, p=ms.interface_transport_exponent,
                               G_res=ms.interface_transport_residual)
            self.transports.append(t)
            terms.append(t)
        return terms, order, weights

    def crack_faces(self, material, bath_ce) -> list:
        """Two :class:`CrackFace` per cohesive grain boundary (phi the particle potential)."""
        out = []
        for coh in self.cohesives:
            for side, k in zip(("+", "-"), coh.colours):
                out.append(CrackFace(material, coh.reaction_measure, coh, side,
                                     c_s=self.block_c(self.blocks[k]), phi_s="phi",
                                     bath_ce=bath_ce, solid_charge_row=False))
        return out

    # ------------------------------------------------------------------ state helpers
    def conc_blocks(self) -> list[str]:
        return [self.block_c(b) for b in self.blocks]

    def set_uniform_concentration(self, X: float) -> None:
        for n in self.conc_blocks():
            self.u[n].x.array[:] = X
            self.old[n].x.array[:] = X

    def mean_stored_concentration(self) -> float:
        """Dof mean of the stored X over all blocks (a start value; collective)."""
        s = np.array([sum(self.u[n].x.array.sum() for n in self.conc_blocks()),
                      sum(self.u[n].x.array.size for n in self.conc_blocks())], dtype=float)
        s = self.comm.allreduce(s, op=MPI.SUM)
        return s[0] / s[1]

    def max_conc_change(self) -> float:
        """Largest |X - X_old| over all blocks on this rank."""
        return max(np.abs(self.u[n].x.array - self.old[n].x.array).max(initial=0.0) for n in self.conc_blocks())

    # ------------------------------------------------------------------ diagnostics helpers
    def species_forms(self, em: dict) -> dict:
        """Forms of the lithium, surface concentration, surface OCP, current (without cracks) and
        surface sigma_h, summed over the blocks."""
        cs, sm = self.cs, self.surface_mat
        lith = sum(cs * self.u[self.block_c(b)] * self._dx_block[b.k] for b in self.blocks)
        csurf = sum(cs * self.u[k.c_s] * k.measure for k in self.surface_kinetics)
        ocp = sum(sm.ocp(cs * self.u[k.c_s] / sm.c_max) * k.measure for k in self.surface_kinetics)
        cur = sum(FARADAY * k.j * k.measure for k in self.surface_kinetics)
        out = {"lithium": fem.form(lith, **em), "csurf": fem.form(csurf, **em), "ocp": fem.form(ocp, **em),
               "current": cur}
        if self.surface_kinetics[0].sigma_h is not None:
            out["shsurf"] = fem.form(sum(k.sigma_h(self) * k.measure for k in self.surface_kinetics), **em)
        if self.surface_kinetics[0].mech_potential is not None:
            out["wsurf"] = fem.form(sum(k.mech_potential(self) * k.measure for k in self.surface_kinetics), **em)
        return out

    def setup_species_fields(self) -> None:
        """The particle-wide discontinuous concentration field and each block's surface dofs."""
        deg = self.case.discretisation.concentration_degree
        self.f_c = fem.Function(fem.functionspace(self.mesh, ("DG", deg)), name="lithium_concentration")
        msh = self.mesh
        fdim = msh.topology.dim - 1
        surf = self.tm.facets("particle_electrolyte")
        dom = np.asarray(fem.compute_integration_domains(fem.IntegralType.exterior_facet, msh.topology,
                                                         surf[surf < msh.topology.index_map(fdim).size_local]),
                         dtype=np.int32).reshape(-1, 2)
        self._surf_block_dofs = []
        for k in self.surface_kinetics:
            b = k.block
            sub = b.region.mesh
            ncell = sub.topology.index_map(fdim + 1).size_local + sub.topology.index_map(fdim + 1).num_ghosts
            sub_of = np.full(msh.topology.index_map(fdim + 1).size_local
                             + msh.topology.index_map(fdim + 1).num_ghosts, -1, dtype=np.int64)
            sub_of[b.region.entity_map.sub_topology_to_topology(np.arange(ncell, dtype=np.int32), False)] = \
                np.arange(ncell)
            sel = sub_of[dom[:, 0]] >= 0
            sub.topology.create_connectivity(fdim + 1, fdim)
            sub.topology.create_connectivity(fdim, fdim + 1)
            c2f = sub.topology.connectivity(fdim + 1, fdim)
            facets = np.array([c2f.links(int(c))[int(lf)] for c, lf in zip(sub_of[dom[sel, 0]], dom[sel, 1])],
                              dtype=np.int32)
            V = self.u[k.c_s].function_space
            dofs = fem.locate_dofs_topological(V, fdim, facets)
            self._surf_block_dofs.append((k.c_s, dofs[dofs < V.dofmap.index_map.size_local]))

    def surface_stoichiometry_local(self) -> np.ndarray:
        """The stored X at this rank's owned outer-surface dofs of every block, as stoichiometry."""
        vals = [self.u[n].x.array[d] for n, d in self._surf_block_dofs]
        return np.concatenate(vals) * self.cs / self.surface_mat.c_max if vals else np.zeros(0)

    def setup_species_mirror(self) -> None:
        """``X`` and ``X_old``: discontinuous copies of the blocks on the parent mesh (stored
        units), for code that reads the particle's concentration as one field (forms,
        diagnostics); refreshed after every step, state change and accept."""
        V = fem.functionspace(self.mesh, ("DG", self.case.discretisation.concentration_degree))
        self.X, self.X_old = fem.Function(V, name="c_s"), fem.Function(V, name="c_s_old")
        self.sync_mirror()

    def sync_mirror(self, old: bool = True) -> None:
        if not self.split_c or self.X is None:
            return
        for f, src in ((self.X, self.u),) + (((self.X_old, self.old),) if old else ()):
            for b in self.blocks:
                n = len(b.region.parent_cells)
                f.interpolate(src[self.block_c(b)], cells0=np.arange(n, dtype=np.int32), cells1=b.region.parent_cells)

    def set_state(self, st: dict) -> None:
        super().set_state(st)
        self.sync_mirror()

    def accept(self) -> None:
        super().accept()
        self.sync_mirror()

    def after_load(self) -> None:
        super().after_load()
        self.sync_mirror()

    def update_species_fields(self) -> None:
        """The particle-wide field from the blocks (collective)."""
        self.sync_mirror(old=False)
        self.f_c.x.array[:] = self.cs * self.X.x.array


__all__ = ["BlockSpeciesMixin", "GrainTransport", "CrackFace", "BlockParticlePotential", "K0_FACTOR", "mesh_size"]
