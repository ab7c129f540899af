"""Interrupt and resume with the cohesive collector bond (``[mechanics] collector_interface =
'cohesive'``), on the 2D staircase lattice of test_debonding.py: both the particle/binder
interface and the collector bond tear during a 2C charge; a SIGTERM while both damages grow,
then ``--resume``, gives the uninterrupted time series (every row, the collector columns
included) and the same damage history, facet by facet, of both interfaces (kappa, d and the
dissipated energy density of the final checkpoint)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from test_debonding import WEAK, lattice, make_case

from cellsim import checkpoint as ck
from cellsim import simulation
from cellsim.models.halfcell import HalfCellModel
from cellsim.output import read_timeseries

#: both interfaces tear in the 300 s charge: the particle/binder one of test_debonding.py and
#: a weak collector bond (the parameters of test_weak_collector_bond_tears_alone)
MECH = {**WEAK, "collector_interface": "cohesive", "collector_normal_strength": 0.5e6,
        "collector_shear_strength": 1e6, "collector_fracture_energy_I": 0.002,
        "collector_fracture_energy_II": 0.004}
COLUMNS = ("time [s]", "voltage [V]", "capacity [mA h m-2]", "damaged area fraction [-]",
           "debonded area fraction [-]", "dissipated energy [J]", "max opening [m]",
           "collector damaged area fraction [-]", "collector debonded area fraction [-]",
           "collector dissipated energy [J]", "collector max opening [m]", "isolated particles [-]")


def _history(case, outdir, comm):
    """Cohesive history arrays (kappa, d, D of every interface) of the checkpoint in ``outdir``,
    gathered in rank order."""
    model = HalfCellModel(case, lattice(comm), comm)
    ck.load(model, outdir)
    out = {}
    for c in model.cohesives:
        it = c.itf
        for k in ("kappa", "d", "D"):
            out[f"{c.name}/{k}"] = np.concatenate(comm.allgather(getattr(it, k).x.array[: it._nown].copy()))
    return out


@pytest.mark.mpi
def test_interrupt_and_resume_with_cohesive_collector_bond(tmp_path_factory):
    comm = MPI.COMM_WORLD
    tmp = Path(comm.bcast(str(tmp_path_factory.mktemp("resume_cc")) if comm.rank == 0 else None, root=0))
    steps = [{"mode": "cc", "c_rate": 2.0, "direction": "charge", "duration": 300.0}]
    case = make_case(steps, mech=MECH, output={"fields": False, "checkpoint_every": 1})
    ref_res = simulation.run_case(case, tmp / "ref", comm=comm, tm=lattice(comm))
    assert ref_res.status == "completed", ref_res.reason
    ref = read_timeseries(tmp / "ref") if comm.rank == 0 else None
    ref = comm.bcast(ref, root=0)
    dam, cdam = ref["damaged area fraction [-]"], ref["collector damaged area fraction [-]"]
    E, cE = ref["dissipated energy [J]"], ref["collector dissipated energy [J]"]
    first = int(np.argmax((dam > 0) & (cdam > 0)))
    assert first > 0 and E[-1] > E[first] > 0 and cE[-1] > cE[first] > 0, (E, cE)
    stop_at = first + (len(dam) - first) // 2  # while both interfaces dissipate
    from tests.conftest import sigterm_at

    with sigterm_at(stop_at):
        r = simulation.run_case(case, tmp / "run", comm=comm, tm=lattice(comm))
    assert r.status == "interrupted", r.reason
    part = comm.bcast(read_timeseries(tmp / "run") if comm.rank == 0 else None, root=0)
    n = len(part["time [s]"])
    assert 0 < part["collector dissipated energy [J]"][-1] < cE[-1]
    assert 0 < part["dissipated energy [J]"][-1] < E[-1]
    assert n < len(dam)
    r2 = simulation.run_case(case, tmp / "run", comm=comm, tm=lattice(comm), overwrite=False, resume=True)
    assert r2.status == "completed", r2.reason
    got = comm.bcast(read_timeseries(tmp / "run") if comm.rank == 0 else None, root=0)
    assert len(got["time [s]"]) == len(ref["time [s]"])
    for k in COLUMNS:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-15, err_msg=k)
    # the damage history facet by facet, from the final checkpoints
    h_ref, h_got = _history(case, tmp / "ref", comm), _history(case, tmp / "run", comm)
    assert set(h_ref) == {f"{nm}/{k}" for nm in ("particle_binder", "collector_binder") for k in ("kappa", "d", "D")}
    for k in h_ref:
        np.testing.assert_allclose(h_got[k], h_ref[k], rtol=1e-9, atol=1e-12 * max(np.abs(h_ref[k]).max(), 1e-300),
                                   err_msg=k)
    assert h_ref["collector_binder/d"].max() > 0.1 and h_ref["particle_binder/d"].max() > 0.1
