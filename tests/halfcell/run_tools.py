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
