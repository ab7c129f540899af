r"""Porous single particle: the solid with its pores filled by electrolyte, in a bath.

The single-particle composition (:mod:`.particle`) on the ``porous_particle`` geometry
(:class:`cellsim.geometry.spec_particles.PorousParticle`), with the pore electrolyte
resolved. No new equation: the same terms on two region submeshes of one parent mesh.

=========  ===========================  ==========================================  ===================
block      unknown (region)             terms                                       row weight
=========  ===========================  ==========================================  ===================
c_s        c / c_max (solid)            SolidDiffusion + ButlerVolmer (outer: bath;  1/(c_max D L)
                                        pore wall: pore electrolyte)
u          u / L (solid)                Elasticity (pore walls and outer surface     1/(E L)
           sigma_h / E (solid)          traction free; weak elastic foundation)      1/(E L^3)
phi        particle potential [V]       ParticlePotential + pore-wall current (CC)   1/I_1C
c_e        c_e / c_bath (pore)          Electrolyte (eps = 1, B = pores.transport_   1/(c_b D_e B L)
phi_e      phi_e [V] (pore)             factor) + ButlerVolmer (pore wall) +         1/(kappa B L R T/F)
                                        PoreOpening (bath at the openings)
=========  ===========================  ==========================================  ===================

Surfaces: ``outer_surface`` reacts with the bath (phi_e = 0, c_e = c_bath), ``pore_wall``
(interior facets, "+" = solid) with the pore electrolyte, ``pore_opening`` (exterior facets
of the pores; channels only: spherical pores are closed) joins the pores to the bath.

Bath at the openings: a stiff penalty (the solver takes no Dirichlet conditions), lithium
and current leaving the pores through the opening::

    N_e . n = k_c (c_e - c_bath),   k_c = alpha B D_e(c_bath) / h
    i_e . n = k_phi (phi_e - 0),    k_phi = alpha B kappa(c_bath) / h

with h the cell diameter and alpha = :data:`OPENING_PENALTY`: the opening values differ
from the bath by (flux) h / (alpha D), a fraction of about h / (alpha l) of the drop over a
channel of length l. Both fluxes enter the salt and charge rows before the electrolyte's
t+ row combination, so the discrete balances are exact (to the solver tolerance):

    d/dt int_pore c_e = - int_wall j - int_opening N_e . n       (salt)
    F int_wall j = - int_opening i_e . n                        (charge in the pores)
    F int_outer j + F int_wall j = I_app                        (current into the solid)

A closed pore passes no net current (its potential floats to the value at which its wall
current sums to zero) and keeps its salt.
"""

from __future__ import annotations

import numpy as np

from .. import regions as itf
from ..case.pores import PoreElectrolyteSpec
from ..dolfinx_env import require_dolfinx
from ..materials import nyman2008
from ..materials.base import FARADAY, R_GAS
from ..physics import mechanics
from ..physics.circuit import ParticlePotential
from ..physics.electrolyte import Electrolyte
from ..physics.kinetics import ButlerVolmer
from ..physics.mechanics import RBM_SPRING, Elasticity
from ..physics.solid_diffusion import SolidDiffusion
from ..physics.term import Term, Unknown
from ..solver import NewtonSolver
from .base import Model
from .particle import ParticleModel, diagnostic_columns

dolfinx = require_dolfinx()
import basix.ufl  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

#: penalty factor alpha of the bath conditions at the pore openings (see the module docstring)
OPENING_PENALTY = 1.0e4

#: time-series columns of the pore electrolyte (after the particle's)
PORE_COLUMNS = [
    "outer surface current [A]", "pore wall current [A]", "pore opening current [A]",
    "pore salt [mol]", "pore opening lithium flux [mol s-1]", "pore salt balance error [mol]",
    "pore charge balance error [A]", "min pore electrolyte concentration [mol m-3]",
    "max pore electrolyte concentration [mol m-3]", "min pore electrolyte potential [V]",
    "max pore electrolyte potential [V]", "surface overpotential [V]",
]


class PoreOpening(Term):
    """The bath at the pore openings, as a stiff penalty on the pore electrolyte's rows
    (lithium flux k_c (c_e - c_bath) and current k_phi phi_e leaving the pores)."""

    reads = ("c_e", "phi_e")

    def __init__(self, measure, k_c, k_phi, c_bath):
        self.measure, self.k_c, self.k_phi, self.c_bath = measure, k_c, k_phi, c_bath

    def fluxes(self, m):
        """(N_e . n [mol m-2 s-1], i_e . n [A m-2]) out of the pores at the openings (UFL)."""
        return self.k_c * (m.q("c_e") - self.c_bath), self.k_phi * m.q("phi_e")

    def residual(self, m):
        N, i = self.fluxes(m)
        return {"c_e": m.live * N * m.v["c_e"] * self.measure, "phi_e": i * m.v["phi_e"] * self.measure}


class WallCurrent(Term):
    """The pore-wall reaction current in the particle's current balance (CC and rest rows):
    F int_wall j dS joins F int_outer j dA - I_app of :class:`ParticlePotential`."""

    reads = ("phi",)

    def __init__(self, kinetics, measure, cv):
        self.kin, self.measure, self.cv = kinetics, measure, cv

    def residual(self, m):
        self.kin.build(m)
        return {"phi": (1 - self.cv) * FARADAY * self.kin.j * m.v["phi"]("+") * self.measure}


class PorousParticleModel(ParticleModel):
    """The single particle with electrolyte-filled pores (same protocol hooks and columns as
    :class:`ParticleModel`, plus :data:`PORE_COLUMNS`)."""

    def __init__(self, case, tm, comm=MPI.COMM_WORLD):
        Model.__init__(self, case, tm, comm)
        msh = self.mesh = tm.mesh
        gdim, tdim = msh.geometry.dim, msh.topology.dim
        phys, disc = case.physics, case.discretisation
        self.mech = phys.mechanics
        self.split = False  # one solid region: no cohesive interface
        self.flux_mode = False  # a prescribed flux is refused by the case schema for a porous particle
        for name in ("particle", "pore"):
            if name not in tm.regions:
                raise ValueError(f"the porous particle mesh has no region '{name}' (regions: {sorted(tm.regions)})")
        core = self.core = self.surface_mat = case.material.resolve()
        self.regions = [(tm.regions["particle"], core)]
        self.sub = itf.make_submeshes(msh, tm.cell_tags, {"solid": tm.regions["particle"],
                                                           "pore": tm.regions["pore"]})
        rs, rp = self.sub["solid"], self.sub["pore"]
        self.entity_maps = [rs.entity_map, rp.entity_map]

        qdeg = max(2 * disc.concentration_degree, 2 * (disc.displacement_degree - 1) + disc.concentration_degree)
        md = {"quadrature_degree": disc.quadrature_degree}
        dx = ufl.Measure("dx", domain=msh, subdomain_data=tm.cell_tags, metadata={"quadrature_degree": qdeg})
        ds = ufl.Measure("ds", domain=msh, subdomain_data=tm.facet_tags, metadata=md)
        self.dx_all, self.dx_pore = dx(tuple(tm.regions["particle"])), dx(tuple(tm.regions["pore"]))
        self.ds_s = ds(tuple(tm.interfaces["outer_surface"]))
        self.dS_wall = itf.interface_measure(msh, tm.facet_tags, tm.interfaces["pore_wall"], rs.parent_cells,
                                             metadata=md)(tuple(tm.interfaces["pore_wall"]))
        self.has_opening = "pore_opening" in tm.interfaces
        self.ds_open = ds(tuple(tm.interfaces["pore_opening"])) if self.has_opening else None
        one = fem.Constant(msh, 1.0)
        self.volume = self._assemble(fem.form(one * self.dx_all))
        self.pore_volume = self._assemble(fem.form(one * self.dx_pore))
        self.area_outer = self._assemble(fem.form(one * self.ds_s))
        self.area_wall = self._assemble(fem.form(one * self.dS_wall))
        self.area_opening = self._assemble(fem.form(one * self.ds_open)) if self.has_opening else 0.0
        self.area = self.area_outer + self.area_wall  # all reactive surface
        self._region_volumes = [self.volume]
        L = self.L = (3.0 * self.volume / (4.0 * np.pi)) ** (1.0 / 3.0)
        cs = self.cs = core.c_max
        Es = self.Es = core.youngs_modulus
        x0 = self.x_init = phys.initial_stoichiometry if phys.initial_stoichiometry is not None else core.x_0
        D_ref = float(np.asarray(core.diffusivity(np.array(x0))))
        pores = case.pores or PoreElectrolyteSpec()
        self.props = nyman2008.properties(pores.parameters)
        self.c_bath = cb = phys.electrolyte_concentration
        B = pores.transport_factor

        self.I_app, self.j_app, self.V_set, self.cv = (fem.Constant(msh, 0.0) for _ in range(4))
        self.I_ref = max(self.one_c_current(), 1e-30)

        # --- terms: the solid (as the dense particle, on its submesh)
        def space(region, *el):
            return fem.functionspace(self.sub[region].mesh, el)

        diff = SolidDiffusion("c_s", [(self.dx_all, core)],
                              stress="sigma_h" if (self.mech and phys.stress_assisted_diffusion) else None)
        diff.declared = [Unknown("c_s", space("solid", "Lagrange", disc.concentration_degree), scale=cs,
                                 history=True, role="concentration")]
        terms, order = [diff], ["c_s"]
        weights = {"c_s": 1.0 / (cs * D_ref * L)}
        self.elasticity = None
        if self.mech:
            el = Elasticity([(self.dx_all, Es, core.poisson_ratio, core.partial_molar_volume, core.c_ref)],
                            c="c_s", spring=(self.dx_all, RBM_SPRING * Es / L**2))
            el.declared = [Unknown("u", space("solid", "Lagrange", disc.displacement_degree, (gdim,)), scale=L,
                                   role="displacement"),
                           Unknown("sigma_h", space("solid", "Lagrange", 1), scale=Es, role="stress")]
            terms.append(el)
            order += ["u", "sigma_h"]
            weights.update({"u": 1.0 / (Es * L), "sigma_h": 1.0 / (L**3 * Es)})
            self.elasticity = el
        sio = self.mech and phys.stress_in_overpotential

        def sh_outer(m):
            return mechanics.hydrostatic(self._surface_stress())

        def sh_wall(m):
            return mechanics.hydrostatic(self._surface_stress())("+")

        self.kinetics = ButlerVolmer(core, self.ds_s, c_s="c_s", phi_s="phi", bath_ce=cb,
                                     sigma_h=sh_outer if sio else None, solid_charge_row=False)
        self.wall_kinetics = ButlerVolmer(core, self.dS_wall, c_s="c_s", phi_s="phi", c_e="c_e", phi_e="phi_e",
                                          sigma_h=sh_wall if sio else None, interface=True,
                                          solid_charge_row=False)
        ctrl = ParticlePotential(self.kinetics, self.ds_s, self.dx_all, self.volume, self.I_app, self.V_set,
                                 self.cv, self.I_ref)
        ctrl.declared = [Unknown("phi", fem.functionspace(msh, basix.ufl.real_element(msh.basix_cell(),
                                                                                        dtype=np.float64)),
                                 role="potential")]
        # --- the pore electrolyte
        tplus = float(self.props.transference_number(cb))
        elec = Electrolyte(self.props, [(self.dx_pore, 1.0, B)], tplus_ref=tplus)
        elec.declared = [Unknown("c_e", space("pore", "Lagrange", 1), scale=cb, history=True, role="concentration"),
                         Unknown("phi_e", space("pore", "Lagrange", 1), role="potential")]
        terms += [self.kinetics, self.wall_kinetics, ctrl, WallCurrent(self.wall_kinetics, self.dS_wall, self.cv),
                  elec]
        kappa_b, De_b = float(self.props.conductivity(cb)), float(self.props.diffusivity(cb))
        self.opening = None
        if self.has_opening:
            h = ufl.CellDiameter(msh)
            self.opening = PoreOpening(self.ds_open, OPENING_PENALTY * B * De_b / h,
                                       OPENING_PENALTY * B * kappa_b / h, cb)
            terms.append(self.opening)
        order += ["phi", "c_e", "phi_e"]
        weights.update({"phi": 1.0 / self.I_ref, "c_e": 1.0 / (cb * De_b * B * L),
                        "phi_e": 1.0 / (kappa_b * B * L * R_GAS * self.T / FARADAY)})
        self.terms = terms
        self.declare(terms, order)
        self.X, self.X_old = self.u["c_s"], self.old["c_s"]
        self.c_init = x0 * core.c_max
        self.X.x.array[:] = x0
        self.X_old.x.array[:] = x0
        self.Ce, self.Ce_old, self.phi_e = self.u["c_e"], self.old["c_e"], self.u["phi_e"]
        self.Ce.x.array[:] = 1.0
        self.Ce_old.x.array[:] = 1.0
        if self.mech:
            self.U, self.S = self.u["u"], self.u["sigma_h"]
        self.phi = self.u["phi"]
        self.forms = self.compose(terms, weights)
        self.j, self.j_wall = self.kinetics.j, self.wall_kinetics.j
        self.sigma_h_surface = sh_outer(self) if sio else 0.0
        sv = case.solver
        if not self.has_opening and sv.reuse_factorisation:
            # the floating potential of closed pores follows the particle's through exp(F eta/RT) at
            # their walls: kept LU factors failed (GMRES did not converge) on the first 5C step
            sv = sv.model_copy(update={"reuse_factorisation": False})
        self.solver = NewtonSolver(self, self.forms, sv, "porous_particle", entity_maps=self.entity_maps)
        self.problem, self.snes = self.solver.problem, self.solver.snes
        self._make_increments()
        self._setup_diagnostics()
        self.scalars.update({"charge": 0.0, "pore_exchange": 0.0})  # C into the solid; mol out of the pores
        self.lithium0 = self.total_lithium()
        self.pore_salt0 = self.pore_salt()

    # ------------------------------------------------------------------ helpers
    def _form(self, expr):
        return fem.form(expr, entity_maps=self.entity_maps)

    def describe(self) -> str:
        return (super().describe() + f"; pores: volume {self.pore_volume:.4g} m3, wall {self.area_wall:.4g} m2, "
                f"openings {self.area_opening:.4g} m2")

    def meta(self) -> dict:
        return {**super().meta(), "solid volume [m3]": self.volume, "pore volume [m3]": self.pore_volume,
                "outer surface area [m2]": self.area_outer, "pore wall area [m2]": self.area_wall,
                "pore opening area [m2]": self.area_opening}

    def columns(self) -> list[str]:
        return diagnostic_columns(self.case) + PORE_COLUMNS

    # ------------------------------------------------------------------ time step
    def after_step(self, dt: float) -> None:
        super().after_step(dt)
        # lithium that left the pore electrolyte in the step (backward Euler: end-of-step rates)
        self.scalars["pore_exchange"] += dt * (self._assemble(self._f_Jwall) + self.opening_flux())

    def _prepare_newton(self, dt: float) -> None:
        """As the dense particle's; closed pores (no opening: the spherical pores of the
        geometry) float with the particle: their potential gets the predictor's shift of phi."""
        phi0 = None if self.has_opening else self.potential()  # collective: the same shift on every rank
        super()._prepare_newton(dt)
        if phi0 is not None:
            self.phi_e.x.array[:] += self.potential() - phi0

    def max_change(self) -> dict:
        out = super().max_change()
        d = np.abs(self.Ce.x.array - self.Ce_old.x.array).max(initial=0.0)
        out["electrolyte"] = (self.comm.allreduce(d, op=MPI.MAX), self.case.time.max_electrolyte_change)
        return out

    # ------------------------------------------------------------------ diagnostics
    def _setup_diagnostics(self):
        f = self._form
        c, cs_w = self.cs * self.X, self.cs * self.X("+")
        ocp = self.core.ocp
        self._f_lithium = f(c * self.dx_all)
        self._f_csurf = f(c * self.ds_s + cs_w * self.dS_wall)
        self._f_I_outer = f(FARADAY * self.j * self.ds_s)
        self._f_I_wall = f(FARADAY * self.j_wall * self.dS_wall)
        self._f_current = f(FARADAY * self.j * self.ds_s + FARADAY * self.j_wall * self.dS_wall)
        self._f_Jwall = f(self.j_wall * self.dS_wall)
        self._f_eta = f(self.kinetics.eta * self.ds_s + self.wall_kinetics.eta * self.dS_wall)
        self._f_shsurf = (f(self.sigma_h_surface * self.ds_s
                            + mechanics.hydrostatic(self._surface_stress())("+") * self.dS_wall)
                          if not isinstance(self.sigma_h_surface, float) else None)
        self._f_wsurf = None  # lattice strain needs grains (case check): the scalar Omega holds
        self._f_ocp = f(ocp(c / self.cs) * self.ds_s + ocp(cs_w / self.cs) * self.dS_wall)
        self._f_salt = f(self.c_bath * self.Ce * self.dx_pore)
        if self.has_opening:
            N, i = self.opening.fluxes(self)
            self._f_Nopen, self._f_Iopen = f(N * self.ds_open), f(i * self.ds_open)
        self._surf_dofs = self._surface_dofs()
        sol = self.sub["solid"].mesh
        if self.mech:  # one material: the surface stress holds everywhere on the solid
            sig = self._surface_stress()
            self._setup_stress_output(sol, sig, sig, f)
        self.f_c = fem.Function(self.X.function_space, name="lithium_concentration")
        self.f_ce = fem.Function(self.Ce.function_space, name="electrolyte_concentration")
        self.f_phie = fem.Function(self.phi_e.function_space, name="electrolyte_potential")

    def _surface_dofs(self) -> np.ndarray:
        """Owned c_s dofs on the reactive surface (outer surface and pore walls)."""
        msh, tm = self.mesh, self.tm
        fdim = msh.topology.dim - 1
        facets = tm.facets("particle_electrolyte")
        msh.topology.create_connectivity(fdim, 0)
        f2v = msh.topology.connectivity(fdim, 0)
        verts = np.unique(np.concatenate([f2v.links(int(k)) for k in facets])) if len(facets) else np.zeros(0)
        sub_v = np.asarray(self.sub["solid"].vertex_map.sub_topology_to_topology(verts.astype(np.int32), True))
        sub_v = sub_v[sub_v >= 0].astype(np.int32)
        V = self.X.function_space
        V.mesh.topology.create_connectivity(0, fdim + 1)
        dofs = fem.locate_dofs_topological(V, 0, sub_v)
        return dofs[dofs < V.dofmap.index_map.size_local]

    def pore_salt(self) -> float:
        """Salt (lithium) in the pore electrolyte [mol]."""
        return self._assemble(self._f_salt)

    def opening_flux(self) -> float:
        """Lithium leaving the pores through the openings into the bath [mol s-1]."""
        return self._assemble(self._f_Nopen) if self.has_opening else 0.0

    def update_fields(self):
        super().update_fields()
        self.f_ce.x.array[:] = self.c_bath * self.Ce.x.array
        self.f_phie.x.array[:] = self.phi_e.x.array

    def output_fields(self) -> dict:
        out = super().output_fields()
        out["pore"] = [self.f_ce, self.f_phie]
        return out

    def _range(self, a) -> tuple[float, float]:
        return (self.comm.allreduce(a.min(initial=np.inf), op=MPI.MIN),
                self.comm.allreduce(a.max(initial=-np.inf), op=MPI.MAX))

    def diagnostics(self) -> dict:
        d = super().diagnostics()
        I_out, I_wall = self._assemble(self._f_I_outer), self._assemble(self._f_I_wall)
        I_open = self._assemble(self._f_Iopen) if self.has_opening else 0.0
        salt = self.pore_salt()
        nloc = self.Ce.function_space.dofmap.index_map.size_local
        ce_lo, ce_hi = self._range(self.c_bath * self.Ce.x.array[:nloc])
        pe_lo, pe_hi = self._range(self.phi_e.x.array[:nloc])
        d.update({
            "outer surface current [A]": I_out,
            "pore wall current [A]": I_wall,
            "pore opening current [A]": I_open,
            "pore salt [mol]": salt,
            "pore opening lithium flux [mol s-1]": self.opening_flux(),
            "pore salt balance error [mol]": salt - self.pore_salt0 + self.scalars["pore_exchange"],
            "pore charge balance error [A]": I_wall + I_open,
            "min pore electrolyte concentration [mol m-3]": ce_lo,
            "max pore electrolyte concentration [mol m-3]": ce_hi,
            "min pore electrolyte potential [V]": pe_lo,
            "max pore electrolyte potential [V]": pe_hi,
            "surface overpotential [V]": self._assemble(self._f_eta) / self.area,
        })
        return d
