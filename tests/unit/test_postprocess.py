"""Tests of cellsim.postprocess: panel grouping, PNGs that show something, file-only use.

The output folders are written with :class:`cellsim.output.RunOutput` from closed-form
fields; the pictures are then checked for existence, size and content (number of
distinct colours, non-background area, each subplot drawn, a change of the selected
output time changes the picture).
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import fem, mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim import postprocess as pp  # noqa: E402
from cellsim.output import RunOutput, read_timeseries  # noqa: E402

R = 5e-6
COLUMNS = [
    "time [s]",
    "voltage [V]",
    "particle potential [V]",
    "current density [A m-2]",
    "mean concentration [mol m-3]",
    "surface concentration [mol m-3]",
    "max concentration [mol m-3]",
    "state of charge [-]",
    "max von Mises stress [Pa]",
    "max hydrostatic stress [Pa]",
    "min hydrostatic stress [Pa]",
    "newton iterations [-]",
    "dt [s]",
    "capacity [mA h m-2]",
]
TIMES = [0.0, 600.0, 1800.0, 3600.0]




from mpi_checks import on_rank0  # noqa: E402


def _partitioner():
    return mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)


def _write_run(outdir, comm, dim=3, n=6, columns=COLUMNS):
    if dim == 3:
        msh = mesh.create_box(comm, [[-R, -R, -R], [R, R, R]], [n, n, n], partitioner=_partitioner())
    else:
        msh = mesh.create_rectangle(comm, [[-R, -R], [R, R]], [n, n], partitioner=_partitioner())
    c = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="lithium_concentration")
    vm = fem.Function(fem.functionspace(msh, ("DG", 0)), name="von_mises_stress")
    sh = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="hydrostatic_stress")
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 1, (dim,))), name="displacement")

    def r2(x):
        return sum(x[i] ** 2 for i in range(dim)) / R**2

    with RunOutput(outdir, comm, "", columns) as out:
        for k, t in enumerate(TIMES):
            c.interpolate(lambda x: 2.0e4 + 1e-2 * t * (1 + r2(x)))
            vm.interpolate(lambda x: 1e6 + 1e4 * t * np.sqrt(r2(x)))
            sh.interpolate(lambda x: 1e4 * t * (r2(x) - 0.6))
            u.interpolate(lambda x: np.vstack([1e-9 * x[i] / R * t / 3600 for i in range(dim)]))
            row = {
                "time [s]": t,
                "voltage [V]": 4.2 - 1e-4 * t,
                "particle potential [V]": 4.25 - 1e-4 * t,
                "current density [A m-2]": 10.0,
                "mean concentration [mol m-3]": 2.0e4 + 1.6e-2 * t,
                "surface concentration [mol m-3]": 2.0e4 + 2e-2 * t,
                "max concentration [mol m-3]": 2.0e4 + 2e-2 * t + 1,
                "state of charge [-]": 1.0 - t / 7200,
                "max von Mises stress [Pa]": 1e6 + 1e4 * t,
                "max hydrostatic stress [Pa]": 0.4e4 * t,
                "min hydrostatic stress [Pa]": -0.6e4 * t,
                "newton iterations [-]": 3 + k % 2,
                "dt [s]": 600.0 * (k + 1),
                "capacity [mA h m-2]": 10.0 * t / 3600,
            }
            out.add_row({k2: v for k2, v in row.items() if k2 in columns})
            out.write_fields(t, {"particle": [c, vm, sh, u]})


@pytest.fixture(scope="module")
def run3d():
    d = Path(tempfile.mkdtemp(prefix="cellsim-pp-"))
    _write_run(d, MPI.COMM_SELF, dim=3)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _image(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return img[..., :3]


def _n_colours(img: np.ndarray) -> int:
    return len(np.unique(img.reshape(-1, 3), axis=0))


def _non_background(img: np.ndarray) -> float:
    bg = img[0, -1]  # top-right corner pixel
    return float(np.mean(np.any(img != bg, axis=-1)))


# --------------------------------------------------------------------------------------
def test_panels_group_by_unit_and_skip_absent():
    nan = np.full(3, np.nan)
    one = np.ones(3)
    data = {
        "time [s]": np.arange(3.0),
        "voltage [V]": one,
        "particle potential [V]": one,
        "mean concentration [mol m-3]": one,
        "max concentration [mol m-3]": one,
        "state of charge [-]": one,
        "max von Mises stress [Pa]": one,
        "min hydrostatic stress [Pa]": one,
        "newton iterations [-]": one,
        "dt [s]": one,
        "debonded area fraction [-]": nan,  # all empty: no curve
    }
    panels = pp.timeseries_panels(data)
    cols = {p.title: p.columns for p in panels}
    assert cols["potentials"] == ["voltage [V]", "particle potential [V]"]
    assert cols["concentrations"] == ["mean concentration [mol m-3]", "max concentration [mol m-3]"]
    assert cols["state of charge"] == ["state of charge [-]"]  # iterations are not in the [-] panel
    assert cols["stresses"] == ["max von Mises stress [Pa]", "min hydrostatic stress [Pa]"]
    solver = next(p for p in panels if p.title == "solver")
    assert solver.columns == ["newton iterations [-]"] and solver.twin == ["dt [s]"]
    stress = next(p for p in panels if p.title == "stresses")
    assert stress.scale == 1e6 and stress.shown_unit == "MPa"
    assert all("debonded area fraction [-]" not in p.columns for p in panels)
    assert [p.title for p in panels] == ["potentials", "concentrations", "state of charge", "stresses", "solver"]
    # only what is present
    assert [p.title for p in pp.timeseries_panels({"time [s]": one, "voltage [V]": one})] == ["voltage"]
    assert pp.split_column("capacity [mA h m-2]") == ("capacity", "mA h m-2")


def test_select_time():
    assert pp.select_time([0.0, 1.0, 2.5], None) == 2.5
    assert pp.select_time([0.0, 1.0, 2.5], 0.9) == 1.0
    assert pp.select_time([0.0, 1.0, 2.5], -5) == 0.0
    with pytest.raises(ValueError):
        pp.select_time([], None)


def test_plot_timeseries_png(run3d):
    p = pp.plot_timeseries(run3d)
    assert p == run3d / "timeseries.png" and p.stat().st_size > 10_000
    img = _image(p)
    assert _n_colours(img) > 100  # coloured, anti-aliased curves and text
    assert 0.03 < _non_background(img) < 0.9
    # 7 panels in a 2-column grid (incl. voltage vs capacity): a tall figure
    assert img.shape[0] > img.shape[1]


def test_plot_fields_png(run3d):
    p = pp.plot_fields(run3d)
    assert p == run3d / "fields.png" and p.stat().st_size > 10_000
    img = _image(p)
    h, w, _ = img.shape
    assert w == 3 * 560  # three subplots: concentration, von Mises, hydrostatic
    for k in range(3):  # every subplot shows a coloured mesh, not an empty frame
        part = img[: int(0.8 * h), k * w // 3 : (k + 1) * w // 3]
        assert _n_colours(part) > 200, k
        assert _non_background(part) > 0.15, k
    # another output time gives another picture (the fields grow with t)
    p0 = pp.plot_fields(run3d, time=0.0, path=run3d / "fields_t0.png")
    assert np.mean(np.any(_image(p0) != img, axis=-1)) > 0.02


def test_plot_fields_2d(tmp_path):
    _write_run(tmp_path, MPI.COMM_SELF, dim=2, n=8)
    p = pp.plot_fields(tmp_path, region="particle")
    assert p.name == "fields_particle.png"
    img = _image(p)
    for k in range(3):
        part = img[:, k * img.shape[1] // 3 : (k + 1) * img.shape[1] // 3]
        assert _n_colours(part) > 100 and _non_background(part) > 0.2


def test_plot_all_and_errors(tmp_path):
    cols = ["time [s]", "voltage [V]"]
    out = RunOutput(tmp_path / "ts_only", None, "", cols)
    with pytest.raises(FileNotFoundError, match="nothing to plot"):
        pp.plot(tmp_path / "ts_only")  # header only, no fields
    out.add_row({"time [s]": 0.0, "voltage [V]": 4.0})
    out.add_row({"time [s]": 1.0, "voltage [V]": 3.9})
    out.close("completed")
    assert pp.plot(tmp_path / "ts_only") == [tmp_path / "ts_only" / "timeseries.png"]
    with pytest.raises(FileNotFoundError, match="no field files"):
        pp.plot_fields(tmp_path / "ts_only")
    _write_run(tmp_path / "full", MPI.COMM_SELF, dim=3, n=3)
    with pytest.raises(KeyError, match="particle"):
        pp.plot_fields(tmp_path / "full", region="electrolyte")
    made = pp.plot(tmp_path / "full")
    assert [p.name for p in made] == ["timeseries.png", "fields.png"]


def test_postprocess_needs_no_mpi_or_dolfinx(run3d, tmp_path):
    """cellsim plot reads files only: neither mpi4py nor dolfinx gets imported."""
    code = (
        "import sys; from cellsim import postprocess as pp; "
        f"made = pp.plot({str(run3d)!r}); "
        "bad = [m for m in ('mpi4py', 'dolfinx', 'petsc4py') if m in sys.modules]; "
        "print(len(made), bad); assert not bad, bad"
    )
    env = dict(os.environ)
    root = str(Path(pp.__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    for k in list(env):  # a clean, single-process environment
        if k.startswith(("PMI_", "MPICH_", "HYDRA_", "OMPI_")):
            del env[k]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "2 []"


@pytest.mark.mpi
def test_read_region_gives_global_mesh():
    """Pieces from every rank merged, ghosts dropped: the global mesh, each cell once."""
    comm = MPI.COMM_WORLD
    d = comm.bcast(tempfile.mkdtemp(prefix="cellsim-pp-mpi-") if comm.rank == 0 else None, root=0)
    n = 4
    _write_run(d, comm, dim=3, n=n, columns=["time [s]", "voltage [V]"])
    gc.collect()
    comm.barrier()
    def check():
        try:
            grid, t = pp.read_region(Path(d) / "fields" / "particle.pvd")
            assert t == TIMES[-1]
            assert grid.n_cells == 6 * n**3
            assert grid.n_points == (n + 1) ** 3
            assert "vtkGhostType" not in grid.cell_data
            x = np.asarray(grid.points)
            r2 = np.sum(x**2, axis=1) / R**2
            c = np.asarray(grid.point_data["lithium_concentration"])
            assert np.abs(c - (2.0e4 + 1e-2 * t * (1 + r2))).max() < 1e-10 * 2e4
            assert len(read_timeseries(d)["time [s]"]) == len(TIMES)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    on_rank0(comm, check)
