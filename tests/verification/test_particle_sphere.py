"""Verification of the single-particle model against closed-form and 1D radial references.

References (tests/reference/sphere.py, pure numpy, independently derived):
- Crank / Carslaw & Jaeger constant-flux series and its thermoelastic stresses;
- a fine 1D finite-volume radial solver (same backward-Euler time steps as the 3D model, so
  that the measured 3D error is the spatial error and its order can be fitted).
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from cellsim.materials import get_material
from cellsim.materials.base import FARADAY
from tests.reference import sphere as ref

from tests.verification.particle_tools import R_P, advance, build_model, fitted_order, make_case, point_stress, radial_errors

D0 = 1.0e-14
X0 = 0.3
GRAPHITE = get_material("graphite_chen2020")
MECH = ref.Mechanics(GRAPHITE.partial_molar_volume, GRAPHITE.youngs_modulus, GRAPHITE.poisson_ratio)
ONE_WAY = {"stress_assisted_diffusion": False, "stress_in_overpotential": False, "initial_stoichiometry": X0}


def _flux_case(h, j, physics=None, degree_u=2):
    return make_case(
        geometry={"mesh_size": h},
        material={"diffusivity": D0},
        physics=physics or ONE_WAY,
        control={"mode": "flux", "flux": j},
        discretisation={"displacement_degree": degree_u, "geometry_order": 2},
    )


def _radial_reference(dt, nsteps, j, stress_assisted=None):
    t_out = np.array([dt * nsteps])
    return ref.radial_diffusion_1d(
        R_P, D0, X0 * GRAPHITE.c_max, t_out, flux=j, mechanics=MECH if stress_assisted else None,
        stress_assisted=stress_assisted, n_cells=2000, dt=dt, scheme="euler",
    )


@pytest.mark.mpi
def test_one_way_spatial_convergence():
    """c, sigma_r, sigma_t converge at second order (P1 c, P2 u, curved P2 geometry)."""
    j, dt, n = 2e-5, 50.0, 6
    sol = _radial_reference(dt, n, j)
    rf = np.linspace(0, R_P * (1 + 1e-9), 4001)
    st = sol.stresses(MECH, r=rf, c_ref=0.0)
    c_ex = lambda r: sol.concentration_at(np.minimum(r, R_P))  # noqa: E731
    sr_ex = lambda r: np.interp(r, rf, st.sigma_r)  # noqa: E731
    st_ex = lambda r: np.interp(r, rf, st.sigma_t)  # noqa: E731
    hs, errs = [], []
    for h in (R_P / 3, R_P / 4.5, R_P / 6.75):
        model = build_model(_flux_case(h, j))
        advance(model, dt, n)
        errs.append(radial_errors(model, c_ex, sr_ex, st_ex))
        hs.append(h)
    for key in ("c", "sigma_r", "sigma_t"):
        e = [x[key] for x in errs]
        order = fitted_order(hs, e)
        assert order > 1.7, f"{key}: errors {e}, fitted order {order:.2f}"
    # measured (2026-11): c 0.118 -> 0.048 -> 0.023, sigma_t 0.113 -> 0.047 -> 0.022; order 2.0


@pytest.mark.mpi
def test_default_mesh_surface_and_centre_stress_within_2_percent():
    """Default case particle and mesh, constant flux at 1C: the closed-form series stresses."""
    case = make_case(
        geometry={"radius": 5.86e-6, "mesh_size": 1.0e-6},
        physics={**ONE_WAY, "initial_stoichiometry": 0.05},
        control={"mode": "flux", "c_rate": 1.0},
    )
    model = build_model(case)
    R = 5.86e-6
    j = float(model.j_app.value)
    dt, n = 60.0, 30
    diags = advance(model, dt, n)
    t = dt * n
    D = float(GRAPHITE.diffusivity(0.5))
    c0 = 0.05 * GRAPHITE.c_max
    s = ref.crank_constant_flux_stresses(np.array([0.0, R]), t, R, D, j, c0, MECH.Omega, MECH.E, MECH.nu)
    hoop_exact = s.sigma_t[1]
    hoop = diags[-1]["surface hoop stress [Pa]"]
    assert abs(hoop - hoop_exact) < 0.02 * abs(hoop_exact), (hoop, hoop_exact)
    sig0 = point_stress(model, [0.0, 0.0, 0.0])
    centre_exact = s.sigma_r[0]  # = sigma_t(0) = sigma_h(0): the centre is in pure hydrostatic tension
    assert abs(np.trace(sig0) / 3 - centre_exact) < 0.02 * abs(centre_exact), (sig0, centre_exact)
    # single components of the cell that holds the centre: measured 0.9-2.3 % (2026-11)
    for val in (sig0[0, 0], sig0[1, 1], sig0[2, 2]):
        assert abs(val - centre_exact) < 0.04 * abs(centre_exact), (sig0, centre_exact)
    # and the mean concentration is exact (conservation): c_avg = c0 + 3 j t / R on the mesh volume
    assert abs(diags[-1]["lithium balance error [mol]"]) < 1e-10 * diags[-1]["lithium [mol]"]


@pytest.mark.mpi
def test_stress_assisted_diffusion_matches_radial_reference():
    """Two-way coupling: c against the 1D stress-assisted solution; the effect is resolved."""
    j, dt, n = 2e-5, 100.0, 8
    sa = _radial_reference(dt, n, j, stress_assisted="generic")
    ow = _radial_reference(dt, n, j)
    physics = {"stress_assisted_diffusion": True, "stress_in_overpotential": False, "initial_stoichiometry": X0}
    hs, e_sa = [R_P / 3, R_P / 4.5], []
    for h in hs:
        model = build_model(_flux_case(h, j, physics))
        advance(model, dt, n)
        e_sa.append(radial_errors(model, lambda r: sa.concentration_at(np.minimum(r, R_P)))["c"])
    e_ow = radial_errors(model, lambda r: ow.concentration_at(np.minimum(r, R_P)))["c"]
    # measured (2026-11): 0.060 -> 0.027 against the stress-assisted reference, 0.24 against one-way
    assert fitted_order(hs, e_sa) > 1.5, e_sa
    assert e_ow > 5 * e_sa[-1], (e_ow, e_sa)  # the stress term changes the answer far beyond the error


@pytest.mark.mpi
def test_butler_volmer_zero_current_at_open_circuit():
    x0 = 0.4
    U0 = float(GRAPHITE.ocp(np.array(x0)))
    case = make_case(physics={"initial_stoichiometry": x0}, control={"mode": "potentiostatic", "potential": U0})
    model = build_model(case)
    d = advance(model, 100.0, 2)[-1]
    I1c = model.one_c_current()
    assert abs(d["current [A]"]) < 1e-9 * I1c, d["current [A]"]
    assert abs(d["mean stoichiometry [-]"] - x0) < 1e-10
    # 10 mV below the OCP: lithiation (positive current), consistent with DESIGN.md signs
    case2 = make_case(physics={"initial_stoichiometry": x0},
                      control={"mode": "potentiostatic", "potential": U0 - 0.01})
    model2 = build_model(case2)
    d2 = advance(model2, 10.0, 1)[-1]
    assert d2["current [A]"] > 1e-3 * I1c


@pytest.mark.mpi
def test_galvanostatic_voltage_matches_radial_reference():
    """Particle potential during a 1C lithiation with full coupling (stress-assisted diffusion
    and stress in the overpotential), against the 1D reference; converges with the mesh."""
    physics = {"initial_stoichiometry": 0.2}
    dt, n = 30.0, 10
    errors, hs = [], []
    for h in (R_P / 3, R_P / 4.5):
        case = make_case(geometry={"mesh_size": h}, physics=physics,
                         control={"mode": "galvanostatic", "c_rate": 1.0}, material={"diffusivity": D0})
        model = build_model(case)
        I = float(model.I_app.value)
        diags = advance(model, dt, n)
        kin = ref.Kinetics(U=GRAPHITE.ocp, k=GRAPHITE.rate_constant, c_e=1000.0, c_max=GRAPHITE.c_max)
        # same surface current density and volume-to-area ratio as the mesh (O(h^4) from the sphere's)
        R_eq = 3 * model.volume / model.area
        sol = ref.radial_diffusion_1d(
            R_eq, D0, 0.2 * GRAPHITE.c_max, np.arange(1, n + 1) * dt,
            current=I * (4 * np.pi * R_eq**2) / model.area, kinetics=kin, mechanics=MECH,
            stress_assisted="generic", stress_in_potential=True, n_cells=1500, dt=dt, scheme="euler")
        v_ref = np.interp(np.arange(1, n + 1) * dt, sol.steps["t"], sol.steps["phi_s"])
        v = np.array([d["particle potential [V]"] for d in diags])
        errors.append(np.max(np.abs(v - v_ref)))
        hs.append(h)
        for d in diags:  # conservation: current = applied, lithium gained = charge / F
            assert abs(d["current [A]"] - I) < 1e-8 * abs(I)
            assert abs(d["lithium balance error [mol]"]) < 1e-10 * d["lithium [mol]"]
        assert diags[-1]["charge passed [C]"] == pytest.approx(I * dt * n, rel=1e-8)
    # measured (2026-11): 1.6 mV at R/3, see the note for the finer mesh
    assert fitted_order(hs, errors) > 1.0, errors
    assert errors[-1] < 1e-3, errors


@pytest.mark.mpi
def test_parallel_equals_serial():
    """The distributed model (COMM_WORLD) gives the serial answer (COMM_SELF on every rank)."""
    case = make_case(geometry={"mesh_size": R_P / 2.5}, physics={"initial_stoichiometry": 0.2},
                     control={"mode": "galvanostatic", "c_rate": 2.0})
    dist = advance(build_model(case, MPI.COMM_WORLD), 20.0, 3)
    ser = advance(build_model(case, MPI.COMM_SELF), 20.0, 3)
    for a, b in zip(dist, ser):
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-7, abs=1e-12 * (abs(b[k]) + 1)), k


@pytest.mark.mpi
def test_ellipsoid_galvanostatic_current_distributes_and_conserves():
    """Non-spherical particle: flux non-uniform, total current equals the applied current."""
    case = case_dict = make_case(
        geometry={"kind": "ellipsoid", "semi_axes": [6e-6, 3e-6, 3e-6], "mesh_size": 1.2e-6},
        physics={"initial_stoichiometry": 0.2}, control={"mode": "galvanostatic", "c_rate": 2.0})
    del case_dict
    model = build_model(case)
    I = float(model.I_app.value)
    diags = advance(model, 30.0, 4)
    for d in diags:
        assert abs(d["current [A]"] - I) < 1e-8 * abs(I)
        assert abs(d["lithium balance error [mol]"]) < 1e-10 * d["lithium [mol]"]
    d = diags[-1]
    # tips (small curvature radius) fill faster than the waist: surface stoichiometry spread
    assert d["max surface stoichiometry [-]"] - d["min surface stoichiometry [-]"] > 1e-3
    assert FARADAY > 0
