r"""Resolved half-cell: particles, carbon-binder and electrolyte coupled by Butler-Volmer.

Regions (cells of the parent mesh, one DOLFINx submesh each) and unknowns, all P1:

=============  =============================================  ===========================
region         unknowns                                       equations
=============  =============================================  ===========================
particles P    c_s [mol m-3], phi_s [V] (+ u, sigma_h/E)       stress-assisted diffusion,
                                                               electronic conduction
binder B       phi_b [V]                                       electronic conduction
liquid E u S   c_e [mol m-3], phi_e [V]                        concentrated solution theory
(collector)    V [V] one real number (cell voltage)            current or voltage control
=============  =============================================  ===========================

Particles (DESIGN.md section 3; x = c_s / c_max)::

    dc_s/dt + div N_s = 0,   N_s = -D(x) grad c_s + D(x) c_s Omega/(R T) grad sigma_h
    div i_s = 0,             i_s = -sigma_s grad phi_s

Carbon-binder: div i_b = 0, i_b = -sigma_b grad phi_b (inert, no lithium).
Electrolyte (electrolyte region: eps = 1, B = 1; separator: eps = eps_sep,
B = eps_sep^b): :mod:`cellsim.physics.electrolyte`::

    div i_e = 0,   eps dc_e/dt + div N_e = 0.

Interfaces (n from the first region named into the second):

* particle/electrolyte, Butler-Volmer with insertion rate j [mol m-2 s-1]::

      eta = phi_s - phi_e - U(x) - Omega sigma_h / F
      j   = (i0/F) [exp(-alpha_c F eta/(R T)) - exp(alpha_a F eta/(R T))]
      i0  = F k c_e^alpha_a (c_max - c_s)^alpha_a c_s^alpha_c
      N_s . n = -j,  i_s . n = -F j,  N_e . n_e = j,  i_e . n_e = F j

* particle/binder, contact conductance G_pb [S m-2]:
  i_s . n = G_pb (phi_s - phi_b) = -i_b . n_b.
* electrode solid/current collector, contact conductance G_cc; the collector is an
  equipotential at the cell voltage V: i . n = G_cc (phi - V) (current leaving the solid).
* lithium metal (facets ``lithium_separator``), the potential reference (phi_s = 0, U = 0):
  j_Li = (i0_Li/F) [exp(alpha_c F phi_e/(R T)) - exp(-alpha_a F phi_e/(R T))] (plating
  positive), N_e . n_e = j_Li, i_e . n_e = F j_Li.
* every other boundary (binder/electrolyte, side walls, collector/electrolyte): no flux.

Control (one equation for V, the last block)::

    galvanostatic:  sum_contacts int G_cc (phi - V) dA = I_app = i_app A   (i_app > 0: discharge)
    potentiostatic: V = V_set

Mechanics (optional, particles only, free particles held by a weak elastic foundation):
small-strain elasticity with chemical strain Omega/3 (c_s - c_ref) I and the continuous
projection S = sigma_h / E used in the flux and the overpotential, as in the single
particle model (:mod:`cellsim.particle_model`).

Time: backward Euler. Every residual block is in amperes (species equations multiplied by
F, mechanics by I_1C / V_P), so one absolute Newton tolerance ``atol * I_1C`` means the same
for all of them (ENVIRONMENT.md). One blocked Newton (PETSc SNES, ``NonlinearProblem``
with ``kind="mpi"``) per step, LU (MUMPS) by default or GMRES + fieldsplit (GAMG on the
potentials) for large problems.

The mesh is a :class:`cellsim.geometry.mesh.TaggedMesh` with the half-cell names:
regions ``particle`` (aggregate of ``particle_i``), ``binder`` (optional), ``electrolyte``,
``separator`` (optional), interfaces ``particle_electrolyte``, ``particle_binder``,
``collector_binder`` / ``collector_particle`` (at least one), ``lithium_separator``.
2D meshes work as well (currents then per unit depth).
"""

from __future__ import annotations

import re

import numpy as np

from .. import newton
from ..dolfinx_env import require_dolfinx
from ..newton import StepResult
from ..materials.base import FARADAY, R_GAS

dolfinx = require_dolfinx()
import basix.ufl  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from dolfinx.fem.petsc import NonlinearProblem  # noqa: E402
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

from ..materials import nyman2008, xu2019  # noqa: E402
from ..physics import electrolyte as el  # noqa: E402
from ..physics import interface as itf  # noqa: E402
from ..physics import kinetics  # noqa: E402
from ..physics import mechanics  # noqa: E402

#: relative stiffness of the elastic foundation that removes rigid-body modes of free particles
RBM_SPRING = 1e-9
#: stoichiometry clip inside i0 and U (keeps the kinetics defined while Newton iterates)
X_CLIP = 1e-9
#: largest change of any potential in one Newton iteration [V] (damping, see _limit_step)
MAX_POTENTIAL_STEP = 0.25
#: smallest salt concentration used inside i0 [mol m-3]
CE_CLIP = 1e-6


class HalfCellError(ValueError):
    """The mesh does not describe a usable half-cell (missing regions or interfaces)."""


def leaf_particles(tm) -> list[tuple[str, int]]:
    """(name, tag) of every particle_i region, sorted by i."""
    out = []
    for name, tags in tm.regions.items():
        m = re.fullmatch(r"particle_(\d+)", name)
        if m and len(tags) == 1:
            out.append((int(m.group(1)), name, int(tags[0])))
    out.sort()
    return [(n, t) for _, n, t in out]


class HalfCellModel:
    """Build the blocked forms once; advance with :meth:`step`; report with :meth:`diagnostics`.

    ``case`` is a :class:`cellsim.halfcell.spec.HalfCellCase`; ``tm`` a TaggedMesh.
    Control: :meth:`set_current` (A m-2, discharge positive) or :meth:`set_voltage`.
    """

    _count = 0  # models built in this process (unique PETSc option prefixes)

    def __init__(self, case, tm, comm=None):
        self.case, self.tm = case, tm
        self.comm = comm = comm or tm.mesh.comm
        parent = tm.mesh
        self.parent = parent
        tdim = parent.topology.dim
        self.gdim = parent.geometry.dim
        phys = case.physics
        self.T = phys.temperature
        self.mech = phys.mechanics
        mat = case.material.resolve()
        self.mat = mat
        self.c_max = mat.c_max
        self.props = nyman2008.properties(case.electrolyte.parameters)
        md = {"quadrature_degree": case.discretisation.quadrature_degree}  # interfaces
        md_vol = {"quadrature_degree": case.discretisation.volume_quadrature_degree}

        # ---------------------------------------------------------------- regions
        def tags_of(name, required=True):
            t = tuple(tm.regions.get(name, ()))
            if required and not t:
                raise HalfCellError(f"the mesh has no region '{name}' (regions: {', '.join(sorted(tm.regions))})")
            return t

        self.particles = leaf_particles(tm)
        P = tags_of("particle")
        if not self.particles:
            self.particles = [(f"particle_{i}", t) for i, t in enumerate(P)]
        B = tags_of("binder", required=False)
        E = tags_of("electrolyte")
        S = tags_of("separator", required=False)
        self.tags = {"particle": P, "binder": B, "electrolyte": E, "separator": S}

        def ncells(tags):
            if not tags:
                return 0
            cells = itf.region_cells(tm.cell_tags, tags)
            own = int(np.sum(cells < parent.topology.index_map(tdim).size_local))
            return comm.allreduce(own, op=MPI.SUM)

        if ncells(B) == 0:
            B = ()
            self.tags["binder"] = ()
        if ncells(S) == 0:
            S = ()
            self.tags["separator"] = ()
        regions = {"particle": P, "liquid": E + S}
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
            if name not in tm.interfaces:
                return np.zeros(0, dtype=np.int32)
            return tm.facets(name)

        def gcount(f):
            return comm.allreduce(int(np.sum(f < nloc_f)), op=MPI.SUM)

        solid_cells = np.concatenate([rp.parent_cells] + ([rb.parent_cells] if rb else []))
        # one subdomain_data list per integral type (DOLFINx requires a single one per form)
        data = {"dS": [], "ds": []}

        def add(f, plus, tag):
            kind, d = self._facet_data(f, plus)
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
        contacts = []  # (kind, tag, restricted)
        for name, kind in (("collector_binder", "binder"), ("collector_particle", "particle")):
            if kind == "binder" and not rb:
                continue
            f = facets(name)
            if gcount(f) == 0:
                continue
            tag = 10 + len(contacts)
            contacts.append((kind, tag, add(f, solid_cells, tag) == "dS"))
        if not contacts:
            raise HalfCellError(
                "the electrode solid does not touch the current collector (no collector_binder or "
                "collector_particle facets): no electronic path"
            )
        f_li = facets("lithium_separator")
        if gcount(f_li) == 0:
            raise HalfCellError("the mesh has no lithium_separator facets (no lithium-metal counter electrode)")
        if add(f_li, re_.parent_cells, 20) != "ds":
            raise HalfCellError("lithium_separator facets must lie on the outer boundary of the mesh")
        dS = ufl.Measure("dS", domain=parent, subdomain_data=data["dS"], metadata=md)
        ds = ufl.Measure("ds", domain=parent, subdomain_data=data["ds"], metadata=md)
        self.dG_pe = dS(1)
        if self.has_pb:
            self.dG_pb = dS(2)
        self.contacts = [(kind, (dS if r else ds)(tag), r) for kind, tag, r in contacts]
        contacts = self.contacts
        self.ds_li = ds(20)
        self.dx = ufl.Measure("dx", domain=parent, subdomain_data=tm.cell_tags, metadata=md_vol)
        dxP, dxE = self.dx(P), self.dx(E)
        dxB = self.dx(B) if B else None
        dxS = self.dx(S) if S else None

        # ---------------------------------------------------------------- spaces
        Vc = fem.functionspace(rp.mesh, ("Lagrange", 1))
        Vps = fem.functionspace(rp.mesh, ("Lagrange", 1))
        Vce = fem.functionspace(re_.mesh, ("Lagrange", 1))
        Vpe = fem.functionspace(re_.mesh, ("Lagrange", 1))
        Vr = fem.functionspace(parent, basix.ufl.real_element(parent.basix_cell(), dtype=np.float64))
        self.c_s = fem.Function(Vc, name="lithium_concentration")
        self.phi_s = fem.Function(Vps, name="phi_s")
        self.c_e = fem.Function(Vce, name="electrolyte_concentration")
        self.phi_e = fem.Function(Vpe, name="electrolyte_potential")
        self.V = fem.Function(Vr, name="cell_voltage")
        self.c_s_old, self.c_e_old = fem.Function(Vc), fem.Function(Vce)
        unknowns = [self.c_s, self.phi_s]
        names = ["c_s", "phi_s"]
        if rb:
            Vpb = fem.functionspace(rb.mesh, ("Lagrange", 1))
            self.phi_b = fem.Function(Vpb, name="phi_b")
            unknowns.append(self.phi_b)
            names.append("phi_b")
        else:
            self.phi_b = None
        unknowns += [self.c_e, self.phi_e]
        names += ["c_e", "phi_e"]
        if self.mech:
            deg = case.discretisation.displacement_degree
            Vu = fem.functionspace(rp.mesh, ("Lagrange", deg, (self.gdim,)))
            VS = fem.functionspace(rp.mesh, ("Lagrange", 1))
            self.U = fem.Function(Vu, name="U")
            self.S = fem.Function(VS, name="S")
            unknowns += [self.U, self.S]
            names += ["u", "sigma_h"]
        unknowns.append(self.V)
        names.append("V")
        self.unknowns, self.block_names = unknowns, names
        tests = ufl.TestFunctions(ufl.MixedFunctionSpace(*[u.function_space for u in unknowns]))
        tmap = dict(zip(names, tests))

        # ---------------------------------------------------------------- measures of size
        one = fem.Constant(parent, 1.0)

        def integ(form):
            return comm.allreduce(fem.assemble_scalar(fem.form(form, entity_maps=self.entity_maps)), op=MPI.SUM)

        self.vol_particles = integ(one * dxP)
        self.area_cross = integ(one * self.ds_li)  # cross-section (lithium face) [m2] (2D: m)
        self.area_pe = integ(one * self.dG_pe)
        self.vol_liquid_eff = integ(one * dxE) + (case.separator.porosity * integ(one * dxS) if S else 0.0)
        self.area_contact = sum(integ(one * m) for _, m, _ in contacts)
        self.R_ref = 3.0 * self.vol_particles / self.area_pe  # equivalent radius 3V/A
        self.i_1C = FARADAY * self.c_max * abs(mat.x_100 - mat.x_0) * self.vol_particles / 3600.0 / self.area_cross
        self.I_ref = self.i_1C * self.area_cross  # A (2D: A m-1)

        # ---------------------------------------------------------------- constants
        self.dt = fem.Constant(parent, 1.0)
        self.frozen = fem.Constant(parent, 0.0)
        self.cv = fem.Constant(parent, 0.0)
        self.i_app = fem.Constant(parent, 0.0)  # A m-2, discharge positive
        self.V_set = fem.Constant(parent, 0.0)
        # Solid potentials and V are stored relative to phi_ref (moved to the cell voltage before
        # every step): residuals then carry no 4 V offsets times large conductances, whose
        # round-off would otherwise set a floor on the attainable Newton residual.
        self.phi_ref = fem.Constant(parent, 0.0)
        live = 1 - self.frozen
        RT = R_GAS * self.T

        # ---------------------------------------------------------------- particles
        c_s, phi_s, c_e, phi_e, V = self.c_s, self.phi_s, self.c_e, self.phi_e, self.V
        w_c, w_p = tmap["c_s"], tmap["phi_s"]
        omega = mat.partial_molar_volume
        sig_p = case.solid.particle_conductivity or mat.electronic_conductivity
        self.sigma_particle = sig_p
        D = mat.diffusivity(c_s / self.c_max)
        if self.mech:
            E_s = mat.youngs_modulus
            Rr = self.R_ref
            sigma = mechanics.stress(Rr * self.U, c_s, E_s, mat.poisson_ratio, omega, mat.c_ref)
            self.sigma = sigma
            sh = E_s * self.S
        else:
            sh = None
        grad_sh = ufl.grad(sh) if (self.mech and phys.stress_assisted_diffusion) else None
        N_s = -D * ufl.grad(c_s)
        if grad_sh is not None:
            N_s = N_s + D * c_s * omega / RT * grad_sh
        acc_s = FARADAY * (c_s - self.c_s_old) / self.dt * w_c * dxP
        F_cs = acc_s - live * FARADAY * ufl.inner(N_s, ufl.grad(w_c)) * dxP
        F_ps = sig_p * ufl.inner(ufl.grad(phi_s), ufl.grad(w_p)) * dxP

        # Butler-Volmer on the particle/electrolyte interface ("+" particle, "-" electrolyte)
        xs = c_s("+") / self.c_max
        xs_c = ufl.min_value(ufl.max_value(xs, X_CLIP), 1.0 - X_CLIP)
        ce_c = ufl.max_value(c_e("-"), CE_CLIP)
        i0 = el.exchange_current(mat.rate_constant, ce_c, xs_c * self.c_max, self.c_max, mat.alpha_a, mat.alpha_c)
        eta = (phi_s("+") + self.phi_ref) - phi_e("-") - mat.ocp(xs_c)
        if self.mech and phys.stress_in_overpotential:
            eta = eta - omega * sh("+") / FARADAY
        self.eta = eta
        self.j = el.butler_volmer_flux(eta, i0, mat.alpha_a, mat.alpha_c, self.T)
        s_c, s_p = el.solid_interface_terms(self.j, w_c("+"), w_p("+"), self.dG_pe)
        F_cs += live * s_c
        F_ps += s_p

        # ---------------------------------------------------------------- binder and contacts
        G_pb = case.solid.particle_binder_conductance
        G_cc = case.solid.collector_conductance
        self.G_cc = G_cc
        F_pb = None
        if rb:
            w_b = tmap["phi_b"]
            F_pb = case.solid.binder_conductivity * ufl.inner(ufl.grad(self.phi_b), ufl.grad(w_b)) * dxB
            if self.has_pb:
                jump = phi_s("+") - self.phi_b("-")
                F_ps += G_pb * jump * w_p("+") * self.dG_pb
                F_pb += -G_pb * jump * w_b("-") * self.dG_pb
        I_cc = 0
        contact_terms = []
        for kind, meas, restricted in contacts:
            u, w = (self.phi_b, tmap["phi_b"]) if kind == "binder" else (phi_s, w_p)
            r = (lambda f: f("+")) if restricted else (lambda f: f)
            i_n = G_cc * (r(u) - r(V))  # current density leaving the solid into the collector
            term = i_n * r(w) * meas
            if kind == "binder":
                F_pb += term
            else:
                F_ps += term
            I_cc = I_cc + i_n * meas
            contact_terms.append((i_n, r, meas))
        self.I_cc_form = I_cc

        # ---------------------------------------------------------------- electrolyte
        v_c, v_p = tmap["c_e"], tmap["phi_e"]
        F_ce, F_pe = el.electrolyte_residual(c_e, self.c_e_old, phi_e, v_c, v_p, self.dt, self.props, dxE, self.T)
        acc_e = FARADAY * (c_e - self.c_e_old) / self.dt * v_c * dxE
        if S:
            eps_sep = case.separator.porosity
            B_sep = el.transport_factor(eps_sep, bruggeman=case.separator.bruggeman)
            F_ce2, F_pe2 = el.electrolyte_residual(c_e, self.c_e_old, phi_e, v_c, v_p, self.dt, self.props, dxS,
                                                   self.T, porosity=eps_sep, B=B_sep)
            F_ce, F_pe = F_ce + F_ce2, F_pe + F_pe2
            acc_e = acc_e + FARADAY * eps_sep * (c_e - self.c_e_old) / self.dt * v_c * dxS
        e_c, e_p = el.electrolyte_interface_terms(self.j, v_c("-"), v_p("-"), self.dG_pe)
        F_ce, F_pe = F_ce + e_c, F_pe + e_p
        li = case.lithium
        ce_li = ufl.max_value(c_e, CE_CLIP)
        i0_li = li.exchange_current if li.exchange_current is not None else xu2019.exchange_current_density(ce_li)
        self.j_li = el.lithium_metal_flux(phi_e, i0_li, li.alpha_a, li.alpha_c, self.T)
        l_c, l_p = el.electrolyte_interface_terms(self.j_li, v_c, v_p, self.ds_li)
        F_ce, F_pe = F_ce + l_c, F_pe + l_p
        # Row combination (same solution): salt rows minus t+_ref times the charge rows. With a
        # constant t+ this removes the migration term t+ i_e / F from the salt equation
        # (div i_e = 0), leaving eps dc/dt = div(D grad c) with (1 - t+) j at the reactive
        # surfaces; its rows are then no longer dominated by the potential, which the block
        # preconditioner of the iterative solver needs. For t+(c) only (t+ - t+_ref) remains.
        self.tplus_ref = float(self.props.transference_number(case.electrolyte.initial_concentration))
        F_ce = F_ce - self.tplus_ref * ufl.replace(F_pe, {v_p: v_c})
        F_ce = self.frozen * acc_e + live * F_ce

        # ---------------------------------------------------------------- mechanics
        forms = {"c_s": F_cs, "phi_s": F_ps, "c_e": F_ce, "phi_e": F_pe}
        if rb:
            forms["phi_b"] = F_pb
        if self.mech:
            scale = self.I_ref / self.vol_particles
            v_u, v_S = tmap["u"], tmap["sigma_h"]
            E_s = mat.youngs_modulus
            forms["u"] = scale * (ufl.inner(self.sigma / E_s, mechanics.strain(v_u)) * self.R_ref * dxP
                                  + RBM_SPRING * ufl.inner(self.U, v_u) * dxP)
            forms["sigma_h"] = scale * (self.S - mechanics.hydrostatic(self.sigma) / E_s) * v_S * dxP

        # ---------------------------------------------------------------- control (cell voltage)
        r_V = tmap["V"]
        ctrl_cc = 0
        ctrl_cv = 0
        for i_n, r, meas in contact_terms:
            ctrl_cc = ctrl_cc + i_n * r(r_V) * meas
            ctrl_cv = ctrl_cv + G_cc * (r(V) + self.phi_ref - self.V_set) * r(r_V) * meas
        ctrl_cc = ctrl_cc - self.i_app * r_V * self.ds_li  # int i_app dA over the cross-section = I_app
        # sign: -(collector current - I_app), so that the linearised potential block is symmetric
        # (d/dV = +G A on the diagonal, -G to the contact dofs, as in their own rows)
        forms["V"] = -(1 - self.cv) * ctrl_cc + self.cv * ctrl_cv
        self.forms = [forms[n] for n in names]

        # ---------------------------------------------------------------- solver
        self._make_solver()
        self._setup_diagnostics()
        # the collector is an equipotential at V: written as a constant field of its region
        self._collector_field = None
        C = tuple(tm.regions.get("current_collector", ()))
        if C and ncells(C) > 0:
            rc = itf.make_submeshes(parent, tm.cell_tags, {"current_collector": C})["current_collector"]
            self._collector_field = fem.Function(fem.functionspace(rc.mesh, ("Lagrange", 1)), name="solid_potential")
        x0 = phys.initial_stoichiometry if phys.initial_stoichiometry is not None else mat.x_100
        self.x_init = x0
        self.set_initial_state(x0, case.electrolyte.initial_concentration)

    # ------------------------------------------------------------------ construction helpers
    def _facet_data(self, facets, plus_cells):
        """Integration data of ``facets``: ("ds", pairs) when they lie on the outer boundary,
        ("dS", quadruples with '+' on ``plus_cells``) when they are interior. Flattened 1-D."""
        parent, comm = self.parent, self.comm
        tdim = parent.topology.dim
        f2c = parent.topology.connectivity(tdim - 1, tdim)
        nloc = parent.topology.index_map(tdim - 1).size_local
        own = np.asarray(facets[facets < nloc], dtype=np.int32)
        counts = np.diff(f2c.offsets)[own] if len(own) else np.zeros(0, np.int32)
        n_int = comm.allreduce(int(np.sum(counts == 2)), op=MPI.SUM)
        n_all = comm.allreduce(len(own), op=MPI.SUM)
        if n_int == 0:
            d = fem.compute_integration_domains(fem.IntegralType.exterior_facet, parent.topology, own)
            return "ds", np.asarray(d, dtype=np.int32).reshape(-1)
        if n_int != n_all:
            raise HalfCellError("a facet set mixes outer-boundary and interior facets")
        return "dS", itf.interface_integration_data(parent, facets, plus_cells).reshape(-1)

    def _make_solver(self):
        sv = self.case.solver
        opts = {
            "snes_type": "newtonls",
            "snes_linesearch_type": "basic",
            "snes_rtol": sv.rtol,
            "snes_atol": sv.atol * self.I_ref,
            "snes_stol": 0.0,
            "snes_max_it": sv.max_iterations,
        }
        if sv.linear_solver == "iterative":
            opts.update({"ksp_type": "gmres", "ksp_rtol": sv.ksp_rtol, "ksp_max_it": 1000,
                         "ksp_gmres_restart": 200, "ksp_norm_type": "unpreconditioned"})
        else:
            opts.update({"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": sv.linear_solver})
        HalfCellModel._count += 1
        prefix = f"cellsim_halfcell{HalfCellModel._count}_"
        self.problem = NonlinearProblem(self.forms, self.unknowns, kind="mpi", entity_maps=self.entity_maps,
                                        petsc_options_prefix=prefix, petsc_options=opts)
        self.snes = self.problem.solver
        self.snes.setDivergenceTolerance(1e300)
        self._clean_matrix_pattern()
        # local ranges of the potential blocks in the kind="mpi" vector (Newton damping)
        sizes = [u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs
                 for u in self.unknowns]
        offs = np.concatenate([[0], np.cumsum(sizes)])
        self._pot_ranges = [(offs[k], offs[k + 1]) for k, n in enumerate(self.block_names)
                            if n in ("phi_s", "phi_b", "phi_e", "V")]
        self.snes.setLineSearchPreCheck(self._limit_step)
        if sv.linear_solver == "iterative":
            from .solver import configure_fieldsplit

            configure_fieldsplit(self)

    def _clean_matrix_pattern(self):
        """Replace the Jacobian matrix by one with the true sparsity pattern.

        DOLFINx 0.11.0 builds the sparsity of an interior-facet integral between two
        submeshes with a buffer that keeps local dof 0 for the side on which a space does not
        exist (fixed upstream after 0.11.0.post0, "a temporary buffer that could leak a
        previous facet's dofs"): dof 0 of every submesh space gets a structurally full row and
        column over the interface dofs. The values assembled there are zero, but the fill
        ruins LU fill-in and AMG set-up (measured: 8.8 s GAMG set-up on 30k potentials, 0.5 s
        after). The true pattern is probed here: the Jacobian is assembled at two perturbed
        states (current and voltage control, frozen concentrations) and its nonzero entries (plus the diagonal)
        form the new pattern; insertions outside it (the zero values at the leaked
        positions) are then ignored (MAT_NEW_NONZERO_LOCATIONS = false).
        """
        from dolfinx.fem.petsc import assemble_jacobian, assemble_matrix

        A = self.problem.A
        comm = self.comm
        snap = self._snapshot()
        keep = (float(self.cv.value), float(self.frozen.value), float(self.dt.value), float(self.i_app.value))
        rng = np.random.default_rng(20261121 + comm.rank)
        x0 = self.case.physics.initial_stoichiometry or self.mat.x_100
        self.c_s.x.array[:] = x0 * self.c_max * (1 + 0.01 * rng.random(self.c_s.x.array.size))
        self.c_e.x.array[:] = self.case.electrolyte.initial_concentration * (1 + 0.01 * rng.random(self.c_e.x.array.size))
        for u in (self.phi_s, self.phi_b, self.phi_e, self.V):
            if u is not None:
                u.x.array[:] = 0.01 * rng.random(u.x.array.size)
        if self.mech:
            self.U.x.array[:] = 1e-3 * rng.random(self.U.x.array.size)
            self.S.x.array[:] = 1e-4 * rng.random(self.S.x.array.size)
        self.c_s_old.x.array[:] = self.c_s.x.array
        self.c_e_old.x.array[:] = self.c_e.x.array
        self.frozen.value, self.dt.value, self.i_app.value = 0.0, 1.0, self.i_1C
        mask = None
        for cv, frozen in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)):
            self.cv.value, self.frozen.value = cv, frozen
            A.zeroEntries()
            assemble_matrix(A, self.problem.J)
            A.assemble()
            ai, aj, av = A.getValuesCSR()
            m = av != 0.0
            mask = m if mask is None else (mask | m)
        r0, _ = A.getOwnershipRange()
        rows = np.repeat(np.arange(len(ai) - 1), np.diff(ai))
        mask |= aj == rows + r0
        counts = np.zeros(len(ai) - 1, dtype=np.int64)
        np.add.at(counts, rows[mask], 1)
        ai_new = np.concatenate([[0], np.cumsum(counts)]).astype(PETSc.IntType)
        aj_new = aj[mask].astype(PETSc.IntType)
        B = PETSc.Mat().create(comm=comm)
        B.setSizes(A.getSizes())
        B.setType(PETSc.Mat.Type.AIJ)
        B.setPreallocationCSR((ai_new, aj_new))
        B.setLGMap(*A.getLGMap())
        B.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATIONS, False)
        B.setOptionsPrefix(A.getOptionsPrefix())
        self._nnz_before = comm.allreduce(len(aj), op=MPI.SUM)
        self._nnz_after = comm.allreduce(len(aj_new), op=MPI.SUM)
        ctx = {"u": self.unknowns, "jacobian": self.problem.J, "preconditioner": None, "bcs": []}
        self.snes.setJacobian(assemble_jacobian, B, B, kargs=ctx)
        self.problem._A = B
        A.destroy()
        self._restore(snap)
        self.cv.value, self.frozen.value, self.dt.value, self.i_app.value = keep

    def _limit_step(self, x, y):
        """Newton damping: scale the whole update so that no potential moves by more than
        MAX_POTENTIAL_STEP in one iteration (Butler-Volmer is exponential in the potentials)."""
        a = y.getArray(readonly=True)
        m = max((np.abs(a[i:j]).max(initial=0.0) for i, j in self._pot_ranges), default=0.0)
        m = self.comm.allreduce(m, op=MPI.MAX)
        if m > MAX_POTENTIAL_STEP:
            y.scale(MAX_POTENTIAL_STEP / m)

    def block_index_sets(self):
        """PETSc index sets of every block in the kind='mpi' vector layout (for fieldsplit)."""
        comm = self.comm
        sizes = [u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs
                 for u in self.unknowns]
        start = comm.exscan(sum(sizes), op=MPI.SUM) or 0
        out, off = [], start
        for n in sizes:
            out.append(PETSc.IS().createStride(n, first=off, step=1, comm=comm))
            off += n
        return out

    # ------------------------------------------------------------------ state
    def set_initial_state(self, x0: float, ce0: float):
        """Uniform equilibrium at zero current: c_s = x0 c_max, c_e = ce0, phi_e = 0,
        phi_s = phi_b = V = U(x0)."""
        U0 = float(self.mat.ocp(np.array(x0)))
        self.c_s.x.array[:] = x0 * self.c_max
        self.c_e.x.array[:] = ce0
        self.phi_e.x.array[:] = 0.0
        self.phi_ref.value = U0
        self.phi_s.x.array[:] = 0.0
        if self.phi_b is not None:
            self.phi_b.x.array[:] = 0.0
        self.V.x.array[:] = 0.0
        self.V_set.value = U0
        if self.mech:
            self.U.x.array[:] = 0.0
            self.S.x.array[:] = 0.0
        self.c_s_old.x.array[:] = self.c_s.x.array
        self.c_e_old.x.array[:] = self.c_e.x.array
        self.charge = 0.0  # C (2D: C m-1) passed, discharge positive
        self.lithium_metal = 0.0  # mol plated on the lithium metal since the start
        self.lithium0 = self.total_lithium()
        self._balance = {"particle lithium error [-]": 0.0, "lithium balance error [-]": 0.0}

    def solve_initial(self) -> StepResult:
        """Zero-current equilibrium with concentrations frozen (mechanics, potentials)."""
        keep = (float(self.i_app.value), float(self.cv.value))
        self.i_app.value, self.cv.value = 0.0, 0.0
        self.frozen.value = 1.0
        self.dt.value = 1.0
        res = self._newton()
        self.frozen.value = 0.0
        self.i_app.value, self.cv.value = keep
        return res

    def set_current(self, i_app: float):
        """Galvanostatic control: current density [A m-2] per cross-section, discharge positive.

        The solid potentials are shifted by the change of the mean Butler-Volmer overpotential
        that the new current needs (uniform-surface estimate), a better Newton start after a
        jump of the current than the previous state."""
        changed = self.mode != "cc" or float(self.i_app.value) != float(i_app)
        self.cv.value = 0.0
        self.i_app.value = float(i_app)
        if changed:
            self._predict(float(i_app))

    def _predict(self, i_app: float):
        """Shift phi_s, phi_b, V by eta(i_app) - mean eta now (uniform-surface Butler-Volmer)."""
        mat = self.mat
        A = self.area_pe
        xs = self._assemble(self._f_cs_surf) / A / self.c_max
        xs = min(max(xs, 1e-6), 1 - 1e-6)
        ce = max(self._assemble(self._f_ce_surf) / A, CE_CLIP)
        i0 = float(el.exchange_current(mat.rate_constant, ce, xs * self.c_max, self.c_max, mat.alpha_a, mat.alpha_c))
        jt = i_app * self.area_cross / (FARADAY * A)  # mean insertion rate needed
        eta = kinetics.overpotential_for_flux(jt, i0, float(self.T), mat.alpha_a, mat.alpha_c, max_step=0.1)
        shift = eta - self._assemble(self._f_eta) / A
        for u in (self.phi_s, self.phi_b, self.V):
            if u is not None:
                u.x.array[:] += shift

    def set_voltage(self, v: float):
        """Potentiostatic control: cell voltage [V] against lithium."""
        self.cv.value = 1.0
        self.V_set.value = float(v)
        self.V.x.array[:] = float(v) - float(self.phi_ref.value)

    @property
    def mode(self) -> str:
        return "cv" if float(self.cv.value) > 0.5 else "cc"

    # ------------------------------------------------------------------ solve
    def _snapshot(self):
        return [u.x.array.copy() for u in self.unknowns] + [float(self.phi_ref.value)]

    def _restore(self, snap):
        for u, a in zip(self.unknowns, snap[:-1]):
            u.x.array[:] = a
        self.phi_ref.value = snap[-1]

    def rebase(self):
        """Move the reference potential to the present cell voltage (no physical change)."""
        dv = self.voltage() - float(self.phi_ref.value)
        for u in (self.phi_s, self.phi_b, self.V):
            if u is not None:
                u.x.array[:] -= dv
        self.phi_ref.value = float(self.phi_ref.value) + dv

    def _newton(self) -> StepResult:
        """Newton solve; a step that converges to concentrations out of range fails too.
        State unchanged on failure."""
        snap = self._snapshot()
        res = newton.solve(self.problem, self.snes, self.unknowns, self.comm)
        if res.converged:
            lo_ce = self.comm.allreduce(self.c_e.x.array.min(initial=np.inf), op=MPI.MIN)
            xs = self.c_s.x.array / self.c_max
            lo_x = self.comm.allreduce(xs.min(initial=np.inf), op=MPI.MIN)
            hi_x = self.comm.allreduce(xs.max(initial=-np.inf), op=MPI.MAX)
            if lo_ce > 0.0 and lo_x > 0.0 and hi_x < 1.0:
                return res
            res = StepResult(False, res.newton_iterations, res.krylov_iterations,
                             f"concentration out of range (min c_e = {lo_ce:.4g} mol m-3, x in [{lo_x:.4g}, {hi_x:.4g}])")
        self._restore(snap)
        return res

    def step(self, dt: float) -> StepResult:
        """One backward-Euler step; on failure the state is unchanged. Call :meth:`accept`
        (or :meth:`reject`) afterwards."""
        self.dt.value = float(dt)
        self.rebase()
        self._pre = (self._snapshot(), self.charge, self.lithium_metal)
        self._dt_last = float(dt)
        self._N_before = (self.particle_lithium(), self.electrolyte_lithium())
        res = self._newton()
        if res.converged:
            I_cc = self.current_total()
            I_li = self._assemble(self._f_I_li)
            I_int = self._assemble(self._f_I_int)
            self.charge += dt * I_cc
            self.lithium_metal += dt * I_li / FARADAY
            Ns0, Ne0 = self._N_before
            dNs, dNe = self.particle_lithium() - Ns0, self.electrolyte_lithium() - Ne0
            q = dt * self.I_ref / FARADAY  # lithium moved by a 1C current in this step
            self._balance = {
                "particle lithium error [-]": (dNs - dt * I_int / FARADAY) / q,
                "lithium balance error [-]": (dNs + dNe + dt * I_li / FARADAY) / q,
            }
        return res

    def reject(self):
        snap, self.charge, self.lithium_metal = self._pre
        self._restore(snap)

    def accept(self):
        self.c_s_old.x.array[:] = self.c_s.x.array
        self.c_e_old.x.array[:] = self.c_e.x.array

    def max_change(self) -> tuple[float, float]:
        """Largest change over the last step: (stoichiometry, relative c_e)."""
        dx = np.abs(self.c_s.x.array - self.c_s_old.x.array).max(initial=0.0) / self.c_max
        dce = (np.abs(self.c_e.x.array - self.c_e_old.x.array) / np.maximum(self.c_e_old.x.array, 1e-12)).max(
            initial=0.0)
        return self.comm.allreduce(dx, op=MPI.MAX), self.comm.allreduce(dce, op=MPI.MAX)

    # ------------------------------------------------------------------ diagnostics
    def _assemble(self, f) -> float:
        return self.comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM)

    def _setup_diagnostics(self):
        em = self.entity_maps
        P, E, S = self.tags["particle"], self.tags["electrolyte"], self.tags["separator"]
        dxP = self.dx(P)
        eps_sep = self.case.separator.porosity
        self._f_Ns = fem.form(self.c_s * dxP, entity_maps=em)
        ce_l = self.c_e * self.dx(E) + (eps_sep * self.c_e * self.dx(S) if S else 0)
        self._f_Ne = fem.form(ce_l, entity_maps=em)
        self._f_I_int = fem.form(FARADAY * self.j * self.dG_pe, entity_maps=em)
        self._f_I_li = fem.form(FARADAY * self.j_li * self.ds_li, entity_maps=em)
        self._f_I_cc = fem.form(self.I_cc_form, entity_maps=em)
        self._f_phie_li = fem.form(self.phi_e * self.ds_li, entity_maps=em)
        self._f_ce_li = fem.form(self.c_e * self.ds_li, entity_maps=em)
        xs = ufl.min_value(ufl.max_value(self.c_s("+") / self.c_max, X_CLIP), 1 - X_CLIP)
        self._f_ocp = fem.form(self.mat.ocp(xs) * self.dG_pe, entity_maps=em)
        self._f_eta = fem.form(self.eta * self.dG_pe, entity_maps=em)
        self._f_cs_surf = fem.form(self.c_s("+") * self.dG_pe, entity_maps=em)
        self._f_ce_surf = fem.form(self.c_e("-") * self.dG_pe, entity_maps=em)
        # per-particle lithium: cell integrals of c_s against a DG0 test function, summed by tag
        rp = self.sub["particle"]
        Q0 = fem.functionspace(rp.mesh, ("DG", 0))
        q = ufl.TestFunction(Q0)
        self._f_cell_Ns = fem.form(self.c_s * q * dxP, entity_maps=em)
        vol = fem.assemble_vector(fem.form(q * dxP, entity_maps=em)).array
        nloc = Q0.dofmap.index_map.size_local
        sub_cells = np.arange(nloc, dtype=np.int32)
        parent_cells = rp.entity_map.sub_topology_to_topology(sub_cells, False)
        tag_of_parent = np.full(self.parent.topology.index_map(self.parent.topology.dim).size_local
                                + self.parent.topology.index_map(self.parent.topology.dim).num_ghosts, -1)
        tag_of_parent[self.tm.cell_tags.indices] = self.tm.cell_tags.values
        ctag = tag_of_parent[parent_cells]
        self._ptags = np.array([t for _, t in self.particles])
        idx = np.searchsorted(self._ptags, ctag)
        idx[(idx >= len(self._ptags))] = 0
        self._cell_particle = np.where(self._ptags[idx] == ctag, idx, -1)
        self._nloc_q = nloc
        self.particle_volumes = self.comm.allreduce(self._by_particle(vol[:nloc]), op=MPI.SUM)
        # surface dofs of c_s: rows touched by the interface measure
        wc = ufl.TestFunction(self.c_s.function_space)
        ind = fem.assemble_vector(fem.form(wc("+") * self.dG_pe, entity_maps=em))
        ind.scatter_reverse(dolfinx.la.InsertMode.add)
        n_own = self.c_s.function_space.dofmap.index_map.size_local
        self._surf_dofs = np.flatnonzero(ind.array[:n_own] > 0)

    def _by_particle(self, cellvals):
        out = np.zeros(len(self._ptags))
        sel = self._cell_particle >= 0
        np.add.at(out, self._cell_particle[sel], cellvals[sel])
        return out

    def particle_lithium(self) -> float:
        return self._assemble(self._f_Ns)

    def electrolyte_lithium(self) -> float:
        return self._assemble(self._f_Ne)

    def total_lithium(self) -> float:
        """Lithium in particles + electrolyte [mol] (2D: mol m-1)."""
        return self.particle_lithium() + self.electrolyte_lithium()

    def current_total(self) -> float:
        """Current leaving the electrode solid into the collector [A] (discharge positive)."""
        return self._assemble(self._f_I_cc)

    def voltage(self) -> float:
        n = self.V.function_space.dofmap.index_map.size_local
        v = float(self.V.x.array[0]) if n > 0 else 0.0
        return self.comm.allreduce(v, op=MPI.SUM) + float(self.phi_ref.value)

    def stoichiometry_by_particle(self) -> np.ndarray:
        vals = fem.assemble_vector(self._f_cell_Ns).array[: self._nloc_q]
        N = self.comm.allreduce(self._by_particle(vals), op=MPI.SUM)
        return N / (self.c_max * self.particle_volumes)

    def diagnostics(self) -> dict:
        """Scalars of the current state (collective). Conservation entries refer to the last step."""
        comm, mat = self.comm, self.mat
        A = self.area_cross
        V = self.voltage()
        I_cc = self.current_total()
        I_int = self._assemble(self._f_I_int)
        I_li = self._assemble(self._f_I_li)
        Ns, Ne = self.particle_lithium(), self.electrolyte_lithium()
        x_mean = Ns / (self.c_max * self.vol_particles)
        soc = (x_mean - mat.x_0) / (mat.x_100 - mat.x_0)
        xp = self.stoichiometry_by_particle()
        socp = (xp - mat.x_0) / (mat.x_100 - mat.x_0)
        cs = self.c_s.x.array[: self.c_s.function_space.dofmap.index_map.size_local]
        ce = self.c_e.x.array[: self.c_e.function_space.dofmap.index_map.size_local]
        xs = cs[self._surf_dofs] / self.c_max
        d = {
            "voltage [V]": V,
            "current density [A m-2]": I_cc / A,
            "capacity [mA h m-2]": self.charge / A / 3.6,
            "state of charge [-]": soc,
            "mean stoichiometry [-]": x_mean,
            "mean lithium concentration [mol m-3]": Ns / self.vol_particles,
            "max lithium concentration [mol m-3]": comm.allreduce(cs.max(initial=-np.inf), op=MPI.MAX),
            "min lithium concentration [mol m-3]": comm.allreduce(cs.min(initial=np.inf), op=MPI.MIN),
            "min surface stoichiometry [-]": comm.allreduce(xs.min(initial=np.inf), op=MPI.MIN),
            "max surface stoichiometry [-]": comm.allreduce(xs.max(initial=-np.inf), op=MPI.MAX),
            "mean electrolyte concentration [mol m-3]": Ne / self.vol_liquid_eff,
            "min electrolyte concentration [mol m-3]": comm.allreduce(ce.min(initial=np.inf), op=MPI.MIN),
            "max electrolyte concentration [mol m-3]": comm.allreduce(ce.max(initial=-np.inf), op=MPI.MAX),
            "lithium metal overpotential [V]": -self._assemble(self._f_phie_li) / A,
            "electrolyte concentration at lithium [mol m-3]": self._assemble(self._f_ce_li) / A,
            "mean surface OCP [V]": self._assemble(self._f_ocp) / self.area_pe,
            "mean particle overpotential [V]": self._assemble(self._f_eta) / self.area_pe,
            "interface current error [-]": (I_int - I_cc) / self.I_ref,
            "lithium metal current error [-]": (I_li + I_cc) / self.I_ref,
            "particle lithium error [-]": self._balance["particle lithium error [-]"],
            "lithium balance error [-]": self._balance["lithium balance error [-]"],
        }
        if self.mode == "cc":
            d["applied current error [-]"] = (I_cc / A - float(self.i_app.value)) / self.i_1C
        else:
            d["applied current error [-]"] = 0.0
        for (name, _), s in zip(self.particles, socp):
            d[f"soc {name.replace('_', ' ')} [-]"] = float(s)
        return d

    def particle_columns(self) -> list[str]:
        return [f"soc {name.replace('_', ' ')} [-]" for name, _ in self.particles]

    # ------------------------------------------------------------------ fields
    def output_fields(self) -> dict:
        if not hasattr(self, "_out_phi_s"):
            self._out_phi_s = fem.Function(self.phi_s.function_space, name="solid_potential")
            if self.phi_b is not None:
                self._out_phi_b = fem.Function(self.phi_b.function_space, name="solid_potential")
        ref = float(self.phi_ref.value)
        self._out_phi_s.x.array[:] = self.phi_s.x.array + ref
        out = {"particle": [self.c_s, self._out_phi_s], "electrolyte": [self.c_e, self.phi_e]}
        if self.phi_b is not None:
            self._out_phi_b.x.array[:] = self.phi_b.x.array + ref
            out["binder"] = [self._out_phi_b]
        if self._collector_field is not None:
            self._collector_field.x.array[:] = self.voltage()
            out["current_collector"] = [self._collector_field]
        if self.mech:
            out["particle"] += self._mech_fields()
        return out

    def _mech_fields(self):
        if not hasattr(self, "_f_u"):
            rp = self.sub["particle"]
            Q = fem.functionspace(rp.mesh, ("DG", 0))
            Tn = fem.functionspace(rp.mesh, ("DG", 0, (self.gdim, self.gdim)))
            self._f_u = fem.Function(self.U.function_space, name="displacement")
            self._f_sh = fem.Function(Q, name="hydrostatic_stress")
            self._f_vm = fem.Function(Q, name="von_mises_stress")
            self._f_sig = fem.Function(Tn, name="stress")
            self._e_sh = fem.Expression(mechanics.hydrostatic(self.sigma), Q.element.interpolation_points)
            self._e_vm = fem.Expression(mechanics.von_mises(self.sigma), Q.element.interpolation_points)
            self._e_sig = fem.Expression(self.sigma, Tn.element.interpolation_points)
        self._f_u.x.array[:] = self.R_ref * self.U.x.array
        self._f_sh.interpolate(self._e_sh)
        self._f_vm.interpolate(self._e_vm)
        self._f_sig.interpolate(self._e_sig)
        return [self._f_u, self._f_sig, self._f_sh, self._f_vm]

    def num_dofs(self) -> int:
        return sum(u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
                   for u in self.unknowns)
