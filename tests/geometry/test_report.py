"""``cellsim mesh`` (report.mesh_command): files, report contents, XDMF tags, picture."""

from __future__ import annotations

import glob
import json
import math
import os

import numpy as np
import pytest

dolfinx_env = pytest.importorskip("cellsim.dolfinx_env")
dolfinx = dolfinx_env.require_dolfinx()
from mpi4py import MPI  # noqa: E402

from cellsim.geometry.report import load_geometry_section, mesh_command  # noqa: E402
from cellsim.schema import CaseError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _shared_tmp(tmp_path_factory):
    comm = MPI.COMM_WORLD
    path = str(tmp_path_factory.mktemp("mesh")) if comm.rank == 0 else None
    return comm.bcast(path, root=0)


@pytest.mark.parametrize("case", sorted(glob.glob(os.path.join(ROOT, "cases", "mesh_*.toml"))))
def test_every_mesh_case_validates(case):
    spec = load_geometry_section(case)
    assert spec.estimated_elements() < 1_000_000


def test_invalid_case_reports_key_and_value(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[geometry]\nkind = "core_shell"\ncore_radius = 1e-6\ncoating_thickness = 3e-6\n[physics]\nx = 1\n')
    with pytest.raises(CaseError) as exc:
        load_geometry_section(str(bad))
    assert "geometry" in str(exc.value) and "coating_thickness = 3e-06" in str(exc.value)
    assert mesh_command(str(bad), str(tmp_path / "out"), MPI.COMM_SELF) == 2
    typo = tmp_path / "typo.toml"
    typo.write_text('[geometry]\nkind = "sphere"\nradius = 1e-6\nmesh_sise = 1e-7\n')
    with pytest.raises(CaseError, match="mesh_sise.*did you mean 'mesh_size'"):
        load_geometry_section(str(typo))


@pytest.mark.mpi
def test_mesh_command_writes_everything(tmp_path_factory):
    comm = MPI.COMM_WORLD
    out = _shared_tmp(tmp_path_factory)
    case = os.path.join(out, "case.toml")
    if comm.rank == 0:
        with open(case, "w") as fh:
            fh.write('# other sections are ignored here\n[simulation]\nt_end = 1.0\n\n'
                     '[geometry]\nkind = "core_shell"\ncore_radius = 3e-6\ncoating_thickness = 0.5e-6\n'
                     'mesh_size = 0.5e-6\n')  # fmt: skip
    comm.Barrier()
    assert mesh_command(case, out, comm) == 0
    for f in ("mesh.xdmf", "mesh.h5", "mesh.msh", "report.json", "report.txt", "geometry.png", "tags.json"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    with open(os.path.join(out, "report.json")) as fh:
        rep = json.load(fh)
    R, Rc = 3.5e-6, 3e-6
    assert abs(rep["regions"]["particle"]["volume"] / (4 / 3 * math.pi * R**3) - 1) < 0.01
    assert abs(rep["interfaces"]["core_coating"]["area"] / (4 * math.pi * Rc**2) - 1) < 0.01
    vf = rep["volume_fractions"]["mesh"]
    assert abs(vf["core"] - (Rc / R) ** 3) < 0.01 and abs(vf["core"] + vf["coating"] - 1) < 1e-12
    assert rep["mesh"]["num_cells_distributed"] == rep["mesh"]["num_tetrahedra"]
    assert 0 < rep["mesh"]["quality_min"] <= rep["mesh"]["quality_mean"] <= 1
    assert rep["mesh"]["mpi_ranks"] == comm.size
    # the .msh is in metres too (the model is built in micrometres)
    if comm.rank == 0:
        import meshio

        pts = meshio.read(os.path.join(out, "mesh.msh")).points
        assert abs(np.abs(pts).max() / R - 1) < 0.05
    # the XDMF file holds the mesh in metres and both tag sets
    from dolfinx.io import XDMFFile

    with XDMFFile(comm, os.path.join(out, "mesh.xdmf"), "r") as xf:
        msh = xf.read_mesh(name="mesh")
        msh.topology.create_connectivity(2, 3)
        ct = xf.read_meshtags(msh, name="cell_tags")
        ft = xf.read_meshtags(msh, name="facet_tags")
    ncell = comm.allreduce(msh.topology.index_map(3).size_local)
    assert ncell == rep["mesh"]["num_tetrahedra"]
    assert comm.allreduce(float(np.abs(msh.geometry.x).max()), MPI.MAX) < 1.01 * R
    with open(os.path.join(out, "tags.json")) as fh:
        tags = json.load(fh)
    assert set(np.unique(ct.values)) <= {v[0] for v in tags["regions"].values()}
    assert set(np.unique(ft.values)) <= {v[0] for v in tags["interfaces"].values()}
    # the picture is a real image, not a blank canvas
    if comm.rank == 0:
        import matplotlib.image as mpimg

        img = mpimg.imread(os.path.join(out, "geometry.png"))
        assert img.shape[0] > 300 and img.shape[1] > 300
        assert img[..., :3].std() > 0.05
