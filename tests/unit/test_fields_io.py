"""Field files (cellsim.fields_io): values equal the Functions' degrees of freedom, read
back through PyVista, meshio and (when installed) ParaView's pvpython; metadata; killed
runs stay readable; an error on one rank stops every rank.

Tests marked ``mpi`` also run under ``mpiexec -n 2 python -m pytest -m mpi``: the files
then come in two pieces per output time and the checks (on rank 0) see the global mesh.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import fem, mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim import fields_io  # noqa: E402
from cellsim.output import RunOutput, field_files, read_manifest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fields_readback as fr  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TAGS = {"particle": (3, 1), "electrolyte": (3, 2), "particle_electrolyte": (2, 3)}






from mpi_checks import on_rank0  # noqa: E402


def _cube(comm):
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    msh = mesh.create_unit_cube(comm, fr.N, fr.N, fr.N, partitioner=part)
    msh.geometry.x[:] *= fr.L
    return msh


def _centroids(msh):
    tdim = msh.topology.dim
    nc = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    g = msh.geometry
    return g.x[np.asarray(g.dofmaps[0] if hasattr(g, "dofmaps") else g.dofmap)[:nc, : fr.NV]].mean(axis=1)


def _set(f, form, t):
    """Give f the closed form of fields_readback exactly (DG: add each cell's jump)."""
    V = f.function_space
    shape = tuple(V.value_shape)
    nc = fr.ncomp(shape)
    real = int(np.prod(shape)) if shape else 1
    comps = [k for k in range(nc) if len(shape) < 2 or (k // 3 < shape[0] and k % 3 < shape[1])][:real]
    if form in ("lin", "quad", "dg"):
        base = fr.lin if form in ("lin", "dg") else fr.quad
        f.interpolate(lambda x: np.stack([base(x.T, k, t) for k in comps]) if shape else base(x.T, 0, t))
    else:
        f.x.array[:] = 0.0
    if form in ("dg", "dg0"):
        cen = _centroids(V.mesh)
        dofs = np.asarray(V.dofmap.list)
        bs = V.dofmap.index_map_bs
        arr = f.x.array.reshape(-1, bs)
        for j, k in enumerate(comps):
            arr[dofs, j] += fr.jump(cen, k, t)[:, None]
    f.x.scatter_forward()


def _functions(msh, sub):
    funcs = {}
    for region, spec in fr.SPEC.items():
        m = sub if region == "half" else msh
        funcs[region] = {
            name: fem.Function(fem.functionspace(m, (fam, deg, shape) if shape else (fam, deg)), name=name)
            for name, (fam, deg, shape, _) in spec.items()
        }
    return funcs


def write_run(outdir, comm=MPI.COMM_WORLD, times=fr.TIMES):
    """Three regions (continuous P2 grid, broken DG2 grid, a submesh with a DG1 grid and
    cell arrays), each output time written with RunOutput; returns the submesh's cell count."""
    msh = _cube(comm)
    tdim = msh.topology.dim
    cells = mesh.locate_entities(msh, tdim, lambda x: x[0] < 0.5 * fr.L + 1e-12 * fr.L)
    sub = mesh.create_submesh(msh, tdim, cells)[0]
    funcs = _functions(msh, sub)
    pid = fem.Function(fem.functionspace(sub, ("DG", 0)), name="particle_id")
    pid.x.array[np.asarray(pid.function_space.dofmap.list)[:, 0]] = fr.particle_id(_centroids(sub))
    ncs = sub.topology.index_map(tdim).size_local + sub.topology.index_map(tdim).num_ghosts
    lower = np.flatnonzero(_centroids(sub)[:ncs, 1] < 0.5 * fr.L).astype(np.int32)
    tags = mesh.meshtags(sub, tdim, lower, np.full(lower.size, 7, dtype=np.int32))
    with RunOutput(outdir, comm, "", ["time [s]"]) as out:
        for t in times:
            for region, fs in funcs.items():
                for name, f in fs.items():
                    _set(f, fr.SPEC[region][name][3], t)
            out.add_row({"time [s]": t})
            out.write_fields(t, {r: list(fs.values()) for r, fs in funcs.items()},
                             cell_arrays={"half": {"particle_id": pid, "cell_tag": tags}}, tag_names=TAGS)
    return comm.allreduce(sub.topology.index_map(tdim).size_local, op=MPI.SUM)


def _check_reader(outdir: Path, reader, nhalf: int):
    for region in fr.SPEC:
        times, steps = reader(outdir / "fields" / f"{region}.pvd")
        assert times == fr.TIMES, (region, times)
        for t, st in zip(times, steps):
            fr.check_step(region, st, t, fr.NCELLS.get(region, nhalf))


# --------------------------------------------------------------------------------------
@pytest.mark.mpi
def test_values_equal_dofs_pyvista(shared_dir):
    """P1, P2 on a P1 mesh, DG0, DG1, vector, tensor: every written value is the
    Function's (to 1e-12), through PyVista's PVD reader (the pieces of all ranks)."""
    comm = MPI.COMM_WORLD
    nhalf = write_run(shared_dir, comm)
    on_rank0(comm, lambda: _check_reader(shared_dir, fr.read_pyvista, nhalf))


@pytest.mark.mpi
def test_values_equal_dofs_meshio(shared_dir):
    """The same through meshio, piece by piece (meshio reads .vtu, not .pvtu/.pvd)."""
    comm = MPI.COMM_WORLD
    nhalf = write_run(shared_dir, comm)

    def check():
        _check_reader(shared_dir, fr.read_meshio, nhalf)
        pieces = sorted((shared_dir / "fields" / "broken").glob("broken_000002_p*.vtu"))
        assert len(pieces) == comm.size  # one piece per rank, none gathered
    on_rank0(comm, check)


@pytest.mark.mpi
def test_metadata_and_manifest(shared_dir):
    comm = MPI.COMM_WORLD
    write_run(shared_dir, comm)

    def check():
        m = read_manifest(shared_dir)
        f = m["fields"]
        assert set(f) == set(fr.SPEC)
        assert [f[r]["region_id"] for r in sorted(f)] == [0, 1, 2]
        assert f["cont"]["grid"] == "continuous Lagrange P2"
        assert f["broken"]["grid"] == "discontinuous (broken) Lagrange P2"
        assert f["half"]["grid"] == "discontinuous (broken) Lagrange P1"
        b = f["broken"]["fields"]
        assert b["stress"]["space"] == "DG1 [3, 3]" and b["stress"]["location"] == "point"
        assert "interpolated exactly" in b["stress"]["written_as"]
        assert b["von_mises_stress"]["written_as"] == "cell data: DG0 cell values as computed"
        assert f["half"]["fields"]["hydrostatic_stress"]["written_as"].startswith("point data: nodal values as computed")
        assert not any("lumped" in d["written_as"] for r in f.values() for d in r["fields"].values())
        assert f["half"]["cell_arrays"] == ["cell_tag", "particle_id", "region_id"]
        assert f["cont"]["mesh_tags"] == {k: list(v) for k, v in TAGS.items()}
        assert f["cont"]["times"] == fr.TIMES and len(f["cont"]["files"]) == len(fr.TIMES)
        assert m["files"]["all_regions"] == "fields/all_regions.pvd"
        ff = field_files(shared_dir)
        assert ff["half"]["pvd"] == shared_dir / "fields" / "half.pvd" and ff["half"]["times"] == fr.TIMES
        # the pieces' field data
        _, steps = fr.read_pyvista(shared_dir / "fields" / "half.pvd")
        fd = steps[-1]["field_data"]
        assert fields_io.field_text(fd["region"]) == "half"
        assert int(fd["region_id"][0]) == 2 and float(fd["TimeValue"][0]) == fr.TIMES[-1]
        assert fields_io.field_text(fd["length_unit"]) == "m"
        assert fields_io.field_text(fd["units"]).splitlines() == [
            "electrolyte_concentration [mol m-3]=mol m-3", "hydrostatic_stress [Pa]=Pa"]
        assert fields_io.field_text(fd["mesh_tags"]).splitlines() == [
            "particle 3 1", "electrolyte 3 2", "particle_electrolyte 2 3"]
        assert np.asarray(fd["mesh_tag_ids"]).reshape(-1, 2).tolist() == [[3, 1], [3, 2], [2, 3]]
        assert int(fd["grid_discontinuous"][0]) == 1 and int(fd["grid_degree"][0]) == 1
        assert np.all(steps[-1]["cell_data"]["region_id"] == 2)
        # the multiblock series: one block per region and time, in region_id order
        root = ET.parse(shared_dir / "fields" / "all_regions.pvd").getroot()
        ds = [(float(d.get("timestep")), int(d.get("part")), d.get("name")) for d in root.iter("DataSet")]
        assert ds == [(t, i, r) for t in fr.TIMES for i, r in enumerate(sorted(fr.SPEC))]
        import pyvista as pv

        rd = pv.get_reader(str(shared_dir / "fields" / "all_regions.pvd"))
        rd.set_active_time_value(fr.TIMES[1])
        data = rd.read()
        assert data.n_blocks == 3
    on_rank0(comm, check)


def test_region_name_and_cell_array_errors(tmp_path):
    comm = MPI.COMM_SELF
    msh = _cube(comm)
    c = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="lithium_concentration")
    out = RunOutput(tmp_path, comm, "", ["time [s]"])
    with pytest.raises(ValueError, match="reserved"):
        out.write_fields(0.0, {"all_regions": [c]})
    with pytest.raises(ValueError, match="without fields"):
        out.write_fields(0.0, {"p": [c]}, cell_arrays={"q": {"particle_id": np.zeros(3)}})
    with pytest.raises(ValueError, match="not allowed"):
        out.write_fields(0.0, {"p": [c]}, cell_arrays={"p": {"region_id": np.zeros(10**4)}})
    with pytest.raises(ValueError, match="owned cells"):
        out.write_fields(0.0, {"p2": [c]}, cell_arrays={"p2": {"particle_id": np.zeros(3)}})
    out.close("completed")


@pytest.mark.mpi
def test_error_on_one_rank_stops_every_rank(shared_dir, monkeypatch):
    """A piece that cannot be written on the last rank raises OSError on every rank (no
    hang), and the failed time is not listed: the files stay readable."""
    comm = MPI.COMM_WORLD
    msh = _cube(comm)
    c = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="lithium_concentration")
    out = RunOutput(shared_dir, comm, "", ["time [s]"])
    out.write_fields(0.0, {"particle": [c]})
    real = fields_io.write_vtu

    def failing(path, *a, **k):
        if comm.rank == comm.size - 1:
            raise OSError("No space left on device (simulated)")
        return real(path, *a, **k)

    monkeypatch.setattr(fields_io, "write_vtu", failing)
    with pytest.raises(OSError, match="simulated"):
        out.write_fields(1.0, {"particle": [c]})
    monkeypatch.setattr(fields_io, "write_vtu", real)
    out.write_fields(2.0, {"particle": [c]})
    out.close("completed")

    def check():
        times, steps = fr.read_pyvista(shared_dir / "fields" / "particle.pvd")
        assert times == [0.0, 2.0]
        assert all(len(s["conn"]) == 6 * fr.N**3 for s in steps)
    on_rank0(comm, check)


# --------------------------------------------------------------------------------------
# killed runs
# --------------------------------------------------------------------------------------
KILL_SCRIPT = r"""
import sys, itertools
sys.path.insert(0, {tests!r})
import test_fields_io as T
from mpi4py import MPI
import numpy as np
T.write_run({out!r}, MPI.COMM_WORLD, times=[0.1 * k for k in range(100000)])
"""


def _kill_after_steps(cmd, outdir: Path, nsteps: int, env=None):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    pvd = outdir / "fields" / "cont.pvd"
    t0 = time.time()
    try:
        while time.time() - t0 < 240:
            if p.poll() is not None:
                raise AssertionError("writer ended before it was killed: " + p.stdout.read().decode()[-3000:])
            if pvd.exists() and pvd.read_text().count("<DataSet") >= nsteps:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("writer wrote too few steps in 240 s")
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the writer's own process group only
        p.wait(timeout=60)


def _check_killed(outdir: Path, nhalf: int):
    for region in fr.SPEC:
        pvd = outdir / "fields" / f"{region}.pvd"
        for reader in (fr.read_pyvista, fr.read_meshio):
            times, steps = reader(pvd)
            assert len(times) >= 3, (region, times)
            assert times == [0.1 * k for k in range(len(times))]
            for t, st in zip(times, steps):
                fr.check_step(region, st, t, fr.NCELLS.get(region, nhalf))
    # the multiblock series lists only complete times too
    import pyvista as pv

    r = pv.get_reader(str(outdir / "fields" / "all_regions.pvd"))
    for t in r.time_values:
        r.set_active_time_value(t)
        assert r.read().n_blocks == 3
    assert read_manifest(outdir)["status"] == "running"


def _nhalf():
    # cells of the x < L/2 submesh of the N^3 cube (6 tets per hexahedron)
    return 6 * fr.N**3 // 2 if fr.N % 2 == 0 else 6 * fr.N**2 * (fr.N // 2)


def test_sigkill_leaves_readable_files(tmp_path):
    """SIGKILL at an arbitrary moment of a writer that does nothing but write: every time
    listed in the .pvd files opens in PyVista and meshio with the exact values."""
    out = tmp_path / "killed"
    code = KILL_SCRIPT.format(tests=str(Path(__file__).resolve().parent), out=str(out))
    _kill_after_steps([sys.executable, "-c", code], out, 4)
    _check_killed(out, _nhalf())


@pytest.mark.skipif(not (Path(sys.executable).parent / "mpiexec").exists(), reason="no mpiexec next to python")
def test_sigkill_under_mpiexec_2(tmp_path):
    out = tmp_path / "killed2"
    code = KILL_SCRIPT.format(tests=str(Path(__file__).resolve().parent), out=str(out))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPICH_", "HYDRA_", "OMPI_"))}
    _kill_after_steps([str(Path(sys.executable).parent / "mpiexec"), "-n", "2", sys.executable, "-c", code],
                      out, 4, env=env)
    assert (out / "fields" / "cont" / "cont_000000_p1.vtu").exists()
    _check_killed(out, _nhalf())


# --------------------------------------------------------------------------------------
# ParaView (pvpython) on the written files
# --------------------------------------------------------------------------------------
def _pvpython():
    from cellsim import paraview as cpv

    if os.environ.get(cpv.PVPYTHON_ENV, "").strip():
        return True, ""  # another ParaView (scripts/paraview_trixie): that command brings its own display
    if shutil.which("pvpython") is None:
        return None, "pvpython not found (install ParaView: bash scripts/install_paraview)"
    if shutil.which("xvfb-run") is None and not os.environ.get("DISPLAY"):
        return None, "xvfb-run not found and no DISPLAY (bash scripts/install_paraview installs xvfb)"
    return True, ""


def _run_pvpython(args, timeout=300):
    """cellsim/paraview.py under pvpython (cellsim.paraview.run_pvpython: xvfb-run with a
    24-bit screen; one retry only if ParaView or Xvfb died of a signal)."""
    ok, why = _pvpython()
    if ok is None:
        pytest.skip(why)
    from cellsim import paraview as cpv

    return cpv.run_pvpython(args, timeout=timeout)


def test_paraview_opens_every_region_and_time(tmp_path):
    """ParaView 5.11 (pvpython; 5.13 through scripts/paraview_trixie): every region's .pvd and the multiblock series, every time
    step, one block per region with every array as float64 holding the written values;
    colouring by a field renders without NaN."""
    if _pvpython()[0] is None:
        pytest.skip(_pvpython()[1])
    out = tmp_path / "run"
    nhalf = write_run(out, MPI.COMM_SELF)
    dump = tmp_path / "dump.npz"
    png = tmp_path / "pv.png"
    _run_pvpython(["check", out.resolve(), dump, png])
    report = json.loads(png.with_suffix(".json").read_text())
    print(f"\nParaView {report['paraview']} read every region and time step")
    assert report["paraview"].startswith("5."), report
    assert report["field_types"] == ["float64"], report
    for region in fr.SPEC:
        times, steps = fr.read_dump(dump, region)
        assert times == fr.TIMES
        for t, st in zip(times, steps):
            fr.check_step(region, st, t, fr.NCELLS.get(region, nhalf))
    assert report["all_regions"]["blocks"] == [[3, sorted(fr.SPEC)]] * len(fr.TIMES)
    assert report["all_regions"]["types"] == ["float64"]
    assert report["render"]["nan"] == 0 and report["render"]["field"]
    from matplotlib.image import imread

    img = imread(png)[..., :3]
    assert len(np.unique((img.reshape(-1, 3) * 255).astype(int), axis=0)) > 100  # coloured, not grey


def test_paraview_state_loads_the_run(tmp_path):
    """cellsim.paraview.write_state: a .pvsm that pvpython loads, every region, coloured
    by a field, with the run's times."""
    if _pvpython()[0] is None:
        pytest.skip(_pvpython()[1])
    out = tmp_path / "run"
    write_run(out, MPI.COMM_SELF)
    from cellsim import paraview as cpv

    state = cpv.write_state(out)
    assert state == out.resolve() / "cellsim.pvsm" and state.stat().st_size > 1000
    _run_pvpython(["load-state", state, tmp_path / "state.png"])
    report = json.loads((tmp_path / "state.json").read_text())
    assert report["times"] == fr.TIMES
    assert report["colour_by"]["cont"] == "lithium_concentration [mol m-3]"
    assert report["colour_by"]["half"] == "electrolyte_concentration [mol m-3]"
    assert sorted(report["regions"]) == sorted(fr.SPEC)
    from matplotlib.image import imread

    img = imread(tmp_path / "state.png")[..., :3]
    assert len(np.unique((img.reshape(-1, 3) * 255).astype(int), axis=0)) > 100


def test_checks_reject_averaged_or_perturbed_values(tmp_path):
    """The value checks can fail: DG values averaged over the cells that share a node (what
    a continuous projection writes), or one value off by 1e-10, are rejected."""
    write_run(tmp_path, MPI.COMM_SELF)
    times, steps = fr.read_pyvista(tmp_path / "fields" / "broken.pvd")
    st = steps[-1]
    fr.check_step("broken", st, times[-1], fr.NCELLS["broken"])  # as written: passes
    name = "hydrostatic_stress [Pa]"
    pts = st["points"]
    _, inv = np.unique(np.round(pts / fr.L * 1e9).astype(np.int64), axis=0, return_inverse=True)
    inv = inv.ravel()
    v = np.asarray(st["point_data"][name], float)
    avg = np.bincount(inv, weights=v) / np.bincount(inv)
    bad = dict(st, point_data=dict(st["point_data"], **{name: avg[inv]}))
    with pytest.raises(AssertionError, match="hydrostatic_stress"):
        fr.check_step("broken", bad, times[-1], fr.NCELLS["broken"])
    v2 = v.copy()
    v2[17] *= 1 + 1e-10
    bad = dict(st, point_data=dict(st["point_data"], **{name: v2}))
    with pytest.raises(AssertionError, match="hydrostatic_stress"):
        fr.check_step("broken", bad, times[-1], fr.NCELLS["broken"])


@pytest.mark.mpi
def test_bad_cell_array_on_one_rank_raises_everywhere(shared_dir):
    """A cell array too short on the last rank only: ValueError on every rank, no hang."""
    comm = MPI.COMM_WORLD
    msh = _cube(comm)
    c = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="lithium_concentration")
    n = msh.topology.index_map(3).size_local
    vals = np.zeros(n if comm.rank < comm.size - 1 else n - 1)
    out = RunOutput(shared_dir, comm, "", ["time [s]"])
    with pytest.raises(ValueError, match="owned cells"):
        out.write_fields(0.0, {"p": [c]}, cell_arrays={"p": {"particle_id": vals}})
    out.close("completed")


@pytest.mark.mpi
def test_2d_vectors_tensors_and_symmetric_space(shared_dir):
    """Triangles: a P1 2-vector is written with 3 components (z = 0), a DG1 2x2 tensor with
    9 (zero padded), a symmetric DG0 3x3 space is expanded to 9 (3D region); values exact."""
    comm = MPI.COMM_WORLD
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    m2 = mesh.create_unit_square(comm, 4, 4, partitioner=part)
    m2.geometry.x[:] *= fr.L
    u = fem.Function(fem.functionspace(m2, ("Lagrange", 1, (2,))), name="displacement")
    u.interpolate(lambda x: np.vstack([fr.lin(x.T, 0, 0.0), fr.lin(x.T, 1, 0.0)]))
    s2 = fem.Function(fem.functionspace(m2, ("DG", 1, (2, 2))), name="stress")
    s2.interpolate(lambda x: np.vstack([fr.lin(x.T, k, 0.0) for k in range(4)]))
    m3 = _cube(comm)
    sym = fem.Function(fem.functionspace(m3, ("DG", 0, (3, 3), True)), name="stress")
    import ufl

    X = ufl.SpatialCoordinate(m3)
    sym.interpolate(fem.Expression(ufl.as_matrix([[X[0], X[1], X[2]], [X[1], 2 * X[0], 0 * X[0]],
                                                   [X[2], 0 * X[0], 3 * X[2]]]),
                                   sym.function_space.element.interpolation_points))
    out = RunOutput(shared_dir, comm, "", ["time [s]"])
    out.write_fields(0.0, {"flat": [u, s2], "sym": [sym]})
    out.close("completed")

    def check():
        (_, st), = zip(*fr.read_pyvista(shared_dir / "fields" / "flat.pvd"))
        pts = st["points"]
        assert np.all(pts[:, 2] == 0.0)
        d = st["point_data"]["displacement [m]"]
        assert d.shape[1] == 3 and np.all(d[:, 2] == 0.0)
        for k in range(2):
            assert np.abs(d[:, k] - fr.lin(pts, k, 0.0)).max() <= 1e-12 * np.abs(d[:, k]).max()
        s = st["point_data"]["stress [Pa]"]
        assert s.shape[1] == 9
        for k, col in enumerate([0, 1, 3, 4]):  # xx xy yx yy of the 3x3 layout
            assert np.abs(s[:, col] - fr.lin(pts, k, 0.0)).max() <= 1e-12 * np.abs(s[:, col]).max()
        assert np.all(s[:, [2, 5, 6, 7, 8]] == 0.0)
        (_, st3), = zip(*fr.read_pyvista(shared_dir / "fields" / "sym.pvd"))
        c = st3["points"][st3["conn"][:, :4]].mean(axis=1)
        v = st3["cell_data"]["stress [Pa]"]
        want = np.stack([c[:, 0], c[:, 1], c[:, 2], c[:, 1], 2 * c[:, 0], 0 * c[:, 0], c[:, 2], 0 * c[:, 0],
                         3 * c[:, 2]], axis=1)
        assert np.abs(v - want).max() <= 1e-12 * np.abs(want).max()
        m = read_manifest(shared_dir)["fields"]
        assert "symmetric tensor expanded" in m["sym"]["fields"]["stress"]["written_as"]
        assert m["flat"]["grid"] == "discontinuous (broken) Lagrange P1"
    on_rank0(comm, check)


@pytest.mark.mpi
def test_particle_id_from_parent_cell_tags(shared_dir):
    """parent_cell_values: a submesh region gets the parent's cell tags, renumbered."""
    comm = MPI.COMM_WORLD
    msh = _cube(comm)
    tdim = 3
    nc = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    cen = _centroids(msh)[:nc]
    tags_all = np.where(cen[:, 2] < 0.5 * fr.L, 11, 12).astype(np.int32)  # two "particles" by z
    keep = np.flatnonzero(cen[:, 1] > 0.2 * fr.L).astype(np.int32)  # a few cells untagged
    ptags = mesh.meshtags(msh, tdim, keep, tags_all[keep])
    cells = mesh.locate_entities(msh, tdim, lambda x: x[0] < 0.5 * fr.L + 1e-12 * fr.L)
    sub, emap, _, _ = mesh.create_submesh(msh, tdim, cells)
    pid = fields_io.parent_cell_values(sub, emap, ptags, {11: 0, 12: 1})
    c = fem.Function(fem.functionspace(sub, ("Lagrange", 1)), name="lithium_concentration")
    out = RunOutput(shared_dir, comm, "", ["time [s]"])
    out.write_fields(0.0, {"particle": [c]}, cell_arrays={"particle": {"particle_id": pid}})
    out.close("completed")

    def check():
        (_, st), = zip(*fr.read_pyvista(shared_dir / "fields" / "particle.pvd"))
        cc = st["points"][st["conn"][:, :4]].mean(axis=1)
        want = np.where(cc[:, 1] > 0.2 * fr.L, np.where(cc[:, 2] < 0.5 * fr.L, 0, 1), -1)
        got = st["cell_data"]["particle_id"]
        assert got.dtype == np.int32 and np.array_equal(got, want)
        assert set(np.unique(got)) == {-1, 0, 1}
    on_rank0(comm, check)


def test_pvpython_retries_only_display_failures():
    """run_pvpython runs pvpython once more when it died by a signal or found no X server
    (CI: an abort in vtkXOpenGLRenderWindow::CreateAWindow, exit 5), never after a failure
    of the script itself."""
    from cellsim.paraview import _display_failed

    def done(rc, err=""):
        return subprocess.CompletedProcess(["pvpython"], rc, "", err)

    assert _display_failed(done(-6)) and _display_failed(done(134))
    assert _display_failed(done(5, "21 0x7f vtkXOpenGLRenderWindow::CreateAWindow() + 847\n3 abort"))
    assert _display_failed(done(1, "ERROR: bad X server connection. DISPLAY=:99"))
    assert not _display_failed(done(0, "bad X server connection"))  # it worked: nothing to redo
    assert not _display_failed(done(1, "Traceback ...\nKeyError: 'c_s'"))  # the script's own error
