"""The Python API without a simulation: cellsim.load on a written folder, the Result's
DataFrame, fields and manifest, case resolution (path, dict, object, ``set``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cellsim
from cellsim.api import Result, _resolve_case
from cellsim.case import load_case
from cellsim.output import RunOutput, read_timeseries
from cellsim.schema import CaseError

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"geometry": {"kind": "sphere", "radius": 5e-6}, "control": {"mode": "galvanostatic", "c_rate": 1.0}}


def test_package_exports_and_imports_no_dolfinx():
    assert cellsim.run is cellsim.api.run and cellsim.load is cellsim.api.load and cellsim.Result is Result
    assert isinstance(cellsim.__version__, str) and cellsim.__version__.count(".") == 2
    code = ("import sys, cellsim; bad = [m for m in ('mpi4py', 'dolfinx', 'petsc4py', 'pandas', 'pyvista') "
            "if m in sys.modules]; print(bad); assert not bad")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_load_reads_a_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no cellsim run"):
        cellsim.load(tmp_path / "nothing")
    cols = ["time [s]", "voltage [V]", "state of charge [-]"]
    out = RunOutput(tmp_path / "run", None, "", cols)
    out.add_row({"time [s]": 0.0, "voltage [V]": 4.2, "state of charge [-]": 1.0})
    res = cellsim.load(tmp_path / "run")
    assert res.status == "running" and len(res.timeseries) == 1  # a running job shows its progress
    out.add_row({"time [s]": 10.0, "voltage [V]": 4.1})  # an empty cell -> NaN
    out.close("completed", "protocol finished")
    df = res.timeseries
    assert list(df.columns) == cols and len(df) == 2
    assert np.isnan(df["state of charge [-]"].iloc[1])
    np.testing.assert_array_equal(df["voltage [V]"].to_numpy(), read_timeseries(tmp_path / "run")["voltage [V]"])
    assert res.status == "completed" and res.reason == "protocol finished"
    m = res.manifest
    m["status"] = "changed"  # a copy: the Result is not changed through it
    assert res.manifest["status"] == "completed"
    assert res.regions == [] and repr(res).startswith("Result(")
    with pytest.raises(FileNotFoundError, match="no field files"):
        res.fields()


def test_fields_are_pyvista_meshes(tmp_path):
    from test_plots import write_fields_run  # tests/unit is on sys.path (rootdir import mode)

    d = write_fields_run(tmp_path / "run", regions=("particle", "electrolyte"))
    res = cellsim.load(d)
    assert sorted(res.regions) == ["electrolyte", "particle"]
    assert res.times("particle") == [0.0, 600.0, 1200.0]
    g = res.fields("particle", time=500.0)  # nearest stored: 600 s
    assert float(np.ravel(g.field_data["TimeValue"])[0]) == 600.0
    assert g.n_cells == 6 * 27 and "lithium_concentration" in g.point_data
    assert "electrolyte_concentration" in res.fields("electrolyte").point_data
    assert res.fields().n_cells == g.n_cells  # default: the particle region
    with pytest.raises(KeyError, match="separator"):
        res.fields("separator")


def test_resolve_case_from_path_dict_object_with_set():
    path = ROOT / "cases" / "particle_charge.toml"
    obj, name = _resolve_case(path, None)
    assert name == "particle_charge" and obj.model == "particle"
    obj2, _ = _resolve_case(str(path), {"time.t_end": 60.0, "geometry.mesh_size": 3e-6})
    assert obj2.time.t_end == 60.0 and obj2.geometry.mesh_size == 3e-6
    obj3, name3 = _resolve_case({**GOOD, "title": "my run #1"}, {"time.t_end": 10.0})
    assert obj3.time.t_end == 10.0 and name3 == "my_run_1"
    assert GOOD.get("time") is None  # the caller's dict is not changed
    obj4, _ = _resolve_case(load_case(path), {"time.t_end": 30.0})
    assert obj4.time.t_end == 30.0
    same, _ = _resolve_case(obj, None)
    assert same is obj
    with pytest.raises(CaseError, match="radius"):
        _resolve_case({**GOOD, "geometry": {"kind": "sphere", "radius": -1.0}}, None)
    with pytest.raises(CaseError, match="t_edn"):
        _resolve_case(GOOD, {"time.t_edn": 1.0})  # a wrong key is reported like in a case file
    with pytest.raises(TypeError):
        _resolve_case(42, None)
