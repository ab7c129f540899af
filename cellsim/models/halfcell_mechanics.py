r"""The electrode skeleton of the half-cell (``[mechanics] skeleton = true``), a mixin of
:class:`cellsim.models.halfcell.HalfCellModel`.

=============  ================  ===========================================================
region         block             terms
=============  ================  ===========================================================
particles P    u, sigma_h        Elasticity (chemical strain Omega/3 (c - c_ref) I, c_ref =
                                 the initial concentration: the electrode is stress-free as
                                 made), ElasticSupport (collector_particle clamp, rollers)
binder B       u_b               Elasticity (E_b, nu_b, optional swelling eigenstrain),
                                 ElasticSupport (collector_binder clamp, rollers)
P/B interface  (none)            Cohesive (bilinear mixed-mode law) or BondedTie (penalty),
                                 DamagedContact (G(d) = (1 - d)^p G_0 + G_res on phi_s/phi_b)
collector      (none)            ElasticSupport clamp, or Cohesive against the rigid collector
                                 (collector_interface = 'cohesive')
gap (P/B)      (c_s, phi_s,      DebondedReaction (gap_reaction = true): Butler-Volmer times the
               c_e, phi_e)       damage d against the binder-pore electrolyte (binder cells then
                                 belong to the liquid too, porosity binder_porosity)
=============  ================  ===========================================================

The electrolyte carries no stress. Boundary conditions are penalties on the parent mesh's
facets (a Dirichlet condition on a submesh block would need the solver's bc plumbing; the
penalty k = clamp_penalty E_s / R is 1e3 x E_s / R by default, so the clamp and roller
displacements are O(1e-3) of the elastic ones): the collector face clamped (u = 0 on
``collector_particle`` / ``collector_binder``), the lateral faces (the two or four faces
normal to x and y) on rollers (u . n = 0), the separator face free. With every particle
tied to the binder (bonded, or cohesive with d <= d_max < 1) and the binder clamped, the
skeleton has no rigid-body mode: no spring.

Collector bond (``[mechanics] collector_interface``): ``clamped`` (the penalty above) or
``cohesive``: the same :class:`Cohesive` term on ``collector_particle`` / ``collector_binder``
with the rigid collector as its outer side (opening delta = 0 - u, so a solid moving away
from the collector opens the bond; its own strengths and fracture energies, the particle/
binder penalty, d_max and viscosity), and the collector contact conductance of a facet
falls as G_cc ((1 - d)^p + G_res/G_0). It needs the collector as a region (its facets are
interior facets of the mesh), which every half-cell geometry has.

Time step: a converged step whose largest damage increase (any cohesive interface) exceeds
``damage_jump_limit * max_damage_change`` is refused by
:meth:`cellsim.models.cohesive_history.CohesiveHistoryMixin.check_damage_jump`
(through the model's ``check_solution``), which the driver retries with dt/2, unless dt/2
would fall below ``time.dt_min``.

Bookkeeping (:meth:`SkeletonMixin.skeleton_diagnostics`, cohesive interfaces): damaged and
debonded area fractions, dissipated energy, max opening (particle/binder and, separately,
the collector bond), and per particle its damaged area fraction and whether it is
electronically connected: a path of conducting contacts joins it to the collector in the
conductance graph of :mod:`cellsim.models.halfcell_network` (particles, carbon-binder
pieces, particle/particle contacts, collector contacts, damaged ones included).
Isolated particles hold stranded lithium: the lithium a charge could still extract from
them, F (x_i - x_100) c_max V_i, and their share of the capacity, F c_max |x_0 - x_100| V_i,
is the capacity lost (both per cross-section, mA h m-2).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.base import FARADAY
from ..physics.cohesive import CohesiveParameters, contact_conductance
from ..physics.cohesive_term import BondedTie, Cohesive, DamagedContact
from ..physics.mechanics import RBM_SPRING, ElasticSupport, Elasticity
from ..physics.term import Unknown
from .cohesive_history import CohesiveHistoryMixin
from .halfcell_grain_boundaries import GrainBoundaryMixin
from .halfcell_grains import particle_omega
from .halfcell_network import ConductanceGraph
from .halfcell_output import StressFields

dolfinx = require_dolfinx()
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

#: tags of the roller facets in the half-cell's ds subdomain data (particles, binder)
ROLLER_TAGS = {"u": 30, "u_b": 31}


def lateral_facets(parent, cells) -> np.ndarray:
    """Local exterior facets (owned and ghost) on the lateral faces of the box (x or y at its
    global min/max; the last axis is the thickness) with a cell of ``cells``."""
    comm = parent.comm
    tdim, gdim = parent.topology.dim, parent.geometry.dim
    fdim = tdim - 1
    parent.topology.create_connectivity(fdim, tdim)
    x = parent.geometry.x[:, :gdim]
    lo = np.array(x.min(axis=0) if len(x) else np.full(gdim, np.inf), dtype=np.float64)
    hi = np.array(x.max(axis=0) if len(x) else np.full(gdim, -np.inf), dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
    comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
    tol = 1e-9 * float(np.max(hi - lo))
    bf = dolfinx.mesh.exterior_facet_indices(parent.topology)
    if len(bf) == 0:
        return np.zeros(0, np.int32)
    mid = dolfinx.mesh.compute_midpoints(parent, fdim, bf)[:, :gdim]
    side = np.zeros(len(bf), bool)
    for i in range(gdim - 1):
        side |= np.isclose(mid[:, i], lo[i], atol=tol) | np.isclose(mid[:, i], hi[i], atol=tol)
    f2c = parent.topology.connectivity(fdim, tdim)
    mask = np.zeros(parent.topology.index_map(tdim).size_local + parent.topology.index_map(tdim).num_ghosts, bool)
    mask[cells] = True
    first = f2c.array[f2c.offsets[bf]]
    return np.asarray(bf[side & mask[first]], dtype=np.int32)


class SkeletonMixin(GrainBoundaryMixin, CohesiveHistoryMixin):
    """Skeleton terms and the bookkeeping; the cohesive history (state, checkpoints, damage
    control, damage-jump rejection) is :class:`CohesiveHistoryMixin`'s, the cohesive grain
    boundaries :class:`GrainBoundaryMixin`'s."""

    cohesive = None  # the particle/binder interface (bonded grains: one term)
    pb_cohesives: list = []  # the particle/binder terms (cohesive grain boundaries: one per colour)
    collector_cohesives = ()  # [(potential block, Cohesive)] of a cohesive collector bond

    @property
    def cohesives(self) -> list:
        """Every cohesive interface term: particle/binder first, then the grain boundaries and the
        collector bonds."""
        return list(self.pb_cohesives) + list(self.gb_cohesives) + [c for _, c in self.collector_cohesives]

    lateral_facets = staticmethod(lateral_facets)

    def _pb_cat(self, fn) -> np.ndarray:
        """``fn(interface)`` of the particle/binder terms' owned facets, concatenated."""
        return np.concatenate([np.asarray(fn(c.itf)) for c in self.pb_cohesives]) if self.pb_cohesives else \
            np.zeros(0)

    def collector_bonds(self, dS, plus_cells: dict) -> list:
        """The collector contacts for the Collector term; with ``collector_interface =
        'cohesive'`` also the collector Cohesive terms (rigid outer side), each contact then
        carrying its conductance factor (1 - d)^p + G_res/G_0. ``plus_cells``: parent cells of
        the solid by potential block."""
        ms = self.case.mechanics
        if ms.collector_interface != "cohesive":
            return self.contacts
        params = CohesiveParameters(**ms.collector_cohesive_parameters())
        disp = {"phi_s": "u", "phi_b": "u_b"}
        out, bonds = [], []
        for (block, meas, restricted), (name, _, facets, tag) in zip(self.contacts, self._contact_facets):
            if not restricted:
                raise ValueError(f"mechanics.collector_interface = 'cohesive': the {name} facets lie on the outer "
                                 "boundary of the mesh (no current_collector region); a cohesive collector bond needs "
                                 "the collector as a region (geometry collector_thickness > 0), or use 'clamped'")
            coh = Cohesive(disp[block], None, facets, plus_cells[block], params, dS, tag, name=name,
                           damage_update=ms.damage_update)
            bonds.append((block, coh))

            def factor(m, coh=coh):
                return contact_conductance(coh.build(m).d("+"), 1.0, ms.conductance_exponent,
                                           ms.residual_conductance)

            out.append((block, meas, restricted, factor))
        self.collector_cohesives = bonds
        return out

    def skeleton_terms(self, dxP, dxB, x0: float, f_pb, data_pe_pb_measure):
        """(terms, extra blocks after sigma_h, weights) of the skeleton; call after the
        measures exist. ``data_pe_pb_measure``: the shared parent dS Measure (tag 2 =
        particle/binder, particle on "+")."""
        case, mat, disc = self.case, self.mat, self.case.discretisation
        ms = case.mechanics
        rp, rb = self.sub["particle"], self.sub["binder"]
        E_s = mat.youngs_modulus
        Vu = ("Lagrange", disc.displacement_degree, (self.gdim,))
        k = ms.clamp_penalty * E_s / self.R_ref
        self.support_stiffness = k
        if self.grain_cohesive:
            return self._grain_skeleton(dxB, x0, Vu, k, data_pe_pb_measure)
        # the weak foundation of the free particles stays (relative stiffness RBM_SPRING): the
        # tied skeleton does not need it, a particle of a generated electrode that touches no
        # binder would be singular without it
        mech_p = Elasticity([(dxP, E_s, mat.poisson_ratio, particle_omega(self, x0), x0 * self.c_max)], c="c_s",
                            spring=(dxP, RBM_SPRING * E_s / self.R_ref**2))
        mech_p.declared = [Unknown("u", fem.functionspace(rp.mesh, Vu), scale=self.R_ref, role="displacement"),
                           Unknown("sigma_h", fem.functionspace(rp.mesh, ("Lagrange", 1)), scale=E_s, role="stress")]
        mech_b = self._binder_elasticity(dxB, Vu)
        supports = []
        for block, phi in (("u", "phi_s"), ("u_b", "phi_b")):
            clamps = [(c[1], c[2]) for c in self.contacts if c[0] == phi and len(c) == 3]
            rollers = [(self._ds_all(ROLLER_TAGS[block]), False)] if block in self._roller_blocks else []
            supports.append(ElasticSupport(block, k, clamps=clamps, rollers=rollers))
        terms = [mech_p, mech_b] + supports
        G0 = case.solid.particle_binder_conductance
        if ms.interface == "cohesive":
            params = CohesiveParameters(**ms.cohesive_parameters())
            self.cohesive = Cohesive("u", "u_b", f_pb, rp.parent_cells, params, data_pe_pb_measure, 2,
                                     name="particle_binder", damage_update=ms.damage_update)
            self.pb_cohesives = [self.cohesive]
            self.damaged_contact = DamagedContact("phi_s", "phi_b", G0, self.dG_pb, self.cohesive,
                                                  p=ms.conductance_exponent, G_res=ms.residual_conductance * G0)
            terms += [self.cohesive, self.damaged_contact]
        else:
            from ..physics.conduction import ContactConductance

            terms += [BondedTie("u", "u_b", ms.penalty, self.dG_pb),
                      ContactConductance("phi_s", "phi_b", G0, self.dG_pb)]
        terms += [c for _, c in self.collector_cohesives]
        self.elasticity, self.elasticity_b = mech_p, mech_b
        scale = self.I_ref / self.vol_particles
        w = scale * self.R_ref / E_s
        return terms, ["u", "sigma_h", "u_b"], {"u": w, "sigma_h": scale / E_s, "u_b": w}

    def _binder_elasticity(self, dxB, Vu):
        ms = self.case.mechanics
        self.swelling = fem.Constant(self.parent, float(ms.binder_swelling_strain))
        mech_b = Elasticity([(dxB, ms.binder_youngs_modulus, ms.binder_poisson_ratio, 0.0, 0.0)], c=None, u="u_b",
                            sigma_h=None, eigenstrain=self.swelling)
        mech_b.declared = [Unknown("u_b", fem.functionspace(self.sub["binder"].mesh, Vu), scale=self.R_ref,
                                   role="displacement")]
        return mech_b

    def _grain_skeleton(self, dxB, x0, Vu, k, dS):
        """The skeleton with cohesive grain boundaries (:class:`GrainBoundaryMixin`)."""
        E_s = self.mat.youngs_modulus
        terms, order = self.grain_skeleton_terms(particle_omega(self, x0), x0, Vu, k, dS)
        mech_b = self._binder_elasticity(dxB, Vu)
        clamps = [(c[1], c[2]) for c in self.contacts if c[0] == "phi_b" and len(c) == 3]
        rollers = [(self._ds_all(ROLLER_TAGS["u_b"]), False)] if "u_b" in self._roller_blocks else []
        terms += [mech_b, ElasticSupport("u_b", k, clamps=clamps, rollers=rollers)]
        self.elasticity, self.elasticity_b = self.grain_elasticities[0], mech_b
        scale = self.I_ref / self.vol_particles
        w = scale * self.R_ref / E_s
        return terms, order + ["u_b"], {**{b: w for b in self.grain_blocks}, "sigma_h": scale / E_s, "u_b": w}

    # ------------------------------------------------------------------ bookkeeping
    def _owned_facets(self, it) -> np.ndarray:
        """Parent facets of the owned cells of a cohesive interface's facet submesh, in the order
        of its history arrays."""
        cells = np.empty(it._nown, dtype=np.int32)
        dofs = it.V0.dofmap.list[:, 0]
        own = dofs < it._nown
        cells[dofs[own]] = np.flatnonzero(own)
        return it.fmap.sub_topology_to_topology(cells, False)

    def _setup_skeleton_diagnostics(self):
        """The conductance graph, and the graph nodes of every contact facet."""
        imap = self.parent.topology.index_map(self.parent.topology.dim)
        tag_of = np.full(imap.size_local + imap.num_ghosts, -1, dtype=np.int64)
        tag_of[self.tm.cell_tags.indices] = self.tm.cell_tags.values
        for ts in getattr(self, "particle_tags", ()):  # grains of a particle: one node (its first tag)
            tag_of[np.isin(tag_of, ts)] = ts[0]
        self._graph = g = ConductanceGraph(self.parent, tag_of, np.asarray(self._ptags, dtype=np.int64),
                                           self.tags["binder"])
        # clamped collector contacts: perfect edges (G_cc A far above any particle's need)
        bonded = {c.name for _, c in self.collector_cohesives}
        self._clamped_edges = []
        for name, _, _, _ in self._contact_facets:
            if name not in bonded:
                n = g.solid_node(self.tm.facets(name, owned=True))
                self._clamped_edges.append((n, np.full(len(n), g.collector), np.full(len(n), np.inf)))
        self._collector_nodes = [g.solid_node(self._owned_facets(c.itf)) for _, c in self.collector_cohesives]
        self._pb_particle = None
        if self.gb_cohesives:
            self._setup_grain_diagnostics()
        if not self.pb_cohesives:
            return
        a, b = g.facet_nodes(self._pb_cat(self._owned_facets).astype(np.int32))
        part = np.where((a >= 0) & (a < g.npart), a, b)
        self._pb_nodes = (part, np.where(part == a, b, a))
        self._pb_particle = np.where((part >= 0) & (part < g.npart), part, -1)
        self._pb_area = self._sum_by_particle(self._pb_cat(lambda it: it.area))

    def _sum_by_particle(self, vals) -> np.ndarray:
        out = np.zeros(len(self._ptags))
        sel = self._pb_particle >= 0
        np.add.at(out, self._pb_particle[sel], np.asarray(vals)[sel])
        return self.comm.allreduce(out, op=MPI.SUM)

    def one_c_currents(self) -> np.ndarray:
        """1C current of each particle [A] (2D: A m-1)."""
        return FARADAY * self.c_max * abs(self.mat.x_0 - self.mat.x_100) * self.particle_volumes / 3600.0

    def particle_connectivity(self) -> tuple[np.ndarray, np.ndarray]:
        """(connected flags, damaged area fraction) per particle (collective; identical on every rank)."""
        npart = len(self._ptags)
        if not self.pb_cohesives and not self.collector_cohesives:
            return np.ones(npart, bool), np.zeros(npart)
        ms, sol = self.case.mechanics, self.case.solid
        edges = list(self._clamped_edges)
        dam = np.zeros(npart)
        if self.pb_cohesives:
            d = self._pb_cat(lambda it: it.d.x.array[: it._nown])
            area = self._pb_cat(lambda it: it.area)
            G0 = sol.particle_binder_conductance
            G = contact_conductance(d, G0, ms.conductance_exponent, ms.residual_conductance * G0)
            edges.append((*self._pb_nodes, area * G))
            with np.errstate(invalid="ignore", divide="ignore"):
                dam = np.nan_to_num(self._sum_by_particle(area * (d > 0)) / self._pb_area)
        else:  # bonded particle/binder interface: intact contacts
            f = self.tm.facets("particle_binder", owned=True) if "particle_binder" in self.tm.interfaces else []
            a, b = self._graph.facet_nodes(f)
            edges.append((a, b, np.full(len(a), np.inf)))
        for nodes, (_, c) in zip(self._collector_nodes, self.collector_cohesives):
            it = c.itf
            G = sol.collector_conductance * contact_conductance(it.d.x.array[: it._nown], 1.0,
                                                                ms.conductance_exponent, ms.residual_conductance)
            edges.append((nodes, np.full(len(nodes), self._graph.collector), it.area * G))
        return self._graph.connected(edges, self.one_c_currents(), ms.isolation_voltage), dam

    @staticmethod
    def _joined_diagnostics(terms, prefix: str = "") -> dict:
        """Damaged / debonded area fractions, dissipated energy, max opening of several cohesive
        terms together (collective)."""
        areas = [c.itf.total_area for c in terms]
        diags = [c.diagnostics() for c in terms]
        A = sum(areas)
        out = {}
        for k in ("damaged area fraction [-]", "debonded area fraction [-]"):
            out[f"{prefix}{k}"] = sum(a * dg[k] for a, dg in zip(areas, diags)) / A
        out[f"{prefix}dissipated energy [J]"] = sum(dg["dissipated energy [J]"] for dg in diags)
        out[f"{prefix}max opening [m]"] = max(dg["max opening [m]"] for dg in diags)
        return out

    def _collector_diagnostics(self) -> dict:
        """The collector bond's damaged / debonded area fractions, dissipated energy, max opening."""
        return self._joined_diagnostics([c for _, c in self.collector_cohesives], "collector ")

    def skeleton_diagnostics(self) -> dict:
        """Bookkeeping of the skeleton and its interfaces (collective); see the module docstring."""
        d = {}
        if self.grain_cohesive:
            d["max von mises stress particle [Pa]"] = self.max_grain_von_mises()
        else:
            fp = self._mech_fields()
            d["max von mises stress particle [Pa]"] = self.comm.allreduce(
                float(np.max(fp[3].x.array, initial=0.0)), op=MPI.MAX)
        fb = self._binder_mech_fields()
        d["max von mises stress binder [Pa]"] = self.comm.allreduce(
            float(np.max(fb[3].x.array, initial=0.0)), op=MPI.MAX)
        if not self.cohesives:
            return d
        if self.pb_cohesives:
            d.update(self._joined_diagnostics(self.pb_cohesives))
        if self.gb_cohesives:
            d.update(self.grain_boundary_diagnostics())
        if self.collector_cohesives:
            d.update(self._collector_diagnostics())
        if getattr(self, "gap", False):
            d["gap reaction current density [A m-2]"] = self._assemble(self._f_I_gap) / self.area_cross
        conn, dam = self.particle_connectivity()
        mat = self.mat
        x = self.stoichiometry_by_particle()
        V = self.particle_volumes
        iso = ~conn
        A = self.area_cross
        d["isolated particles [-]"] = float(np.sum(iso))
        d["stranded lithium [mA h m-2]"] = float(
            FARADAY * np.sum(np.maximum(x[iso] - mat.x_100, 0.0) * self.c_max * V[iso]) / A / 3.6)
        d["capacity lost [mA h m-2]"] = float(FARADAY * self.c_max * abs(mat.x_0 - mat.x_100) * np.sum(V[iso]) / A / 3.6)
        deb = np.zeros(len(conn))
        if self.pb_cohesives:
            with np.errstate(invalid="ignore", divide="ignore"):
                deb = np.nan_to_num(self._sum_by_particle(self._pb_cat(lambda it: it.area * it.debonded()))
                                    / self._pb_area)
        strand = FARADAY * np.maximum(x - mat.x_100, 0.0) * self.c_max * V * iso / A / 3.6
        for (name, _), c, f, b, s in zip(self.particles, conn, dam, deb, strand):
            nm = name.replace("_", " ")
            d[f"connected {nm} [-]"] = float(c)
            d[f"damaged area fraction {nm} [-]"] = float(f)
            d[f"debonded area fraction {nm} [-]"] = float(b)
            d[f"stranded lithium {nm} [mA h m-2]"] = float(s)
        return d

    def skeleton_columns(self) -> list[str]:
        cols = ["max von mises stress particle [Pa]", "max von mises stress binder [Pa]"]
        if not self.cohesives:
            return cols
        if self.pb_cohesives:
            cols += ["damaged area fraction [-]", "debonded area fraction [-]", "dissipated energy [J]",
                     "max opening [m]"]
        if self.gb_cohesives:
            cols += self.grain_boundary_columns()
        if self.collector_cohesives:
            cols += ["collector damaged area fraction [-]", "collector debonded area fraction [-]",
                     "collector dissipated energy [J]", "collector max opening [m]"]
        if getattr(self, "gap", False):
            cols.append("gap reaction current density [A m-2]")
        cols += ["isolated particles [-]", "stranded lithium [mA h m-2]", "capacity lost [mA h m-2]"]
        for name, _ in self.particles:
            nm = name.replace("_", " ")
            cols += [f"connected {nm} [-]", f"damaged area fraction {nm} [-]", f"debonded area fraction {nm} [-]",
                     f"stranded lithium {nm} [mA h m-2]"]
        return cols

    # ------------------------------------------------------------------ fields
    def _binder_mech_fields(self):
        if not hasattr(self, "_stress_out_b"):
            self._stress_out_b = StressFields(self.sub["binder"].mesh, self.gdim, self.elasticity_b.stresses(self)[0],
                                              self.u["u_b"].function_space)
        return self._stress_out_b.update(self.R_ref * self.u["u_b"].x.array)

    def skeleton_fields(self) -> dict:
        """{"binder": mechanics fields, "particle_binder_interface": [interface_damage], and
        "collector_binder_interface" / "collector_particle_interface" for a cohesive collector bond}."""
        out = {"binder": self._binder_mech_fields()}
        if self.cohesive is not None:
            out["particle_binder_interface"] = [self.cohesive.damage]
        elif self.grain_cohesive:
            for k, fs in enumerate(self.grain_stress_fields()):
                out[f"particle_grains_{k}"] = fs
            for c in self.cohesives:
                out[f"{c.name}_interface"] = [c.damage]
            return out
        for _, c in self.collector_cohesives:
            out[f"{c.name}_interface"] = [c.damage]
        return out

    def _ds_all(self, tag):
        return self._ds(tag)


__all__ = ["SkeletonMixin", "lateral_facets", "ROLLER_TAGS"]
