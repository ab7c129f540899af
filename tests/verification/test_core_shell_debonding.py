"""A core-shell particle whose coating debonds, in the particle model
(``[mechanics] interface = "cohesive"``), against the sphere-in-shell closed forms of
tests/reference/cohesive_closed_form.py.

The core swells (Omega = 1e-5 m3/mol), the coating does not (Omega = 0); lithium diffuses
fast (D = 1e-11 m2/s against a 3 um core: the concentration is uniform to ~1e-4), so the
core's eigenstrain is eps* = Omega (c_core - c_ref)/3 with c_core the core's mean
concentration, and the coating is a traction-free concentric shell around it, tied by the
bilinear cohesive law (K = 5e14 Pa/m, N = 10 MPa, G_Ic = 0.3 J/m2; K c = 0.08 with c the
compliance of the solids seen by the interface, no snap-back: c N/(delta_f - delta_0) = 0.04).
Delithiation (the core shrinks, the interface opens):

* before onset (eps* = eps*_0 / 2) the mean normal interface traction equals the Lame +
  interface-spring closed form within 1 %;
* the onset (the eigenstrain at which the mean traction reaches N, from the linear
  response) is the closed form's within 2 %, and the model agrees: no damage at 0.98 eps*_0,
  damage on every facet at 1.02 eps*_0;
* full separation (damage 1 on every facet) first at |eps*| within 2 % of 2 G_Ic/(N a)
  (1 % load steps there);
* the dissipated energy at separation is 4 pi a^2 G_Ic within 2 %.

Lithiation (the core swells, the interface is pressed): no damage, and the interface
pressure equals the bonded (undamaged penalty) closed form within 1 %, past the tensile
onset magnitude. And serial = ``mpiexec -n 2`` with the time driver (adaptive steps,
``max_damage_change``), including the damage history, fields and the interface columns.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.case import case_from_dict  # noqa: E402
from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.models.particle import ParticleModel  # noqa: E402
from tests.conftest import all_ranks_agree, sigterm_at  # noqa: E402
from tests.reference import cohesive_closed_form as ref  # noqa: E402

A, T_COAT = 3.0e-6, 1.0e-6  # core radius, coating thickness [m]
C_MAX, X0 = 33133.0, 0.9  # graphite_chen2020 c_max [mol m-3], initial stoichiometry
OMEGA = 1.0e-5  # core partial molar volume [m3 mol-1]
E_CORE, NU_CORE, E_COAT, NU_COAT = 15e9, 0.3, 50e9, 0.3
K, N, G_I = 5.0e14, 10.0e6, 0.3
ARGS = (A, A + T_COAT, E_CORE, NU_CORE, E_COAT, NU_COAT, K)


def core_shell_case(direction="delithiation", **over):
    mat = {"name": "graphite_chen2020", "diffusivity": 1e-11, "c_ref": X0 * C_MAX}
    d = {
        "geometry": {"kind": "core_shell", "core_radius": A, "coating_thickness": T_COAT, "mesh_size": 1.0e-6},
        "material": {**mat, "partial_molar_volume": OMEGA, "youngs_modulus": E_CORE, "poisson_ratio": NU_CORE},
        "coating_material": {**mat, "partial_molar_volume": 0.0, "youngs_modulus": E_COAT, "poisson_ratio": NU_COAT},
        "physics": {"initial_stoichiometry": X0, "stress_assisted_diffusion": False, "stress_in_overpotential": False},
        "mechanics": {"interface": "cohesive", "penalty": K, "normal_strength": N, "fracture_energy_I": G_I,
                      "max_damage": 1.0},
        "discretisation": {"displacement_degree": 1},
        "control": {"mode": "flux", "c_rate": 2.0, "direction": direction},
        "time": {"t_end": 3600.0},
    }
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v}
    return case_from_dict(d)


#: the steps of :class:`Run` are the test's own (to target eigenstrains): the damage-jump
#: rejection, a control of the time driver's step size, is off there
FIXED_STEPS = {"damage_jump_limit": 1e3}


class Run:
    """The particle model with fixed steps chosen to reach target eigenstrains."""

    def __init__(self, case, comm=MPI.COMM_WORLD):
        tm = build_mesh(case.geometry, comm)
        self.m = m = ParticleModel(case, tm, comm)
        m.set_control()
        assert m.solve_initial().converged
        self.comm = comm
        dx = ufl.Measure("dx", domain=m.mesh, subdomain_data=tm.cell_tags)(tuple(tm.regions["core"]))
        self._f_core = fem.form(m.cs * m.X * dx)
        self.v_core = m._assemble(fem.form(fem.Constant(m.mesh, 1.0) * dx))
        self.coh = m.cohesives[0]

    def eps(self) -> float:
        return OMEGA / 3.0 * (self.m._assemble(self._f_core) / self.v_core - X0 * C_MAX)

    def to(self, target: float) -> dict:
        """One step to the eigenstrain ``target`` (the lithium moves at the prescribed flux)."""
        m = self.m
        deps_dt = OMEGA / 3.0 * float(m.j_app.value) * m.area / m.volume
        dt = (target - self.eps()) / deps_dt
        assert dt > 0
        res = m.step(dt)
        all_ranks_agree(self.comm, res.converged, f"step to eps* = {target} failed: {res.reason}")
        d = m.diagnostics()
        d["normal traction [Pa]"] = self.normal_traction()
        d["eps"] = self.eps()
        m.accept()
        it = self.coh.itf
        d["min damage"] = self.comm.allreduce(float(np.min(it.d.x.array[: it._nown], initial=1.0)), op=MPI.MIN)
        return d

    def normal_traction(self) -> float:
        """Area mean of T . n over the interface (outer side: positive = tension)."""
        it = self.coh.itf
        _, T, _ = it.facet_state()
        tn = np.sum(T * it.normal, axis=1)
        return self.comm.allreduce(float(np.dot(it.area, tn)), op=MPI.SUM) / it.total_area


@pytest.mark.mpi
def test_core_shell_debonding_against_closed_form():
    run = Run(core_shell_case(mechanics=FIXED_STEPS))
    eps0 = ref.sphere_in_shell_onset(*ARGS, N)
    epsf = ref.sphere_in_shell_separation(*ARGS, N, G_I)
    assert eps0 < 0 and epsf < eps0 and ref.sphere_in_shell_path(*ARGS, N, G_I, 0.5 * (eps0 + epsf)) is not None

    d = run.to(0.5 * eps0)
    p_ref = ref.sphere_in_shell(*ARGS, d["eps"])["p"]
    err = d["normal traction [Pa]"] / p_ref - 1
    onset = N / (d["normal traction [Pa]"] / d["eps"])  # linear response up to the strength
    d98 = run.to(0.98 * eps0)
    d102 = run.to(1.02 * eps0)
    loads = list(np.linspace(1.02 * eps0, 0.9 * epsf, 7)[1:]) + list(np.linspace(0.9 * epsf, 1.1 * epsf, 21)[1:])
    first_sep, rows = None, []
    for e in loads:
        r = run.to(e)
        rows.append(r)
        if first_sep is None and r["min damage"] >= 1.0:
            first_sep = r["eps"]
    D = rows[-1]["dissipated energy [J]"]
    D_ref = 4 * math.pi * A * A * G_I
    print(f"\ncore-shell model: traction at eps*_0/2 {err:+.4f} vs Lame + spring; onset {onset / eps0 - 1:+.4f}; "
          f"separation at {first_sep:.5f} vs 2 G/(N a) = {epsf:.5f} ({first_sep / epsf - 1:+.2%}); "
          f"D / (4 pi a^2 G) - 1 = {D / D_ref - 1:+.4f} (interface area deficit "
          f"{run.coh.itf.total_area / (4 * math.pi * A * A) - 1:+.4f})")
    assert abs(err) <= 0.01
    assert abs(onset / eps0 - 1) <= 0.02
    assert d98["damaged area fraction [-]"] == 0.0 and d102["damaged area fraction [-]"] == 1.0
    assert first_sep is not None and abs(first_sep / epsf - 1) <= 0.02
    assert abs(D / D_ref - 1) <= 0.02
    assert rows[-1]["debonded area fraction [-]"] == 1.0
    # damage and dissipation never decrease; the opening at separation is the shrinkage
    assert np.all(np.diff([r["dissipated energy [J]"] for r in rows]) >= 0)
    assert rows[-1]["max opening [m]"] == pytest.approx(-A * rows[-1]["eps"], rel=0.05)


@pytest.mark.mpi
def test_core_shell_swelling_stays_bonded():
    run = Run(core_shell_case("lithiation", mechanics=FIXED_STEPS))
    eps0 = ref.sphere_in_shell_onset(*ARGS, N)
    for e in (-0.5 * eps0, -2.0 * eps0):
        d = run.to(e)
        p_ref = ref.sphere_in_shell(*ARGS, d["eps"])["p"]
        err = d["normal traction [Pa]"] / p_ref - 1
        print(f"\nswelling eps* = {d['eps']:.5f}: interface pressure {d['normal traction [Pa]']:.4g} Pa, "
              f"{err:+.4f} vs the bonded closed form; damaged area {d['damaged area fraction [-]']}")
        assert p_ref < 0 and abs(err) <= 0.01
        assert d["damaged area fraction [-]"] == 0.0 and d["dissipated energy [J]"] == 0.0


def driver_case(**over):
    """Delithiation through onset to separation under the time driver: dt from
    time.max_change (0.02 in x) and mechanics.max_damage_change (0.1)."""
    return core_shell_case(time={"t_end": 400.0, "dt_initial": 10.0, "dt_max": 40.0, "max_change": 0.02},
                           mechanics={"max_damage_change": 0.1}, **over)


def _damage_by_midpoint(model):
    it = model.cohesives[0].itf
    mid = np.concatenate(model.comm.allgather(it.facet_midpoints()))
    d = np.concatenate(model.comm.allgather(it.d.x.array[: it._nown]))
    order = np.lexsort(tuple(np.round(mid[:, k] / 1e-10) for k in (2, 1, 0)))
    return mid[order], d[order]


INTERFACE_KEYS = ["damaged area fraction [-]", "debonded area fraction [-]", "dissipated energy [J]",
                  "max opening [m]", "max von Mises stress [Pa]", "mean stoichiometry [-]"]


@pytest.mark.mpi
def test_parallel_equals_serial_with_damage():
    """The time driver on COMM_WORLD and on COMM_SELF (under mpiexec): the same steps,
    interface columns and facet damage (matched by facet midpoint); the interface debonds
    under the driver's damage-limited steps."""
    from cellsim.simulation import run_protocol

    out = {}
    # serially the two runs would be the same run: one then (the driver checks below)
    comms = [("par", MPI.COMM_WORLD)] + ([("ser", MPI.COMM_SELF)] if MPI.COMM_WORLD.size > 1 else [])
    for name, comm in comms:
        case = driver_case()
        model = ParticleModel(case, build_mesh(case.geometry, comm), comm)
        r0 = model.solve_initial()
        res = run_protocol(case, model, keep_rows=True, initial=r0)
        assert res.status == "completed", res.reason
        out[name] = (res.rows, _damage_by_midpoint(model))
    (rp, (mp, dp)), (rs, (ms, ds)) = out["par"], out.get("ser", out["par"])
    assert len(rp) == len(rs)
    for a, b in zip(rp, rs):
        assert a["time [s]"] == pytest.approx(b["time [s]"], rel=1e-9)
        for k in INTERFACE_KEYS:
            assert a[k] == pytest.approx(b[k], rel=1e-7, abs=1e-15), k
    np.testing.assert_allclose(mp, ms, atol=1e-13)
    np.testing.assert_allclose(dp, ds, atol=1e-7)
    assert ds.min() > 0.5 and rs[-1]["debonded area fraction [-]"] > 0.5
    dam = [r["damaged area fraction [-]"] for r in rs]
    assert dam[0] == 0.0 and dam[-1] == 1.0
    # while the interface tears the damage control (not time.max_change: 0.02 in x allows the
    # 37 s steps taken before the onset) shortens the step
    k = next(i for i, r in enumerate(rs) if r["dissipated energy [J]"] > 0)
    assert min(r["dt [s]"] for r in rs[k:-1]) <= 0.6 * rs[k]["dt [s]"]


@pytest.mark.slow
def test_interrupt_and_resume_keeps_the_damage_history(tmp_path):
    """SIGTERM while the coating debonds, then resume: the same time series as without
    interruption (the cohesive history is in the checkpoint); the fields hold
    interface_damage on the core_coating interface and the block fields on core and coating."""
    import pyvista as pv

    from cellsim import simulation
    from cellsim.output import read_timeseries

    comm = MPI.COMM_WORLD
    case = driver_case(output={"checkpoint_every": 1, "fields_every": 5})
    simulation.run_case(case, tmp_path / "ref", comm)
    ref_ts = read_timeseries(tmp_path / "ref")
    dam = np.asarray(ref_ts["dissipated energy [J]"])
    first = int(np.argmax(dam > 0))
    stop_at = first + (len(dam) - first) // 2
    with sigterm_at(stop_at):
        r = simulation.run_case(case, tmp_path / "run", comm)
    assert r.status == "interrupted", r.reason
    part = read_timeseries(tmp_path / "run")
    assert 0 < part["dissipated energy [J]"][-1] < ref_ts["dissipated energy [J]"][-1]
    r2 = simulation.run_case(case, tmp_path / "run", comm, overwrite=False, resume=True)
    assert r2.status == "completed", r2.reason
    got = read_timeseries(tmp_path / "run")
    assert len(got["time [s]"]) == len(ref_ts["time [s]"])
    for k in ["time [s]"] + INTERFACE_KEYS:
        np.testing.assert_allclose(got[k], ref_ts[k], rtol=1e-9, atol=1e-15, err_msg=k)
    if comm.rank == 0:
        rd = pv.get_reader(str(tmp_path / "ref" / "fields" / "core_coating.pvd"))
        rd.set_active_time_value(rd.time_values[-1])
        grid = rd.read().combine()
        name = [n for n in grid.cell_data.keys() if n.startswith("interface_damage")]
        assert name and np.min(grid.cell_data[name[0]]) > 0.5
        for region in ("core", "coating"):
            g = pv.get_reader(str(tmp_path / "ref" / "fields" / f"{region}.pvd")).read().combine()
            names = set(g.point_data.keys()) | set(g.cell_data.keys())
            for f in ("lithium_concentration", "displacement", "stress", "von_mises_stress"):
                assert any(n.startswith(f) for n in names), (region, f, names)


def test_cohesive_interface_input_errors_name_key_and_allowed():
    """Refused while the case is read (before any mesh): P2 displacement, a geometry without
    two solid regions, mechanics off; an unknown half-cell key in the particle's [mechanics]."""
    from cellsim.schema import CaseError

    bad = [({"discretisation": {"displacement_degree": 2}}, "discretisation.displacement_degree = 2"),
           ({"physics": {"mechanics": False, "stress_assisted_diffusion": False, "stress_in_overpotential": False}},
            "needs physics.mechanics = true"),
           ({"mechanics": {"skeleton": True}}, "skeleton"),
           ({"mechanics": {"normal_strength": 1e8}}, "mechanics.fracture_energy_I = 0.3")]
    for over, words in bad:
        with pytest.raises((CaseError, ValueError), match=words.replace(".", r"\.").replace("(", r"\(")):
            core_shell_case(**over)
    d = {"geometry": {"kind": "sphere", "radius": 3e-6}, "mechanics": {"interface": "cohesive"},
         "discretisation": {"displacement_degree": 1}, "control": {"mode": "flux", "c_rate": 1.0}}
    with pytest.raises((CaseError, ValueError), match="geometry kind 'sphere'.*allowed kinds"):
        case_from_dict(d)
    assert case_from_dict({**d, "mechanics": {}}).mechanics.interface == "bonded"  # the default


@pytest.mark.mpi
def test_touching_regions_get_different_blocks():
    """Regions -> blocks: 2 x 2 x 2 'grains' of a unit cube touch along faces only with their
    6-neighbours (a cube graph, bipartite: 2 colours, 12 pairs); on any number of ranks. A
    graph needing more colours (a 5-wheel: 4) and a 20-region random graph are coloured
    properly."""
    from dolfinx import mesh

    from cellsim.models.particle_mechanics import colour_regions, touching_pairs

    comm = MPI.COMM_WORLD
    msh = mesh.create_unit_cube(comm, 4, 4, 4, ghost_mode=mesh.GhostMode.shared_facet)
    tdim = msh.topology.dim
    imap = msh.topology.index_map(tdim)
    mid = mesh.compute_midpoints(msh, tdim, np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32))
    g = (mid[:, 0] > 0.5).astype(int) + 2 * (mid[:, 1] > 0.5) + 4 * (mid[:, 2] > 0.5)
    cells = [np.flatnonzero(g == k).astype(np.int32) for k in range(8)]
    pairs = touching_pairs(msh, cells)
    expect = sorted((i, j) for i in range(8) for j in range(i + 1, 8) if bin(i ^ j).count("1") == 1)
    assert pairs == expect
    col = colour_regions(8, pairs)
    assert len(set(col)) == 2 and all(col[i] != col[j] for i, j in pairs) and col[0] == 0
    wheel = [(0, k) for k in range(1, 6)] + [(k, k % 5 + 1) for k in range(1, 6)]
    cw = colour_regions(6, wheel)
    assert len(set(cw)) == 4 and all(cw[i] != cw[j] for i, j in wheel)
    rng = np.random.default_rng(3)
    rand = sorted({(int(i), int(j)) for i, j in rng.integers(0, 20, (60, 2)) if i < j})
    cr = colour_regions(20, rand)
    deg = max(sum(1 for p in rand if k in p) for k in range(20))
    assert all(cr[i] != cr[j] for i, j in rand) and len(set(cr)) <= deg + 1


@pytest.mark.mpi
def test_transport_across_the_interface_scales_with_integrity():
    """DamagedTransport (the interface flux k(d) (c_a - c_b), k(d) = (1 - d)^p k_0 + k_res)
    between two concentration blocks on the halves of a unit square (steady diffusion, c = 1
    at x = 0, c = 0 at x = 1, D = 1): P1 is exact for the piecewise-linear answer, so the
    flux equals the closed form 1 / (1/2 + 1/k(d) + 1/2) to 1e-8 for d = 0, 0.5, 1;
    bonded (k_0 = 1e6) equals the continuous solution 1 - x to O(1/k_0) (L2 error below
    1/k_0); fully debonded passes only the residual k_res."""
    from types import SimpleNamespace

    from dolfinx import mesh
    from dolfinx.fem.petsc import NonlinearProblem

    from cellsim import regions as itf
    from cellsim.physics.cohesive_term import DamagedTransport

    comm = MPI.COMM_WORLD
    msh = mesh.create_unit_square(comm, 8, 8, ghost_mode=mesh.GhostMode.shared_facet)
    ct = itf.tag_cells(msh, {1: lambda x: x[0] <= 0.5 + 1e-12, 2: lambda x: x[0] >= 0.5 - 1e-12})
    sub = itf.make_submeshes(msh, ct, {"a": 1, "b": 2})
    facets = itf.interface_facets(msh, sub["a"].parent_cells, sub["b"].parent_cells)
    dS = itf.interface_measure_from_facets(msh, facets, sub["a"].parent_cells, tag=1)(1)
    fmesh, fmap, _, _ = mesh.create_submesh(msh, 1, facets)
    dmg = fem.Function(fem.functionspace(fmesh, ("DG", 0)))
    V = {k: fem.functionspace(r.mesh, ("Lagrange", 1)) for k, r in sub.items()}
    u = {k: fem.Function(Vk) for k, Vk in V.items()}
    v = {k: ufl.TestFunction(Vk) for k, Vk in V.items()}
    m = SimpleNamespace(u=u, v=v, live=fem.Constant(msh, 1.0))
    dx = ufl.Measure("dx", domain=msh, subdomain_data=ct)
    em = [sub["a"].entity_map, sub["b"].entity_map, fmap]
    bcs = []
    for k, x0, val in (("a", 0.0, 1.0), ("b", 1.0, 0.0)):
        r = sub[k].mesh
        r.topology.create_connectivity(1, 2)
        f = mesh.locate_entities_boundary(r, 1, lambda x, x0=x0: np.isclose(x[0], x0))
        bcs.append(fem.dirichletbc(fem.Constant(r, val), fem.locate_dofs_topological(V[k], 1, f), V[k]))
    k0, k_res, p = 1.0e6, 1.0e-6, 2.0
    term = DamagedTransport("a", "b", k0, dS, SimpleNamespace(damage=dmg), p=p, G_res=k_res)
    rows = term.residual(m)
    F = [ufl.inner(ufl.grad(u["a"]), ufl.grad(v["a"])) * dx(1) + rows["a"],
         ufl.inner(ufl.grad(u["b"]), ufl.grad(v["b"])) * dx(2) + rows["b"]]
    prob = NonlinearProblem(F, [u["a"], u["b"]], bcs=bcs, kind="mpi", entity_maps=em,
                            petsc_options_prefix="gb_transport_",
                            petsc_options={"snes_type": "newtonls", "snes_linesearch_type": "basic",
                                           "snes_rtol": 1e-14, "snes_atol": 1e-14, "ksp_type": "preonly",
                                           "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
    f_flux = fem.form(term.conductance() * (u["a"]("+") - u["b"]("-")) * dS, entity_maps=em)
    x = ufl.SpatialCoordinate(msh)
    f_err = [fem.form((u[k] - (1 - x[0])) ** 2 * dx(t), entity_maps=em) for k, t in (("a", 1), ("b", 2))]
    for d in (0.0, 0.5, 1.0):
        dmg.x.array[:] = d
        prob.solve()
        all_ranks_agree(comm, prob.solver.getConvergedReason() > 0, f"transport solve failed at d = {d}")
        J = comm.allreduce(fem.assemble_scalar(f_flux), op=MPI.SUM)  # interface length 1
        kd = (1 - d) ** p * k0 + k_res
        J_ref = 1.0 / (1.0 + 1.0 / kd)
        assert J == pytest.approx(J_ref, rel=1e-8), (d, J, J_ref)
        if d == 0.0:  # bonded: the continuous solution c = 1 - x
            err = math.sqrt(sum(comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM) for f in f_err))
            assert err < 1.0 / k0
        if d == 1.0:  # debonded: only the residual passes
            assert J == pytest.approx(k_res, rel=1e-5)
