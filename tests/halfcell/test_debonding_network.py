"""The half-cell's electronic network under debonding, and the cohesive collector bond
(``[mechanics] collector_interface = 'cohesive'``), on the 2D staircase lattice of
test_debonding.py (2 x 2 particles; necks 0-1, 2-3, 0-2, 1-3; bridges from particles 0
and 1 down to the collector: six separate carbon-binder pieces).

* Conductance graph: damage imposed on chosen contacts (picked by the direction from the
  particle centre, independently of the graph code) gives the connectivity that the
  topology of the lattice dictates, identical on every rank: a neck that joins particle 0
  to the network only through particle 2; a cluster {0, 2} whose own contacts are intact
  but whose binder pieces reach the collector through nothing (which the per-particle
  criterion of earlier versions called connected); torn collector bonds isolate all.
* Collector bond: a strong cohesive bond with the clamp's stiffness reproduces the clamped
  run (the same traction K u, written by independent code); a weak one tears while the
  particle/binder interface stays intact, with its own columns, conservation in every step.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from cellsim.physics.cohesive import contact_conductance
from test_debonding import CHARGE, ERRORS, WEAK, lattice, make_case

from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_protocol
from run_tools import run_recording_stoichiometry

STRONG = {**WEAK, "normal_strength": 50e6, "shear_strength": 100e6, "fracture_energy_I": 5.0,
          "fracture_energy_II": 10.0}
CENTRES = np.array([(2.5e-6, 2.5e-6), (7.5e-6, 2.5e-6), (2.5e-6, 7.5e-6), (7.5e-6, 7.5e-6)])


def _tear(it, sel, d_max):
    own = it.d.x.array[: it._nown]
    own[sel] = d_max
    it.d_inv.x.array[: it._nown][sel] = d_max
    it.d.x.scatter_forward()
    it.d_inv.x.scatter_forward()


def _contacts(model, k, direction):
    """Owned particle/binder facets of particle k whose midpoint lies in ``direction`` (unit
    vector) from its centre (within 45 degrees)."""
    it = model.cohesive.itf
    mid = it.facet_midpoints()[:, :2] - CENTRES[k]
    mid /= np.linalg.norm(mid, axis=1)[:, None]
    return (model._pb_particle == k) & (mid @ np.asarray(direction, float) > np.cos(np.pi / 4))


def _per_particle_criterion(model):
    """Earlier versions' rule: a particle's own contacts carry its 1C current (binder taken as connected)."""
    ms, it = model.case.mechanics, model.cohesive.itf
    G0 = model.case.solid.particle_binder_conductance
    G = contact_conductance(it.d.x.array[: it._nown], G0, ms.conductance_exponent, ms.residual_conductance * G0)
    return model._sum_by_particle(it.area * G) * ms.isolation_voltage >= model.one_c_currents()


def _agree(comm, flags):
    got = comm.allgather(np.asarray(flags).tolist())
    assert all(g == got[0] for g in got), got
    return np.asarray(flags)


@pytest.mark.mpi
def test_conductance_graph_on_the_lattice():
    comm = MPI.COMM_WORLD
    mech = {**STRONG, "collector_interface": "cohesive"}
    model = HalfCellModel(make_case(CHARGE, mech=mech), lattice(comm), comm)
    assert model._graph.num_binder_pieces == 6
    dmax = model.case.mechanics.max_damage
    conn, _ = model.particle_connectivity()
    assert _agree(comm, conn).all()
    # particle 0 keeps only its neck up to particle 2: still connected, through 2 -> 3 -> 1 -> bridge 1
    it = model.cohesive.itf
    _tear(it, _contacts(model, 0, (0, -1)) | _contacts(model, 0, (1, 0)), dmax)
    conn, _ = model.particle_connectivity()
    assert _agree(comm, conn).tolist() == [True, True, True, True]
    # and particle 2 loses its neck to 3: {0, 2} is an island although each has an intact contact
    _tear(it, _contacts(model, 2, (1, 0)), dmax)
    conn, _ = model.particle_connectivity()
    assert _agree(comm, conn).tolist() == [False, True, False, True]
    assert _per_particle_criterion(model).all()  # what the per-particle rule would have said
    d = model.diagnostics()
    assert d["isolated particles [-]"] == 2.0
    share = model.one_c_currents()[[0, 2]].sum() / model.one_c_currents().sum()
    total = d["capacity lost [mA h m-2]"] / share  # capacity of all particles, from the lost share
    mat = model.mat
    ref = 96485.33212 * model.c_max * abs(mat.x_0 - mat.x_100) * model.particle_volumes.sum() / model.area_cross / 3.6
    assert total == pytest.approx(ref, rel=1e-12)
    # the collector bond under bridge 1 torn as well: nothing reaches the collector
    (_, cb), = model.collector_cohesives
    mid = cb.itf.facet_midpoints()[:, 0]
    _tear(cb.itf, mid > 5e-6, dmax)
    conn, _ = model.particle_connectivity()
    assert not _agree(comm, conn).any()


def _run(case, comm):
    model = HalfCellModel(case, lattice(comm), comm)
    res = run_protocol(case, model, keep_rows=True)
    assert res.status in ("completed", "cut-off"), res.reason
    return model, res.rows


@pytest.mark.mpi
@pytest.mark.slow
def test_strong_collector_bond_equals_the_clamp():
    """Below onset the cohesive bond is the penalty K (0 - u), the clamp's k u with k = K: the
    same run to solver tolerance (the bond's conductance factor 1 + 1e-9 aside). The cohesive
    integral has one quadrature point per facet; the clamp gets the same rule here
    (discretisation.quadrature_degree = 1), otherwise the two differ by O(h^2) (1e-3)."""
    comm = MPI.COMM_WORLD
    one_point = {"discretisation": {"quadrature_degree": 1}}
    steps = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 300.0}]
    probe = HalfCellModel(make_case(steps, mech=STRONG), lattice(comm), comm)
    k = probe.support_stiffness
    K = 2.0e15
    clamp = {**STRONG, "penalty": K, "clamp_penalty": 1e3 * K / k}
    bond = {**clamp, "collector_interface": "cohesive", "collector_normal_strength": 200e6,
            "collector_shear_strength": 200e6, "collector_fracture_energy_I": 50.0,
            "collector_fracture_energy_II": 50.0}
    m1, r1 = _run(make_case(steps, mech=clamp, **one_point), comm)
    assert m1.support_stiffness == pytest.approx(K, rel=1e-12)
    m2, r2 = _run(make_case(steps, mech=bond, **one_point), comm)
    assert len(r1) == len(r2) > 3
    for a, b in zip(r1, r2):
        assert a["voltage [V]"] == pytest.approx(b["voltage [V]"], abs=1e-8)
        assert a["max von mises stress binder [Pa]"] == pytest.approx(b["max von mises stress binder [Pa]"], rel=1e-6)
        assert b["collector damaged area fraction [-]"] == 0.0
    u1, u2 = m1.u["u_b"].x.array, m2.u["u_b"].x.array
    scale = comm.allreduce(np.abs(u1).max(initial=0.0), op=MPI.MAX)
    assert comm.allreduce(np.abs(u1 - u2).max(initial=0.0), op=MPI.MAX) < 1e-6 * scale
    # the bond's assembled mean traction: K (0 - u) on its facets, the clamp's reaction
    (_, cb), = m2.collector_cohesives
    jump, T, _ = cb.itf.facet_state()
    np.testing.assert_allclose(T, K * jump, rtol=1e-12, atol=1e-12 * K * np.abs(jump).max(initial=0.0))
    assert comm.allreduce(np.abs(T).max(initial=0.0), op=MPI.MAX) > 1e3  # the bond carries load (> 1 kPa)


@pytest.mark.mpi
def test_weak_collector_bond_tears_alone():
    comm = MPI.COMM_WORLD
    mech = {**STRONG, "collector_interface": "cohesive", "collector_normal_strength": 0.5e6,
            "collector_shear_strength": 1e6, "collector_fracture_energy_I": 0.002,
            "collector_fracture_energy_II": 0.004}
    model, rows = _run(make_case(CHARGE, mech=mech), comm)
    for r in rows[1:]:
        for k in ERRORS:
            assert abs(r[k]) < 1e-8, (k, r[k], r["time [s]"])
        assert r["damaged area fraction [-]"] == 0.0  # the particle/binder interface is intact
    dam = [r["collector damaged area fraction [-]"] for r in rows]
    E = [r["collector dissipated energy [J]"] for r in rows]
    assert dam[-1] > 0.3 and all(b >= a for a, b in zip(dam, dam[1:]))
    assert E[-1] > 0 and all(b >= a - 1e-30 for a, b in zip(E, E[1:]))
    assert rows[-1]["collector max opening [m]"] > 0.5e6 / model.case.mechanics.penalty
    assert rows[-1]["dissipated energy [J]"] == 0.0


def hanging_lattice(comm, h=0.5e-6):
    """Three particles: 0 and 1 on binder bridges to the collector, joined by a neck; 2 hangs
    above 0 on one neck (the binder piece that joins it to the network through particle 0)."""
    import meshes

    lay = meshes.square_lattice_2d(pitch=5e-6, radius=2e-6, separator=3e-6, collector=1e-6, neck=0.5e-6)
    lay.centres, lay.pairs, lay.bridges = lay.centres[:3], [(0, 1), (0, 2)], [0, 1]
    return meshes.build(lay, h=h, comm=comm)


#: a brittle particle/binder bond (far below the 0.1-1 J m-2 of the debonding case: on this
#: coarse staircase a neck has two contact facets, which must both tear fully)
BRITTLE = {**WEAK, "normal_strength": 1e6, "shear_strength": 2e6, "fracture_energy_I": 5e-4,
           "fracture_energy_II": 1e-3}


@pytest.mark.mpi
def test_isolated_particle_strands_its_lithium_and_its_capacity():
    """Particle 2 tears off on the first charge: from then on it is isolated, its lithium is
    stranded (constant), the current is the connected particles' alone, capacity lost is its
    share (its volume assembled here, not by the model), and the second charge passes only
    what the connected particles give up."""
    import ufl
    from dolfinx import fem

    comm = MPI.COMM_WORLD
    charge = {"mode": "cc", "c_rate": 2.0, "direction": "charge", "until_voltage": 4.3}
    steps = [charge, {"mode": "cc", "c_rate": 2.0, "direction": "discharge", "until_voltage": 3.5}, charge]
    case = make_case(steps, mech=BRITTLE, time={"dt_initial": 10.0, "dt_max": 120.0, "max_change": 0.08})
    tm = hanging_lattice(comm)
    model = HalfCellModel(case, tm, comm)
    res, xs = run_recording_stoichiometry(case, model, with_initial=False)
    rows = res.rows[1:]
    assert len(xs) == len(rows)
    for r in rows:
        for k in ERRORS:
            assert abs(r[k]) < 1e-8, (k, r[k], r["time [s]"])
    iso = np.array([r["isolated particles [-]"] for r in rows])
    first = int(np.argmax(iso > 0))
    assert 0 < first and rows[first]["protocol step [-]"] == 1
    assert np.all(iso[first:] == 1.0)
    assert all(r["connected particle 2 [-]"] == 0.0 and r["connected particle 0 [-]"] == 1.0 for r in rows[first:])
    # capacity lost = particle 2's share; its volume assembled independently of the model
    mat, ms = model.mat, case.mechanics
    dx = ufl.Measure("dx", domain=tm.mesh, subdomain_data=tm.cell_tags)
    V2 = comm.allreduce(fem.assemble_scalar(fem.form(1.0 * dx(int(tm.regions["particle_2"][0])))), op=MPI.SUM)
    lost = 96485.33212 * model.c_max * abs(mat.x_0 - mat.x_100) * V2 / model.area_cross / 3.6
    assert lost > 0
    for r in rows[first:]:
        assert r["capacity lost [mA h m-2]"] == pytest.approx(lost, rel=1e-10)
    # stranded: particle 2's lithium moves only by the residual contact current of its torn
    # contacts (G(d_max) = 2e-9 G_0, under at most 1 V for the rest of the run)
    after = first + 1
    x = np.array(xs)
    cap2 = model.c_max * V2  # mol (per depth) of a full particle 2
    it = model.cohesive.itf
    own2 = model._pb_particle == 2
    assert comm.allreduce(float(np.min(it.d.x.array[: it._nown][own2], initial=1.0)), op=MPI.MIN) >= ms.max_damage
    A2 = comm.allreduce(float(it.area[own2].sum()), op=MPI.SUM)
    G_iso = ((1 - ms.max_damage) ** ms.conductance_exponent + ms.residual_conductance) * \
        case.solid.particle_binder_conductance
    t = np.array([r["time [s]"] for r in rows])
    bound = G_iso * A2 * 1.0 * (t[-1] - t[after]) / 96485.33212 / cap2
    assert np.ptp(x[after:, 2]) <= bound < 1e-3, (np.ptp(x[after:, 2]), bound)
    stranded = np.array([r["stranded lithium [mA h m-2]"] for r in rows[after:]])
    # per particle: the isolated one holds all the stranded lithium, its contacts all debonded
    per = np.array([[r[f"stranded lithium particle {i} [mA h m-2]"] for i in range(3)] for r in rows[after:]])
    np.testing.assert_allclose(per.sum(axis=1), stranded, rtol=1e-12, atol=0)
    assert np.all(per[:, :2] == 0.0)
    np.testing.assert_allclose(per[:, 2], 96485.33212 * (x[after:, 2] - mat.x_100) * cap2 / model.area_cross / 3.6,
                               rtol=1e-10)
    assert all(r["debonded area fraction particle 2 [-]"] == 1.0 for r in rows[after:])
    assert all(0.0 <= r[f"debonded area fraction particle {i} [-]"] <= r[f"damaged area fraction particle {i} [-]"]
               for r in rows for i in range(3))
    assert stranded.min() > 0.2 * lost and np.ptp(stranded) <= bound * lost / abs(mat.x_0 - mat.x_100)
    # the current is the connected particles': their lithium change = the charge passed (discharge positive)
    q = np.array([r["capacity [mA h m-2]"] for r in rows]) * 3.6 * model.area_cross / 96485.33212  # mol
    dN = (x[after:] - x[after]) * model.c_max * model.particle_volumes
    np.testing.assert_allclose(dN[:, :2].sum(axis=1), q[after:] - q[after], rtol=0, atol=bound * cap2 + 1e-9 * cap2)
    # voltage curve: the second charge passes the connected particles' share only
    step = np.array([r["protocol step [-]"] for r in rows])
    qc = [np.ptp(q[step == s]) for s in (1, 3)]
    x0, x1 = x[:, :2][step == 3][0], x[:, :2][step == 3][-1]
    np.testing.assert_allclose(qc[1], np.sum((x0 - x1) * model.c_max * model.particle_volumes[:2]), rtol=0,
                               atol=bound * cap2 + 1e-9 * cap2)
    assert qc[1] < qc[0] - 0.5 * (x[0, 2] - x[after, 2]) * cap2


def test_collector_bond_options_are_checked():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="mechanics.collector_interface = 'cohesive' needs mechanics.skeleton"):
        make_case(CHARGE, mech={"collector_interface": "cohesive"})
    with pytest.raises(ValidationError, match="mechanics.collector_fracture_energy_I = 0.0001: must exceed"):
        make_case(CHARGE, mech={**WEAK, "collector_interface": "cohesive", "collector_fracture_energy_I": 1e-4})
    with pytest.raises(ValidationError, match="damage_jump_limit"):
        make_case(CHARGE, mech={**WEAK, "damage_jump_limit": 0.5})


@pytest.mark.mpi
def test_gap_reaction_scales_with_the_debonded_area():
    """mechanics.gap_reaction: the opened gap reacts with the carbon-binder's pore electrolyte.
    One 10 s step of a 2C charge from the same state with the damage d0 imposed on every
    particle/binder facet: no gap current at d0 = 0; the gap current is proportional to the
    debonded area d0 A_pb (I(2 d0) / I(d0) = 2 up to the O(d0) change of the contact
    conductance and of the current distribution: 1e-3 at d0 = 1e-3), has the sign of the
    applied current (delithiation), and the balances (the gap reaction included in the
    interface current, the pore electrolyte in the electrolyte lithium) hold every time."""
    comm = MPI.COMM_WORLD
    steps = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 60.0}]
    case = make_case(steps, mech={**STRONG, "gap_reaction": True})
    model = HalfCellModel(case, lattice(comm), comm)
    it = model.cohesive.itf
    start = model.state()
    gap = {}
    for d0 in (0.0, 1e-3, 2e-3):
        model.set_state(start)
        _tear(it, np.ones(it._nown, bool), d0)
        model.solve_initial()
        model.set_current(-2.0 * model.i_1C)
        r = model.step(10.0)
        assert r.converged, r.reason
        d = model.diagnostics()
        for k in ERRORS:
            assert abs(d[k]) < 1e-8, (d0, k, d[k])
        gap[d0] = d["gap reaction current density [A m-2]"]
        model.reject()
    assert gap[0.0] == 0.0
    i_app = -2.0 * model.i_1C
    assert gap[1e-3] * i_app > 0 and abs(gap[1e-3]) > 1e-4 * abs(i_app)
    assert gap[2e-3] / gap[1e-3] == pytest.approx(2.0, rel=2e-3)
