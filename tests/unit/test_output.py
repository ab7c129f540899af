"""Tests of the output contract (cellsim.output): case, manifest, CSV, XDMF and VTK fields.

Field values are checked against the closed-form expressions they were interpolated
from, evaluated at the coordinates read back from the files, so the checks do not depend
on node numbering or on the number of MPI ranks. Tests marked ``mpi`` also run under
``mpiexec -n 2 python -m pytest -m mpi``; there the output folder is shared (made on rank
0 and broadcast) and the files must hold the global mesh, written once.
"""

from __future__ import annotations

import gc
import json
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem, mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim import output as co  # noqa: E402
from cellsim.output import FIELD_UNITS, RunOutput, read_manifest, read_timeseries  # noqa: E402

L = 10e-6  # cube edge [m]: particle-sized, to catch any unit/scale assumption
N = 4  # cells per edge
COLUMNS = ["time [s]", "voltage [V]", "mean concentration [mol m-3]", "newton iterations [-]"]
TIMES = [0.0, 0.5, 1.25]
CASE_TEXT = '[run]\nname = "unit"\n# comment kept as given\n'


@pytest.fixture(autouse=True)
def _collective_cleanup():
    """DOLFINx destructors are collective: collect and synchronise after every test."""
    yield
    gc.collect()
    MPI.COMM_WORLD.barrier()


@pytest.fixture
def shared_dir():
    """A folder every rank sees (rank 0 makes it and broadcasts the path)."""
    comm = MPI.COMM_WORLD
    path = tempfile.mkdtemp(prefix="cellsim-out-") if comm.rank == 0 else None
    path = Path(comm.bcast(path, root=0))
    yield path
    gc.collect()
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


def on_rank0(comm, check) -> None:
    """Run ``check()`` on rank 0 only, then make every rank pass or fail together (a
    failure on rank 0 alone would leave the other ranks waiting in the next collective)."""
    exc, text = None, None
    if comm.rank == 0:
        try:
            check()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            exc, text = e, f"{type(e).__name__}: {e}"
    text = comm.bcast(text, root=0)
    if exc is not None:
        raise exc
    if text is not None:
        pytest.fail(f"check on rank 0 failed: {text}")


def _cube(comm=MPI.COMM_WORLD, n=N):
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    msh = mesh.create_unit_cube(comm, n, n, n, partitioner=part)
    msh.geometry.x[:] *= L
    return msh


# closed-form fields, x has shape (3, npoints) [m]; t [s]
def conc(x, t):
    s = x / L
    return 1000.0 + 500.0 * s[0] ** 2 + 300.0 * s[1] * s[2] + 100.0 * t


def disp(x, t):
    s = x / L
    return np.vstack([1e-8 * s[0] * (1 + t), 2e-8 * s[1] * s[2], -1e-8 * s[2] + 1e-9 * t])


def stress(x, t):  # 3x3, row-major components
    s = x / L
    return np.vstack([1e6 * (k + 1) * (1.0 + s[0] - 0.5 * s[2]) + 1e5 * t * k for k in range(9)])


def von_mises(x, t):
    s = x / L
    return (1e7 * (1.0 + s[1] + t))[None, :]


def hydro(x, t):  # given in P2, written after interpolation into P1 (exact at nodes)
    s = x / L
    return -2e6 * s[0] * s[1] * (1.0 + t) + 5e5 * s[2] ** 2


def _make_functions(msh):
    spaces = {
        "lithium_concentration": fem.functionspace(msh, ("Lagrange", 1)),
        "displacement": fem.functionspace(msh, ("Lagrange", 1, (3,))),
        "stress": fem.functionspace(msh, ("DG", 0, (3, 3))),
        "von_mises_stress": fem.functionspace(msh, ("DG", 0)),
        "hydrostatic_stress": fem.functionspace(msh, ("Lagrange", 2)),
    }
    return {k: fem.Function(V, name=k) for k, V in spaces.items()}


EXPR = {
    "lithium_concentration": conc,
    "displacement": disp,
    "stress": stress,
    "von_mises_stress": von_mises,
    "hydrostatic_stress": hydro,
}


def _set(funcs, t):
    for name, f in funcs.items():
        f.interpolate(lambda x, e=EXPR[name]: e(x, t))


def _row(k, t):
    return {
        "time [s]": t,
        "voltage [V]": 4.2 - 0.1 * t + 1e-13 * k,  # digits that a %g format would lose
        "mean concentration [mol m-3]": 1000.0 / 3.0 * (k + 1),
        "newton iterations [-]": 3 + k,
    }


def _run_writer(outdir, comm=MPI.COMM_WORLD):
    msh = _cube(comm)
    funcs = _make_functions(msh)
    # a submesh region: the cells with centroid x < L/2 (the ENVIRONMENT.md submesh pitfall)
    tdim = msh.topology.dim
    cells = mesh.locate_entities(msh, tdim, lambda x: x[0] < 0.5 * L + 1e-12 * L)
    sub = mesh.create_submesh(msh, tdim, cells)[0]
    csub = fem.Function(fem.functionspace(sub, ("Lagrange", 1)), name="lithium_concentration")
    meta = {"case": "unit", "number": np.float64(2.5)}
    with RunOutput(outdir, comm, CASE_TEXT, COLUMNS, meta=meta) as out:
        for k, t in enumerate(TIMES):
            _set(funcs, t)
            csub.interpolate(lambda x, t=t: conc(x, t))
            row = _row(k, t)
            if k == 1:
                del row["voltage [V]"]  # a missing column -> empty cell -> NaN
            out.add_row(row)
            out.write_fields(t, {"particle": list(funcs.values()), "half": [csub]})
        out.close("cut-off", reason="voltage [V] < 3.0", summary={"capacity [mA h m-2]": np.float64(1.5)})
    return msh


# --------------------------------------------------------------------------------------
# XDMF reading without an XDMF library: the XML gives the HDF5 paths per time
# --------------------------------------------------------------------------------------
def _xdmf_index(path: Path):
    """{name: [(time, h5 path, center)]} and the mesh's (geometry, topology) h5 paths."""
    root = ET.parse(path).getroot()
    out: dict[str, list] = {}
    mesh_paths = {}
    for grid in root.iter("Grid"):
        if grid.get("GridType") == "Uniform":
            topo, geom = grid.find("Topology"), grid.find("Geometry")
            if topo is not None and geom is not None and not mesh_paths:
                mesh_paths = {
                    "topology": topo.find("DataItem").text.strip(),
                    "geometry": geom.find("DataItem").text.strip(),
                }
            tv = grid.find("Time")
            for att in grid.findall("Attribute"):
                out.setdefault(att.get("Name"), []).append(
                    (float(tv.get("Value")), att.find("DataItem").text.strip(), att.get("Center"))
                )
    return out, mesh_paths


def _h5(path: Path, ref: str):
    import h5py

    fname, dset = ref.split(":", 1)
    with h5py.File(path.parent / fname, "r") as h:
        return h[dset][...]


# --------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------
@pytest.mark.mpi
def test_csv_manifest_and_case(shared_dir):
    comm = MPI.COMM_WORLD
    _run_writer(shared_dir, comm)
    comm.barrier()
    # case.toml verbatim
    assert (shared_dir / "case.toml").read_text() == CASE_TEXT
    # CSV: header and rows (rank 0 alone wrote: exactly len(TIMES) rows, not size*len)
    text = (shared_dir / "timeseries.csv").read_text().splitlines()
    assert text[0] == ",".join(COLUMNS)
    assert len(text) == 1 + len(TIMES)
    ts = read_timeseries(shared_dir / "timeseries.csv")
    assert list(ts) == COLUMNS
    for k, t in enumerate(TIMES):
        row = _row(k, t)
        for c in COLUMNS:
            if k == 1 and c == "voltage [V]":
                assert np.isnan(ts[c][k])
            else:
                assert ts[c][k] == row[c]  # exact: values are written with repr
    # manifest
    m = read_manifest(shared_dir)
    assert m["status"] == "cut-off"
    assert m["reason"] == "voltage [V] < 3.0"
    assert m["mpi_size"] == comm.size
    assert m["steps"] == len(TIMES)
    assert m["wall_time_s"] > 0.0
    assert m["summary"] == {"capacity [mA h m-2]": 1.5}
    assert m["meta"] == {"case": "unit", "number": 2.5}
    v = m["versions"]
    import basix
    import ffcx
    import mpi4py
    from petsc4py import PETSc

    import cellsim

    assert v["cellsim"] == cellsim.__version__
    assert v["dolfinx"] == dolfinx.__version__
    assert v["basix"] == basix.__version__
    assert v["ffcx"] == ffcx.__version__
    assert v["mpi4py"] == mpi4py.__version__
    assert v["petsc"] == ".".join(map(str, PETSc.Sys.getVersion()))
    assert v["mpi_library"] and v["python"]
    assert m["hostname"] and m["command_line"]
    assert m["start_time"] <= m["end_time"]
    if m["git"] is not None:
        assert len(m["git"]["commit"]) == 40
    # the field index
    f = m["fields"]
    assert set(f) == {"particle", "half"}
    pf = f["particle"]["fields"]
    assert pf["stress"]["location"] == "cell" and pf["stress"]["value_shape"] == [3, 3]
    assert pf["lithium_concentration"]["location"] == "point"
    assert pf["hydrostatic_stress"]["written_as"].startswith("interpolated")
    assert pf["von_mises_stress"]["unit"] == "Pa"
    assert f["particle"]["times"] == TIMES
    # atomic write leaves no temp file
    assert not list(shared_dir.glob(".manifest.json.tmp*"))


@pytest.mark.mpi
def test_xdmf_fields_match_functions(shared_dir):
    comm = MPI.COMM_WORLD
    _run_writer(shared_dir, comm)
    comm.barrier()
    on_rank0(comm, lambda: _check_xdmf(shared_dir))


def _check_xdmf(shared_dir):
    xd = shared_dir / "fields" / "particle.xdmf"
    assert xd.exists() and xd.with_suffix(".h5").exists()
    index, mp = _xdmf_index(xd)
    geo = _h5(xd, mp["geometry"])
    topo = _h5(xd, mp["topology"]).astype(np.int64)
    assert geo.shape == ((N + 1) ** 3, 3)  # global vertices, each once
    assert topo.shape == (6 * N**3, 4)
    centroids = geo[topo].mean(axis=1)
    assert set(index) == set(EXPR)
    for name, e in EXPR.items():
        assert [t for t, _, _ in index[name]] == TIMES
        for t, ref, center in index[name]:
            vals = _h5(xd, ref)
            if name in ("stress", "von_mises_stress"):
                assert center == "Cell"
                exact = e(centroids.T, t).T
            else:
                assert center == "Node"
                exact = e(geo.T, t)
                exact = exact.T if exact.ndim == 2 else exact[:, None]
            assert vals.shape == exact.shape, name
            scale = np.abs(exact).max()
            assert np.abs(vals - exact).max() <= 1e-12 * scale, (name, t)
    # the submesh region: its own mesh, half the cells
    xs = shared_dir / "fields" / "half.xdmf"
    idx, mps = _xdmf_index(xs)
    g = _h5(xs, mps["geometry"])
    assert g.shape == (3 * (N + 1) ** 2, 3)
    assert g[:, 0].max() <= 0.5 * L * (1 + 1e-12)
    for t, ref, _ in idx["lithium_concentration"]:
        assert np.abs(_h5(xs, ref)[:, 0] - conc(g.T, t)).max() <= 1e-12 * 2000


def _read_pvd_last(path: Path):
    import pyvista as pv

    r = pv.get_reader(str(path))
    times = list(r.time_values)
    r.set_active_time_value(times[-1])
    data = r.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    return times, grid


@pytest.mark.mpi
def test_vtk_fields_readable_by_pyvista(shared_dir):
    comm = MPI.COMM_WORLD
    _run_writer(shared_dir, comm)
    comm.barrier()
    on_rank0(comm, lambda: _check_vtk(shared_dir))


def _check_vtk(shared_dir):
    times, grid = _read_pvd_last(shared_dir / "fields" / "particle.pvd")
    assert times == pytest.approx(TIMES, abs=0, rel=1e-15)
    t = TIMES[-1]
    for name in ("lithium_concentration", "displacement", "hydrostatic_stress"):
        assert name in grid.point_data, name
    for name in ("stress", "von_mises_stress"):
        assert name in grid.cell_data, name
    # drop ghost cells (pieces overlap in parallel): the global mesh remains
    if "vtkGhostType" in grid.cell_data:
        keep = np.flatnonzero((np.asarray(grid.cell_data["vtkGhostType"]) & 1) == 0)
        grid = grid.extract_cells(keep)
    assert grid.n_cells == 6 * N**3
    pts = np.asarray(grid.points)
    assert len(np.unique(np.round(pts / L * N).astype(int), axis=0)) == (N + 1) ** 3
    for name in ("lithium_concentration", "displacement", "hydrostatic_stress"):
        vals = np.asarray(grid.point_data[name]).reshape(grid.n_points, -1)
        exact = EXPR[name](pts.T, t)
        exact = exact.T if exact.ndim == 2 else exact[:, None]
        assert np.abs(vals - exact).max() <= 1e-12 * np.abs(exact).max(), name
    cen = np.asarray(grid.cell_centers().points)
    for name in ("stress", "von_mises_stress"):
        vals = np.asarray(grid.cell_data[name]).reshape(grid.n_cells, -1)
        exact = EXPR[name](cen.T, t).T
        assert np.abs(vals - exact).max() <= 1e-9 * np.abs(exact).max(), name


@pytest.mark.mpi
def test_context_manager_failure_records_reason(shared_dir):
    comm = MPI.COMM_WORLD
    with pytest.raises(RuntimeError, match="Newton diverged"):
        with RunOutput(shared_dir, comm, CASE_TEXT, COLUMNS) as out:
            out.add_row({"time [s]": 0.0})
            raise RuntimeError("Newton diverged at t = 3 s (reason -3)")
    comm.barrier()
    m = read_manifest(shared_dir)
    assert m["status"] == "failed"
    assert m["reason"] == "RuntimeError: Newton diverged at t = 3 s (reason -3)"
    assert m["steps"] == 1


def test_context_manager_normal_exit_is_completed(tmp_path):
    with RunOutput(tmp_path, None, CASE_TEXT, COLUMNS) as out:
        out.add_row({"time [s]": 1.0, "newton iterations [-]": 2})
    m = read_manifest(tmp_path)
    assert m["status"] == "completed" and m["mpi_size"] == 1
    ts = read_timeseries(tmp_path)
    assert ts["newton iterations [-]"].tolist() == [2.0]
    assert np.isnan(ts["voltage [V]"][0])


def test_manifest_is_running_during_the_run(tmp_path):
    out = RunOutput(tmp_path, MPI.COMM_SELF, CASE_TEXT, COLUMNS)
    out.add_row({"time [s]": 0.0})
    assert read_manifest(tmp_path)["status"] == "running"
    # rows are flushed at once: readable before close
    assert read_timeseries(tmp_path)["time [s]"].tolist() == [0.0]
    out.close("completed")
    out.close("failed", "second close is ignored")
    assert read_manifest(tmp_path)["status"] == "completed"


def test_rerun_removes_stale_results_only(tmp_path):
    with RunOutput(tmp_path, None, CASE_TEXT, COLUMNS) as out:
        for k in range(5):
            out.add_row({"time [s]": float(k)})
    (tmp_path / "fields" / "old.pvd").write_text("stale")
    (tmp_path / "timeseries.png").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("user file")
    out = RunOutput(tmp_path, None, "new", COLUMNS)
    assert read_manifest(tmp_path)["status"] == "running"
    assert len(read_timeseries(tmp_path)["time [s]"]) == 0
    assert not (tmp_path / "fields" / "old.pvd").exists()
    assert not (tmp_path / "timeseries.png").exists()
    assert (tmp_path / "notes.txt").read_text() == "user file"
    assert (tmp_path / "case.toml").read_text() == "new"
    out.close("completed")


def test_bad_columns_keys_and_status(tmp_path):
    with pytest.raises(ValueError, match=r"'voltage'.*unit in square brackets"):
        RunOutput(tmp_path / "a", None, "", ["time [s]", "voltage"])
    with pytest.raises(ValueError, match="given twice"):
        RunOutput(tmp_path / "b", None, "", ["time [s]", "time [s]"])
    assert not (tmp_path / "a").exists()  # nothing created for bad input
    out = RunOutput(tmp_path / "c", None, "", COLUMNS)
    with pytest.raises(KeyError, match="current"):
        out.add_row({"time [s]": 0.0, "current [A]": 1.0})
    with pytest.raises(ValueError, match="not one of"):
        out.close("done")
    out.close("completed")
    assert read_timeseries(tmp_path / "c")["time [s]"].size == 0


@pytest.mark.mpi
def test_write_fields_rejects_bad_input(shared_dir):
    comm = MPI.COMM_WORLD
    msh = _cube(comm, 2)
    V = fem.functionspace(msh, ("Lagrange", 1))
    out = RunOutput(shared_dir, comm, "", COLUMNS)
    with pytest.raises(ValueError, match="not documented"):
        out.write_fields(0.0, {"particle": [fem.Function(V)]})  # default name 'f'
    c = fem.Function(V, name="lithium_concentration")
    out.write_fields(0.0, {"particle": [c]})
    with pytest.raises(ValueError, match="must increase"):
        out.write_fields(0.0, {"particle": [c]})
    with pytest.raises(ValueError, match="same fields"):
        out.write_fields(1.0, {"particle": [c, fem.Function(V, name="solid_potential")]})
    out.write_fields(1.0, {"particle": [c]})
    out.close("completed")
    assert read_manifest(shared_dir)["fields"]["particle"]["times"] == [0.0, 1.0]


@pytest.mark.mpi
def test_lumped_projection_of_discontinuous_field(shared_dir):
    """DG1 -> P1 lumped L2 projection: v_i = (u, phi_i)/(1, phi_i).

    Checks that can fail: (1) a constant is reproduced to round-off; (2) the integral is
    conserved, int v dx = sum_i v_i (1, phi_i) = int u dx; (3) a piecewise-constant field
    gives nodal values inside its range, and the exact value at nodes whose cells all lie
    on one side of the jump.
    """
    comm = MPI.COMM_WORLD
    msh = _cube(comm, 4)
    W = fem.functionspace(msh, ("DG", 1))
    u = fem.Function(W, name="hydrostatic_stress")
    a, b = -3e6, 5e6
    u.interpolate(lambda x: np.where(x[0] + 0.3 * x[1] < 0.55 * L, a, b))
    slot = co._FieldSlot(u, msh)
    assert slot.written_as.startswith("lumped L2 projection")
    slot.update()
    v = slot.out
    dx = ufl.dx(domain=msh)
    iu = comm.allreduce(fem.assemble_scalar(fem.form(u * dx)), op=MPI.SUM)
    iv = comm.allreduce(fem.assemble_scalar(fem.form(v * dx)), op=MPI.SUM)
    assert abs(iv - iu) <= 1e-12 * abs(b) * L**3
    vals = v.x.array
    assert vals.min() >= a - 1e-9 * b and vals.max() <= b + 1e-9 * b
    xg = v.function_space.tabulate_dof_coordinates()
    s = xg[:, 0] + 0.3 * xg[:, 1]
    far_a = s < 0.55 * L - 0.45 * L  # a patch of P1 cells has diameter < 1.3 h*sqrt(3)
    far_b = s > 0.55 * L + 0.45 * L
    assert np.all(np.abs(vals[far_a] - a) < 1e-9 * b) and np.all(np.abs(vals[far_b] - b) < 1e-9 * b)
    nonconst = comm.allreduce(int(np.sum((vals > a + 1e-3 * b) & (vals < b - 1e-3 * b))), op=MPI.SUM)
    assert nonconst > 0  # the jump is smeared over one layer of nodes, not dropped
    u.x.array[:] = 7.0
    slot.update()
    assert np.abs(slot.out.x.array - 7.0).max() < 1e-13 * 7.0
    # and it goes through the writers
    out = RunOutput(shared_dir, comm, "", COLUMNS)
    out.write_fields(0.0, {"particle": [u]})
    out.close("completed")


def test_field_units_documented():
    assert FIELD_UNITS["lithium_concentration"] == "mol m-3"
    assert FIELD_UNITS["stress"] == "Pa"
    assert FIELD_UNITS["interface_damage"] == "-"
    assert set(FIELD_UNITS) >= {
        "electrolyte_concentration", "solid_potential", "electrolyte_potential",
        "displacement", "hydrostatic_stress", "von_mises_stress",
    }
    json.dumps(FIELD_UNITS)


def test_git_commit_of_the_source_tree(tmp_path):
    import subprocess

    assert co.git_commit(tmp_path) is None  # not a repository
    pkg = Path(co.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(pkg), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cellsim is not running from a git checkout here")
    g = co.git_commit()
    assert g is not None and g["commit"] == head and isinstance(g["dirty"], bool)


def test_read_timeseries_rejects_ragged_rows(tmp_path):
    p = tmp_path / "timeseries.csv"
    p.write_text("time [s],voltage [V]\n0,4.2\n1\n")
    with pytest.raises(ValueError, match="row 3 has 1 values"):
        read_timeseries(p)
    p.write_text("time [s],voltage [V]\n0,4.2\n1,\n")
    ts = read_timeseries(tmp_path)
    assert ts["time [s]"].tolist() == [0.0, 1.0] and np.isnan(ts["voltage [V]"][1])
