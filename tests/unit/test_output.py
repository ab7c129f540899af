"""Tests of the output contract (cellsim.output): case, manifest, CSV and VTK fields.

Field values are checked against the closed-form expressions they were interpolated
from, evaluated at the coordinates read back from the files, so the checks do not depend
on node numbering or on the number of MPI ranks. Tests marked ``mpi`` also run under
``mpiexec -n 2 python -m pytest -m mpi``; there the output folder is shared (made on rank
0 and broadcast) and the files must hold the global mesh, written once.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import fem, mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim import output as co  # noqa: E402
from cellsim.output import FIELD_UNITS, RunOutput, read_manifest, read_timeseries  # noqa: E402

L = 10e-6  # cube edge [m]: particle-sized, to catch any unit/scale assumption
N = 4  # cells per edge
COLUMNS = ["time [s]", "voltage [V]", "mean concentration [mol m-3]", "newton iterations [-]"]
TIMES = [0.0, 0.5, 1.25]
CASE_TEXT = '[run]\nname = "unit"\n# comment kept as given\n'






from mpi_checks import on_rank0  # noqa: E402


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
# VTK pieces read with meshio: every rank's .vtu of the last output time
# --------------------------------------------------------------------------------------
def _pieces(pvd: Path):
    """[(time, [piece paths])] of a region's .pvd (via its .pvtu files)."""
    out = []
    for d in ET.parse(pvd).getroot().iter("DataSet"):
        pvtu = pvd.parent / d.get("file")
        out.append((float(d.get("timestep")),
                    [pvtu.parent / p.get("Source") for p in ET.parse(pvtu).getroot().iter("Piece")]))
    return out


_EDGES = [(0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)]  # VTK quadratic tetra nodes 4..9
P1_FIELDS = ("lithium_concentration", "displacement")


def _point_expected(name, pts, cells, t):
    """Closed form at the grid's nodes: a P2 field is its closed form everywhere; a P1 field
    (interpolated into the P2 grid) is its closed form at the vertices and the mean of
    the two vertex values at the edge midpoints (its linear polynomial)."""
    e = EXPR[name]

    def at(x):
        v = e(x.T, t)
        return v.T if v.ndim == 2 else v[:, None]

    exact = at(pts)
    if name in P1_FIELDS:
        for k, (i, j) in enumerate(_EDGES):
            exact[cells[:, 4 + k]] = 0.5 * (at(pts[cells[:, i]]) + at(pts[cells[:, j]]))
    return exact


def _meshio_step(pieces):
    import meshio

    ms = [meshio.read(p) for p in pieces]
    pts = np.concatenate([m.points for m in ms])
    pdata = {k: np.concatenate([m.point_data[k] for m in ms]) for k in ms[0].point_data}
    cdata = {k: np.concatenate([m.cell_data[k][0] for m in ms]) for k in ms[0].cell_data}
    cells, off = [], 0
    for m in ms:
        cells.append(m.cells[0].data + off)
        off += len(m.points)
    return pts, np.concatenate(cells), pdata, cdata


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
    # P2 hydrostatic stress: the region's grid is continuous P2, its nodal values as computed;
    # the P1 fields are interpolated into it exactly
    assert f["particle"]["grid"] == "continuous Lagrange P2"
    assert pf["hydrostatic_stress"]["written_as"].startswith("point data: nodal values as computed")
    assert "interpolated exactly" in pf["lithium_concentration"]["written_as"]
    assert pf["stress"]["written_as"] == "cell data: DG0 cell values as computed"
    assert pf["von_mises_stress"]["unit"] == "Pa"
    assert f["particle"]["times"] == TIMES
    # atomic write leaves no temp file
    assert not list(shared_dir.glob(".manifest.json.tmp*"))


@pytest.mark.mpi
def test_vtu_pieces_match_functions(shared_dir):
    comm = MPI.COMM_WORLD
    _run_writer(shared_dir, comm)
    comm.barrier()
    on_rank0(comm, lambda: _check_pieces(shared_dir))


def _check_pieces(shared_dir):
    steps = _pieces(shared_dir / "fields" / "particle.pvd")
    assert [t for t, _ in steps] == TIMES
    for t, pieces in steps:
        assert len(pieces) == MPI.COMM_WORLD.size  # one piece per rank, no gather
        pts, cells, pdata, cdata = _meshio_step(pieces)
        assert cells.shape == (6 * N**3, 10)  # every cell once, quadratic (P2 grid)
        # the global P2 nodes, each at least once (partition boundaries: once per rank)
        assert len(np.unique(np.round(pts / L * 2 * N).astype(int), axis=0)) == (2 * N + 1) ** 3
        centroids = pts[cells[:, :4]].mean(axis=1)
        for name, e in EXPR.items():
            arr = co.array_name(name)
            if name in ("stress", "von_mises_stress"):
                vals = cdata[arr].reshape(len(cells), -1)
                exact = e(centroids.T, t).T
            else:
                vals = pdata[arr].reshape(len(pts), -1)
                exact = _point_expected(name, pts, cells, t)
            assert vals.dtype == np.float64 and vals.shape == exact.shape, name
            scale = np.abs(exact).max()
            assert np.abs(vals - exact).max() <= 1e-12 * scale, (name, t)
    # the submesh region: its own mesh, half the cells
    for t, pieces in _pieces(shared_dir / "fields" / "half.pvd"):
        pts, cells, pdata, _ = _meshio_step(pieces)
        assert len(cells) == 3 * N**3
        assert pts[:, 0].max() <= 0.5 * L * (1 + 1e-12)
        c = pdata[co.array_name("lithium_concentration")]
        assert np.abs(c - conc(pts.T, t)).max() <= 1e-12 * 2000


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
        assert co.array_name(name) in grid.point_data, name
    for name in ("stress", "von_mises_stress"):
        assert co.array_name(name) in grid.cell_data, name
    # drop ghost cells (pieces overlap in parallel): the global mesh remains
    if "vtkGhostType" in grid.cell_data:
        keep = np.flatnonzero((np.asarray(grid.cell_data["vtkGhostType"]) & 1) == 0)
        grid = grid.extract_cells(keep)
    assert grid.n_cells == 6 * N**3
    pts = np.asarray(grid.points)
    assert len(np.unique(np.round(pts / L * 2 * N).astype(int), axis=0)) == (2 * N + 1) ** 3  # P2 grid
    cells = np.asarray(grid.cell_connectivity).reshape(grid.n_cells, 10)
    for name in ("lithium_concentration", "displacement", "hydrostatic_stress"):
        vals = np.asarray(grid.point_data[co.array_name(name)]).reshape(grid.n_points, -1)
        exact = _point_expected(name, pts, cells, t)
        assert np.abs(vals - exact).max() <= 1e-12 * np.abs(exact).max(), name
    cen = np.asarray(grid.cell_centers().points)
    for name in ("stress", "von_mises_stress"):
        vals = np.asarray(grid.cell_data[co.array_name(name)]).reshape(grid.n_cells, -1)
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
def test_discontinuous_field_keeps_its_jump(shared_dir):
    """A DG1 field that jumps between cells is written on the broken grid: each cell's
    nodes carry that cell's own values, so a node shared by cells on both sides of the
    jump appears once with each value (a projection onto a continuous space would smear
    it, and did: this replaces the lumped-projection test, whose behaviour is removed)."""
    comm = MPI.COMM_WORLD
    msh = _cube(comm, 4)
    W = fem.functionspace(msh, ("DG", 1))
    u = fem.Function(W, name="hydrostatic_stress")
    a, b = -3e6, 5e6
    g = msh.geometry
    tdim = msh.topology.dim
    nc = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    cen = g.x[np.asarray(g.dofmaps[0] if hasattr(g, "dofmaps") else g.dofmap)[:nc, :4]].mean(axis=1)
    side = (cen[:, 0] + 0.3 * cen[:, 1] < 0.537 * L)
    u.x.array[np.asarray(W.dofmap.list)] = np.where(side, a, b)[:, None]  # cell-wise a or b
    out = RunOutput(shared_dir, comm, "", COLUMNS)
    out.write_fields(0.0, {"particle": [u]})
    out.close("completed")
    m = read_manifest(shared_dir)["fields"]["particle"]
    assert m["grid"] == "discontinuous (broken) Lagrange P1"
    assert m["fields"]["hydrostatic_stress"]["written_as"].startswith("point data: nodal values as computed")

    def check():
        (t, pieces), = _pieces(shared_dir / "fields" / "particle.pvd")
        pts, cells, pdata, _ = _meshio_step(pieces)
        assert cells.shape == (6 * 4**3, 4)
        v = pdata[co.array_name("hydrostatic_stress")]
        c = pts[cells].mean(axis=1)
        want = np.where(c[:, 0] + 0.3 * c[:, 1] < 0.537 * L, a, b)
        assert np.array_equal(v[cells], np.repeat(want[:, None], 4, axis=1))  # exact, no smearing
        key = np.round(pts / L * 4).astype(int)
        _, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.ravel()
        lo = np.bincount(inv, weights=(v == a).astype(float))
        hi = np.bincount(inv, weights=(v == b).astype(float))
        assert np.sum((lo > 0) & (hi > 0)) > 10  # nodes on the jump carry both values
    on_rank0(comm, check)


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
