"""Running a half-cell model through its protocol while recording per-particle state."""

from __future__ import annotations

import numpy as np


def run_recording_stoichiometry(case, model, with_initial: bool = True):
    """``run_protocol`` with the mean stoichiometry of every particle recorded at each
    accepted step (and before the first, ``with_initial``); returns (result, array of
    shape (records, particles)). The run must complete."""
    from cellsim.simulation import run_protocol

    xs = [model.stoichiometry_by_particle()] if with_initial else []
    acc = model.accept

    def accept():
        acc()
        xs.append(model.stoichiometry_by_particle())

    model.accept = accept
    res = run_protocol(case, model, keep_rows=True)
    assert res.status == "completed", res.reason
    return res, np.array(xs)


def assert_same_rows(rows0, rows1, skip) -> None:
    """Two runs' time-series rows agree row by row: every float column (but those whose name
    holds a string of ``skip``) to 1e-8 relative (+1e-10), and the error columns (round-off
    and Newton-tolerance measures themselves) not larger than 10x (+1e-9)."""
    for a, b in zip(rows0, rows1):
        for k, x in a.items():
            if not isinstance(x, float) or any(s in k for s in skip):
                continue
            if "error" in k:
                assert abs(b[k]) <= 10 * abs(x) + 1e-9, (k, x, b[k])
            else:
                assert abs(b[k] - x) <= 1e-8 * abs(x) + 1e-10, (k, x, b[k])
