"""Single particle in an electrolyte bath: a composition of physics terms on one mesh.

Blocks (all on the particle mesh; several material regions such as core and coating
share one continuous concentration), each scaled to be dimensionless and of order one so
that a single relative tolerance is meaningful:

=========  ==========================  ===================================  ==============
block      stored unknown              term                                 row weight
=========  ==========================  ===================================  ==============
c_s        X = c / c_s (c_max core)    SolidDiffusion + ButlerVolmer        1/(c_s D L)
u          U = u / L (L: equiv.        Elasticity (free particle: weak      1/(E L)
           radius)                     elastic foundation, RBM_SPRING)
sigma_h    S = sigma_h / E             Elasticity (projection of tr/3)      1/(E L^3)
phi        particle potential [V]      ParticlePotential (CC / CV)          1/I_1C
=========  ==========================  ===================================  ==============

The bath is the electrolyte side of Butler–Volmer (phi_e = 0, c_e fixed); a flux
protocol replaces the kinetics by the prescribed insertion rate (no phi block).
Regions: "particle" (or "core" + "coating"), surface "particle_electrolyte".

With ``[mechanics] interface = "cohesive"`` the solid regions get their own displacement and
sigma_h blocks on submeshes, tied by cohesive interfaces (:mod:`.particle_mechanics`).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.base import FARADAY, arrhenius
from ..physics import kinetics, mechanics
from ..physics.kinetics import ButlerVolmer
from ..physics.mechanics import RBM_SPRING, Elasticity
from ..physics.solid_diffusion import SolidDiffusion
from ..physics.term import Unknown
from ..predictor import Increments
from ..protocol import Locate, Quantities
from ..solver import NewtonSolver, particle_fieldsplit
from .base import Model
from .stress_output import StressInterpolation
from .particle_grains import (GrainParticlePotential, coupling_potential, crack_reactions, cracked_area, grain_names,
                              grain_rotations, isotropic_start_strain, lattice_eigenstrain, own_ids,
                              rotation_field)
from .particle_mechanics import INTERFACE_COLUMNS, SplitMechanicsMixin
from .particle_species import BlockParticlePotential, BlockSpeciesMixin

dolfinx = require_dolfinx()
import basix.ufl  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

#: time-series columns written by :meth:`ParticleModel.diagnostics`
DIAGNOSTIC_COLUMNS = [
    "particle potential [V]", "current [A]", "surface OCP [V]", "mean concentration [mol m-3]",
    "surface concentration [mol m-3]", "mean stoichiometry [-]", "min surface stoichiometry [-]",
    "max surface stoichiometry [-]", "state of charge [-]", "lithium [mol]", "charge passed [C]",
    "lithium balance error [mol]",
]
MECHANICS_COLUMNS = [
    "max von Mises stress [Pa]", "max hydrostatic stress [Pa]", "min hydrostatic stress [Pa]",
    "surface hoop stress [Pa]",
]


#: ``[mechanics] crack_reaction``: outer surface + 2 d A of the cracked grain boundaries, their current
CRACK_COLUMNS = ["reactive area [m2]", "crack current [A]"]

#: largest lithium-balance error of one step, relative to the lithium it moves
STEP_BALANCE_TOL = 1e-6


def diagnostic_columns(case) -> list[str]:
    split = case.physics.mechanics and case.mechanics.interface == "cohesive"
    return DIAGNOSTIC_COLUMNS + (MECHANICS_COLUMNS if case.physics.mechanics else []) + (
        INTERFACE_COLUMNS if split else []) + (CRACK_COLUMNS if split and case.mechanics.crack_reaction else [])


def _region_materials(case, tm):
    """[(cell tags, ActiveMaterial)] for each material region, and the surface material."""
    core = case.material.resolve()
    if case.geometry.kind == "core_shell":
        coat = (case.coating_material or case.material).resolve()
        return [(tm.regions["core"], core), (tm.regions["coating"], coat)], coat
    if case.geometry.kind == "secondary_particle":
        return [(tm.regions[g], core) for g in grain_names(tm)], core
    return [(tm.regions["particle"], core)], core


class ParticleModel(BlockSpeciesMixin, SplitMechanicsMixin, Model):
    """Build the coupled forms once; advance with :meth:`step`; report with :meth:`diagnostics`."""

    slow_newton = 6
    #: reacting cracked grain boundaries (``[mechanics] crack_reaction``)
    cracks: list = []
    #: secondary particle: grains as regions, their rotations, the lattice-strain table (or None)
    grains, lattice, R_grain = False, None, None
    #: the fieldsplit preconditioner (solver.linear_solver = 'iterative'): one displacement only
    iterative_available = property(lambda self: not self.split and self.case.geometry.kind != "porous_particle")

    def __init__(self, case, tm, comm=MPI.COMM_WORLD):
        super().__init__(case, tm, comm)
        msh = self.mesh = tm.mesh
        gdim = msh.geometry.dim
        phys, disc = case.physics, case.discretisation
        self.mech = phys.mechanics
        self.split = self.mech and case.mechanics.interface == "cohesive"
        # a concentration per colour block, tied by the damaged transport (particle_species.py)
        self.split_c = self.split and case.mechanics.interface_transport == "damaged"
        self.entity_maps = []
        modes = {s.mode for s in case.effective_protocol().steps}
        self.flux_mode = "flux" in modes
        self.regions, self.surface_mat = _region_materials(case, tm)
        core = self.core = self.regions[0][1]
        self.grains = case.geometry.kind == "secondary_particle"
        self.lattice = case.material.lattice_strain if self.grains else None
        self.R_grain = (rotation_field(msh, tm.cell_tags, [t for t, _ in self.regions], grain_rotations(tm))
                        if self.grains else None)

        # exact for affine cells: mass 2 p_c, elasticity 2 (p_u - 1) + p_c
        qdeg = max(2 * disc.concentration_degree, 2 * (disc.displacement_degree - 1) + disc.concentration_degree)
        dx = ufl.Measure("dx", domain=msh, subdomain_data=tm.cell_tags, metadata={"quadrature_degree": qdeg})
        ds = ufl.Measure("ds", domain=msh, subdomain_data=tm.facet_tags,
                         metadata={"quadrature_degree": disc.quadrature_degree})
        self.dx_all = dx(tuple(t for tags, _ in self.regions for t in tags))
        self.ds_s = ds(tuple(tm.interfaces["particle_electrolyte"]))
        one = fem.Constant(msh, 1.0)
        # made before the first is assembled: they compile together (one module, jit.deferred)
        f_vol, f_area = fem.form(one * self.dx_all), fem.form(one * self.ds_s)
        f_regions = [fem.form(one * own_ids(msh, dx, tm.cell_tags, tags)) for tags, _ in self.regions]
        self.volume = comm.allreduce(fem.assemble_scalar(f_vol), op=MPI.SUM)
        self.area = comm.allreduce(fem.assemble_scalar(f_area), op=MPI.SUM)
        self._region_volumes = [comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM) for f in f_regions]
        L = self.L = (3.0 * self.volume / (4.0 * np.pi)) ** (1.0 / 3.0)
        cs = self.cs = core.c_max
        Es = self.Es = core.youngs_modulus
        x0 = phys.initial_stoichiometry if phys.initial_stoichiometry is not None else core.x_0
        self.x_init = x0
        D_ref = float(np.asarray(core.diffusivity(np.array(x0))))

        # --- constants of the control
        self.I_app = fem.Constant(msh, 0.0)  # A, + = lithiation
        self.j_app = fem.Constant(msh, 0.0)  # mol m-2 s-1 (flux mode)
        self.V_set = fem.Constant(msh, 0.0)  # V (potentiostatic)
        self.cv = fem.Constant(msh, 0.0)
        self.I_ref = max(self.one_c_current(), 1e-30)

        # --- terms
        Vc = fem.functionspace(msh, ("Lagrange", disc.concentration_degree))
        diff = SolidDiffusion("c_s", [(dx(tuple(tags)), mat) for tags, mat in self.regions],
                              stress="sigma_h" if (self.mech and phys.stress_assisted_diffusion) else None)
        diff.declared = [Unknown("c_s", Vc, scale=cs, history=True, role="concentration")]
        terms, order = ([], []) if self.split_c else ([diff], ["c_s"])
        weights = {} if self.split_c else {"c_s": 1.0 / (cs * D_ref * L)}
        self.elasticity = None
        if self.split:
            names = (["core", "coating"] if case.geometry.kind == "core_shell" else
                     grain_names(tm) if self.grains else ["particle"])
            sp_terms, sp_order, sp_w = self.split_mechanics_terms(
                dx, [(n, tags, mat) for n, (tags, mat) in zip(names, self.regions)], disc,
                phys.stress_assisted_diffusion)
            diff.stress = None
            diff.reads = ()
            if self.split_c:
                sio_c = self.mech and phys.stress_in_overpotential
                c_terms, order, weights = self.species_terms(
                    dx, ds, disc, D_ref, phys.stress_assisted_diffusion, sio_c,
                    self.j_app if self.flux_mode else None, phys.electrolyte_concentration)
                terms += c_terms
            terms += sp_terms
            order += sp_order
            weights.update(sp_w)
        elif self.mech:
            el = Elasticity([(dx(tuple(tags)), m.youngs_modulus, m.poisson_ratio, self.piece_omega(m), m.c_ref)
                             for tags, m in self.regions], c="c_s", spring=(self.dx_all, RBM_SPRING * Es / L**2))
            el.declared = [Unknown("u", fem.functionspace(msh, ("Lagrange", disc.displacement_degree, (gdim,))),
                                   scale=L, role="displacement"),
                           Unknown("sigma_h", fem.functionspace(msh, ("Lagrange", 1)), scale=Es, role="stress")]
            terms.append(el)
            order += ["u", "sigma_h"]
            weights.update({"u": 1.0 / (Es * L), "sigma_h": 1.0 / (L**3 * Es)})
            self.elasticity = el
            cpl = self.lattice_coupling("mu_sigma", el, msh)  # the flux from sigma : d eps_ch/dc
            if cpl is not None:
                terms.append(cpl[0])
                order.append("mu_sigma")
                weights["mu_sigma"] = cpl[1]
                diff.stress, diff.potential, diff.reads = None, "mu_sigma", ("mu_sigma",)

        def surface_sigma_h(m):
            return mechanics.hydrostatic(self._surface_stress())

        def surface_w(m):  # sigma : d eps_ch/dc of the lattice strain on the surface
            return coupling_potential(self.lattice, self.R_grain, core.c_max, self._surface_stress(), m.q("c_s"))

        sio = self.mech and phys.stress_in_overpotential
        lat = sio and self.lattice is not None
        self.kinetics = ButlerVolmer(self.surface_mat, self.ds_s, c_s="c_s", phi_s=None if self.flux_mode else "phi",
                                     bath_ce=phys.electrolyte_concentration,
                                     sigma_h=surface_sigma_h if sio and not lat else None,
                                     flux=self.j_app if self.flux_mode else None, solid_charge_row=False,
                                     mech_potential=surface_w if lat else None)
        if self.split_c:
            self.kinetics = self.surface_kinetics[0]
        else:
            terms.append(self.kinetics)
        if not (self.split and case.mechanics.crack_reaction):
            self.cracks = []
        elif self.split_c:  # each face with its own grain's concentration
            self.cracks = self.crack_faces(self.surface_mat, phys.electrolyte_concentration)
        else:
            self.cracks = crack_reactions(self, self.surface_mat, phys.electrolyte_concentration)
        terms += self.cracks
        if not self.flux_mode:
            ctrl = (BlockParticlePotential(self.surface_kinetics, None, self.dx_all, self.volume, self.I_app,
                                           self.V_set, self.cv, self.I_ref, cracks=self.cracks) if self.split_c else
                    GrainParticlePotential(self.kinetics, self.ds_s, self.dx_all, self.volume, self.I_app, self.V_set,
                                           self.cv, self.I_ref, cracks=self.cracks))
            ctrl.declared = [Unknown("phi", fem.functionspace(msh, basix.ufl.real_element(msh.basix_cell(),
                                                                                            dtype=np.float64)),
                                     role="potential")]
            terms.append(ctrl)
            order.append("phi")
            weights["phi"] = 1.0 / self.I_ref
        self.terms = terms
        self.declare(terms, order)
        if self.split_c:  # the blocks c_k; X, X_old their copies on the parent (particle_species.py)
            self.set_uniform_concentration(x0 * core.c_max / cs)
            self.setup_species_mirror()
        else:
            self.X, self.X_old = self.u["c_s"], self.old["c_s"]
            self.X.x.array[:] = x0 * core.c_max / cs  # uniform initial concentration
            self.X_old.x.array[:] = self.X.x.array
        if self.mech and not self.split:
            self.U, self.S = self.u["u"], self.u["sigma_h"]
        if not self.flux_mode:
            self.phi = self.u["phi"]
        self.c_init = x0 * core.c_max
        self.forms = self.compose(terms, weights)
        self.finish_split()
        self.j = self.kinetics.j
        self.sigma_h_surface = surface_sigma_h(self) if sio and not self.split_c and not lat else 0.0
        self._w_surface = surface_w(self) if lat and not self.split_c else None
        self.solver = NewtonSolver(self, self.forms, case.solver, "particle", entity_maps=self.entity_maps or None)
        self.problem, self.snes = self.solver.problem, self.solver.snes
        if case.solver.linear_solver == "iterative":
            self.solver.configure_fieldsplit(*particle_fieldsplit(self))
        if self.split:
            self.split_solver_options()
        self._make_increments()
        self._setup_diagnostics()
        self.scalars["charge"] = 0.0  # C passed into the particle
        self.lithium0 = self.total_lithium()

    # ------------------------------------------------------------------ helpers
    @property
    def charge(self) -> float:
        return self.scalars["charge"]

    def piece_omega(self, mat):
        """The chemical-strain argument of a region's elasticity piece: the material's Omega, or
        the grain's anisotropic lattice strain (``[material] lattice_strain``, secondary particle)."""
        if self.lattice is None:
            return mat.partial_molar_volume
        return lattice_eigenstrain(self.lattice, self.R_grain, mat.c_max)

    def _surface_stress(self):
        """Stress on the reactive surface (outer material)."""
        return self.elasticity.stresses(self)[-1]

    def one_c_current(self) -> float:
        """Current [A] that moves the x_0..x_100 range of the particle in one hour."""
        return sum(FARADAY * mat.c_max * abs(mat.x_100 - mat.x_0) * vol
                   for (_, mat), vol in zip(self.regions, self._region_volumes)) / 3600.0

    # ------------------------------------------------------------------ protocol hooks
    def quantities(self) -> Quantities:
        return Quantities("particle potential [V]", "current [A]", self.one_c_current(),
                          self.core.x_100 < self.core.x_0)

    def locate(self) -> Locate:
        """Events are located in time, to max(dt_min, 1e-4 T) with T = time.t_end, or one
        hour (the 1C time) when the run has no end time."""
        ts = self.case.time
        return Locate(False, max(ts.dt_min, 1e-4 * (ts.t_end if ts.t_end is not None else 3600.0)))

    def apply_step(self, st, predict: bool = True) -> None:
        """Set the control of a protocol step (cc / cv / rest / flux)."""
        if st.mode == "flux":
            if st.flux is not None:
                self.j_app.value = st.flux
            else:
                self.j_app.value = st.c_rate * self.one_c_current() / (FARADAY * self.area)
            return
        if st.mode == "rest":
            self.j_app.value = 0.0
        if self.flux_mode:
            return
        if st.mode == "cv":
            self.cv.value = 1.0
            self.V_set.value = st.voltage
            self.phi.x.array[:] = st.voltage
        else:
            self.cv.value = 0.0
            self.I_app.value = st.current

    def set_control(self) -> None:
        """Apply the first step of the case's protocol (constant control, tests)."""
        from ..protocol import iterate_steps

        self.apply_step(next(iterate_steps(self.case.effective_protocol(), self.quantities())))

    def describe_control(self, st) -> str:
        if st.mode == "cv":
            return f"phi = {st.voltage:.4f} V"
        if st.mode == "flux":
            return f"j = {float(self.j_app.value):.5g} mol m-2 s-1"
        return f"I = {st.current:.5g} A"

    def progress(self, d) -> str:
        return f"V = {d['particle potential [V]']:.5f} V  x = {d['mean stoichiometry [-]']:.4f}"

    def columns(self) -> list[str]:
        return diagnostic_columns(self.case)

    def meta(self) -> dict:
        return {"num_dofs": self.num_dofs(), "one_c_current [A]": self.one_c_current()}

    def describe(self) -> str:
        return (f"mesh: {self.mesh.topology.index_map(3).size_global} cells, {self.num_dofs()} unknowns; "
                f"volume {self.volume:.4g} m3, surface {self.area:.4g} m2")

    # ------------------------------------------------------------------ solve
    def solve_initial(self):
        """Mechanical/electrical equilibrium at t = 0 with the concentration fixed and no current,
        under the control of the protocol's first step (so the first row reports it)."""
        self.set_control()
        I_keep = float(self.I_app.value)
        self.I_app.value = 0.0
        self.frozen.value = 1.0
        self.solver.need_factor = True
        if not self.flux_mode and float(self.cv.value) < 0.5:
            xs = (self.mean_stored_concentration() if self.split_c else self.X.x.array.mean()) * self.cs / \
                self.surface_mat.c_max
            self.phi.x.array[:] = float(self.surface_mat.ocp(np.array(xs)))
        if self.mech:
            self._free_swelling_start()
        res = self.solver.solve()
        self.frozen.value = 0.0
        self.I_app.value = I_keep
        self.solver.need_factor = True  # the frozen Jacobian differs from the transient one
        return res

    def _free_swelling_start(self) -> None:
        """Start the initial solve from the stress-free swelling of the uniform initial
        concentration, u = Omega/3 (c - c_ref) (x - x_c): otherwise a large chemical strain
        gives a stress whose term Omega sigma_h / F in the overpotential overflows exp()."""
        eps = isotropic_start_strain(self.case, self.core, self.x_init)
        xc = self.mesh.geometry.x[:, : self.mesh.geometry.dim]
        lo = np.array(xc.min(axis=0) if xc.size else np.full(xc.shape[1], np.inf))
        hi = np.array(xc.max(axis=0) if xc.size else np.full(xc.shape[1], -np.inf))
        self.comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
        self.comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
        centre = 0.5 * (lo + hi)
        for ub, sb in ([(b.u, b.sh) for b in self.blocks] if self.split else [("u", "sigma_h")]):
            self.u[ub].interpolate(lambda x: eps * (x[: len(centre)] - centre[:, None]) / self.L)
            if self.case.physics.stress_assisted_diffusion or self.case.physics.stress_in_overpotential:
                self.u[sb].x.array[:] = 0.0

    def _make_increments(self) -> None:
        """The last accepted step's change of every unknown (linear extrapolation as the next
        Newton start) and its step; part of the state, so a resumed run starts its Newton alike."""
        self._inc = Increments(self.block_names, self.unknowns, 1, "{n}_increment")
        self.scalars["increment_dt"] = 0.0

    def _prepare_newton(self, dt: float) -> None:
        # linear extrapolation of the last accepted step as the Newton starting point
        self._inc.extrapolate(self.unknowns, dt, [self.scalars["increment_dt"]])
        if not self.flux_mode and float(self.cv.value) < 0.5:
            self._predict_potential()
        elif not self.flux_mode:
            self.phi.x.array[:] = float(self.V_set.value)

    def after_step(self, dt: float) -> None:
        self.scalars["charge"] += dt * self.current()
        self.sync_mirror(old=False)

    def _predict_potential(self):
        """Initial Newton guess for the particle potential: uniform-surface Butler–Volmer.

        phi = U(x_s) + Omega sigma_h,s / F + eta, with eta solving I / (F A) = j(eta; i0(x_s)),
        x_s and sigma_h,s the surface averages. Only the starting point changes.
        """
        comm, sm, phys = self.comm, self.surface_mat, self.case.physics
        A = self.area
        xs = comm.allreduce(fem.assemble_scalar(self._f_csurf), op=MPI.SUM) / A / sm.c_max
        xs = min(max(xs, 1e-6), 1 - 1e-6)
        sh = comm.allreduce(fem.assemble_scalar(self._f_shsurf), op=MPI.SUM) / A if self._f_shsurf else 0.0
        w = sm.partial_molar_volume * sh if not self._f_wsurf else self._assemble(self._f_wsurf) / A
        i0 = float(kinetics.exchange_current_density(sm.rate_constant, phys.electrolyte_concentration,
                                                     xs * sm.c_max, sm.c_max, sm.alpha_a, sm.alpha_c))
        i0 *= arrhenius(sm.exchange_current_activation_energy, self.T, sm.reference_temperature)
        jt = float(self.I_app.value) / (FARADAY * A)
        eta = kinetics.overpotential_for_flux(jt, i0, self.T, sm.alpha_a, sm.alpha_c, max_step=0.2)
        self.phi.x.array[:] = float(sm.ocp(np.array(xs))) + w / FARADAY + eta

    def accept(self):
        snap = self._pre["unknowns"]
        self._inc.record(self.unknowns, [snap[n] for n in self.block_names])
        self.scalars["increment_dt"] = float(self.dt.value)
        super().accept()

    def extra_functions(self) -> dict:
        return {**super().extra_functions(), **self._inc.latest}

    def length_scale(self) -> float:
        return self.L

    def check_step(self, d_old: dict, d_new: dict, dt: float) -> str:
        """Why a converged step cannot be accepted: lithium gained against the charge passed
        (relative to the charge of the step, at least 1e-3 of a 1C step) off by more than
        STEP_BALANCE_TOL, e.g. a step that "converged" without moving while current flows."""
        q1c = dt * self.one_c_current() / FARADAY
        moved = abs(d_new["charge passed [C]"] - d_old["charge passed [C]"]) / FARADAY
        err = abs(d_new["lithium balance error [mol]"] - d_old["lithium balance error [mol]"])
        if err > STEP_BALANCE_TOL * max(moved, 1e-3 * q1c):
            return (f"lithium balance of the step off by {err:.3g} mol against {moved:.3g} mol passed (the state "
                    "did not follow the current; a Newton tolerance too loose for this problem: solver.atol, "
                    "solver.rtol)")
        return ""

    def max_change(self) -> dict:
        """Largest change of the concentration over the last step (in stoichiometry)."""
        d = (self.max_conc_change() if self.split_c else np.abs(self.X.x.array - self.X_old.x.array).max(
            initial=0.0)) * self.cs / self.core.c_max
        return {"stoichiometry": (self.comm.allreduce(d, op=MPI.MAX), self.case.time.max_change),
                **self.damage_change()}

    # ------------------------------------------------------------------ diagnostics
    def _setup_diagnostics(self):
        msh = self.mesh
        em = {"entity_maps": self.entity_maps} if self.entity_maps else {}
        crack = sum(FARADAY * k.j * k.measure for k in self.cracks)
        self._f_crack = fem.form(crack, **em) if self.cracks else None
        if self.split_c:  # sums over the concentration blocks (particle_species.py)
            f = self.species_forms(em)
            self._f_lithium, self._f_csurf, self._f_ocp = f["lithium"], f["csurf"], f["ocp"]
            self._f_current = fem.form(f["current"] + crack, **em)
            self._f_shsurf, self._f_wsurf = f.get("shsurf"), f.get("wsurf")
            self.setup_species_fields()
        else:
            c = self.cs * self.X
            self._f_lithium = fem.form(c * self.dx_all)
            self._f_csurf = fem.form(c * self.ds_s)
            self._f_current = fem.form(FARADAY * self.j * self.ds_s + crack, **em)
            self._f_shsurf = (fem.form(self.sigma_h_surface * self.ds_s, **em)
                              if not isinstance(self.sigma_h_surface, float) else None)
            self._f_wsurf = fem.form(self._w_surface * self.ds_s, **em) if self._w_surface is not None else None
            self._f_ocp = fem.form(self.surface_mat.ocp(c / self.surface_mat.c_max) * self.ds_s)
            fdim = msh.topology.dim - 1
            facets = self.tm.facets("particle_electrolyte")
            self._surf_dofs = fem.locate_dofs_topological(self.X.function_space, fdim, facets)
            nown = self.X.function_space.dofmap.index_map.size_local
            self._surf_dofs = self._surf_dofs[self._surf_dofs < nown]
            self.f_c = fem.Function(self.X.function_space, name="lithium_concentration")
        if self.split:
            self._setup_block_fields()
            n = ufl.FacetNormal(msh)
            ssurf = self._surface_stress()
            # grains: every block meets the surface, the last block's stress is not the surface's
            self._f_hoop = None if self.grains else fem.form(
                (ufl.tr(ssurf) - ufl.inner(ssurf * n, n)) / 2.0 * self.ds_s, **em)
        elif self.mech:
            self._setup_stress_output(msh, self._cellwise_stress(), self._surface_stress())

    def _setup_stress_output(self, mesh, sig, surface_sig, form=fem.form) -> None:
        """The stress output of the one-block mechanics (:meth:`update_fields`): von Mises,
        hydrostatic and full stress (DG of degree p_u - 1 on ``mesh``, from the UFL stress
        ``sig``), the displacement in metres, and the form of the surface hoop stress
        (tr - nn)/2 of ``surface_sig`` on the outer surface (``form``: the model's form
        constructor, e.g. one with entity maps)."""
        deg = max(self.case.discretisation.displacement_degree - 1, 0)
        gdim = self.mesh.geometry.dim
        Q = fem.functionspace(mesh, ("DG", deg))
        T = fem.functionspace(mesh, ("DG", deg, (gdim, gdim)))
        self.f_vm = fem.Function(Q, name="von_mises_stress")
        self.f_sh = fem.Function(Q, name="hydrostatic_stress")
        self.f_sig = fem.Function(T, name="stress")
        self._stress = StressInterpolation(sig, self.f_sh, self.f_vm, self.f_sig)
        n = ufl.FacetNormal(self.mesh)
        hoop = (ufl.tr(surface_sig) - ufl.inner(surface_sig * n, n)) / 2.0
        self._f_hoop = form(hoop * self.ds_s)
        self.f_u = fem.Function(self.U.function_space, name="displacement")

    def _cellwise_stress(self):
        """Stress as one UFL expression valid in every region (material coefficients per cell)."""
        if len(self.regions) == 1 or self.lattice is not None:
            return self._surface_stress()  # one material: the last piece's expression holds everywhere
        Q0 = fem.functionspace(self.mesh, ("DG", 0))
        coeffs = {k: fem.Function(Q0) for k in ("E", "nu", "om", "cref")}
        for tags, mat in self.regions:
            cells = np.concatenate([self.tm.cell_tags.find(t) for t in tags])
            for k, v in (("E", mat.youngs_modulus), ("nu", mat.poisson_ratio), ("om", mat.partial_molar_volume),
                         ("cref", mat.c_ref)):
                coeffs[k].x.array[cells] = v
        for f in coeffs.values():
            f.x.scatter_forward()
        self._mat_coeffs = coeffs
        # the cellwise Omega (c - c_ref) enters as the "concentration" with Omega = 1: a UFL
        # coefficient passed as omega would be taken for a strain function (it is callable)
        return mechanics.stress(self.L * self.U, coeffs["om"] * (self.cs * self.X - coeffs["cref"]), coeffs["E"],
                                coeffs["nu"], 1.0, 0.0)

    def total_lithium(self) -> float:
        return self._assemble(self._f_lithium)

    def current(self) -> float:
        """Total insertion current [A] (+ = lithiation), from the surface reaction."""
        return self._assemble(self._f_current)

    def potential(self) -> float:
        if self.flux_mode:
            return float("nan")
        return float(self.comm.allreduce(self.phi.x.array[0] if self.phi.x.array.size else -np.inf, op=MPI.MAX))

    def update_fields(self):
        """Refresh the SI output fields (collective)."""
        if self.split_c:
            self.update_species_fields()
        else:
            self.f_c.x.array[:] = self.cs * self.X.x.array
        if self.split:
            self.update_block_fields()
        elif self.mech:
            self.f_u.x.array[:] = self.L * self.U.x.array
            self._stress.update()

    def output_fields(self) -> dict:
        self.update_fields()
        fields = [self.f_c]
        if self.split:
            return {"particle": fields, **self.block_fields()}
        if self.mech:
            fields += [self.f_u, self.f_sig, self.f_sh, self.f_vm]
        return {"particle": fields}

    def diagnostics(self) -> dict:
        comm = self.comm
        N = self.total_lithium()
        core = self.core
        cmax_vol = (sum(mat.c_max * vol for (_, mat), vol in zip(self.regions, self._region_volumes))
                    if len(self.regions) > 1 else core.c_max * self.volume)
        x_mean = N / cmax_vol
        cs_mean = self._assemble(self._f_csurf) / self.area
        xs_local = (self.surface_stoichiometry_local() if self.split_c else
                    self.X.x.array[self._surf_dofs] * self.cs / self.surface_mat.c_max)
        I = self.current() if not self.flux_mode else float(self.j_app.value) * FARADAY * self.area
        d = {
            "particle potential [V]": self.potential(),
            "current [A]": I,
            "surface OCP [V]": self._assemble(self._f_ocp) / self.area,
            "mean concentration [mol m-3]": N / self.volume,
            "surface concentration [mol m-3]": cs_mean,
            "mean stoichiometry [-]": x_mean,
            "min surface stoichiometry [-]": comm.allreduce(xs_local.min(initial=np.inf), op=MPI.MIN),
            "max surface stoichiometry [-]": comm.allreduce(xs_local.max(initial=-np.inf), op=MPI.MAX),
            "state of charge [-]": (x_mean - core.x_0) / (core.x_100 - core.x_0),
            "lithium [mol]": N,
            "charge passed [C]": self.charge,
            "lithium balance error [mol]": (N - self.lithium0) - self.charge / FARADAY,
        }
        if self.mech:
            self.update_fields()
            vm, sh = (np.concatenate(a) for a in self.block_stress_arrays()) if self.split else (
                self.f_vm.x.array, self.f_sh.x.array)
            d["max von Mises stress [Pa]"] = comm.allreduce(vm.max(initial=-np.inf), op=MPI.MAX)
            d["max hydrostatic stress [Pa]"] = comm.allreduce(sh.max(initial=-np.inf), op=MPI.MAX)
            d["min hydrostatic stress [Pa]"] = comm.allreduce(sh.min(initial=np.inf), op=MPI.MIN)
            d["surface hoop stress [Pa]"] = (self._assemble(self._f_hoop) / self.area if self._f_hoop is not None
                                             else float("nan"))
        if self.split:
            d.update(self.interface_diagnostics())
        if self.cracks:
            d["reactive area [m2]"] = self.area + cracked_area(self)
            d["crack current [A]"] = self._assemble(self._f_crack)
        return d
