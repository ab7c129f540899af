"""Newton convergence does not depend on the conductivities of the electronic network.

With a stiff network (particles 50 S/m, carbon-binder 5,000 S/m, contacts 1e9 S/m2) the
round-off of the potential rows lies above the absolute Newton tolerance, so Newton used
to iterate at that floor to its limit and every step was retried with dt/2. The
convergence test (cellsim.solver) accepts a step at the round-off floor once the
update is negligible: each step converges in a few Newton iterations, no step is
retried, and the conservation checks still hold to 1e-9 of the 1C charge.
"""

from __future__ import annotations

import pytest
from mpi4py import MPI

import meshes
from cellsim.case.halfcell import HalfCellCase
from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_protocol

ERRORS = ["interface current error [-]", "lithium metal current error [-]", "particle lithium error [-]",
          "lithium balance error [-]"]


@pytest.mark.mpi
def test_stiff_network_converges_without_retries():
    import logging

    from cellsim.log import get_logger

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__()
            self.lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    comm = MPI.COMM_WORLD
    tm = meshes.build(meshes.square_lattice_2d(), h=1.0e-6, comm=comm)
    case = HalfCellCase.model_validate({
        "model": "halfcell",
        "solid": {"particle_conductivity": 50.0, "binder_conductivity": 5000.0,
                  "particle_binder_conductance": 1e9, "collector_conductance": 1e9},
        "protocol": {"steps": [{"mode": "cc", "c_rate": 2.0, "duration": 300.0},
                               {"mode": "cv", "voltage": 4.05, "duration": 60.0}]},
        "solver": {"atol": 1e-10, "rtol": 1e-14},
        "time": {"dt_initial": 10.0, "dt_max": 60.0}, "output": {"fields": False}},
        context={"mesh_given": True})
    model = HalfCellModel(case, tm, comm)
    log, keep = get_logger(), Keep()
    log.addHandler(keep)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        res = run_protocol(case, model, keep_rows=True)
    finally:
        log.removeHandler(keep)
        log.setLevel(level)
    assert res.status == "completed", res.reason
    retries = [m for m in keep.lines if "retrying" in m]
    assert not retries, retries
    rows = res.rows[1:]
    assert max(r["newton iterations [-]"] for r in rows) <= 8
    for k in ERRORS:
        assert max(abs(r[k]) for r in rows) < 1e-9, k
