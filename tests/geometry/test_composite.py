"""Structured particles, composite electrode and half-cell: fractions, tags, seeds, MPI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from cellsim.geometry.packing import (
    PackingError,
    VoxelSampler,
    bunge_euler,
    euler_to_matrix,
    min_clearance,
    pack_spheres,
    sample_radii,
    uniform_rotation,
)
from cellsim.geometry.spec import RadiusDistribution, parse_geometry

dolfinx_env = pytest.importorskip("cellsim.dolfinx_env")
dolfinx_env.require_dolfinx()
from mpi4py import MPI  # noqa: E402

from cellsim.geometry import electrode, measure  # noqa: E402
from cellsim.geometry.mesh import build_mesh, plan_geometry  # noqa: E402

ELECTRODE = dict(
    kind="electrode",
    thickness=10e-6,
    width=10e-6,
    depth=10e-6,
    collector_thickness=1.5e-6,
    volume_fraction=0.4,
    binder_fraction=0.05,
    radius_distribution={"kind": "lognormal", "mean": 2.0e-6, "std": 0.3e-6},
    mesh_size=1.0e-6,
    interface_mesh_size=0.6e-6,
    seed=3,
)
HALF = dict(ELECTRODE, kind="half_cell", separator_thickness=5e-6, binder_fraction=0.03, seed=4)
SECONDARY = {"kind": "secondary_particle", "radius": 4e-6, "n_grains": 8, "seed": 2, "mesh_size": 0.6e-6}
POROUS = {"kind": "porous_particle", "radius": 4e-6, "pore_radius": 0.8e-6, "porosity": 0.12, "seed": 5,
          "mesh_size": 0.6e-6}  # fmt: skip
CHANNELS = {"kind": "porous_particle", "radius": 4e-6, "pore_shape": "channel", "pore_radius": 0.5e-6,
            "porosity": 0.1, "seed": 1, "mesh_size": 0.6e-6}  # fmt: skip


# ---------------------------------------------------------------------------------------
# pure numpy parts
# ---------------------------------------------------------------------------------------


def test_sample_radii_hits_volume_and_moments():
    rng = np.random.default_rng(0)
    d = RadiusDistribution(kind="lognormal", mean=2.0, std=0.5, min_radius=0.1, max_radius=100)
    V = 4 / 3 * math.pi * 8.0 * 4000
    r = sample_radii(d, V, rng)
    assert math.isclose(np.sum(4 / 3 * math.pi * r**3), V, rel_tol=1e-12)
    # ~4000 draws: the mean and std of the (volume-rescaled) radii match the distribution
    assert abs(r.mean() / 2.0 - 1) < 0.05
    assert abs(r.std() / 0.5 - 1) < 0.1
    u = sample_radii(RadiusDistribution(kind="uniform", mean=2.0, std=0.3), V, rng)
    assert u.min() >= (2.0 - math.sqrt(3) * 0.3) * 0.95 and u.max() <= (2.0 + math.sqrt(3) * 0.3) * 1.05


def test_pack_spheres_respects_gaps_walls_and_images():
    rng = np.random.default_rng(1)
    L = np.array([12.0, 12.0, 16.0])
    r = sample_radii(RadiusDistribution(kind="lognormal", mean=2.0, std=0.3), 0.5 * L.prod(), rng)
    g = 0.1
    c = pack_spheres(r, L, g, g, rng)
    assert min_clearance(c, r, L) >= g * (1 - 1e-9)
    assert np.all(c[:, 2] - r >= g - 1e-12) and np.all(c[:, 2] + r <= L[2] - g + 1e-12)
    for k in (0, 1):  # lateral faces: avoided by the gap or crossed deeply
        d = np.minimum(c[:, k], L[k] - c[:, k])
        assert np.all((d >= r + g - 1e-9) | (d <= 0.7 * r + 1e-9))
    # an impossible request fails with a PackingError, not a hang
    with pytest.raises(PackingError):
        pack_spheres(np.full(40, 2.0), np.array([8.0, 8.0, 8.0]), 0.1, 0.1, rng)


def test_voxel_sampler_volume():
    rng = np.random.default_rng(2)
    vs = VoxelSampler([0, 0, 0], [4, 4, 4], 0.04, rng)
    m = vs.mask()
    vs.paint_sphere(m, (2, 2, 2), 1.5)
    assert abs(m.sum() * vs.cell_volume / (4 / 3 * math.pi * 1.5**3) - 1) < 0.01
    m = vs.mask()
    vs.paint_cylinder(m, (1, 2, 2), (3, 2, 2), 0.8)
    assert abs(m.sum() * vs.cell_volume / (math.pi * 0.64 * 2) - 1) < 0.01


def test_rotations_uniform_and_euler_round_trip():
    rng = np.random.default_rng(3)
    zs = []
    for _ in range(2000):
        R = uniform_rotation(rng)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and math.isclose(np.linalg.det(R), 1, rel_tol=1e-12)
        assert np.allclose(euler_to_matrix(*bunge_euler(R)), R, atol=1e-10)
        zs.append(R[2, 2])
    # Haar measure: cos(Phi) = R[2,2] is uniform on [-1, 1] (mean 0, variance 1/3)
    zs = np.array(zs)
    assert abs(zs.mean()) < 0.05 and abs(zs.var() - 1 / 3) < 0.03


@pytest.mark.parametrize("spec", [ELECTRODE, SECONDARY, POROUS, CHANNELS])
def test_same_seed_same_geometry_other_seed_differs(spec):
    a, b = plan_geometry(spec), plan_geometry(spec)
    c = plan_geometry({**spec, "seed": spec["seed"] + 1})
    key = {"electrode": "centres", "secondary_particle": "seeds", "porous_particle": None}[spec["kind"]]
    if key is None:
        key = "centres" if spec.get("pore_shape", "spherical") == "spherical" else "lines"
    A, B, C = (np.asarray(p[key], dtype=object if key == "lines" else float) for p in (a, b, c))
    if key == "lines":
        A, B, C = (np.array([np.r_[p, d] for p, d in x[key]]) for x in (a, b, c))
    assert np.array_equal(A, B)
    assert A.shape != C.shape or not np.allclose(A, C)


# ---------------------------------------------------------------------------------------
# bad requests: fail before gmsh starts
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, words",
    [
        ({"volume_fraction": 0.58}, ["not packable", "volume_fraction"]),
        ({"volume_fraction": 0.7}, ["less than or equal to 0.6"]),
        ({"thickness": 3e-6}, ["thickness", "does not fit"]),
        ({"width": 4e-6}, ["width"]),
        ({"radius_distribution": {"mean": -1e-6}}, ["greater than 0"]),
        ({"binder_fraction": 0.5}, ["binder_fraction"]),
        ({"volume_fraction": None}, ["volume_fraction", "required"]),
        ({"gap": 2e-6}, ["gap"]),
        ({"collector_thickness": 0.0}, ["collector_thickness"]),
    ],
)
def test_bad_electrode_requests_fail_in_validation(change, words, monkeypatch):
    import gmsh

    monkeypatch.setattr(gmsh, "initialize", lambda *a, **k: pytest.fail("gmsh started"))
    with pytest.raises(ValidationError) as exc:
        build_mesh({**ELECTRODE, **change}, MPI.COMM_SELF)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


def test_unbuildable_requests_fail_before_meshing(monkeypatch):
    """Requests that pass the schema but cannot be planned fail before gmsh starts."""
    import gmsh

    monkeypatch.setattr(gmsh, "initialize", lambda *a, **k: pytest.fail("gmsh started"))
    with pytest.raises(PackingError, match="binder_fraction"):
        build_mesh({**ELECTRODE, "binder_fraction": 0.3, "neck_max_gap": 0.2e-6}, MPI.COMM_SELF)
    with pytest.raises(ValidationError, match="not packable"):
        build_mesh({**POROUS, "porosity": 0.3, "pore_radius": 0.5e-6}, MPI.COMM_SELF)
    with pytest.raises(ValidationError, match="gap"):
        parse_geometry({**ELECTRODE, "volume_fraction": None, "radius_distribution": None,
                        "particles": [{"centre": [5e-6, 5e-6, 3e-6], "radius": 2e-6},
                                      {"centre": [5e-6, 5e-6, 7.05e-6], "radius": 2e-6}]})  # fmt: skip


# ---------------------------------------------------------------------------------------
# meshes
# ---------------------------------------------------------------------------------------


def _check_tags(tm):
    """Every cell one leaf tag; facet tags unique; no degenerate cells (collective)."""
    comm = tm.comm
    imap = tm.mesh.topology.index_map(3)
    assert tm.cell_tags.indices.size == imap.size_local + imap.num_ghosts
    assert set(np.unique(tm.cell_tags.values)) <= set(tm.cell_names)
    assert np.unique(tm.facet_tags.indices).size == tm.facet_tags.indices.size
    ncells = comm.allreduce(imap.size_local)
    assert ncells == tm.info["mesh"]["num_tetrahedra"]
    assert sum(measure.count_cells(tm, n) for n in tm.cell_names.values()) == ncells
    # no inverted (gmsh minSICN > 0) or zero-volume cells; near-tangent CAD features can
    # leave a few slivers (volume ~1e-7 h^3), reported as quality_min
    vol = np.abs(measure.cell_volumes(tm.mesh, np.arange(imap.size_local)))
    assert comm.allreduce(vol.min() if vol.size else np.inf, MPI.MIN) > 1e-10 * tm.info["mesh_size"] ** 3
    assert tm.info["mesh"]["quality_min"] > 0
    hist = tm.info["mesh"]["quality_histogram"]
    assert sum(hist[:1]) < 0.005 * sum(hist)  # fewer than 0.5 % of the cells below 0.1


def _sides(tm, name):
    return set(measure.interface_sides(tm, name))


@pytest.mark.mpi
def test_electrode_fractions_tags_and_interfaces():
    tm = build_mesh(ELECTRODE, MPI.COMM_WORLD)
    _check_tags(tm)
    info = tm.info
    Vb = info["electrode_volume"]
    phi = measure.region_volume(tm, "particle") / Vb
    beta = measure.region_volume(tm, "binder") / Vb
    assert abs(phi - ELECTRODE["volume_fraction"]) < 0.02
    assert abs(beta - ELECTRODE["binder_fraction"]) < 0.02
    # radii rescaled to the exact target; OCC's numerical volume integration ~1e-5
    assert abs(info["volume_fraction_cad"]["particle"] - 0.4) < 1e-4
    total = sum(measure.region_volume(tm, n) for n in ("particle", "binder", "electrolyte"))
    assert math.isclose(total, Vb, rel_tol=1e-9)
    t = tm.regions
    e, b, cc = t["electrolyte"][0], t["binder"][0], t["current_collector"][0]
    n = info["num_particles"]
    assert n == len([k for k in t if k.startswith("particle_")])
    for i in range(n):
        p = t[f"particle_{i}"][0]
        if f"particle_{i}_electrolyte" in tm.interfaces:
            assert _sides(tm, f"particle_{i}_electrolyte") == {tuple(sorted((p, e)))}
        if f"particle_{i}_binder" in tm.interfaces:
            assert _sides(tm, f"particle_{i}_binder") == {tuple(sorted((p, b)))}
    assert _sides(tm, "binder_electrolyte") == {tuple(sorted((b, e)))}
    assert _sides(tm, "collector_electrode") <= {tuple(sorted((cc, e))), tuple(sorted((cc, b)))}
    assert _sides(tm, "electrode_separator") <= {(e,), (b,)}
    assert _sides(tm, "collector_bottom") == {(cc,)}
    W, D = ELECTRODE["width"], ELECTRODE["depth"]
    assert math.isclose(measure.interface_area(tm, "collector_electrode"), W * D, rel_tol=1e-9)
    assert math.isclose(measure.interface_area(tm, "electrode_separator"), W * D, rel_tol=1e-9)
    # connectivity report consistent with the interfaces: a particle without any binder
    # interface cannot be connected (particles never touch each other or the collector)
    nc = set(info["particles_not_connected"])
    for i in range(n):
        if f"particle_{i}_binder" not in tm.interfaces:
            assert i in nc
    assert "collector_particle" not in tm.interfaces


@pytest.mark.mpi
def test_half_cell_layers():
    tm = build_mesh(HALF, MPI.COMM_WORLD)
    _check_tags(tm)
    W, D = HALF["width"], HALF["depth"]
    assert math.isclose(measure.interface_area(tm, "lithium_separator"), W * D, rel_tol=1e-9)
    assert math.isclose(measure.region_volume(tm, "separator"), W * D * HALF["separator_thickness"], rel_tol=1e-9)
    s, e = tm.regions["separator"][0], tm.regions["electrolyte"][0]
    assert _sides(tm, "lithium_separator") == {(s,)}
    assert (min(s, e), max(s, e)) in _sides(tm, "electrode_separator")
    assert math.isclose(
        measure.region_volume(tm, "electrolyte_domain"),
        measure.region_volume(tm, "electrolyte") + measure.region_volume(tm, "separator"),
        rel_tol=1e-12,
    )
    assert abs(measure.region_volume(tm, "particle") / tm.info["electrode_volume"] - 0.4) < 0.02


@pytest.mark.mpi
def test_electrode_distributed_equals_serial():
    spec = {**ELECTRODE, "binder_fraction": 0.0, "allow_isolated_particles": True, "seed": 7}
    ser = build_mesh(spec, MPI.COMM_SELF)
    par = build_mesh(spec, MPI.COMM_WORLD)
    assert ser.regions == par.regions and ser.interfaces == par.interfaces
    for n in ser.regions:
        assert measure.count_cells(ser, n) == measure.count_cells(par, n)
        assert math.isclose(measure.region_volume(ser, n), measure.region_volume(par, n), rel_tol=1e-12)
    for n in ser.interfaces:
        assert measure.count_facets(ser, n) == measure.count_facets(par, n)


@pytest.mark.mpi
def test_secondary_particle_grains():
    tm = build_mesh(SECONDARY, MPI.COMM_WORLD)
    _check_tags(tm)
    n = SECONDARY["n_grains"]
    grains = [f"grain_{i}" for i in range(n)]
    assert all(g in tm.regions for g in grains)
    assert sorted(tm.regions["particle"]) == sorted(tm.regions[g][0] for g in grains)
    R = SECONDARY["radius"]
    assert abs(measure.region_volume(tm, "particle") / (4 / 3 * math.pi * R**3) - 1) < 0.01
    # every grain-boundary facet separates two different grains
    sides = _sides(tm, "grain_boundary")
    assert sides and all(len(k) == 2 and k[0] != k[1] for k in sides)
    assert all(len(k) == 1 for k in _sides(tm, "particle_electrolyte"))
    # CAD grain volumes sum to the ball; orientations are rotations
    ev = tm.info["exact_volume"]
    assert math.isclose(sum(ev[g] for g in grains), 4 / 3 * math.pi * R**3, rel_tol=1e-6)
    for o in tm.info["grain_orientations"]:
        Rm = np.array(o["rotation"])
        assert np.allclose(Rm @ Rm.T, np.eye(3), atol=1e-12)
        assert np.allclose(euler_to_matrix(*o["euler_bunge_rad"]), Rm, atol=1e-10)
    # the Voronoi property: the CAD centroid of each grain is closer to its own seed
    # than the grain's mesh volume-weighted points are to other seeds on average
    seeds = np.array(tm.info["grain_seeds"])
    for i, g in enumerate(grains):
        cells = tm.cells(g, owned=True)
        x = tm.mesh.geometry.x[tm.mesh.geometry.dofmaps[0][cells]].mean(axis=1)
        if x.size:
            d = np.linalg.norm(x[:, None, :] - seeds[None, :, :], axis=2)
            assert np.mean(np.argmin(d, axis=1) == i) > 0.97


@pytest.mark.mpi
@pytest.mark.parametrize("spec", [POROUS, CHANNELS], ids=["spherical", "channel"])
def test_porous_particle(spec):
    tm = build_mesh(spec, MPI.COMM_WORLD)
    _check_tags(tm)
    vp, vs = measure.region_volume(tm, "pore"), measure.region_volume(tm, "particle")
    assert abs(vp / (vp + vs) - spec["porosity"]) < 0.02
    p, q = tm.regions["particle"][0], tm.regions["pore"][0]
    assert _sides(tm, "pore_wall") == {tuple(sorted((p, q)))}
    assert _sides(tm, "outer_surface") == {(p,)}
    pe = measure.interface_area(tm, "particle_electrolyte")
    assert math.isclose(pe, measure.interface_area(tm, "pore_wall") + measure.interface_area(tm, "outer_surface"), rel_tol=1e-12)
    if spec.get("pore_shape", "spherical") == "spherical":
        assert "pore_opening" not in tm.interfaces  # closed pores
        n = tm.info["num_pores"]
        rp = spec["pore_radius"]
        assert math.isclose(tm.info["exact_volume"]["pore"], n * 4 / 3 * math.pi * rp**3, rel_tol=1e-6)
    else:
        assert _sides(tm, "pore_opening") == {(q,)}  # channels open to the outside


@pytest.mark.slow
def test_fifty_particle_electrode_fractions():
    spec = dict(ELECTRODE, width=18e-6, depth=18e-6, thickness=20e-6, volume_fraction=0.45,
                binder_fraction=0.04, mesh_size=None, interface_mesh_size=None, seed=11)  # fmt: skip
    tm = build_mesh(spec, MPI.COMM_WORLD)
    assert tm.info["num_particles"] >= 40
    Vb = tm.info["electrode_volume"]
    assert abs(measure.region_volume(tm, "particle") / Vb - 0.45) < 0.02
    assert abs(measure.region_volume(tm, "binder") / Vb - 0.04) < 0.02


def test_explicit_particles_cross_lateral_face():
    """An explicit particle crossing x = 0 continues at x = width: one region, exact volume."""
    spec = dict(ELECTRODE, volume_fraction=None, radius_distribution=None, binder_fraction=0.0,
                allow_isolated_particles=True, particles=[{"centre": [0.5e-6, 5e-6, 4e-6], "radius": 2e-6},
                           {"centre": [5.5e-6, 5e-6, 5e-6], "radius": 1.8e-6}],
                mesh_size=0.8e-6, interface_mesh_size=0.25e-6)  # fmt: skip
    tm = build_mesh(spec, MPI.COMM_SELF)
    assert tm.info["particle_pieces"] == [2, 1]
    for i, r in enumerate((2e-6, 1.8e-6)):
        v = measure.region_volume(tm, f"particle_{i}")
        assert abs(v / (4 / 3 * math.pi * r**3) - 1) < 0.01
        assert math.isclose(tm.info["exact_volume"][f"particle_{i}"], 4 / 3 * math.pi * r**3, rel_tol=1e-4)
    # the cut faces of particle 0 are on the lateral faces, named "side"
    p0 = tm.regions["particle_0"][0]
    assert (p0,) in measure.interface_sides(tm, "side")


def _assert_same_cad(forced, default):
    """Two builds of one electrode: the same regions, interfaces and exact CAD measures."""
    assert forced.regions.keys() == default.regions.keys()
    assert forced.interfaces.keys() == default.interfaces.keys()
    for key in ("exact_volume", "exact_area"):
        a, b = forced.info[key], default.info[key]
        assert a.keys() == b.keys()
        for name in a:
            assert math.isclose(a[name], b[name], rel_tol=1e-9, abs_tol=1e-30), (key, name)


# the path only large electrodes take (above OCTREE_MIN_BALLS contact balls their Min is
# sampled by one gmsh Octree field), forced on a small one: the shipped cases are below it
@pytest.mark.mpi
def test_octree_size_field_meshes_the_same_electrode(monkeypatch):
    """The Octree over the contact balls (collective: every rank builds with the same
    threshold): same regions, interfaces and exact measures as the exact Min, and a mesh
    within a few per cent of its."""
    default = build_mesh(ELECTRODE, MPI.COMM_WORLD)
    monkeypatch.setattr(electrode, "OCTREE_MIN_BALLS", 0)
    made, exact_fields = [], electrode.contact_ball_fields

    def spy(balls, *args):
        out = exact_fields(balls, *args)
        made.append((len(balls), len(out)))
        return out

    monkeypatch.setattr(electrode, "contact_ball_fields", spy)
    forced = build_mesh(ELECTRODE, MPI.COMM_WORLD)
    comm = MPI.COMM_WORLD  # gmsh builds on rank 0: there, some balls and one Octree field
    (n_balls, n_fields), = comm.bcast(made if comm.rank == 0 else None, root=0)
    assert n_fields == 1 and n_balls > 1
    _assert_same_cad(forced, default)
    assert forced.info["particles_not_connected"] == default.info["particles_not_connected"]
    nf, nd = forced.info["mesh"]["num_tetrahedra"], default.info["mesh"]["num_tetrahedra"]
    assert abs(nf / nd - 1) < 0.05, (nf, nd)  # the Octree samples the balls' Min
    # the mesh measures: both meshes as close to the CAD volumes (P1 chords of spheres)
    for name in ("particle", "binder", "electrolyte"):
        exact = default.info["exact_volume"][name]
        ef = abs(measure.region_volume(forced, name) / exact - 1)
        ed = abs(measure.region_volume(default, name) / exact - 1)
        assert ef < max(2 * ed, 2e-3), (name, ef, ed)
    # the contact refinement survives the Octree: interface facets within a few per cent
    for name in ("particle_binder", "particle_electrolyte"):
        ff, fd = measure.count_facets(forced, name), measure.count_facets(default, name)
        assert abs(ff / fd - 1) < 0.05, (name, ff, fd)


# the CAD path only large electrodes take (at least BREP_REBUILD_MIN_PARTICLES particles:
# booleans that keep their inputs, then one BREP rebuild), forced on a small one
@pytest.mark.mpi
@pytest.mark.parametrize("spec", [ELECTRODE, HALF], ids=["electrode", "half_cell"])
def test_brep_rebuild_builds_the_same_electrode(monkeypatch, spec):
    """Booleans keeping their inputs and the BREP rebuild (collective: every rank builds
    with the same threshold): same regions, interfaces, exact measures and connectivity as
    the plain booleans, the same mesh up to roundoff of the coordinates."""
    default = build_mesh(spec, MPI.COMM_WORLD)
    monkeypatch.setattr(electrode, "BREP_REBUILD_MIN_PARTICLES", 0)
    made, rebuild = [], electrode.rebuild_from_brep

    def spy():
        out = rebuild()
        made.append(len(out))
        return out

    monkeypatch.setattr(electrode, "rebuild_from_brep", spy)
    forced = build_mesh(spec, MPI.COMM_WORLD)
    comm = MPI.COMM_WORLD  # gmsh builds on rank 0: there, one rebuild per CAD build
    made = comm.bcast(made if comm.rank == 0 else None, root=0)
    assert len(made) >= 1 and made[0] > 1, made
    _assert_same_cad(forced, default)
    for key in ("particles_not_connected", "connectivity", "particle_pieces",
                "isolated_binder_merged_into_electrolyte"):
        assert forced.info[key] == default.info[key], key
    nf, nd = forced.info["mesh"]["num_tetrahedra"], default.info["mesh"]["num_tetrahedra"]
    assert abs(nf / nd - 1) < 0.01, (nf, nd)
    for name in ("particle", "binder", "electrolyte"):
        v_f, v_d = measure.region_volume(forced, name), measure.region_volume(default, name)
        assert math.isclose(v_f, v_d, rel_tol=1e-3), (name, v_f, v_d)
    for name in ("particle_binder", "particle_electrolyte"):
        ff, fd = measure.count_facets(forced, name), measure.count_facets(default, name)
        assert abs(ff / fd - 1) < 0.01, (name, ff, fd)
