"""Single particle in an electrolyte bath: the coupled chemo-mechanical model.

Unknowns, all solved together by one Newton (PETSc SNES) per time step:

- X   = c / c_s                concentration scaled by c_s (c_max of the core material), P1/P2
- U   = u / L                  displacement scaled by L (equivalent radius), vector P1/P2
- S   = sigma_h / E_s          continuous projection of the hydrostatic stress, P1 (if mechanics)

Rigid-body modes are removed by a weak elastic foundation (relative stiffness 1e-9).
- phi in R                      particle potential vs the bath [V] (galvanostatic only)

Each residual block is scaled to be dimensionless and of order one, so a single relative
tolerance is meaningful. Physics: :mod:`cellsim.physics.particle` (transport),
:mod:`cellsim.physics.mechanics`, :mod:`cellsim.physics.kinetics` (Butler–Volmer).
Geometry regions used: "particle" (or "core" + "coating"), surface "particle_electrolyte".
"""

from __future__ import annotations


import numpy as np

from . import newton
from .dolfinx_env import require_dolfinx
from .newton import StepResult
from .materials.base import FARADAY, R_GAS

dolfinx = require_dolfinx()
import basix.ufl  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from dolfinx.fem.petsc import NonlinearProblem  # noqa: E402
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

from .physics import kinetics, mechanics  # noqa: E402
from .physics.particle import diffusion_residual  # noqa: E402


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


def diagnostic_columns(case) -> list[str]:
    return DIAGNOSTIC_COLUMNS + (MECHANICS_COLUMNS if case.physics.mechanics else [])


#: relative stiffness of the elastic foundation that removes the rigid-body modes
RBM_SPRING = 1e-9


class SolverFailure(RuntimeError):
    pass


def _region_materials(case, tm):
    """[(cell tags, ActiveMaterial)] for each material region, and the surface material."""
    core = case.material.resolve()
    if case.geometry.kind == "core_shell":
        coat = (case.coating_material or case.material).resolve()
        return [(tm.regions["core"], core), (tm.regions["coating"], coat)], coat
    return [(tm.regions["particle"], core)], core


class ParticleModel:
    """Build the coupled forms once; advance with :meth:`step`; report with :meth:`diagnostics`."""

    def __init__(self, case, tm, comm=MPI.COMM_WORLD):
        self.case, self.tm, self.comm = case, tm, comm
        msh = tm.mesh
        self.mesh = msh
        gdim = msh.geometry.dim
        phys, ctrl, disc = case.physics, case.control, case.discretisation
        self.mech = phys.mechanics
        self.mode = ctrl.mode
        self.T = phys.temperature
        self.regions, self.surface_mat = _region_materials(case, tm)
        core = self.regions[0][1]
        self.core = core

        # exact for affine cells: mass 2 p_c, elasticity 2 (p_u - 1) + p_c
        qdeg = max(2 * disc.concentration_degree, 2 * (disc.displacement_degree - 1) + disc.concentration_degree)
        dx = ufl.Measure("dx", domain=msh, subdomain_data=tm.cell_tags, metadata={"quadrature_degree": qdeg})
        surf_tags = tuple(tm.interfaces["particle_electrolyte"])
        ds = ufl.Measure("ds", domain=msh, subdomain_data=tm.facet_tags, metadata={"quadrature_degree": 6})
        self.dx_all = dx(tuple(t for tags, _ in self.regions for t in tags))
        self.ds_s = ds(surf_tags)
        one = fem.Constant(msh, 1.0)
        self.volume = comm.allreduce(fem.assemble_scalar(fem.form(one * self.dx_all)), op=MPI.SUM)
        self.area = comm.allreduce(fem.assemble_scalar(fem.form(one * self.ds_s)), op=MPI.SUM)
        L = (3.0 * self.volume / (4.0 * np.pi)) ** (1.0 / 3.0)
        self.L = L
        cs = core.c_max
        self.cs = cs
        Es = core.youngs_modulus
        self.Es = Es
        x0 = phys.initial_stoichiometry if phys.initial_stoichiometry is not None else core.x_0
        self.x_init = x0
        D_ref = float(np.asarray(core.diffusivity(np.array(x0))))
        xc = msh.geometry.x[:, :gdim]
        lo = np.array(xc.min(axis=0) if xc.size else np.full(gdim, np.inf))
        hi = np.array(xc.max(axis=0) if xc.size else np.full(gdim, -np.inf))
        comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
        comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
        self.centre = 0.5 * (lo + hi)

        # --- spaces and unknowns
        cell = msh.basix_cell()
        Vc = fem.functionspace(msh, ("Lagrange", disc.concentration_degree))
        self.X, self.X_old = fem.Function(Vc, name="X"), fem.Function(Vc, name="X_old")
        self.X.x.array[:] = x0 * core.c_max / cs  # uniform initial concentration
        self.X_old.x.array[:] = self.X.x.array
        self.c_init = x0 * core.c_max
        unknowns, tests = [self.X], [ufl.TestFunction(Vc)]
        if self.mech:
            Vu = fem.functionspace(msh, ("Lagrange", disc.displacement_degree, (gdim,)))
            Vs = fem.functionspace(msh, ("Lagrange", 1))
            self.U, self.S = fem.Function(Vu, name="U"), fem.Function(Vs, name="S")
            unknowns += [self.U, self.S]
            tests += [ufl.TestFunction(Vu), ufl.TestFunction(Vs)]
        if self.mode == "galvanostatic":
            Vp = fem.functionspace(msh, basix.ufl.real_element(cell, dtype=np.float64))
            self.phi = fem.Function(Vp, name="phi")
            unknowns.append(self.phi)
            tests.append(ufl.TestFunction(Vp))
        self.unknowns = unknowns

        # --- constants
        self.dt = fem.Constant(msh, 1.0)
        self.frozen = fem.Constant(msh, 0.0)  # 1: keep X fixed (initial equilibrium solve)
        self.I_app = fem.Constant(msh, 0.0)  # A, + = lithiation
        self.j_app = fem.Constant(msh, 0.0)  # mol m-2 s-1 (flux mode)
        self.phi_app = fem.Constant(msh, 0.0)  # V (potentiostatic)
        RT = R_GAS * self.T

        # --- residual blocks
        vX = tests[0]
        c = cs * self.X
        c_old = cs * self.X_old
        F_X = 0
        F_U = F_S = 0
        sigma = {}
        for tags, mat in self.regions:
            dxr = dx(tuple(tags))
            D = mat.diffusivity(c / mat.c_max)
            if self.mech:
                sig = mechanics.stress(L * self.U, c, mat.youngs_modulus, mat.poisson_ratio,
                                       mat.partial_molar_volume, mat.c_ref)
                sigma[tuple(tags)] = sig
            stress_term = phys.stress_assisted_diffusion and self.mech
            grad_sh = Es * ufl.grad(self.S) if stress_term else ufl.as_vector([0.0] * gdim)
            bulk = diffusion_residual(c, c_old, vX, self.dt, D, mat.partial_molar_volume / RT, grad_sh, dxr)
            frozen_form = (c - c_old) / self.dt * vX * dxr
            F_X += (1 - self.frozen) * bulk + self.frozen * frozen_form
            if self.mech:
                vU, vS = tests[1], tests[2]
                F_U += ufl.inner(sig / Es, mechanics.strain(vU)) * L * dxr
                F_S += (self.S - mechanics.hydrostatic(sig) / Es) * vS * dxr
        self._sigma = sigma
        if self.mech:
            # rigid-body modes: a weak elastic foundation of relative stiffness RBM_SPRING.
            # The chemical load is self-equilibrated (orthogonal to rigid motions), so the
            # stresses change by O(RBM_SPRING) relative and no dense constraint rows are needed.
            F_U += RBM_SPRING * ufl.inner(self.U, tests[1]) * self.dx_all

        # surface reaction
        sm = self.surface_mat
        xs = c / sm.c_max
        eps = 1e-9
        xs_safe = ufl.min_value(ufl.max_value(xs, eps), 1 - eps)
        if self.mech and phys.stress_in_overpotential:
            sig_s = self._surface_stress()
            sigma_h_s = mechanics.hydrostatic(sig_s)
        else:
            sigma_h_s = 0.0
        self.sigma_h_surface = sigma_h_s
        if self.mode == "flux":
            j = self.j_app
        else:
            i0 = kinetics.exchange_current_density(sm.rate_constant, phys.electrolyte_concentration,
                                                   xs_safe * sm.c_max, sm.c_max, sm.alpha_a, sm.alpha_c)
            phi_s = self.phi if self.mode == "galvanostatic" else self.phi_app
            eta = kinetics.overpotential(phi_s, 0.0, sm.ocp(xs_safe), sigma_h_s, sm.partial_molar_volume)
            j = kinetics.insertion_flux(eta, i0, self.T, sm.alpha_a, sm.alpha_c)
            self.eta = eta
        self.j = j
        F_X += -(1 - self.frozen) * j * vX * self.ds_s
        # scale: mol s-1 -> dimensionless with the diffusion time L^2/D_ref and L^3
        wX = 1.0 / (cs * D_ref * L)
        forms = [wX * F_X]
        if self.mech:
            forms += [(1.0 / L**2) * F_U, (1.0 / L**3) * F_S]
        if self.mode == "galvanostatic":
            self.I_ref = max(self.one_c_current(), 1e-30)
            forms.append((FARADAY / self.I_ref) * j * tests[-1] * self.ds_s
                         - (1.0 / (self.I_ref * self.volume)) * self.I_app * tests[-1] * self.dx_all)
        self.forms = forms

        sv = case.solver
        opts = {
            "snes_type": "newtonls",
            "snes_linesearch_type": sv.line_search,
            "snes_rtol": sv.rtol,
            "snes_atol": sv.atol,
            "snes_stol": 0.0,
            "snes_max_it": sv.max_iterations,
            "pc_type": "lu",
            "pc_factor_mat_solver_type": sv.linear_solver,
        }
        if sv.reuse_factorisation:
            # Newton with GMRES preconditioned by LU factors kept across iterations and steps
            opts.update({"ksp_type": "gmres", "ksp_rtol": 1e-10, "ksp_atol": 1e-30, "ksp_max_it": 40,
                         "ksp_gmres_restart": 40, "snes_lag_preconditioner_persists": True})
        else:
            opts["ksp_type"] = "preonly"
        self.reuse = sv.reuse_factorisation
        self._need_factor = True
        self.problem = NonlinearProblem(forms, unknowns, kind="mpi", petsc_options_prefix="cellsim_particle_",
                                        petsc_options=opts)
        self.snes = self.problem.solver
        self._last_dt = None
        self._increment = None
        self._setup_diagnostics()
        self.charge = 0.0  # C passed into the particle
        self.lithium0 = self.total_lithium()

    # ------------------------------------------------------------------ helpers
    def _surface_stress(self):
        """Stress on the reactive surface (outer material)."""
        tags, mat = self.regions[-1]
        return self._sigma[tuple(tags)]

    def one_c_current(self) -> float:
        """Current [A] that moves the x_0..x_100 range of the particle in one hour."""
        cap = 0.0
        for tags, mat in self.regions:
            vol = self.comm.allreduce(
                fem.assemble_scalar(fem.form(fem.Constant(self.mesh, 1.0) * ufl.Measure(
                    "dx", domain=self.mesh, subdomain_data=self.tm.cell_tags)(tuple(tags)))), op=MPI.SUM)
            cap += FARADAY * mat.c_max * abs(mat.x_100 - mat.x_0) * vol
        return cap / 3600.0

    def set_control(self, sign_current: float | None = None):
        """Set the applied current/flux/potential from the case (constant in time)."""
        ctrl = self.case.control
        sgn = 1.0 if ctrl.direction == "lithiation" else -1.0
        if self.mode == "galvanostatic":
            I = ctrl.current if ctrl.current is not None else sgn * ctrl.c_rate * self.one_c_current()
            self.I_app.value = I
        elif self.mode == "flux":
            jv = ctrl.flux if ctrl.flux is not None else sgn * ctrl.c_rate * self.one_c_current() / (
                FARADAY * self.area)
            self.j_app.value = jv
        else:
            self.phi_app.value = ctrl.potential

    # ------------------------------------------------------------------ solve
    def _snapshot(self):
        return [u.x.array.copy() for u in self.unknowns]

    def _restore(self, snap):
        for u, a in zip(self.unknowns, snap):
            u.x.array[:] = a

    def solve_initial(self) -> StepResult:
        """Mechanical/electrical equilibrium at t = 0 with the concentration fixed and no current."""
        I_keep = float(self.I_app.value)
        self.I_app.value = 0.0
        self.frozen.value = 1.0
        self._need_factor = True
        if self.mode == "galvanostatic":
            xs = self.X.x.array.mean() * self.cs / self.surface_mat.c_max
            self.phi.x.array[:] = float(self.surface_mat.ocp(np.array(xs)))
        res = self._newton()
        self.frozen.value = 0.0
        self.I_app.value = I_keep
        self._need_factor = True  # the frozen Jacobian differs from the transient one
        return res

    def _request_factorisation(self):
        """Rebuild the LU factors at the next Jacobian, then keep them (PETSc lag -2 -> -1)."""
        opts = PETSc.Options()
        key = f"{self.snes.getOptionsPrefix()}snes_lag_preconditioner"
        opts[key] = -2
        self.snes.setFromOptions()
        del opts[key]
        self._need_factor = False

    def _newton(self) -> StepResult:
        """Newton step; with reuse_factorisation the LU factors are kept while GMRES converges
        fast with them, rebuilt when it slows down (> 15 iterations per Newton iteration) and
        the step retried with fresh factors when it fails. State unchanged on failure."""
        if not self.reuse:
            return self._solve()
        fresh = self._need_factor
        if fresh:
            self._request_factorisation()
        res = self._solve()
        if res.converged:
            if res.krylov_iterations > 15 * max(res.newton_iterations, 1):
                self._need_factor = True
            return res
        if fresh:
            return res
        self._request_factorisation()
        res2 = self._solve()
        res2.newton_iterations += res.newton_iterations
        res2.krylov_iterations += res.krylov_iterations
        return res2

    def _solve(self) -> StepResult:
        snap = self._snapshot()
        res = newton.solve(self.problem, self.snes, self.unknowns, self.comm)
        if not res.converged:
            self._restore(snap)
        return res

    def step(self, dt: float) -> StepResult:
        """One backward-Euler step of size dt [s]; on failure the state is left unchanged."""
        self.dt.value = dt
        self._last_dt = dt
        self._pre_step = (self._snapshot(), self.charge)
        if self._increment is not None:
            # linear extrapolation of the last accepted step as the Newton starting point
            inc, dt_prev = self._increment
            for u, du in zip(self.unknowns, inc):
                u.x.array[:] += (dt / dt_prev) * du
        if self.mode == "galvanostatic":
            self._predict_potential()
        res = self._newton()
        if res.converged:
            self.charge += dt * self.current()
        else:
            self._restore(self._pre_step[0])
        return res

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
        i0 = float(kinetics.exchange_current_density(sm.rate_constant, phys.electrolyte_concentration,
                                                     xs * sm.c_max, sm.c_max, sm.alpha_a, sm.alpha_c))
        jt = float(self.I_app.value) / (FARADAY * A)
        eta = kinetics.overpotential_for_flux(jt, i0, self.T, sm.alpha_a, sm.alpha_c, max_step=0.2)
        phi = float(sm.ocp(np.array(xs))) + sm.partial_molar_volume * sh / FARADAY + eta
        self.phi.x.array[:] = phi

    def reject(self):
        """Undo the last (converged) step."""
        snap, charge = self._pre_step
        self._restore(snap)
        self.charge = charge

    def accept(self):
        snap = self._pre_step[0]
        self._increment = ([u.x.array - a for u, a in zip(self.unknowns, snap)], float(self.dt.value))
        self.X_old.x.array[:] = self.X.x.array

    def max_change(self) -> float:
        """Largest change of the scaled concentration over the last step (in stoichiometry)."""
        d = np.abs(self.X.x.array - self.X_old.x.array).max(initial=0.0) * self.cs / self.core.c_max
        return self.comm.allreduce(d, op=MPI.MAX)

    # ------------------------------------------------------------------ diagnostics
    def _setup_diagnostics(self):
        msh, gdim = self.mesh, self.mesh.geometry.dim
        c = self.cs * self.X
        self._f_lithium = fem.form(c * self.dx_all)
        self._f_csurf = fem.form(c * self.ds_s)
        self._f_current = fem.form(FARADAY * self.j * self.ds_s)
        self._f_shsurf = (fem.form(self.sigma_h_surface * self.ds_s)
                          if not isinstance(self.sigma_h_surface, float) else None)
        self._f_ocp = fem.form(self.surface_mat.ocp(c / self.surface_mat.c_max) * self.ds_s)
        fdim = msh.topology.dim - 1
        facets = self.tm.facets("particle_electrolyte")
        self._surf_dofs = fem.locate_dofs_topological(self.X.function_space, fdim, facets)
        nown = self.X.function_space.dofmap.index_map.size_local
        self._surf_dofs = self._surf_dofs[self._surf_dofs < nown]
        if self.mech:
            deg = max(self.case.discretisation.displacement_degree - 1, 0)
            Q = fem.functionspace(msh, ("DG", deg))
            T = fem.functionspace(msh, ("DG", deg, (gdim, gdim)))
            sig = self._cellwise_stress()
            self.f_vm = fem.Function(Q, name="von_mises_stress")
            self.f_sh = fem.Function(Q, name="hydrostatic_stress")
            self.f_sig = fem.Function(T, name="stress")
            self._e_vm = fem.Expression(mechanics.von_mises(sig), Q.element.interpolation_points)
            self._e_sh = fem.Expression(mechanics.hydrostatic(sig), Q.element.interpolation_points)
            self._e_sig = fem.Expression(sig, T.element.interpolation_points)
            n = ufl.FacetNormal(msh)
            ssurf = self._surface_stress()
            hoop = (ufl.tr(ssurf) - ufl.inner(ssurf * n, n)) / 2.0
            self._f_hoop = fem.form(hoop * self.ds_s)
            Vu = self.U.function_space
            self.f_u = fem.Function(Vu, name="displacement")
        self.f_c = fem.Function(self.X.function_space, name="lithium_concentration")

    def _cellwise_stress(self):
        """Stress as one UFL expression valid in every region (material coefficients per cell)."""
        if len(self.regions) == 1:
            return next(iter(self._sigma.values()))
        # piecewise material constants via DG0 coefficient functions
        msh = self.mesh
        Q0 = fem.functionspace(msh, ("DG", 0))
        coeffs = {k: fem.Function(Q0) for k in ("E", "nu", "om", "cref")}
        for tags, mat in self.regions:
            cells = np.concatenate([self.tm.cell_tags.find(t) for t in tags])
            for k, v in (("E", mat.youngs_modulus), ("nu", mat.poisson_ratio), ("om", mat.partial_molar_volume),
                         ("cref", mat.c_ref)):
                coeffs[k].x.array[cells] = v
        for f in coeffs.values():
            f.x.scatter_forward()
        self._mat_coeffs = coeffs
        return mechanics.stress(self.L * self.U, self.cs * self.X, coeffs["E"], coeffs["nu"], coeffs["om"],
                                coeffs["cref"])

    def total_lithium(self) -> float:
        return self.comm.allreduce(fem.assemble_scalar(self._f_lithium), op=MPI.SUM)

    def current(self) -> float:
        """Total insertion current [A] (+ = lithiation), from the surface reaction."""
        return self.comm.allreduce(fem.assemble_scalar(self._f_current), op=MPI.SUM)

    def potential(self) -> float:
        if self.mode == "galvanostatic":
            return float(self.comm.allreduce(
                self.phi.x.array[0] if self.phi.x.array.size else 0.0, op=MPI.MAX))
        if self.mode == "potentiostatic":
            return float(self.phi_app.value)
        return float("nan")

    def update_fields(self):
        """Refresh the SI output fields (collective)."""
        self.f_c.x.array[:] = self.cs * self.X.x.array
        if self.mech:
            self.f_u.x.array[:] = self.L * self.U.x.array
            self.f_vm.interpolate(self._e_vm)
            self.f_sh.interpolate(self._e_sh)
            self.f_sig.interpolate(self._e_sig)

    def output_fields(self) -> dict:
        self.update_fields()
        fields = [self.f_c]
        if self.mech:
            fields += [self.f_u, self.f_sig, self.f_sh, self.f_vm]
        return {"particle": fields}

    def diagnostics(self) -> dict:
        comm = self.comm
        N = self.total_lithium()
        core = self.core
        cmax_vol = sum(
            mat.c_max * comm.allreduce(fem.assemble_scalar(fem.form(fem.Constant(self.mesh, 1.0) * ufl.Measure(
                "dx", domain=self.mesh, subdomain_data=self.tm.cell_tags)(tuple(tags)))), op=MPI.SUM)
            for tags, mat in self.regions) if len(self.regions) > 1 else core.c_max * self.volume
        x_mean = N / cmax_vol
        cs_mean = comm.allreduce(fem.assemble_scalar(self._f_csurf), op=MPI.SUM) / self.area
        xs_local = self.X.x.array[self._surf_dofs] * self.cs / self.surface_mat.c_max
        xs_min = comm.allreduce(xs_local.min(initial=np.inf), op=MPI.MIN)
        xs_max = comm.allreduce(xs_local.max(initial=-np.inf), op=MPI.MAX)
        ocp = comm.allreduce(fem.assemble_scalar(self._f_ocp), op=MPI.SUM) / self.area
        I = self.current() if self.mode != "flux" else float(self.j_app.value) * FARADAY * self.area
        soc = (x_mean - core.x_0) / (core.x_100 - core.x_0)
        d = {
            "particle potential [V]": self.potential(),
            "current [A]": I,
            "surface OCP [V]": ocp,
            "mean concentration [mol m-3]": N / self.volume,
            "surface concentration [mol m-3]": cs_mean,
            "mean stoichiometry [-]": x_mean,
            "min surface stoichiometry [-]": xs_min,
            "max surface stoichiometry [-]": xs_max,
            "state of charge [-]": soc,
            "lithium [mol]": N,
            "charge passed [C]": self.charge,
            "lithium balance error [mol]": (N - self.lithium0) - self.charge / FARADAY,
        }
        if self.mech:
            self.update_fields()
            vm = self.f_vm.x.array
            sh = self.f_sh.x.array
            d["max von Mises stress [Pa]"] = comm.allreduce(vm.max(initial=-np.inf), op=MPI.MAX)
            d["max hydrostatic stress [Pa]"] = comm.allreduce(sh.max(initial=-np.inf), op=MPI.MAX)
            d["min hydrostatic stress [Pa]"] = comm.allreduce(sh.min(initial=np.inf), op=MPI.MIN)
            d["surface hoop stress [Pa]"] = comm.allreduce(fem.assemble_scalar(self._f_hoop), op=MPI.SUM) / self.area
        return d
