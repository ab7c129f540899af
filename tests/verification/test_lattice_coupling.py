"""The lattice strain in the stress coupling: with ``[material] lattice_strain`` the
stress-assisted flux and the stress in the overpotential use the mechanical part of the
chemical potential w = sigma : d eps_ch/dc (:func:`cellsim.models.particle_grains.coupling_potential`)
instead of Omega sigma_h.

* An isotropic table (eps_a = eps_c = Omega c_max (x - x_ref)/3, put in place of the NMC811
  table) gives the run with the scalar Omega and c_ref = x_ref c_max: the same diagnostics
  and concentration to 1e-9 (w = Omega sigma_h, and its P1 projection is Omega times that of
  sigma_h); bonded (flux and overpotential) and cohesive (a concentration and a w_k per
  grain colour; flux only, the overpotential's stress is refused with cohesive grains).
* With the NMC811 table and random orientations the run converges, and the coupling term of
  the overpotential equals sigma : d eps/dc evaluated independently with numpy (the table's
  piecewise slopes, the grain rotations) at sample points of every local cell, to 1e-12 of
  its largest value; the projected block keeps the integral of w.
"""

from __future__ import annotations

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.case import case_from_dict  # noqa: E402
from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.materials import lattice  # noqa: E402
from cellsim.models.particle import ParticleModel  # noqa: E402

pytestmark = pytest.mark.mpi

GEOM = {"kind": "secondary_particle", "radius": 3e-6, "n_grains": 2, "seed": 1, "mesh_size": 1.5e-6}
NAME = "nmc811_kondrakov2017"
C_MAX, OMEGA = 63104.0, 1.0e-6  # nmc811_chen2020 c_max [mol m-3]; the isotropic table's Omega [m3 mol-1]


def coupled_case(lattice_strain=NAME, material=None, interface="bonded"):
    mat = {"name": "nmc811_chen2020", "diffusivity": 1e-14, **(material or {})}
    if lattice_strain:
        mat["lattice_strain"] = lattice_strain
    return case_from_dict({
        "geometry": GEOM, "material": mat,
        "physics": {"initial_stoichiometry": 0.5, "stress_assisted_diffusion": True,
                    "stress_in_overpotential": interface == "bonded"},  # refused with cohesive grains
        "mechanics": {"interface": interface}, "discretisation": {"displacement_degree": 1},
        "control": {"mode": "potentiostatic", "potential": 3.9}, "time": {"t_end": 3600.0}})


def run(case, tm, steps=2):
    m = ParticleModel(case, tm, tm.mesh.comm)
    m.set_control()
    assert m.solve_initial().converged
    d = None
    for _ in range(steps):
        res = m.step(60.0)
        assert res.converged, res.reason
        d = m.diagnostics()
        m.accept()
    return m, d


@pytest.mark.parametrize("interface", ["bonded", "cohesive"])
def test_isotropic_table_gives_the_scalar_omega_run(monkeypatch, interface):
    """bonded: flux and overpotential; cohesive (a concentration per grain colour): the flux
    with each block's w_k against each block's Omega sigma_h_k."""
    a0, c0, s = 2.872e-10, 14.2e-10, OMEGA * C_MAX / 3.0
    iso = lattice.LatticeStrain(name=NAME, citation="isotropic test table", x=(0.0, 1.0),
                                a=(a0 * (1.0 - s), a0), c=(c0 * (1.0 - s), c0), x_ref=1.0)
    tm = build_mesh(coupled_case().geometry, MPI.COMM_WORLD)
    ms, ds = run(coupled_case(None, {"partial_molar_volume": OMEGA, "c_ref": C_MAX}, interface), tm)
    monkeypatch.setitem(lattice.LATTICE_STRAINS, NAME, iso)
    ml, dl = run(coupled_case(interface=interface), tm)
    mu = "mu_sigma" if interface == "bonded" else "mu_sigma_0"
    assert mu in ml.block_names and mu not in ms.block_names
    for k in ds:
        assert dl[k] == pytest.approx(ds[k], rel=1e-9, abs=1e-20, nan_ok=True), k
    dc = np.abs(ml.X.x.array - ms.X.x.array).max(initial=0.0)
    assert MPI.COMM_WORLD.allreduce(dc, op=MPI.MAX) < 1e-9 * 0.5 * C_MAX / ms.cs
    # the stress does couple: the Omega sigma_h run differs from the uncoupled one
    assert abs(ds["max hydrostatic stress [Pa]"]) > 1e6


def numpy_coupling(table, sig, x, R):
    """sigma : d eps_ch/dc with numpy: the slopes of the table's piecewise-linear strains."""
    xs = np.asarray(table.x)
    a0, c0 = np.interp(table.x_ref, xs, table.a), np.interp(table.x_ref, xs, table.c)
    i = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 2)
    inside = (x >= xs[0]) & (x < xs[-1])
    dx = xs[i + 1] - xs[i]
    dea = np.where(inside, (np.asarray(table.a)[i + 1] - np.asarray(table.a)[i]) / dx / a0, 0.0) / C_MAX
    dec = np.where(inside, (np.asarray(table.c)[i + 1] - np.asarray(table.c)[i]) / dx / c0, 0.0) / C_MAX
    D = np.zeros((len(x), 3, 3))
    D[:, 0, 0] = D[:, 1, 1] = dea
    D[:, 2, 2] = dec
    deps = np.einsum("nij,njk,nlk->nil", R, D, R)
    return np.einsum("nij,nij->n", sig, deps)


def test_nmc811_coupling_term_equals_numpy_sigma_ddeps_dc():
    case = coupled_case()
    tm = build_mesh(case.geometry, MPI.COMM_WORLD)
    m, d = run(case, tm, steps=1)
    assert "mu_sigma" in m.block_names
    msh = m.mesh
    ncell = msh.topology.index_map(3).size_local
    cells = np.arange(ncell, dtype=np.int32)
    pts = np.array([[0.25, 0.25, 0.25], [0.1, 0.2, 0.6], [0.6, 0.1, 0.1]])

    def ev(expr):
        return fem.Expression(expr, pts).eval(msh, cells)

    sig = m._surface_stress()  # one material: the stress expression of every cell
    w = ev(m.kinetics.mech_potential(m)).reshape(-1)
    S = ev(sig).reshape(-1, 3, 3)
    x = ev(m.cs * m.X / m.core.c_max).reshape(-1)
    R = ev(m.R_grain).reshape(-1, 3, 3)
    w_np = numpy_coupling(lattice.LATTICE_STRAINS[NAME], S, x, R)
    scale = MPI.COMM_WORLD.allreduce(float(np.abs(w_np).max(initial=0.0)), op=MPI.MAX)
    assert scale > 0
    assert MPI.COMM_WORLD.allreduce(float(np.abs(w - w_np).max(initial=0.0)), op=MPI.MAX) < 1e-12 * scale
    # the projected block holds the same integral as the pointwise w (its row with test 1)
    dx = m.dx_all
    wp = m._assemble(fem.form(m.q("mu_sigma") * dx))
    wi = m._assemble(fem.form(m.kinetics.mech_potential(m) * dx))
    assert wp == pytest.approx(wi, rel=1e-8)
    assert d["current [A]"] != 0.0
