"""Verification of the concentrated-solution electrolyte (cellsim.physics.electrolyte).

Method of manufactured solutions for the coupled, nonlinear (c_e, phi_e) system with the
Nyman2008 / Chen2020 properties in SI units on a square (cube) of side L = 50 um:

    c_ex(x, t)   = c_a(x) + t c_b(x),   phi_ex(x, t) = p_a(x) + t p_b(x)

Because the exact solution is linear in time, backward Euler has no time error, so the
error after several steps is the spatial error alone (and a wrong time term, a stale
c_old or a wrong sign shows up as loss of convergence). Sources are computed by UFL from
the exact fields (f_c = F (eps dc/dt + div N_e), f_phi = div i_e). Dirichlet data on
x = 0 and x = L, the exact outward fluxes (N_e . n, i_e . n) as Neumann data elsewhere, so
the natural boundary terms are verified too. Fitted orders over >= 3 meshes are asserted:
L2 ~ 2, H1 seminorm ~ 1 (P1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem, mesh  # noqa: E402
from dolfinx.fem.petsc import NonlinearProblem  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.materials import nyman2008  # noqa: E402
from cellsim.physics import electrolyte as el  # noqa: E402

L = 50e-6  # domain size [m]
T_K = 298.15
C0 = 1000.0  # mol m-3
PHI0 = 0.05  # V
D_REF = 2.0e-10
TAU = L**2 / D_REF  # diffusion time [s], 12.5 s
QDEG = 6


def fit_order(hs, errs):
    """Least-squares slope of log(err) against log(h)."""
    return float(np.polyfit(np.log(hs), np.log(errs), 1)[0])


def exact_fields(x, t, dim):
    """Manufactured c_ex, phi_ex (UFL), linear in time, non-symmetric in space."""
    X = [x[i] / L for i in range(dim)]
    zfac = 1.0 if dim == 2 else (1.0 + 0.2 * ufl.cos(0.8 * math.pi * X[2]))
    c_a = C0 * (1.0 + 0.35 * ufl.cos(1.2 * math.pi * X[0]) * ufl.sin(math.pi * X[1] + 0.3) * zfac)
    c_b = (C0 / TAU) * 0.25 * X[0] * (1.5 - X[1]) * (1.0 - 0.5 * X[0])
    p_a = PHI0 * ufl.sin(0.7 * math.pi * X[0] + 0.2) * ufl.cos(1.1 * math.pi * X[1]) * zfac
    p_b = (PHI0 / TAU) * 0.5 * X[0] * X[1]
    return c_a + t * c_b, c_b, p_a + t * p_b


def solve_mms(comm, n, dim=2, props=None, nsteps=3, dt=None, porosity=1.0, B=1.0):
    """Solve the manufactured problem on an n^dim mesh; return relative errors and Newton its."""
    props = props or nyman2008.properties("Chen2020")
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    if dim == 2:
        msh = mesh.create_unit_square(comm, n, n, partitioner=part)
    else:
        msh = mesh.create_unit_cube(comm, n, n, n, partitioner=part)
    msh.geometry.x[:] *= L
    tdim = msh.topology.dim
    fdim = tdim - 1

    # two distinct space objects: a Dirichlet BC is matched to its block by its space
    V, Vp = fem.functionspace(msh, ("Lagrange", 1)), fem.functionspace(msh, ("Lagrange", 1))
    W = ufl.MixedFunctionSpace(V, Vp)
    c, phi = fem.Function(V, name="c"), fem.Function(Vp, name="phi")
    c_old = fem.Function(V)
    v_c, v_phi = ufl.TestFunctions(W)

    x = ufl.SpatialCoordinate(msh)
    t = fem.Constant(msh, 0.0)
    dt = dt if dt is not None else TAU / 4
    dtc = fem.Constant(msh, dt)
    c_ex, dcdt_ex, phi_ex = exact_fields(x, t, dim)

    # sources from the exact fields (same flux functions as the solver uses)
    i_ex = el.ionic_current(c_ex, phi_ex, props, T_K, B)
    N_ex = el.salt_flux(c_ex, phi_ex, props, T_K, B)
    f_c = el.FARADAY * (porosity * dcdt_ex + ufl.div(N_ex))
    f_phi = ufl.div(i_ex)

    # boundaries: Dirichlet at x = 0, L; exact Neumann fluxes on the other faces
    msh.topology.create_connectivity(fdim, tdim)
    dir_facets = mesh.locate_entities_boundary(
        msh, fdim, lambda X: np.isclose(X[0], 0.0) | np.isclose(X[0], L)
    )
    # Neumann = every other exterior facet (a vertex marker would drop the facets that touch
    # the corners x = 0, L)
    neu_facets = np.setdiff1d(mesh.exterior_facet_indices(msh.topology), dir_facets)
    ft = mesh.meshtags(msh, fdim, np.sort(neu_facets), np.full(len(neu_facets), 1, np.int32))
    md = {"quadrature_degree": QDEG}
    dx = ufl.Measure("dx", domain=msh, metadata=md)
    ds = ufl.Measure("ds", domain=msh, subdomain_data=ft, metadata=md)
    nrm = ufl.FacetNormal(msh)

    F_c, F_phi = el.electrolyte_residual(c, c_old, phi, v_c, v_phi, dtc, props, dx, T_K, porosity, B)
    b_c, b_phi = el.boundary_flux_terms(ufl.dot(N_ex, nrm), ufl.dot(i_ex, nrm), v_c, v_phi, ds(1))
    F = F_c + F_phi + b_c + b_phi - f_c * v_c * dx - f_phi * v_phi * dx

    c_bc, phi_bc = fem.Function(V), fem.Function(Vp)
    e_c = fem.Expression(c_ex, V.element.interpolation_points)
    e_phi = fem.Expression(phi_ex, V.element.interpolation_points)
    bcs = [
        fem.dirichletbc(c_bc, fem.locate_dofs_topological(V, fdim, dir_facets)),
        fem.dirichletbc(phi_bc, fem.locate_dofs_topological(Vp, fdim, dir_facets)),
    ]

    # characteristic current for the absolute tolerance [A, or A/m in 2D]
    i_char = 1.0e3 * L ** (dim - 1)
    opts = {
        "snes_type": "newtonls",
        "snes_linesearch_type": "none",
        "snes_rtol": 1e-11,
        "snes_atol": 1e-13 * i_char,
        "snes_stol": 0.0,
        "snes_max_it": 30,
        "ksp_type": "preonly",
        "pc_type": "lu",
        "pc_factor_mat_solver_type": "mumps",
    }
    problem = NonlinearProblem(
        ufl.extract_blocks(F), [c, phi], bcs=bcs, kind="mpi",
        petsc_options_prefix=f"mms_el{dim}d_", petsc_options=opts,
    )

    # initial state = exact solution at t = 0
    c.interpolate(e_c)
    phi.interpolate(e_phi)
    its = []
    for step in range(1, nsteps + 1):
        c_old.x.array[:] = c.x.array
        t.value = step * dt
        c_bc.interpolate(e_c)
        phi_bc.interpolate(e_phi)
        for bc, u in zip(bcs, (c, phi)):  # lift: Dirichlet rows start with zero residual
            bc.set(u.x.array)
        problem.solve()
        reason = problem.solver.getConvergedReason()
        assert reason > 0, f"Newton did not converge (reason {reason})"
        its.append(problem.solver.getIterationNumber())

    def norm(expr):
        return math.sqrt(comm.allreduce(fem.assemble_scalar(fem.form(expr * dx)), op=MPI.SUM))

    out = {
        "c_L2": norm((c - c_ex) ** 2) / norm(c_ex**2),
        "c_H1": norm(ufl.inner(ufl.grad(c - c_ex), ufl.grad(c - c_ex)))
        / norm(ufl.inner(ufl.grad(c_ex), ufl.grad(c_ex))),
        "phi_L2": norm((phi - phi_ex) ** 2) / norm(phi_ex**2),
        "phi_H1": norm(ufl.inner(ufl.grad(phi - phi_ex), ufl.grad(phi - phi_ex)))
        / norm(ufl.inner(ufl.grad(phi_ex), ufl.grad(phi_ex))),
        "newton_its": its,
    }
    return out


def _convergence(comm, ns, dim, **kw):
    results = [solve_mms(comm, n, dim, **kw) for n in ns]
    hs = [1.0 / n for n in ns]
    orders = {k: fit_order(hs, [r[k] for r in results]) for k in ("c_L2", "c_H1", "phi_L2", "phi_H1")}
    return results, orders


def test_nyman2008_functions_match_published_fits():
    """Point values of the fits at 1 mol dm-3 and the Chen2020 constants."""
    assert nyman2008.conductivity(1000.0) == pytest.approx(0.1297 - 2.51 + 3.329, rel=1e-14)
    assert nyman2008.diffusivity(1000.0) == pytest.approx(8.794e-11 - 3.972e-10 + 4.862e-10, rel=1e-14)
    # the Nyman t+ fit at 1 M reproduces the constant Chen2020 uses
    assert nyman2008.transference_number_nyman2008(1000.0) == pytest.approx(0.2594, abs=1e-12)
    assert nyman2008.transference_number(np.array([500.0, 1500.0])) == pytest.approx([0.2594, 0.2594])
    assert nyman2008.thermodynamic_factor(700.0) == 1.0
    c = np.linspace(1.0, 3000.0, 300)
    assert np.all(nyman2008.diffusivity(c) > 0) and np.all(nyman2008.conductivity(c) > 0)
    with pytest.raises(ValueError, match="allowed"):
        nyman2008.properties("Nyman")


def test_nyman2008_against_pybamm():
    """Independent reference: PyBaMM's Chen2020 parameter set evaluates the same functions."""
    pybamm = pytest.importorskip("pybamm")
    pv = pybamm.ParameterValues("Chen2020")
    kappa_fn = pv["Electrolyte conductivity [S.m-1]"]
    d_fn = pv["Electrolyte diffusivity [m2.s-1]"]
    for ce in (250.0, 1000.0, 1800.0):
        ref_k = pv.evaluate(kappa_fn(pybamm.Scalar(ce), pybamm.Scalar(T_K)))
        ref_d = pv.evaluate(d_fn(pybamm.Scalar(ce), pybamm.Scalar(T_K)))
        assert nyman2008.conductivity(ce) == pytest.approx(float(ref_k), rel=1e-12)
        assert nyman2008.diffusivity(ce) == pytest.approx(float(ref_d), rel=1e-12)
    assert pv["Cation transference number"] == pytest.approx(nyman2008.TPLUS_CHEN2020)
    assert pv["Thermodynamic factor"] == pytest.approx(1.0)


def test_butler_volmer_helpers():
    """Sign convention and closed-form limits of the kinetics helpers."""
    T = T_K
    f = el.FARADAY / (el.GAS_CONSTANT * T)
    i0 = 2.0
    # eta < 0 -> insertion (j > 0); symmetric BV = (2 i0/F) sinh(-eta F/(2RT))
    for eta in (-0.05, -0.01, 0.0, 0.02):
        j = el.butler_volmer_flux(eta, i0, 0.5, 0.5, T)
        assert j == pytest.approx(2 * i0 / el.FARADAY * math.sinh(-0.5 * f * eta), rel=1e-13, abs=1e-300)
    # linear regime: j ~ -i0 eta F/(RT) / F
    eta = 1e-6
    assert el.butler_volmer_flux(eta, i0, 0.3, 0.7, T) == pytest.approx(-i0 * f * eta / el.FARADAY, rel=1e-5)
    # exchange current: F k c_e^aa (cmax - cs)^aa cs^ac
    assert el.exchange_current(1e-10, 1000.0, 20000.0, 50000.0, 0.5, 0.5) == pytest.approx(
        el.FARADAY * 1e-10 * math.sqrt(1000.0 * 30000.0 * 20000.0), rel=1e-14
    )
    # lithium metal: phi_e > 0 at the Li surface drives plating (j_Li > 0)
    assert el.lithium_metal_flux(0.01, i0, 0.5, 0.5, T) > 0
    assert el.lithium_metal_flux(-0.01, i0, 0.5, 0.5, T) < 0
    # transport factor
    assert el.transport_factor(0.4, bruggeman=1.5) == pytest.approx(0.4**1.5)
    assert el.transport_factor(0.4, tortuosity=2.0) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        el.transport_factor(0.4, bruggeman=1.5, tortuosity=2.0)


def test_electrolyte_mms_2d():
    comm = MPI.COMM_WORLD
    results, orders = _convergence(comm, [8, 16, 32, 64], 2)
    if comm.rank == 0:
        for r in results:
            print({k: (f"{v:.3e}" if isinstance(v, float) else v) for k, v in r.items()})
        print("orders", orders)
    assert orders["c_L2"] > 1.9 and orders["phi_L2"] > 1.9
    assert 0.95 < orders["c_H1"] < 1.2 and 0.95 < orders["phi_H1"] < 1.2
    # Newton converges fast from the previous step
    assert max(max(r["newton_its"]) for r in results) <= 6
    # the finest mesh is accurate in absolute terms
    assert results[-1]["c_L2"] < 1e-3 and results[-1]["phi_L2"] < 1e-3


def test_electrolyte_mms_2d_nyman_tplus_porous():
    """Concentration-dependent t+ (Nyman fit; div(t+ i_e) has an i_e . grad t+ part) and a
    homogenised region: porosity 0.47 and Bruggeman factor B = eps^1.5 (Chen2020 separator)."""
    comm = MPI.COMM_WORLD
    eps = 0.47
    results, orders = _convergence(
        comm, [8, 16, 32], 2, props=nyman2008.properties("Nyman2008"),
        porosity=eps, B=el.transport_factor(eps, bruggeman=1.5),
    )
    if comm.rank == 0:
        print("orders (Nyman t+, porous)", orders)
    assert orders["c_L2"] > 1.85 and orders["phi_L2"] > 1.85
    assert 0.95 < orders["c_H1"] < 1.25 and 0.95 < orders["phi_H1"] < 1.25


def test_electrolyte_mms_3d_coarse():
    comm = MPI.COMM_WORLD
    results, orders = _convergence(comm, [5, 10, 15], 3, nsteps=2)
    if comm.rank == 0:
        print("3D", [{k: v for k, v in r.items()} for r in results], "orders", orders)
    assert orders["c_L2"] > 1.85 and orders["phi_L2"] > 1.85
    assert 0.9 < orders["c_H1"] < 1.3 and 0.9 < orders["phi_H1"] < 1.3


def test_electrolyte_mms_nonlinear_in_time():
    """A solution nonlinear in time, c = c_a(x) + 0.3 C0 sin(2 t/TAU) g(x), with dt ~ h^2:
    backward Euler is first order in dt, so the combined space-time L2 error must fall as h^2.
    (With dt fixed the error would stall at the time error: checked by the last assert.)"""
    comm = MPI.COMM_WORLD
    ns = [8, 16, 32]
    dts = [TAU / 2 * (8 / n) ** 2 for n in ns]
    errs = [_solve_nonlinear_time(comm, n, dt, t_end=TAU) for n, dt in zip(ns, dts)]
    order = fit_order([1.0 / n for n in ns], errs)
    stalled = _solve_nonlinear_time(comm, 32, TAU / 2, t_end=TAU)
    if comm.rank == 0:
        print("space-time errors", errs, "order in h", order, "fixed dt error", stalled)
    assert order > 1.85
    assert stalled > 5 * errs[-1]


def _solve_nonlinear_time(comm, n, dt, t_end):
    """Same system, c_ex = c_a + (C0/5) sin(t/TAU) g(x): the error is dominated by dt."""
    props = nyman2008.properties("Chen2020")
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    msh = mesh.create_unit_square(comm, n, n, partitioner=part)
    msh.geometry.x[:] *= L
    fdim = msh.topology.dim - 1
    V, Vp = fem.functionspace(msh, ("Lagrange", 1)), fem.functionspace(msh, ("Lagrange", 1))
    W = ufl.MixedFunctionSpace(V, Vp)
    c, phi, c_old = fem.Function(V), fem.Function(Vp), fem.Function(V)
    v_c, v_phi = ufl.TestFunctions(W)
    x = ufl.SpatialCoordinate(msh)
    X = [x[0] / L, x[1] / L]
    t = fem.Constant(msh, 0.0)
    g = ufl.sin(math.pi * X[0]) * ufl.sin(math.pi * X[1])
    c_ex = C0 * (1.0 + 0.2 * ufl.cos(X[0]) * ufl.cos(X[1])) + 0.3 * C0 * ufl.sin(t / TAU * 2.0) * g
    dcdt = 0.3 * C0 * (2.0 / TAU) * ufl.cos(t / TAU * 2.0) * g
    phi_ex = PHI0 * ufl.cos(0.5 * math.pi * X[0]) * X[1]
    i_ex = el.ionic_current(c_ex, phi_ex, props, T_K)
    N_ex = el.salt_flux(c_ex, phi_ex, props, T_K)
    dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": QDEG})
    F_c, F_phi = el.electrolyte_residual(c, c_old, phi, v_c, v_phi, fem.Constant(msh, dt), props, dx, T_K)
    F = F_c + F_phi - el.FARADAY * (dcdt + ufl.div(N_ex)) * v_c * dx - ufl.div(i_ex) * v_phi * dx
    msh.topology.create_connectivity(fdim, msh.topology.dim)
    bfacets = mesh.exterior_facet_indices(msh.topology)
    c_bc, phi_bc = fem.Function(V), fem.Function(Vp)
    e_c = fem.Expression(c_ex, V.element.interpolation_points)
    e_phi = fem.Expression(phi_ex, V.element.interpolation_points)
    opts = {"snes_linesearch_type": "none", "snes_rtol": 1e-11, "snes_atol": 1e-13 * 1e3 * L,
            "snes_stol": 0.0, "ksp_type": "preonly", "pc_type": "lu",
            "pc_factor_mat_solver_type": "mumps"}
    problem_bcs = [
        fem.dirichletbc(c_bc, fem.locate_dofs_topological(V, fdim, bfacets)),
        fem.dirichletbc(phi_bc, fem.locate_dofs_topological(Vp, fdim, bfacets))]
    problem = NonlinearProblem(ufl.extract_blocks(F), [c, phi], bcs=problem_bcs, kind="mpi",
                               petsc_options_prefix="mms_el_time_", petsc_options=opts)
    c.interpolate(e_c)
    phi.interpolate(e_phi)
    nsteps = int(round(t_end / dt))
    for step in range(1, nsteps + 1):
        c_old.x.array[:] = c.x.array
        t.value = step * dt
        c_bc.interpolate(e_c)
        phi_bc.interpolate(e_phi)
        for bc, u in zip(problem_bcs, (c, phi)):
            bc.set(u.x.array)
        problem.solve()
        assert problem.solver.getConvergedReason() > 0
    err = comm.allreduce(fem.assemble_scalar(fem.form((c - c_ex) ** 2 * dx)), op=MPI.SUM)
    ref = comm.allreduce(fem.assemble_scalar(fem.form(c_ex**2 * dx)), op=MPI.SUM)
    return math.sqrt(err / ref)


@pytest.mark.mpi
def test_electrolyte_mms_parallel_equals_serial():
    """Errors on COMM_WORLD (2 ranks under mpiexec) equal those of a serial solve (COMM_SELF)."""
    par = solve_mms(MPI.COMM_WORLD, 16, 2)
    ser = solve_mms(MPI.COMM_SELF, 16, 2)
    for k in ("c_L2", "c_H1", "phi_L2", "phi_H1"):
        assert par[k] == pytest.approx(ser[k], rel=1e-10), k
