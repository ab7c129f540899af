"""Single particles: exact volumes/areas, convergence, tag completeness, serial == 2 ranks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError


dolfinx_env = pytest.importorskip("cellsim.dolfinx_env")
dolfinx_env.require_dolfinx()
from mpi4py import MPI  # noqa: E402

from cellsim.geometry import measure  # noqa: E402
from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.geometry.particle import ellipsoid_area  # noqa: E402

CASES = {
    "sphere": {"kind": "sphere", "radius": 5.86e-6},
    "ellipsoid": {"kind": "ellipsoid", "semi_axes": [3e-6, 2e-6, 1.5e-6]},
    "cylinder": {"kind": "cylinder", "radius": 0.5e-6, "length": 3e-6},
    "core_shell": {"kind": "core_shell", "core_radius": 4e-6, "coating_thickness": 0.6e-6},
}


def _measures(tm):
    vols = {n: measure.region_volume(tm, n) for n in tm.regions}
    areas = {n: measure.interface_area(tm, n) for n in tm.interfaces}
    return vols, areas


@pytest.mark.mpi
@pytest.mark.parametrize("kind", list(CASES))
def test_exact_measures_within_one_percent(kind):
    tm = build_mesh(CASES[kind], MPI.COMM_WORLD)
    vols, areas = _measures(tm)
    ev, ea = tm.info["exact_volume"], tm.info["exact_area"]
    assert set(ev) == set(tm.regions)
    assert set(ea) == set(tm.interfaces)
    for n, v in vols.items():
        assert abs(v / ev[n] - 1) < 0.01, (n, v, ev[n])
        # a P1 mesh with nodes on a convex surface is inscribed: it can only lose volume
    for n, a in areas.items():
        assert abs(a / ea[n] - 1) < 0.01, (n, a, ea[n])
    assert vols["particle"] < ev["particle"]
    assert tm.info["mesh"]["quality_min"] > 0.1


@pytest.mark.parametrize("kind", ["sphere", "ellipsoid"])
def test_measures_converge_second_order(kind):
    """Volume and area errors fall like h^2 (chords of a smooth surface)."""
    base = dict(CASES[kind])
    feat = base.get("radius") or min(base["semi_axes"])
    hs = [feat / 2.5, feat / 5.0, feat / 10.0]
    ev, ea = [], []
    for h in hs:
        tm = build_mesh({**base, "mesh_size": h}, MPI.COMM_SELF)
        v, a = _measures(tm)
        ev.append(abs(v["particle"] / tm.info["exact_volume"]["particle"] - 1))
        ea.append(abs(a["particle_electrolyte"] / tm.info["exact_area"]["particle_electrolyte"] - 1))
    for err in (ev, ea):
        assert err[0] > err[1] > err[2]
        order = np.polyfit(np.log(hs), np.log(err), 1)[0]
        assert 1.6 < order < 2.6, (kind, err, order)


def test_ellipsoid_area_quadrature_against_closed_forms():
    r = 2.0
    assert abs(ellipsoid_area(r, r, r) - 4 * math.pi * r * r) < 1e-12
    # prolate spheroid a = b < c: A = 2 pi a^2 (1 + c/(a e) asin e), e^2 = 1 - a^2/c^2
    a, c = 1.0, 3.0
    e = math.sqrt(1 - a * a / (c * c))
    exact = 2 * math.pi * a * a * (1 + c / (a * e) * math.asin(e))
    assert abs(ellipsoid_area(a, a, c) / exact - 1) < 1e-12
    # oblate spheroid a = b > c: A = 2 pi a^2 + pi c^2/e ln((1+e)/(1-e)), e^2 = 1 - c^2/a^2
    a, c = 3.0, 1.0
    e = math.sqrt(1 - c * c / (a * a))
    exact = 2 * math.pi * a * a + math.pi * c * c / e * math.log((1 + e) / (1 - e))
    assert abs(ellipsoid_area(a, a, c) / exact - 1) < 1e-12


@pytest.mark.mpi
@pytest.mark.parametrize("kind", ["cylinder", "core_shell"])
def test_tags_complete_and_consistent(kind):
    tm = build_mesh({**CASES[kind], "mesh_size": 0.25e-6 if kind == "cylinder" else 1e-6}, MPI.COMM_WORLD)
    comm = tm.comm
    tdim = tm.mesh.topology.dim
    imap = tm.mesh.topology.index_map(tdim)
    # every cell carries exactly one tag, and that tag is a named leaf region
    assert tm.cell_tags.indices.size == imap.size_local + imap.num_ghosts
    assert np.unique(tm.cell_tags.indices).size == tm.cell_tags.indices.size
    assert set(np.unique(tm.cell_tags.values)) <= set(tm.cell_names)
    ncells = comm.allreduce(imap.size_local, MPI.SUM)
    assert ncells == tm.info["mesh"]["num_tetrahedra"]
    assert sum(measure.count_cells(tm, n) for n in tm.cell_names.values()) == ncells
    assert measure.count_cells(tm, "particle") == ncells
    # facets: at most one tag each; every exterior facet is particle_electrolyte
    assert np.unique(tm.facet_tags.indices).size == tm.facet_tags.indices.size
    ext = dolfinx_env.require_dolfinx().mesh.exterior_facet_indices(tm.mesh.topology)
    ext_owned = ext[ext < tm.mesh.topology.index_map(tdim - 1).size_local]
    pe = tm.facets("particle_electrolyte", owned=True)
    assert np.array_equal(np.sort(ext_owned), pe)
    # no inverted or degenerate cells (volume relative to h^3)
    vol = np.abs(measure.cell_volumes(tm.mesh, np.arange(imap.size_local)))
    assert comm.allreduce(vol.min(), MPI.MIN) > 1e-4 * (tm.info["mesh_size"] ** 3)
    if kind == "core_shell":
        sides = measure.interface_sides(tm, "core_coating")
        core, coat = tm.regions["core"][0], tm.regions["coating"][0]
        assert set(sides) == {tuple(sorted((core, coat)))}
        assert set(measure.interface_sides(tm, "particle_electrolyte")) == {(coat,)}
    else:
        side = measure.count_facets(tm, "particle_side")
        ends = measure.count_facets(tm, "particle_ends")
        assert side > 0 and ends > 0
        assert side + ends == measure.count_facets(tm, "particle_electrolyte")


@pytest.mark.mpi
@pytest.mark.parametrize("kind", ["sphere", "core_shell"])
def test_distributed_equals_serial(kind):
    """The same spec built on COMM_SELF (serial) and COMM_WORLD gives equal totals/counts."""
    spec = {**CASES[kind], "mesh_size": 1e-6}
    ser = build_mesh(spec, MPI.COMM_SELF)
    par = build_mesh(spec, MPI.COMM_WORLD)
    for n in ser.regions:
        assert measure.count_cells(ser, n) == measure.count_cells(par, n)
        assert math.isclose(measure.region_volume(ser, n), measure.region_volume(par, n), rel_tol=1e-12)
    for n in ser.interfaces:
        assert measure.count_facets(ser, n) == measure.count_facets(par, n)
        assert math.isclose(measure.interface_area(ser, n), measure.interface_area(par, n), rel_tol=1e-12)
    if MPI.COMM_WORLD.size > 1:
        # really distributed: every rank owns part of the cells
        assert par.mesh.topology.index_map(3).size_local < ser.mesh.topology.index_map(3).size_local


@pytest.mark.parametrize(
    "data, words",
    [
        ({"kind": "core_shell", "core_radius": 1e-6, "coating_thickness": 2e-6}, ["coating_thickness", "core_radius"]),
        ({"kind": "sphere", "radius": -1e-6}, ["greater than 0"]),
        ({"kind": "sphere", "radius": 1e-6, "mesh_size": 2e-6}, ["mesh_size", "<="]),
        ({"kind": "sphere", "radius": 1e-6, "mesh_size": -1.0}, ["greater than 0"]),
        ({"kind": "sphere", "radius": 1e-6, "mesh_size": 1e-9}, ["max_elements"]),
        ({"kind": "sphere", "radius": 1e-6, "region_mesh_size": {"coating": 1e-7}}, ["coating", "particle"]),
        ({"kind": "cylinder", "radius": 1e-6}, ["length"]),
        ({"kind": "ellipsoid", "semi_axes": [1e-6, 1e-6]}, ["semi_axes"]),
        ({"kind": "sphere", "radius": 1e-6, "radus": 1}, ["radus"]),
        ({"kind": "cube", "radius": 1e-6}, ["cube", "sphere"]),
    ],
)
def test_bad_requests_fail_before_meshing(data, words, monkeypatch):
    import gmsh

    monkeypatch.setattr(gmsh, "initialize", lambda *a, **k: pytest.fail("gmsh started"))
    with pytest.raises(ValidationError) as exc:
        build_mesh(data, MPI.COMM_SELF)
    text = str(exc.value)
    for w in words:
        assert w in text, (w, text)


def test_every_field_documented():
    from cellsim.geometry.spec import KINDS

    for cls in KINDS.values():
        for name, f in cls.model_fields.items():
            assert f.description, f"{cls.__name__}.{name} has no description"
