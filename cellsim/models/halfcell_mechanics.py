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
=============  ================  ===========================================================

The electrolyte carries no stress. Boundary conditions are penalties on the parent mesh's
facets (a Dirichlet condition on a submesh block would need the solver's bc plumbing; the
penalty k = clamp_penalty E_s / R is 1e3 x E_s / R by default, so the clamp and roller
displacements are O(1e-3) of the elastic ones): the collector face clamped (u = 0 on
``collector_particle`` / ``collector_binder``), the lateral faces (the two or four faces
normal to x and y) on rollers (u . n = 0), the separator face free. With every particle
tied to the binder (bonded, or cohesive with d <= d_max < 1) and the binder clamped, the
skeleton has no rigid-body mode: no spring.

Bookkeeping (:meth:`SkeletonMixin.skeleton_diagnostics`, cohesive interface): damaged and
debonded area fractions, dissipated energy, max opening, and per particle its damaged area
fraction and whether it is electronically connected: its particle/binder conductance
sum_f G(d_f) A_f carries its 1C current with less than ``isolation_voltage`` (0.1 V) across
the contacts, or it touches the collector (the carbon-binder network is taken as connected to the collector, which is
what the lattices and the generated electrodes with binder bridges have; a full binder
graph is future work). Isolated particles hold stranded lithium: the lithium a charge could
still extract from them, F (x_i - x_100) c_max V_i, and their share of the capacity, F
c_max |x_0 - x_100| V_i, is the capacity lost (both per cross-section, mA h m-2).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.base import FARADAY
from ..physics.cohesive import CohesiveParameters, contact_conductance
from ..physics.cohesive_term import BondedTie, Cohesive, DamagedContact
from ..physics.mechanics import RBM_SPRING, ElasticSupport, Elasticity
from ..physics.term import Unknown
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


class SkeletonMixin:
    """Skeleton terms, the cohesive history in the model state, and the bookkeeping."""

    cohesive = None

    def skeleton_terms(self, dxP, dxB, x0: float, f_pb, data_pe_pb_measure):
        """(terms, extra blocks after sigma_h, weights) of the skeleton; call after the
        measures exist. ``data_pe_pb_measure``: the shared parent dS Measure (tag 2 =
        particle/binder, particle on "+")."""
        case, mat, disc = self.case, self.mat, self.case.discretisation
        ms = case.mechanics
        rp, rb = self.sub["particle"], self.sub["binder"]
        E_s = mat.youngs_modulus
        Vu = ("Lagrange", disc.displacement_degree, (self.gdim,))
        # the weak foundation of the free particles stays (relative stiffness RBM_SPRING): the
        # tied skeleton does not need it, a particle of a generated electrode that touches no
        # binder would be singular without it
        mech_p = Elasticity([(dxP, E_s, mat.poisson_ratio, mat.partial_molar_volume, x0 * self.c_max)], c="c_s",
                            spring=(dxP, RBM_SPRING * E_s / self.R_ref**2))
        mech_p.declared = [Unknown("u", fem.functionspace(rp.mesh, Vu), scale=self.R_ref, role="displacement"),
                           Unknown("sigma_h", fem.functionspace(rp.mesh, ("Lagrange", 1)), scale=E_s, role="stress")]
        self.swelling = fem.Constant(self.parent, float(ms.binder_swelling_strain))
        mech_b = Elasticity([(dxB, ms.binder_youngs_modulus, ms.binder_poisson_ratio, 0.0, 0.0)], c=None, u="u_b",
                            sigma_h=None, eigenstrain=self.swelling)
        mech_b.declared = [Unknown("u_b", fem.functionspace(rb.mesh, Vu), scale=self.R_ref, role="displacement")]
        k = ms.clamp_penalty * E_s / self.R_ref
        self.support_stiffness = k
        supports = []
        for block, phi in (("u", "phi_s"), ("u_b", "phi_b")):
            clamps = [(meas, r) for b, meas, r in self.contacts if b == phi]
            rollers = [(self._ds_all(ROLLER_TAGS[block]), False)] if block in self._roller_blocks else []
            supports.append(ElasticSupport(block, k, clamps=clamps, rollers=rollers))
        terms = [mech_p, mech_b] + supports
        G0 = case.solid.particle_binder_conductance
        if ms.interface == "cohesive":
            params = CohesiveParameters(**ms.cohesive_parameters())
            self.cohesive = Cohesive("u", "u_b", f_pb, rp.parent_cells, params, data_pe_pb_measure, 2,
                                     name="particle_binder", damage_update=ms.damage_update)
            self.damaged_contact = DamagedContact("phi_s", "phi_b", G0, self.dG_pb, self.cohesive,
                                                  p=ms.conductance_exponent, G_res=ms.residual_conductance * G0)
            terms += [self.cohesive, self.damaged_contact]
        else:
            from ..physics.conduction import ContactConductance

            terms += [BondedTie("u", "u_b", ms.penalty, self.dG_pb),
                      ContactConductance("phi_s", "phi_b", G0, self.dG_pb)]
        self.elasticity, self.elasticity_b = mech_p, mech_b
        scale = self.I_ref / self.vol_particles
        w = scale * self.R_ref / E_s
        return terms, ["u", "sigma_h", "u_b"], {"u": w, "sigma_h": scale / E_s, "u_b": w}

    def skeleton_fieldsplit(self) -> None:
        """Iterative solver: the displacement split (u, u_b) by a direct solve (MUMPS).

        GAMG on it (configure_fieldsplit's default for 'u') broke GMRES down on the 2D lattice
        (KSP DIVERGED_BREAKDOWN in the first step): the penalty supports and ties make the
        block stiff, and the rigid-body near-nullspace would need MatSetNearNullSpace on the
        sub-matrix inside cellsim/solver.py. The sub-solver reads these options at its first
        set-up (the first solve)."""
        from petsc4py import PETSc

        prefix = self.snes.getKSP().getOptionsPrefix() or ""
        opts = PETSc.Options()
        opts[prefix + "fieldsplit_u_pc_type"] = "lu"
        opts[prefix + "fieldsplit_u_pc_factor_mat_solver_type"] = "mumps"

    # ------------------------------------------------------------------ state and history
    def accept(self) -> None:
        super().accept()
        if self.cohesive is not None:
            self.cohesive.update_history()

    def state(self) -> dict:
        st = super().state()
        if self.cohesive is not None:
            st["cohesive"] = self.cohesive.snapshot()
        return st

    def set_state(self, st: dict) -> None:
        super().set_state(st)
        if self.cohesive is not None and "cohesive" in st:
            self.cohesive.restore(st["cohesive"])

    def extra_functions(self) -> dict:
        out = dict(super().extra_functions())
        if self.cohesive is not None:
            out.update(self.cohesive.functions())
        return out

    def after_load(self) -> None:
        super().after_load()
        if self.cohesive is not None:
            self.cohesive.scatter()

    def damage_change(self) -> dict:
        if self.cohesive is None:
            return {}
        return {"damage": (self.cohesive.max_damage_change(), self.case.mechanics.max_damage_change)}

    # ------------------------------------------------------------------ bookkeeping
    def _setup_skeleton_diagnostics(self):
        """Per-facet particle index of the particle/binder interface, intact areas, collector contacts."""
        parent = self.parent
        tdim = parent.topology.dim
        imap = parent.topology.index_map(tdim)
        tag_of = np.full(imap.size_local + imap.num_ghosts, -1)
        tag_of[self.tm.cell_tags.indices] = self.tm.cell_tags.values
        f2c = parent.topology.connectivity(tdim - 1, tdim)
        pmask = np.zeros(len(tag_of), bool)
        pmask[self.sub["particle"].parent_cells] = True

        def particle_of(pf):
            out = np.full(len(pf), -1)
            for i, f in enumerate(pf):
                cs = f2c.links(f)
                c = [c for c in cs if pmask[c]]
                if c:
                    j = np.searchsorted(self._ptags, tag_of[c[0]])
                    if j < len(self._ptags) and self._ptags[j] == tag_of[c[0]]:
                        out[i] = j
            return out

        npart = len(self._ptags)
        touch = np.zeros(npart)
        if "collector_particle" in self.tm.interfaces:
            f = self.tm.facets("collector_particle", owned=True)
            pi = particle_of(f)
            np.add.at(touch, pi[pi >= 0], 1.0)
        self._touches_collector = self.comm.allreduce(touch, op=MPI.SUM) > 0
        self._pb_particle = None
        if self.cohesive is None:
            return
        it = self.cohesive.itf
        nown = it._nown
        cells = np.empty(nown, dtype=np.int32)
        dofs = it.V0.dofmap.list[:, 0]
        own = dofs < nown
        cells[dofs[own]] = np.flatnonzero(own)
        pf = it.fmap.sub_topology_to_topology(cells, False)
        self._pb_particle = particle_of(pf)
        self._pb_area = self._sum_by_particle(it.area)

    def _sum_by_particle(self, vals) -> np.ndarray:
        out = np.zeros(len(self._ptags))
        sel = self._pb_particle >= 0
        np.add.at(out, self._pb_particle[sel], np.asarray(vals)[sel])
        return self.comm.allreduce(out, op=MPI.SUM)

    def particle_connectivity(self) -> tuple[np.ndarray, np.ndarray]:
        """(connected flags, damaged area fraction) per particle (collective)."""
        npart = len(self._ptags)
        if self.cohesive is None:
            return np.ones(npart, bool), np.zeros(npart)
        it, ms = self.cohesive.itf, self.case.mechanics
        d = it.d.x.array[: it._nown]
        G0 = self.case.solid.particle_binder_conductance
        G = contact_conductance(d, G0, ms.conductance_exponent, ms.residual_conductance * G0)
        g = self._sum_by_particle(it.area * G)  # S (2D: S m-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            dam = np.nan_to_num(self._sum_by_particle(it.area * (d > 0)) / self._pb_area)
        mat = self.mat
        i1c = FARADAY * self.c_max * abs(mat.x_0 - mat.x_100) * self.particle_volumes / 3600.0  # A per particle
        return (g * ms.isolation_voltage >= i1c) | self._touches_collector, dam

    def skeleton_diagnostics(self) -> dict:
        """Bookkeeping of the skeleton and its interface (collective); see the module docstring."""
        d = {}
        fp = self._mech_fields()
        d["max von mises stress particle [Pa]"] = self.comm.allreduce(
            float(np.max(fp[3].x.array, initial=0.0)), op=MPI.MAX)
        fb = self._binder_mech_fields()
        d["max von mises stress binder [Pa]"] = self.comm.allreduce(
            float(np.max(fb[3].x.array, initial=0.0)), op=MPI.MAX)
        if self.cohesive is None:
            return d
        d.update(self.cohesive.diagnostics())
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
        for (name, _), c, f in zip(self.particles, conn, dam):
            nm = name.replace("_", " ")
            d[f"connected {nm} [-]"] = float(c)
            d[f"damaged area fraction {nm} [-]"] = float(f)
        return d

    def skeleton_columns(self) -> list[str]:
        cols = ["max von mises stress particle [Pa]", "max von mises stress binder [Pa]"]
        if self.cohesive is None:
            return cols
        cols += ["damaged area fraction [-]", "debonded area fraction [-]", "dissipated energy [J]",
                 "max opening [m]", "isolated particles [-]", "stranded lithium [mA h m-2]",
                 "capacity lost [mA h m-2]"]
        for name, _ in self.particles:
            nm = name.replace("_", " ")
            cols += [f"connected {nm} [-]", f"damaged area fraction {nm} [-]"]
        return cols

    # ------------------------------------------------------------------ fields
    def _binder_mech_fields(self):
        if not hasattr(self, "_stress_out_b"):
            self._stress_out_b = StressFields(self.sub["binder"].mesh, self.gdim, self.elasticity_b.stresses(self)[0],
                                              self.u["u_b"].function_space)
        return self._stress_out_b.update(self.R_ref * self.u["u_b"].x.array)

    def skeleton_fields(self) -> dict:
        """{"binder": mechanics fields, "particle_binder_interface": [interface_damage]}."""
        out = {"binder": self._binder_mech_fields()}
        if self.cohesive is not None:
            out["particle_binder_interface"] = [self.cohesive.damage]
        return out

    def _ds_all(self, tag):
        return self._ds(tag)


__all__ = ["SkeletonMixin", "lateral_facets", "ROLLER_TAGS"]
