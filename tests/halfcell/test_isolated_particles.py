"""A run that knows its connectivity: particles the geometry reports as not connected to the
collector are left out of 1C and of the state of charge (and named in the manifest meta).

2D lattice of 2 x 2 particles; the geometry's ``particles_not_connected`` is set to [0]:
1C is the all-particle 1C times the connected volume fraction, and the state of charge
counts the connected particles only (the isolated one keeps its lithium).
"""

from __future__ import annotations

import pytest
from mpi4py import MPI

import meshes
from cellsim.case.halfcell import HalfCellCase
from cellsim.models.halfcell import HalfCellModel
from cellsim.simulation import run_protocol


@pytest.mark.mpi
def test_isolated_particle_is_left_out_of_1c_and_soc():
    comm = MPI.COMM_WORLD
    tm = meshes.build(meshes.square_lattice_2d(), h=1.0e-6, comm=comm)
    tm.info["particles_not_connected"] = [0]
    case = HalfCellCase.model_validate(
        {"model": "halfcell", "protocol": {"steps": [{"mode": "cc", "c_rate": 2.0, "duration": 120.0}]},
         "solver": {"atol": 1e-10, "rtol": 1e-14}, "time": {"dt_initial": 10.0, "dt_max": 30.0},
         "output": {"fields": False}}, context={"mesh_given": True})
    model = HalfCellModel(case, tm, comm)
    V = model.particle_volumes
    assert model.not_connected == [0]
    assert model.i_1C == pytest.approx(model.i_1C_all * (V.sum() - V[0]) / V.sum(), rel=1e-12)
    assert model.meta()["particles_not_connected"] == [0]
    assert "not connected" in model.describe()
    res = run_protocol(case, model, keep_rows=True)
    assert res.status == "completed", res.reason
    last = res.rows[-1]
    socs = [last[f"soc particle {i} [-]"] for i in range(len(V))]
    expected = sum(s * v for s, v in zip(socs[1:], V[1:])) / V[1:].sum()
    assert last["state of charge [-]"] == pytest.approx(expected, rel=1e-12)
    assert last["state of charge [-]"] != pytest.approx(sum(s * v for s, v in zip(socs, V)) / V.sum(), rel=1e-6)
