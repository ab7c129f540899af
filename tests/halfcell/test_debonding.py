"""The electrode skeleton with cohesive particle/binder interfaces in the half-cell
(``[mechanics] skeleton = true``), on the 2D staircase lattice (tests/halfcell/meshes.py).

* Conservation in every step while the interface damage grows (charge of NMC811: the
  particles shrink, the binder necks are stretched and tear): collector = applied =
  interface = -lithium-metal current, particle lithium = integral of the reaction, total
  lithium, each below 1e-8 of a 1C step; damage and dissipated energy never decrease; the
  damage-growth control of the time step sees the damage.
* A fully debonded particle (its interface damage set to d_max) is reported isolated and
  carries no current beyond the residual contact conductance: its lithium change is below
  the bound G(d_max) A max|phi_s - phi_b| dt / F and below 5e-2 of a connected particle's;
  capacity lost = its share of the capacity.
* `mpiexec -n 2` equals serial, including the damage history (facet by facet, matched by
  facet midpoints).
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import meshes
from cellsim.case.halfcell import HalfCellCase
from cellsim.materials.base import FARADAY
from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_protocol

ERRORS = ["interface current error [-]", "lithium metal current error [-]", "particle lithium error [-]",
          "lithium balance error [-]", "applied current error [-]"]
PH = {"mechanics": True, "stress_assisted_diffusion": True, "stress_in_overpotential": True,
      "initial_stoichiometry": 0.85}
WEAK = {"skeleton": True, "interface": "cohesive", "normal_strength": 2e6, "shear_strength": 4e6,
        "fracture_energy_I": 0.02, "fracture_energy_II": 0.04, "max_damage_change": 0.2}


def lattice(comm, h=0.5e-6):
    lay = meshes.square_lattice_2d(pitch=5e-6, radius=2e-6, separator=3e-6, collector=1e-6, neck=0.5e-6)
    return meshes.build(lay, h=h, comm=comm)


def make_case(steps, mech=None, **kw):
    d = {"model": "halfcell", "physics": PH, "mechanics": mech or WEAK, "protocol": {"steps": steps},
         "material": {"name": "nmc811_chen2020", "partial_molar_volume": 2.0e-6},
         "solver": {"atol": 1e-9, "rtol": 1e-14}, "time": {"dt_initial": 10.0, "dt_max": 60.0},
         "output": {"fields": False}}
    d.update(kw)
    return HalfCellCase.model_validate(d, context={"mesh_given": True})


CHARGE = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 600.0, "until_voltage": 4.3}]


@pytest.mark.mpi
def test_conservation_with_damage_evolving():
    comm = MPI.COMM_WORLD
    case = make_case(CHARGE)
    model = HalfCellModel(case, lattice(comm), comm)
    res = run_protocol(case, model, keep_rows=True)
    assert res.status in ("completed", "cut-off"), res.reason
    rows = res.rows[1:]
    assert len(rows) >= 10
    for r in rows:
        for k in ERRORS:
            assert abs(r[k]) < 1e-8, (k, r[k], r["time [s]"])
    dam = [r["damaged area fraction [-]"] for r in rows]
    E = [r["dissipated energy [J]"] for r in rows]
    assert dam[-1] > 0.2, dam[-1]  # the interface did tear
    assert all(b >= a for a, b in zip(dam, dam[1:]))
    assert all(b >= a - 1e-30 for a, b in zip(E, E[1:])) and E[-1] > 0
    assert rows[-1]["max opening [m]"] > case.mechanics.normal_strength / case.mechanics.penalty
    assert "damage" in model.max_change()


def test_debonded_particle_carries_only_residual_current():
    comm = MPI.COMM_WORLD
    mech = {**WEAK, "normal_strength": 50e6, "shear_strength": 100e6, "fracture_energy_I": 5.0,
            "fracture_energy_II": 10.0}  # strong: only the imposed debonding
    case = make_case(CHARGE, mech=mech)
    model = HalfCellModel(case, lattice(comm), comm)
    k = 3  # a top-row particle (not on the collector)
    it = model.cohesive.itf
    own = model._pb_particle == k
    it.d.x.array[: it._nown][own] = case.mechanics.max_damage
    it.d_inv.x.array[: it._nown][own] = case.mechanics.max_damage
    it.d.x.scatter_forward()
    it.d_inv.x.scatter_forward()
    d0 = model.diagnostics()
    assert d0["isolated particles [-]"] == 1.0 and d0["connected particle 3 [-]"] == 0.0
    assert d0["capacity lost [mA h m-2]"] == pytest.approx(
        FARADAY * model.c_max * abs(model.mat.x_0 - model.mat.x_100) * model.particle_volumes[k]
        / model.area_cross / 3.6, rel=1e-12)
    model.solve_initial()
    model.set_current(-2.0 * model.i_1C)
    ms = case.mechanics
    G = ((1 - ms.max_damage) ** ms.conductance_exponent + ms.residual_conductance) * \
        case.solid.particle_binder_conductance
    A_k = comm.allreduce(float(it.area[own].sum()), op=MPI.SUM)
    for _ in range(4):
        x0 = model.stoichiometry_by_particle()
        ps, pb = model.phi_s.x.array, model.phi_b.x.array
        r = model.step(30.0)
        assert r.converged, r.reason
        x1 = model.stoichiometry_by_particle()
        ps2, pb2 = model.phi_s.x.array, model.phi_b.x.array
        jump = max(comm.allreduce(max(ps.max(), ps2.max()), op=MPI.MAX) - comm.allreduce(min(pb.min(), pb2.min()),
                                                                                          op=MPI.MIN),
                   comm.allreduce(max(pb.max(), pb2.max()), op=MPI.MAX) - comm.allreduce(min(ps.min(), ps2.min()),
                                                                                          op=MPI.MIN))
        dN = abs(x1[k] - x0[k]) * model.c_max * model.particle_volumes[k]
        bound = G * A_k * jump * 30.0 / FARADAY
        assert dN <= bound * (1 + 1e-6), (dN, bound)
        others = np.abs(x1 - x0)[[i for i in range(len(x1)) if i != k]]
        assert abs(x1[k] - x0[k]) < 0.05 * others.min(), (x1 - x0)
        model.accept()


def _damage_by_midpoint(model):
    it = model.cohesive.itf
    mid = it.facet_midpoints()[:, :2]
    d = it.d.x.array[: it._nown]
    allm = np.concatenate(model.comm.allgather(mid))
    alld = np.concatenate(model.comm.allgather(d))
    order = np.lexsort((np.round(allm[:, 1] / 1e-9), np.round(allm[:, 0] / 1e-9)))
    return allm[order], alld[order]


@pytest.mark.mpi
def test_parallel_equals_serial_with_damage():
    steps = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 300.0}]
    out = {}
    for name, comm in (("par", MPI.COMM_WORLD), ("ser", MPI.COMM_SELF)):
        case = make_case(steps)
        model = HalfCellModel(case, lattice(comm, h=0.5e-6), comm)
        res = run_protocol(case, model, keep_rows=True)
        assert res.status == "completed", res.reason
        out[name] = (res.rows, _damage_by_midpoint(model))
    (rp, (mp, dp)), (rs, (msr, ds)) = out["par"], out["ser"]
    assert len(rp) == len(rs)
    keys = ["voltage [V]", "damaged area fraction [-]", "debonded area fraction [-]", "dissipated energy [J]",
            "max opening [m]", "isolated particles [-]"] + [k for k in rp[0] if k.startswith("soc particle")]
    for a, b in zip(rp, rs):
        assert a["time [s]"] == pytest.approx(b["time [s]"], rel=1e-9)
        for k in keys:
            assert a[k] == pytest.approx(b[k], rel=1e-7, abs=1e-12), k
    np.testing.assert_allclose(mp, msr, atol=1e-12)
    np.testing.assert_allclose(dp, ds, atol=1e-7)
    assert ds.max() > 0.5


def test_interrupt_and_resume_keeps_the_damage_history(tmp_path):
    """SIGTERM while the interface tears, then --resume: the same time series as without
    interruption (the cohesive history is in the checkpoint)."""
    from cellsim import simulation
    from cellsim.output import read_timeseries

    comm = MPI.COMM_WORLD
    steps = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 300.0}]
    case = make_case(steps, output={"fields": False, "checkpoint_every": 1})
    simulation.run_case(case, tmp_path / "ref", tm=lattice(comm))
    ref = read_timeseries(tmp_path / "ref")
    dam = np.asarray(ref["damaged area fraction [-]"])
    first = int(np.argmax(dam > 0))
    assert dam[-1] > dam[first] > 0
    stop_at = first + (len(dam) - first) // 2  # SIGTERM while the damage grows
    from tests.conftest import sigterm_at

    with sigterm_at(stop_at):
        r = simulation.run_case(case, tmp_path / "run", tm=lattice(comm))
    assert r.status == "interrupted", r.reason
    part = read_timeseries(tmp_path / "run")
    assert 0 < part["damaged area fraction [-]"][-1] < ref["damaged area fraction [-]"][-1]
    r2 = simulation.run_case(case, tmp_path / "run", tm=lattice(comm), overwrite=False, resume=True)
    assert r2.status == "completed", r2.reason
    got = read_timeseries(tmp_path / "run")
    assert len(got["time [s]"]) == len(ref["time [s]"])
    for k in ("time [s]", "voltage [V]", "damaged area fraction [-]", "debonded area fraction [-]",
              "dissipated energy [J]", "max opening [m]"):
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-15, err_msg=k)


def test_iterative_solver_equals_lu_with_skeleton():
    """GMRES + fieldsplit (GAMG with the rigid-body modes on the displacement split) gives the LU answer."""
    comm = MPI.COMM_WORLD
    steps = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 300.0}]
    rows = {}
    for ls in ("mumps", "iterative"):
        case = make_case(steps, solver={"linear_solver": ls, "atol": 1e-9, "rtol": 1e-14, "ksp_rtol": 1e-12})
        res = run_protocol(case, HalfCellModel(case, lattice(comm), comm), keep_rows=True)
        assert res.status == "completed", res.reason
        rows[ls] = res.rows
    assert len(rows["mumps"]) == len(rows["iterative"])
    its = [r["krylov iterations [-]"] / max(r["newton iterations [-]"], 1) for r in rows["iterative"][1:]]
    assert max(its) < 60, its
    for a, b in zip(rows["mumps"], rows["iterative"]):
        assert a["voltage [V]"] == pytest.approx(b["voltage [V]"], abs=1e-9)
        assert a["damaged area fraction [-]"] == pytest.approx(b["damaged area fraction [-]"], abs=1e-12)
    assert rows["iterative"][-1]["damaged area fraction [-]"] > 0


def _run_recording_damage(case, comm):
    """Run the lattice charge; the largest damage increase of every accepted step, and the
    number of converged solves the damage-jump check refused."""
    model = HalfCellModel(case, lattice(comm), comm)
    inc, refused = [], []
    accept, check = model.accept, model.check_damage_jump

    def rec_accept():
        inc.append((model.cohesive.max_damage_change(), float(model.dt.value)))
        accept()

    def rec_check():
        why = check()
        refused.append(bool(why))
        return why

    model.accept, model.check_damage_jump = rec_accept, rec_check
    res = run_protocol(case, model, keep_rows=True)
    assert res.status == "completed", res.reason
    return np.array(inc), sum(refused), res.rows


def test_damage_jump_is_rejected_and_retried():
    """A long step at the onset of damage: without the check a step commits more than
    2 x max_damage_change; with it (the default damage_jump_limit = 2) that step is refused
    after convergence, the driver retries with dt/2, and no accepted step exceeds the limit."""
    comm = MPI.COMM_WORLD
    steps = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 200.0}]
    out = {}
    for lim in (1e3, 2.0):
        case = make_case(steps, mech={**WEAK, "max_damage_change": 0.02, "damage_jump_limit": lim},
                         time={"dt_initial": 10.0, "dt_max": 600.0})
        out[lim] = _run_recording_damage(case, comm)
    free, checked = out[1e3], out[2.0]
    assert free[1] == 0 and free[0][:, 0].max() > 0.04
    assert checked[1] >= 1 and checked[0][:, 0].max() <= 0.04
    assert checked[2][-1]["damaged area fraction [-]"] > 0
    for r in checked[2][1:]:
        for k in ERRORS:
            assert abs(r[k]) < 1e-8, (k, r[k])
