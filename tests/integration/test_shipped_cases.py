"""Every shipped simulation case in cases/ builds its mesh and model and takes its first time
step (what ``python -m cellsim.precompile`` does at set-up, where a failure is not fatal).

A merge once broke one case type (the porous particle) for every run while all the model's own
tests still built their models another way; this test makes such a break fail the suite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from cellsim import precompile

CASES = Path(__file__).resolve().parents[2] / "cases"


@pytest.mark.parametrize("path", precompile.model_cases(CASES), ids=lambda p: p.stem)
def test_shipped_case_takes_its_first_step(path, monkeypatch):
    from cellsim import simulation

    seen = {}
    run = simulation.run_protocol

    def spy(case, model, **kw):
        out = run(case, model, **kw)
        seen["result"] = out
        return out

    monkeypatch.setattr(simulation, "run_protocol", spy)
    precompile.compile_case(path, MPI.COMM_SELF)
    res = seen.get("result")
    assert res is not None, f"{path.name}: the protocol was not run"
    assert res.steps == 1, f"{path.name}: {res.steps} accepted steps ({res.status}: {res.reason})"
    assert np.isfinite(res.time) and res.time > 0.0, f"{path.name}: the first step did not advance time"
