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
