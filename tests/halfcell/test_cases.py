"""The half-cell cases in cases/ run to completion (slow: a few minutes each), serially and under
mpiexec -n 2, with the output contract: manifest status, time series with the conservation
checks, fields of every region."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from cellsim.case import load_case
from cellsim.output import read_timeseries
from cellsim.simulation import run_case

CASES = Path(__file__).parents[2] / "cases"


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.parametrize("name", ["halfcell_discharge", "halfcell_cccv"])
def test_case_runs(name, tmp_path_factory):
    comm = MPI.COMM_WORLD
    out = Path(comm.bcast(str(tmp_path_factory.mktemp(name)) if comm.rank == 0 else None, root=0))
    res = run_case(load_case(CASES / f"{name}.toml"), out, comm=comm)
    assert res.status == "completed", res.reason
    if comm.rank == 0:
        man = json.loads((out / "manifest.json").read_text())
        assert man["status"] == "completed"
        assert set(man["fields"]) == {"particle", "binder", "electrolyte", "current_collector"}
        ts = read_timeseries(out)
        assert len(ts["time [s]"]) == res.steps + 1
        for k in ts:
            if k.endswith("error [-]"):
                assert np.nanmax(np.abs(ts[k])) < 1e-8, k
        assert any(k.startswith("soc particle") for k in ts)
        if name == "halfcell_discharge":
            assert ts["voltage [V]"][-1] == pytest.approx(3.5, abs=1e-4)
            assert ts["capacity [mA h m-2]"][-1] > 0
        else:
            assert man["summary"]["step_ends"][-1]["reason"].startswith("duration")
            assert len(man["summary"]["step_ends"]) == 10


@pytest.mark.slow
@pytest.mark.mpi
def test_debonding_case_loses_capacity(tmp_path_factory):
    """cases/halfcell_debonding.toml: the interface tears on the first charge and the discharge
    capacity falls from cycle to cycle (a few minutes)."""
    comm = MPI.COMM_WORLD
    out = Path(comm.bcast(str(tmp_path_factory.mktemp("debond")) if comm.rank == 0 else None, root=0))
    res = run_case(load_case(CASES / "halfcell_debonding.toml"), out, comm=comm)
    assert res.status == "completed", res.reason
    if comm.rank == 0:
        man = json.loads((out / "manifest.json").read_text())
        assert {"particle", "binder", "particle_binder_interface"} <= set(man["fields"])
        ts = read_timeseries(out)
        for k in ts:
            if k.endswith("error [-]"):
                assert np.nanmax(np.abs(ts[k])) < 1e-5, k  # atol = 1e-7 I_1C in this case
        cyc, step, cap = (np.asarray(ts[k]) for k in ("cycle [-]", "protocol step [-]", "capacity [mA h m-2]"))
        dis = []
        for c in (1, 2, 3):
            sel = np.flatnonzero((cyc == c) & (step == 3 * c))
            dis.append(cap[sel[-1]] - cap[sel[0] - 1])
        assert dis[0] > dis[1] > dis[2] > 0, dis
        assert (dis[0] - dis[1]) / dis[0] > 5e-3, dis
        assert ts["damaged area fraction [-]"][-1] > 0.5 and ts["debonded area fraction [-]"][-1] > 0.1
        assert np.all(np.diff(ts["dissipated energy [J]"]) >= 0)
