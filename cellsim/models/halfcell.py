r"""Resolved half-cell: a composition of physics terms over region submeshes.

=============  =====================  =========================================  ======
region         blocks (all P1)        terms                                      weight
=============  =====================  =========================================  ======
particles P    c_s, phi_s             SolidDiffusion, Conduction, ButlerVolmer    F, 1
               (c_k per grain colour  GrainTransport (cohesive grain boundaries,
               instead of c_s)        halfcell_species.py)
               (u, sigma_h)           Elasticity (optional; free particles)
binder B       phi_b                  Conduction, ContactConductance (P/B)        1
liquid E u S   c_e, phi_e             Electrolyte (resolved pores: eps = B = 1;   F, 1
                                      separator: eps_sep, B = eps_sep^b; binder
                                      pores with mechanics.gap_reaction),
                                      LithiumMetal (facets lithium_separator)
(collector)    V (one real number)    Collector (contacts, CC / CV control)       1
=============  =====================  =========================================  ======

Every row is in amperes (species rows times F, mechanics rows times I_1C / V_P), so one
absolute Newton tolerance ``atol * I_1C`` means the same for all of them. The solid
potentials and V are stored relative to a reference potential (moved to the cell voltage
before every step), so no 4 V offset times a large conductance sets a round-off floor.
Equations and signs are in the term modules (:mod:`cellsim.physics`) and
docs/halfcell.md. Mesh names: regions ``particle`` (aggregate of ``particle_i``),
``binder`` (optional), ``electrolyte``, ``separator`` (optional), interfaces
``particle_electrolyte``, ``particle_binder``, ``collector_binder`` /
``collector_particle`` (at least one), ``lithium_separator``. 2D meshes work as well
(currents then per unit depth).
"""

from __future__ import annotations


import numpy as np

from .. import regions as itf
from ..dolfinx_env import require_dolfinx
from ..materials import nyman2008
from ..materials.base import FARADAY
from ..physics import electrolyte as el
from ..physics import kinetics
from ..physics.circuit import Collector
from ..physics.conduction import Conduction, ContactConductance
from ..physics.electrolyte import Electrolyte
from ..physics.lithium_metal import LithiumMetal
from ..physics.mechanics import RBM_SPRING, Elasticity
from ..physics.term import Unknown
from ..protocol import Locate, Quantities
from ..solver import NewtonSolver, clean_jacobian_pattern
from .base import Model
from .halfcell_grains import particle_omega
from .halfcell_mechanics import ROLLER_TAGS, SkeletonMixin, lateral_facets
from .halfcell_output import HalfCellOutputs
from .halfcell_cracks import HalfCellCrackMixin
from .halfcell_species import HalfCellSpeciesMixin

dolfinx = require_dolfinx()
import basix.ufl  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

#: largest change of any potential in one Newton iteration [V] (damping)
MAX_POTENTIAL_STEP = 0.25
#: largest lithium-balance error of one step, relative to the lithium a 1C current moves in it
STEP_BALANCE_TOL = 1e-6
#: fieldsplit groups of the iterative solver
FIELDSPLIT_GROUPS = {"phi": ("phi_s", "phi_b", "phi_e", "V"), "ce": ("c_e",), "cs": ("c_s", "sigma_h"),
                     "u": ("u", "u_b")}


class HalfCellError(ValueError):
    """The mesh does not describe a usable half-cell (missing regions or interfaces)."""


def leaf_particles(tm) -> list[tuple[str, int]]:
    """(name, first tag) of every particle_i region, sorted by i (a secondary particle's
    grains: all its tags in :func:`cellsim.regions.particle_groups`)."""
    return [(n, t[0]) for n, t in itf.particle_groups(tm.regions)]


class HalfCellModel(HalfCellOutputs, HalfCellSpeciesMixin, HalfCellCrackMixin, SkeletonMixin, Model):
    """Build the blocked forms once; advance with :meth:`step`; report with :meth:`diagnostics`.

    Control: :meth:`set_current` (A m-2, discharge positive) or :meth:`set_voltage`.
    """

    slow_newton = 8
    newton_predictor = True  # start each step's Newton from the extrapolated last step (cellsim.predictor)

    def __init__(self, case, tm, comm=None):
        comm = comm or tm.mesh.comm
        super().__init__(case, tm, comm)
        parent = self.parent
        tdim = parent.topology.dim
        self.gdim = parent.geometry.dim
        phys = case.physics
        self.mech = phys.mechanics
        self.skeleton = bool(self.mech and case.mechanics.skeleton)
        self.grain_cohesive = self.skeleton and case.mechanics.grain_boundary == "cohesive"
        # per-colour lithium blocks across the cohesive grain boundaries (halfcell_species)
        self.split_c = self.grain_cohesive and case.mechanics.interface_transport == "damaged"
        mat = self.mat = case.material.resolve()
        self.c_max = mat.c_max
        self.props = nyman2008.properties(case.electrolyte.parameters)
        disc = case.discretisation
        md = {"quadrature_degree": disc.quadrature_degree}  # interfaces
        md_vol = {"quadrature_degree": disc.volume_quadrature_degree}

        # ---------------------------------------------------------------- regions
        def tags_of(name, required=True):
            t = tuple(tm.regions.get(name, ()))
            if required and not t:
                raise HalfCellError(f"the mesh has no region '{name}' (regions: {', '.join(sorted(tm.regions))})")
            return t

        def ncells(tags):
            if not tags:
                return 0
            cells = itf.region_cells(tm.cell_tags, tags)
            return comm.allreduce(int(np.sum(cells < parent.topology.index_map(tdim).size_local)), op=MPI.SUM)

        self.particles = leaf_particles(tm)
        self.particle_tags = [t for _, t in itf.particle_groups(tm.regions)]  # grains grouped
        P = tags_of("particle")
        if not self.particles:
            self.particles = [(f"particle_{i}", t) for i, t in enumerate(P)]
            self.particle_tags = [(t,) for t in P]
        B = tags_of("binder", required=False)
        E = tags_of("electrolyte") + tags_of("pore", required=False)  # pores of porous particles: liquid
        S = tags_of("separator", required=False)
        B = B if ncells(B) else ()
        S = S if ncells(S) else ()
        self.tags = {"particle": P, "binder": B, "electrolyte": E, "separator": S}
        # gap reaction: the carbon-binder's pore electrolyte is resolved (binder cells in the liquid too)
        self.gap = bool(self.skeleton and case.mechanics.gap_reaction)
        regions = {"particle": P, "liquid": E + S + (B if self.gap else ())}
        if B:
            regions["binder"] = B
        self.sub = itf.make_submeshes(parent, tm.cell_tags, regions)
        rp, re_ = self.sub["particle"], self.sub["liquid"]
        rb = self.sub.get("binder")
        self.entity_maps = [r.entity_map for r in self.sub.values()]

        # ---------------------------------------------------------------- facets
        fdim = tdim - 1
        parent.topology.create_connectivity(fdim, tdim)
        nloc_f = parent.topology.index_map(fdim).size_local

        def facets(name):
            return tm.facets(name) if name in tm.interfaces else np.zeros(0, dtype=np.int32)

        def gcount(f):
            return comm.allreduce(int(np.sum(f < nloc_f)), op=MPI.SUM)

        solid_cells = np.concatenate([rp.parent_cells] + ([rb.parent_cells] if rb else []))
        data = {"dS": [], "ds": []}  # one subdomain_data list per integral type

        def add(f, plus, tag):
            kind, d = itf.facet_integration_data(parent, f, plus)
            data[kind].append((tag, d))
            return kind

        f_pe = facets("particle_electrolyte")
        if gcount(f_pe) == 0:
            raise HalfCellError("the mesh has no particle_electrolyte facets (no reactive surface)")
        if add(f_pe, rp.parent_cells, 1) != "dS":
            raise HalfCellError("particle_electrolyte facets must be interior facets of the mesh")
        f_pb = facets("particle_binder") if rb else np.zeros(0, np.int32)
        self.has_pb = gcount(f_pb) > 0
        if self.has_pb:
            add(f_pb, rp.parent_cells, 2)
        contacts = []  # (block, tag, restricted)
        self._contact_facets = []  # (interface name, block, local facets, tag)
        for name, block in (("collector_binder", "phi_b"), ("collector_particle", "phi_s")):
            if block == "phi_b" and not rb:
                continue
            f = facets(name)
            if gcount(f) == 0:
                continue
            tag = 10 + len(contacts)
            contacts.append((block, tag, add(f, solid_cells, tag) == "dS"))
            self._contact_facets.append((name, block, f, tag))
        if not contacts:
            raise HalfCellError(
                "the electrode solid does not touch the current collector (no collector_binder or "
                "collector_particle facets): no electronic path"
            )
        self._roller_blocks = []
        if self.skeleton:
            if not (rb and self.has_pb):
                raise HalfCellError("mechanics.skeleton = true needs a binder region with particle_binder facets")
            for block, cells in (("u", rp.parent_cells), ("u_b", rb.parent_cells)):
                f = lateral_facets(parent, cells)
                if gcount(f):
                    add(f, cells, ROLLER_TAGS[block])
                    self._roller_blocks.append(block)
        if self.grain_cohesive:  # colour blocks of grains and their facet data (halfcell_grain_boundaries)
            self.setup_grain_blocks(add, gcount, f_pb, solid_cells)
            if self.split_c:
                self.setup_colour_surfaces(add, gcount, f_pe)
        f_li = facets("lithium_separator")
        if gcount(f_li) == 0:
            raise HalfCellError("the mesh has no lithium_separator facets (no lithium-metal counter electrode)")
        if add(f_li, re_.parent_cells, 20) != "ds":
            raise HalfCellError("lithium_separator facets must lie on the outer boundary of the mesh")
        dS = ufl.Measure("dS", domain=parent, subdomain_data=data["dS"], metadata=md)
        ds = ufl.Measure("ds", domain=parent, subdomain_data=data["ds"], metadata=md)
        self.dG_pe = dS(1)
        self.dG_pb = dS(2) if self.has_pb else None
        self.contacts = [(block, (dS if r else ds)(tag), r) for block, tag, r in contacts]
        self.ds_li = ds(20)
        self._ds, self._dS = ds, dS
        self.dx = ufl.Measure("dx", domain=parent, subdomain_data=tm.cell_tags, metadata=md_vol)
        dxP, dxE = self.dx(P), self.dx(E)
        dxS = self.dx(S) if S else None

        # ---------------------------------------------------------------- sizes
        one = fem.Constant(parent, 1.0)

        # particles the geometry reports as touching no conducting path to the collector: 1C
        # and the state of charge count the connected active material only
        gone = {int(i) for i in (tm.info.get("particles_not_connected") or [])}
        self.not_connected = sorted(i for i in gone if f"particle_{i}" in dict(self.particles))
        isolated = [ts for (n, _), ts in zip(self.particles, self.particle_tags) if int(n.rsplit("_", 1)[-1]) in gone]
        sizes = {"P": one * dxP, "li": one * self.ds_li, "pe": one * self.dG_pe, "E": one * dxE}
        if S:
            sizes["S"] = one * dxS
        if self.gap:
            sizes["B"] = one * self.dx(B)
        sizes.update({("contact", i): one * c[1] for i, c in enumerate(self.contacts)})
        sizes.update({("isolated", i): one * self.dx(ts) for i, ts in enumerate(isolated)})
        # all made before the first is assembled: they compile together (cellsim.jit.deferred)
        sizes = {k: fem.form(f, entity_maps=self.entity_maps) for k, f in sizes.items()}
        size = {k: comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM) for k, f in sizes.items()}
        self.vol_particles = size["P"]
        self.area_cross = size["li"]  # cross-section (lithium face) [m2] (2D: m)
        self.area_pe = size["pe"]
        self.vol_liquid_eff = size["E"] + (case.separator.porosity * size["S"] if S else 0.0)
        if self.gap:
            self.vol_liquid_eff += case.mechanics.binder_porosity * size["B"]
        self.area_contact = sum(size["contact", i] for i in range(len(self.contacts)))
        self.R_ref = 3.0 * self.vol_particles / self.area_pe  # equivalent radius 3V/A
        self.vol_isolated = sum((size["isolated", i] for i in range(len(isolated))), 0.0)
        self.vol_connected = self.vol_particles - self.vol_isolated
        def one_c(vol):
            return FARADAY * self.c_max * abs(mat.x_100 - mat.x_0) * vol / 3600.0 / self.area_cross

        self.i_1C_all = one_c(self.vol_particles)
        self.i_1C = one_c(self.vol_connected) if (gone and self.vol_connected > 0) else self.i_1C_all
        self.I_ref = self.i_1C * self.area_cross  # A (2D: A m-1)

        # ---------------------------------------------------------------- control constants
        self.cv = fem.Constant(parent, 0.0)
        self.i_app = fem.Constant(parent, 0.0)  # A m-2, discharge positive
        self.V_set = fem.Constant(parent, 0.0)
        self.phi_ref = fem.Constant(parent, 0.0)
        self.constants["phi_ref"] = self.phi_ref

        # ---------------------------------------------------------------- terms
        def P1(region):
            return fem.functionspace(self.sub[region].mesh, ("Lagrange", 1))

        sig_p = case.solid.particle_conductivity or mat.electronic_conductivity
        self.sigma_particle = sig_p
        sad = self.mech and phys.stress_assisted_diffusion
        sio = self.mech and phys.stress_in_overpotential
        self._dS = dS
        species, c_order = self.species_terms(dxP, dS, mat, sad, sio, P1)
        cond_s = Conduction("phi_s", sig_p, dxP)
        cond_s.declared = [Unknown("phi_s", P1("particle"), offset=self.phi_ref, role="potential")]
        pieces = [(dxE, 1.0, 1.0)]
        if S:
            eps_sep = case.separator.porosity
            pieces.append((dxS, eps_sep, el.transport_factor(eps_sep, bruggeman=case.separator.bruggeman)))
        if self.gap:
            eps_b = case.mechanics.binder_porosity
            pieces.append((self.dx(B), eps_b, el.transport_factor(eps_b, bruggeman=case.mechanics.binder_bruggeman)))
        self.tplus_ref = float(self.props.transference_number(case.electrolyte.initial_concentration))
        elec = Electrolyte(self.props, pieces, tplus_ref=self.tplus_ref)
        elec.declared = [Unknown("c_e", P1("liquid"), history=True, role="concentration",
                                 typical=case.electrolyte.initial_concentration),
                         Unknown("phi_e", P1("liquid"), role="potential")]
        self.kinetics = self.surface_kinetics[0]
        self.lithium = LithiumMetal(case.lithium, self.ds_li)
        if self.skeleton:
            self.contacts = self.collector_bonds(dS, {"phi_s": rp.parent_cells, "phi_b": rb.parent_cells})
        coll = Collector(self.contacts, case.solid.collector_conductance, self.i_app, self.V_set, self.cv,
                         self.phi_ref, self.ds_li)
        coll.declared = [Unknown("V", fem.functionspace(parent, basix.ufl.real_element(
            parent.basix_cell(), dtype=np.float64)), offset=self.phi_ref, role="potential")]
        self.collector = coll
        terms = [*species, cond_s, elec, self.lithium, coll]
        order = [*c_order, "phi_s"]
        if rb:
            cond_b = Conduction("phi_b", case.solid.binder_conductivity, self.dx(B))
            cond_b.declared = [Unknown("phi_b", P1("binder"), offset=self.phi_ref, role="potential")]
            terms.append(cond_b)
            order.append("phi_b")
            if self.has_pb and not self.skeleton:
                terms.append(ContactConductance("phi_s", "phi_b", case.solid.particle_binder_conductance, self.dG_pb))
        order += ["c_e", "phi_e"]
        weights = {**{c: FARADAY for c in c_order}, "c_e": FARADAY}
        self.elasticity = None
        x0 = phys.initial_stoichiometry if phys.initial_stoichiometry is not None else mat.x_100
        if self.skeleton:
            sk_terms, sk_order, sk_w = self.skeleton_terms(dxP, self.dx(B), x0, f_pb, dS)
            terms += sk_terms + self.transport_terms(x0) + self.crack_terms(dS)
            if self.gap:
                from ..physics.cohesive_term import DebondedReaction

                self.gap_kinetics = DebondedReaction(
                    mat, self.dG_pb, self.cohesive, c_s="c_s", phi_s="phi_s", c_e="c_e", phi_e="phi_e",
                    sigma_h=(lambda m: m.q("sigma_h")("+")) if sio else None)
                terms.append(self.gap_kinetics)
            order += sk_order
            weights.update(sk_w)
        elif self.mech:
            scale = self.I_ref / self.vol_particles
            E_s = mat.youngs_modulus
            mechs = Elasticity([(dxP, E_s, mat.poisson_ratio, particle_omega(self, x0), mat.c_ref)], c="c_s",
                               spring=(dxP, RBM_SPRING * E_s / self.R_ref**2))
            mechs.declared = [
                Unknown("u", fem.functionspace(rp.mesh, ("Lagrange", disc.displacement_degree, (self.gdim,))),
                        scale=self.R_ref, role="displacement"),
                Unknown("sigma_h", P1("particle"), scale=E_s, role="stress")]
            terms.append(mechs)
            order += ["u", "sigma_h"]
            weights.update({"u": scale * self.R_ref / E_s, "sigma_h": scale / E_s})
            self.elasticity = mechs
        order += ["V", *self.crack_order()]
        self.terms = terms
        self.declare(terms, order)
        self.phi_s, self.c_e, self.phi_e, self.V = (self.u[n] for n in ("phi_s", "c_e", "phi_e", "V"))
        self.c_s = self.u.get("c_s")  # per-colour blocks: a DG mirror (setup_species_readers)
        if self.c_s is not None:
            self.c_s.name = "lithium_concentration"
        self.c_e.name, self.phi_e.name = "electrolyte_concentration", "electrolyte_potential"
        self.c_e_old = self.old["c_e"]
        self.phi_b = self.u.get("phi_b")
        if self.mech:
            self.U, self.S = self.u.get("u"), self.u["sigma_h"]
        #: the particles' displacement blocks (one, or one per grain colour)
        self.particle_u_blocks = list(self.grain_blocks) if self.grain_cohesive else (["u"] if self.mech else [])
        self.forms = self.compose(terms, weights)
        self.entity_maps += [c.entity_map for c in self.cohesives]
        self.j_li = self.lithium.j
        self.I_cc_form = coll.I_cc
        self.sigma = self.elasticity.stresses(self)[0] if self.mech else None

        # ---------------------------------------------------------------- solver
        sv = case.solver
        self.solver = NewtonSolver(self, self.forms, sv, "halfcell", atol_scale=self.I_ref,
                                   entity_maps=self.entity_maps, divergence_tolerance=1e300,
                                   max_potential_step=MAX_POTENTIAL_STEP)
        self.problem, self.snes = self.solver.problem, self.solver.snes
        self._clean_matrix_pattern()
        if sv.linear_solver == "iterative":
            self.solver.configure_fieldsplit({**FIELDSPLIT_GROUPS, "u": ("u", "u_b", *self.grain_blocks),
                                              "phi": (*FIELDSPLIT_GROUPS["phi"], *self.crack_order()),
                                              "cs": (*self.conc_blocks, "sigma_h")})
        self._setup_diagnostics()
        if self.skeleton:
            self._setup_skeleton_diagnostics()
        self.x_init = x0
        self.set_initial_state(x0, case.electrolyte.initial_concentration)

    # ------------------------------------------------------------------ construction helpers
    def _clean_matrix_pattern(self):
        """The true Jacobian pattern, probed at perturbed states in every control mode
        (:func:`cellsim.solver.clean_jacobian_pattern`)."""
        snap = self.snapshot()
        keep = (float(self.cv.value), float(self.frozen.value), float(self.dt.value), float(self.i_app.value))
        rng = np.random.default_rng(20261121 + self.comm.rank)
        x0 = self.case.physics.initial_stoichiometry or self.mat.x_100
        self.set_conc(lambda n: x0 * self.c_max * (1 + 0.01 * rng.random(n)))
        self.c_e.x.array[:] = self.case.electrolyte.initial_concentration * (
            1 + 0.01 * rng.random(self.c_e.x.array.size))
        for n in ("phi_s", "phi_b", "phi_e", "V"):
            if n in self.u:
                self.u[n].x.array[:] = 0.01 * rng.random(self.u[n].x.array.size)
        if self.mech:
            for n in self.particle_u_blocks:
                self.u[n].x.array[:] = 1e-3 * rng.random(self.u[n].x.array.size)
            self.S.x.array[:] = 1e-4 * rng.random(self.S.x.array.size)
        if "u_b" in self.u:
            self.u["u_b"].x.array[:] = 1e-3 * rng.random(self.u["u_b"].x.array.size)
        self.c_e_old.x.array[:] = self.c_e.x.array
        self.set_crack_state(self.case.electrolyte.initial_concentration, rng)
        self.frozen.value, self.dt.value, self.i_app.value = 0.0, 1.0, self.i_1C
        coh = [c.snapshot() for c in self.cohesives]
        for c in self.cohesives:  # damaged, closed facets couple the displacement components
            c.perturb_history(rng)

        def mode(cv, frozen):
            def f():
                self.cv.value, self.frozen.value = cv, frozen
            return f

        self._nnz_before, self._nnz_after = clean_jacobian_pattern(
            self.solver, [mode(0.0, 0.0), mode(1.0, 0.0), mode(0.0, 1.0)])
        self.restore(snap)
        for c, snap in zip(self.cohesives, coh):
            c.restore(snap)
        self.cv.value, self.frozen.value, self.dt.value, self.i_app.value = keep

    def length_scale(self) -> float:
        return self.R_ref

    def block_index_sets(self):
        return self.solver.block_index_sets()

    # ------------------------------------------------------------------ state
    def set_initial_state(self, x0: float, ce0: float):
        """Uniform equilibrium at zero current: c_s = x0 c_max, c_e = ce0, phi_e = 0,
        phi_s = phi_b = V = U(x0)."""
        U0 = float(self.mat.ocp(np.array(x0)))
        self.set_conc(lambda n: np.full(n, x0 * self.c_max))
        self.sync_c_mirror()
        self.c_e.x.array[:] = ce0
        self.phi_e.x.array[:] = 0.0
        self.phi_ref.value = U0
        for n in ("phi_s", "phi_b", "V"):
            if n in self.u:
                self.u[n].x.array[:] = 0.0
        self.V_set.value = U0
        if self.mech:
            for n in self.particle_u_blocks:
                self.u[n].x.array[:] = 0.0
            self.S.x.array[:] = 0.0
        if "u_b" in self.u:
            self.u["u_b"].x.array[:] = 0.0
        self.c_e_old.x.array[:] = self.c_e.x.array
        self.set_crack_state(ce0)
        self.scalars.update({"charge": 0.0,  # C (2D: C m-1) passed, discharge positive
                             "lithium_metal": 0.0})  # mol plated on the lithium metal since the start
        self.lithium0 = self.total_lithium()
        self._balance = {"particle lithium error [-]": 0.0, "lithium balance error [-]": 0.0}

    @property
    def charge(self) -> float:
        return self.scalars["charge"]

    @property
    def lithium_metal(self) -> float:
        return self.scalars["lithium_metal"]

    def solve_initial(self):
        """Zero-current equilibrium with concentrations frozen (mechanics, potentials); only
        with mechanics (otherwise the initial state is already the equilibrium)."""
        if not self.mech:
            return None
        keep = (float(self.i_app.value), float(self.cv.value))
        self.i_app.value, self.cv.value = 0.0, 0.0
        self.frozen.value = 1.0
        self.dt.value = 1.0
        res = self.solver.solve()
        self.frozen.value = 0.0
        self.i_app.value, self.cv.value = keep
        return res

    # ------------------------------------------------------------------ control
    def set_current(self, i_app: float, predict: bool = True):
        """Galvanostatic control: current density [A m-2] per cross-section, discharge positive.

        The solid potentials are shifted by the change of the mean Butler-Volmer overpotential
        that the new current needs (uniform-surface estimate), a better Newton start after a
        jump of the current than the previous state."""
        changed = self.mode != "cc" or float(self.i_app.value) != float(i_app)
        self.cv.value = 0.0
        self.i_app.value = float(i_app)
        if changed and predict:
            self._predict(float(i_app))

    def _predict(self, i_app: float):
        """Shift phi_s, phi_b, V by eta(i_app) - mean eta now (uniform-surface Butler-Volmer)."""
        mat = self.mat
        A = self.area_pe
        xs = min(max(self._assemble(self._f_cs_surf) / A / self.c_max, 1e-6), 1 - 1e-6)
        ce = max(self._assemble(self._f_ce_surf) / A, kinetics.CE_CLIP)
        i0 = float(kinetics.exchange_current_density(mat.rate_constant, ce, xs * self.c_max, self.c_max,
                                                     mat.alpha_a, mat.alpha_c))
        jt = i_app * self.area_cross / (FARADAY * A)  # mean insertion rate needed
        eta = kinetics.overpotential_for_flux(jt, i0, float(self.T), mat.alpha_a, mat.alpha_c, max_step=0.1)
        shift = eta - self._assemble(self._f_eta) / A
        for n in ("phi_s", "phi_b", "V"):
            if n in self.u:
                self.u[n].x.array[:] += shift

    def set_voltage(self, v: float, keep_state: bool = False):
        """Potentiostatic control: cell voltage [V] against lithium."""
        self.cv.value = 1.0
        self.V_set.value = float(v)
        if not keep_state:
            self.V.x.array[:] = float(v) - float(self.phi_ref.value)

    @property
    def mode(self) -> str:
        return "cv" if float(self.cv.value) > 0.5 else "cc"

    def quantities(self) -> Quantities:
        return Quantities("voltage [V]", "current density [A m-2]", self.i_1C, self.mat.x_100 < self.mat.x_0)

    def locate(self) -> Locate:
        return Locate(True, self.case.time.dt_min)

    def apply_step(self, st, predict: bool = True) -> None:
        if st.mode == "cv":
            self.set_voltage(st.voltage, keep_state=not predict)
        else:
            self.set_current(st.current, predict)

    def check_step(self, d_old: dict, d_new: dict, dt: float) -> str:
        """Why a converged step cannot be accepted: a lithium balance (relative to the lithium a
        1C current moves in the step) off by more than STEP_BALANCE_TOL."""
        for k in ("particle lithium error [-]", "lithium balance error [-]"):
            if abs(d_new[k]) > STEP_BALANCE_TOL:
                return (f"{k.split(' [')[0]} {d_new[k]:.3g} of the lithium a 1C current moves in the step (more "
                        f"than {STEP_BALANCE_TOL:g}): the state did not follow the current; a Newton tolerance "
                        "too loose for this problem (solver.atol, solver.rtol)")
        return ""

    def describe_control(self, st) -> str:
        return f"i = {st.current:.5g} A m-2" if st.mode != "cv" else f"V = {st.voltage:.4f} V"

    def progress(self, d) -> str:
        return (f"V = {d['voltage [V]']:.5f} V  i = {d['current density [A m-2]']:9.4g} A m-2  "
                f"SOC = {d['state of charge [-]']:.4f}  min c_e = {d['min electrolyte concentration [mol m-3]']:.4g}")

    # ------------------------------------------------------------------ time step
    def rebase(self):
        """Move the reference potential to the present cell voltage (no physical change)."""
        dv = self.voltage() - float(self.phi_ref.value)
        for n in ("phi_s", "phi_b", "V"):
            if n in self.u:
                self.u[n].x.array[:] -= dv
        self.phi_ref.value = float(self.phi_ref.value) + dv

    def before_step(self, dt):
        self.rebase()
        for c in self.cohesives:
            c.set_time_step(dt)

    def _prepare_newton(self, dt):
        self._N_before = (self.particle_lithium(), self.electrolyte_lithium())

    def check_solution(self) -> str:
        """A converged step with concentrations out of range fails too, and one whose interface
        damage jumps too far (:meth:`SkeletonMixin.check_damage_jump`)."""
        lo_ce = self.comm.allreduce(self.c_e.x.array.min(initial=np.inf), op=MPI.MIN)
        xs = self.conc_values(owned=False) / self.c_max
        lo_x = self.comm.allreduce(xs.min(initial=np.inf), op=MPI.MIN)
        hi_x = self.comm.allreduce(xs.max(initial=-np.inf), op=MPI.MAX)
        if lo_ce > 0.0 and lo_x > 0.0 and hi_x < 1.0:
            return self.check_damage_jump()
        return f"concentration out of range (min c_e = {lo_ce:.4g} mol m-3, x in [{lo_x:.4g}, {hi_x:.4g}])"

    def after_step(self, dt):
        I_cc = self.current_total()
        I_li = self._assemble(self._f_I_li)
        I_int = self._assemble(self._f_I_int)
        self.scalars["charge"] += dt * I_cc
        self.scalars["lithium_metal"] += dt * I_li / FARADAY
        Ns0, Ne0 = self._N_before
        dNs, dNe = self.particle_lithium() - Ns0, self.electrolyte_lithium() - Ne0
        q = dt * self.I_ref / FARADAY  # lithium moved by a 1C current in this step
        self._balance = {
            "particle lithium error [-]": (dNs - dt * I_int / FARADAY) / q,
            "lithium balance error [-]": (dNs + dNe + dt * I_li / FARADAY) / q,
        }

    def max_change(self) -> dict:
        """Largest change over the last step: stoichiometry, and relative c_e."""
        dx = self.max_conc_change() / self.c_max
        dce = (np.abs(self.c_e.x.array - self.c_e_old.x.array) / np.maximum(self.c_e_old.x.array, 1e-12)).max(
            initial=0.0)
        ts = self.case.time
        return {"stoichiometry": (dx, ts.max_change),
                "electrolyte": (self.comm.allreduce(dce, op=MPI.MAX), ts.max_electrolyte_change),
                **self.damage_change()}
