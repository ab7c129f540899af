"""The 3D mesher keys (``mesh_algorithm``, ``mesh_optimize_threshold``): bad values are
refused before any mesh with the key, the value and what is allowed; HXT and Delaunay
meshes of one electrode are conforming, carry the same region and interface names and
tags, measure the same CAD volumes and areas and pass the quality gate; the distributed
mesh measures what the serial one does."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from cellsim.geometry.spec import parse_geometry

ROOT = Path(__file__).resolve().parents[2]

#: the composite test electrode (10 um box, 6 particles, no repair bridge), coarse
ELECTRODE = dict(
    kind="electrode", thickness=10e-6, width=10e-6, depth=10e-6, collector_thickness=1.5e-6,
    volume_fraction=0.4, binder_fraction=0.05,
    radius_distribution={"kind": "lognormal", "mean": 2.0e-6, "std": 0.3e-6},
    mesh_size=1.0e-6, interface_mesh_size=0.6e-6, seed=3,
)  # fmt: skip


def test_bad_mesher_keys_name_key_value_and_allowed():
    with pytest.raises(ValidationError) as err:
        parse_geometry(dict(ELECTRODE, mesh_algorithm="tetgen"))
    msg = str(err.value)
    assert "mesh_algorithm" in msg and "tetgen" in msg and "'delaunay'" in msg and "'hxt'" in msg
    for bad in (0.0, 1.0, -0.2):
        with pytest.raises(ValidationError) as err:
            parse_geometry(dict(ELECTRODE, mesh_optimize_threshold=bad))
        assert "mesh_optimize_threshold" in str(err.value)
    assert parse_geometry(dict(ELECTRODE, mesh_algorithm="delaunay")).mesh_algorithm == "delaunay"
    assert parse_geometry(ELECTRODE).mesh_algorithm is None  # the kind chooses


def test_default_mesher_by_size():
    """Electrodes of 50,000 or more estimated tetrahedra get HXT at 0.2, smaller ones and
    other kinds Delaunay at gmsh's 0.3; the keys win (checked without meshing)."""
    from cellsim.geometry.base import BuildResult, ModelTags
    from cellsim.geometry.electrode import HXT_MIN_ELEMENTS
    from cellsim.geometry.mesh import _mesher

    small = parse_geometry(ELECTRODE)
    big = parse_geometry(dict(ELECTRODE, thickness=30e-6, width=20e-6, depth=20e-6))
    assert small.estimated_elements() < HXT_MIN_ELEMENTS <= big.estimated_elements()
    kind = {True: BuildResult(ModelTags(), algorithm3d=10, hxt_optimize_threshold=0.2),
            False: BuildResult(ModelTags(), algorithm3d=1, hxt_optimize_threshold=0.2)}
    assert _mesher(big, kind[True], None) == (10, 0.2)
    assert _mesher(big, kind[True], "other") == (1, 0.3)  # the last sliver retry
    assert _mesher(small, kind[False], None) == (1, 0.3)
    assert _mesher(small, kind[False], "other") == (10, 0.2)
    forced = parse_geometry(dict(ELECTRODE, mesh_algorithm="hxt", mesh_optimize_threshold=0.25))
    assert _mesher(forced, kind[False], None) == (10, 0.25)
    assert _mesher(parse_geometry(dict(ELECTRODE, mesh_algorithm="delaunay")), kind[True], None) == (1, 0.3)


def test_bad_mesher_key_exits_2_before_any_mesh(tmp_path, capsys):
    from cellsim.cli import main

    with open(ROOT / "cases" / "mesh_electrode.toml", "rb") as fh:
        geo = tomllib.load(fh)["geometry"]
    lines = ["[geometry]"]
    for k, v in geo.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {v!r}".replace("True", "true").replace("False", "false"))
    lines.append("mesh_algorithm = 'tetgen'")
    for k, v in geo.items():
        if isinstance(v, dict):
            lines.append(f"[geometry.{k}]")
            lines += [f"{kk} = {vv!r}" for kk, vv in v.items()]
    case = tmp_path / "bad.toml"
    case.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["mesh", str(case), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    from mpi4py import MPI

    if MPI.COMM_WORLD.rank != 0:  # only rank 0 reports
        return
    assert "geometry.mesh_algorithm" in err and "tetgen" in err and "'hxt'" in err, err
    assert not out.exists()


def _measures(tm) -> dict:
    from cellsim.geometry import measure

    return {
        "volumes": {n: measure.region_volume(tm, n) for n in tm.info["leaf_regions"]},
        "areas": {n: measure.interface_area(tm, n) for n in tm.info["leaf_interfaces"]},
    }


@pytest.mark.mpi
def test_hxt_and_delaunay_meshes_agree_and_distribute():
    pytest.importorskip("cellsim.dolfinx_env").require_dolfinx()
    from mpi4py import MPI

    from cellsim.geometry import measure
    from cellsim.geometry.mesh import build_mesh

    hxt = build_mesh(dict(ELECTRODE, mesh_algorithm="hxt"), MPI.COMM_WORLD)
    dln = build_mesh(ELECTRODE, MPI.COMM_WORLD)  # a small electrode's default mesher
    assert hxt.info["mesh"]["gmsh_algorithms"] == {"surface": 6, "volume": 10, "optimize_threshold": 0.2}
    assert dln.info["mesh"]["gmsh_algorithms"] == {"surface": 6, "volume": 1, "optimize_threshold": 0.3}
    # the same names and tag values (the CAD and its naming do not depend on the mesher)
    assert hxt.regions == dln.regions and hxt.interfaces == dln.interfaces
    ev, ea = hxt.info["exact_volume"], hxt.info["exact_area"]
    for tm in (hxt, dln):
        assert tm.info["mesh"]["quality_min"] >= 0.01
        m = _measures(tm)
        # every leaf region and interface is meshed and measures its CAD size (the facets
        # of curved surfaces cut a little of the volume inside them, O(h^2))
        for name, v in m["volumes"].items():
            assert v > 0 and abs(v / ev[name] - 1) < 0.05, (name, v, ev[name])
        total = sum(m["volumes"].values())
        assert abs(total / sum(ev[n] for n in m["volumes"]) - 1) < 1e-9  # the box is exact
        for name, a in m["areas"].items():
            assert a > 0 and abs(a / ea[name] - 1) < 0.05, (name, a, ea[name])
        # conforming: each particle/electrolyte facet lies between that particle's cells
        # and the electrolyte's, none is a hole in the mesh (a one-sided facet)
        e = tm.regions["electrolyte"][0]
        for name in tm.info["leaf_interfaces"]:
            if name.endswith("_electrolyte") and name.startswith("particle_"):
                p = tm.regions[name[: -len("_electrolyte")]][0]
                assert measure.interface_sides(tm, name) == {tuple(sorted((p, e))): measure.count_facets(tm, name)}
    assert hxt.info["mesh"]["num_tetrahedra"] < dln.info["mesh"]["num_tetrahedra"]
    if MPI.COMM_WORLD.size == 1:
        return
    # distributed == serial (each rank builds the serial mesh too)
    serial = _measures(build_mesh(dict(ELECTRODE, mesh_algorithm="hxt"), MPI.COMM_SELF))
    par = _measures(hxt)
    for what in ("volumes", "areas"):
        assert par[what].keys() == serial[what].keys()
        for name, v in serial[what].items():
            assert math.isclose(par[what][name], v, rel_tol=1e-12), (what, name)
