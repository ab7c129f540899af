"""Element quality of generated electrodes: no sliver below min_element_quality (gmsh
minSICN >= 0.01) on the electrode/half-cell cases and a packing-seed sweep, a clear
refusal where a mesh misses it; and the CAD rules that keep slivers away (OCC sphere
poles and seams off the contact circles), checked against gmsh's own geometry.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from cellsim.geometry.cad_features import (
    circle_vertices,
    image_neighbours,
    pole_axis,
    pole_clearance,
    seam_angle,
    seam_crossings,
    seam_points,
    sphere_circles,
    tilt_matrix,
)

ROOT = Path(__file__).resolve().parents[2]


def _case_geometry(name: str) -> dict:
    with open(ROOT / "cases" / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)["geometry"]


# ---------------------------------------------------------------------------------------
# pure numpy rules
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("theta_deg", [5.0, 30.0, 60.0, 80.0, 90.0])
def test_pole_axis_single_circle_closed_form(theta_deg):
    """One circle of angular radius theta about u: the poles at angle alpha from u are
    min(|alpha - theta|, |pi - alpha - theta|) from it, largest (max(theta, pi/2 - theta))
    at alpha = 0 or pi/2. The former rule (axis far from u) gives pi/2 - theta, i.e. poles
    on the circle of a plane through the centre (theta = 90 degrees)."""
    rng = np.random.default_rng(int(theta_deg))
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    th = math.radians(theta_deg)
    a = pole_axis(u[None], np.array([th]))
    best = max(th, math.pi / 2 - th)
    got = pole_clearance(a, u[None], np.array([th]))
    assert got == pytest.approx(best, abs=0.08)  # 400 candidate axes: ~0.07 rad spacing
    if theta_deg == 90.0:
        assert abs(a @ u) > 0.99


def test_sphere_circles_against_explicit_intersection():
    """Angular radius of the intersection circle of two spheres: the circle points lie on
    both spheres."""
    R = 1.3
    V = np.array([[1.5, 0.2, -0.4], [0.0, 0.9, 0.0], [3.0, 0.0, 0.0]])
    R2 = np.array([0.8, 0.6, 0.5])  # the last one does not reach
    u, th = sphere_circles(R, V, R2)
    assert len(u) == 2
    for k in range(2):
        e1 = np.cross(u[k], [0.3, 0.1, 0.9])
        e1 /= np.linalg.norm(e1)
        p = R * (math.cos(th[k]) * u[k] + math.sin(th[k]) * e1)  # a point of the circle
        assert np.linalg.norm(p) == pytest.approx(R)
        assert np.linalg.norm(p - V[k]) == pytest.approx(R2[k])


def test_circle_vertices_lie_on_both_circles():
    rng = np.random.default_rng(5)
    u = rng.normal(size=(6, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    th = rng.uniform(0.2, 1.4, 6)
    x = circle_vertices(u, th)
    assert len(x) > 0 and np.allclose(np.linalg.norm(x, axis=1), 1.0)
    on = np.abs(np.arccos(np.clip(x @ u.T, -1, 1)) - th[None, :]) < 1e-9
    assert np.all(on.sum(axis=1) >= 2)  # each vertex is on (at least) two circles
    # and every crossing pair is found: pairs whose circles meet (|a - b| < psi < a + b)
    psi = np.arccos(np.clip(u @ u.T, -1, 1))
    i, j = np.triu_indices(6, 1)
    meet = (np.abs(th[i] - th[j]) < psi[i, j]) & (psi[i, j] < th[i] + th[j])
    assert len(x) == 2 * meet.sum()


def test_seam_crossings_on_the_sphere():
    """Where another sphere's seam (a half great circle of radius 1 about an offset
    centre) crosses a sphere of radius R: two points, on that sphere to the sampling
    accuracy, on the seam's circle."""
    a = np.array([0.0, 0.0, 1.0])
    off = np.array([0.9, 0.0, 0.0])
    x = seam_crossings(off + 1.0 * seam_points(a, math.pi), 1.2)  # the seam on the -x side
    assert len(x) == 2 and np.allclose(np.linalg.norm(x, axis=1), 1.0)
    p = 1.2 * x  # the crossing points, from the sphere's centre
    assert np.allclose(np.linalg.norm(p - off, axis=1), 1.0, atol=2e-4)
    assert np.allclose(p[:, 1], 0.0)  # the seam lies in the plane y = 0


def test_image_neighbours_equals_brute_force():
    rng = np.random.default_rng(3)
    W, D = 10.0, 8.0
    ca = rng.uniform((0, 0, 0), (W, D, 12), (40, 3))
    ra = rng.uniform(0.5, 2.0, 40)
    cb = rng.uniform((0, 0, 0), (W, D, 12), (30, 3))
    rb = rng.uniform(0.3, 1.5, 30)
    I, J, V = image_neighbours(ca, ra, cb, rb, W, D, margin=0.2)
    got = {(int(i), int(j), tuple(np.round(v, 9))) for i, j, v in zip(I, J, V)}
    ref = set()
    for i in range(40):
        for j in range(30):
            for a in (-1, 0, 1):
                for b in (-1, 0, 1):
                    v = cb[j] + (a * W, b * D, 0) - ca[i]
                    if np.linalg.norm(v) < ra[i] + rb[j] + 0.2:
                        ref.add((i, j, tuple(np.round(v, 9))))
    assert got == ref


def test_seam_avoids_circles_where_a_free_meridian_exists():
    """Three small circles on the equator at longitudes 0, 90, 180 degrees (axis z): the
    seam (half meridian at the returned longitude) crosses none, and keeps away from them."""
    lon = np.radians([0.0, 90.0, 180.0])
    u = np.column_stack([np.cos(lon), np.sin(lon), np.zeros(3)])
    th = np.full(3, math.radians(20.0))
    phi = seam_angle(np.array([0.0, 0.0, 1.0]), u, th)
    t = np.linspace(0, math.pi, 181)
    seam = np.column_stack([np.sin(t) * math.cos(phi), np.sin(t) * math.sin(phi), np.cos(t)])
    dist = np.abs(np.arccos(np.clip(seam @ u.T, -1, 1)) - th).min()
    assert dist > math.radians(20.0)  # the free longitudes are 200..340 degrees


# ---------------------------------------------------------------------------------------
# against gmsh / OpenCASCADE
# ---------------------------------------------------------------------------------------


def test_sphere_poles_and_seam_where_predicted():
    """The electrode builder's OCC sphere (spin about z, then z turned to the axis): its
    pole vertices at c +- r axis and its seam through c + r R (cos spin, sin spin, 0),
    as seam_angle assumes."""
    gmsh = pytest.importorskip("gmsh")
    from cellsim.geometry.electrode import _add_sphere
    from cellsim.geometry.gmsh_model import gmsh_session

    c, r = np.array([1.0, -2.0, 0.5]), 1.7
    axis = np.array([0.3, -0.5, 0.8])
    axis /= np.linalg.norm(axis)
    spin = 1.1
    with gmsh_session():
        occ = gmsh.model.occ
        _add_sphere(occ, c, r, axis, spin)
        occ.synchronize()
        pts = np.array([gmsh.model.getValue(0, t, []) for _, t in gmsh.model.getEntities(0)])
        assert len(pts) == 2
        for sgn in (1, -1):
            assert np.min(np.linalg.norm(pts - (c + sgn * r * axis), axis=1)) < 1e-7
        (seam,) = [t for _, t in gmsh.model.getEntities(1) if gmsh.model.occ.getMass(1, t) > 1e-6]
        lo, hi = gmsh.model.getParametrizationBounds(1, seam)
        mid = np.array(gmsh.model.getValue(1, seam, [(lo[0] + hi[0]) / 2]))
        want = c + r * tilt_matrix(axis) @ np.array([math.cos(spin), math.sin(spin), 0.0])
        assert np.linalg.norm(mid - want) < 1e-6
        assert np.linalg.norm(c + r * seam_points(axis, spin)[45] - mid) < 1e-6


# ---------------------------------------------------------------------------------------
# generated meshes
# ---------------------------------------------------------------------------------------

#: the electrode and half-cell geometries of cases/ (the long ones under slow)
FAST_CASES = ["halfcell_discharge", "halfcell_debonding"]
SLOW_CASES = ["mesh_electrode", "mesh_electrode_coating", "mesh_half_cell"]


def _need_dolfinx():
    pytest.importorskip("cellsim.dolfinx_env").require_dolfinx()


def _quality(spec) -> float:
    _need_dolfinx()
    from mpi4py import MPI

    from cellsim.geometry.mesh import build_mesh

    tm = build_mesh(spec, MPI.COMM_SELF)
    return tm.info["mesh"]["quality_min"]


@pytest.mark.parametrize("name", FAST_CASES)
def test_case_meshes_have_no_slivers(name):
    assert _quality(_case_geometry(name)) >= 0.01


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_CASES)
def test_large_case_meshes_have_no_slivers(name):
    assert _quality(_case_geometry(name)) >= 0.01


@pytest.mark.slow
def test_seed_sweep_has_no_slivers():
    """The 24 seeds of the connectivity sweep and the composite test geometries: every
    packable one is built (a refusal for slivers would raise here) with quality >= 0.01;
    a first mesh below it may be meshed again with another gmsh algorithm, which the
    report records (``mesh_quality_retries``)."""
    _need_dolfinx()
    from mpi4py import MPI
    from test_composite import ELECTRODE, HALF
    from test_connectivity import SWEEP

    from cellsim.geometry.mesh import build_mesh
    from cellsim.geometry.packing import PackingError

    worst, retried = [], []
    for spec in [ELECTRODE, HALF] + [dict(SWEEP, seed=s) for s in range(24)]:
        try:
            tm = build_mesh(spec, MPI.COMM_SELF)
        except PackingError:
            continue
        worst.append(tm.info["mesh"]["quality_min"])
        retried += [(spec["kind"], spec["seed"])] if "mesh_quality_retries" in tm.info else []
    assert len(worst) >= 25 and min(worst) >= 0.01, worst
    assert len(retried) <= 3, retried  # the CAD rules do the work, the retries are rare


def test_sliver_refused_with_quality_regions_and_hint():
    """A threshold no tetrahedral mesh meets is refused after every gmsh algorithm, with
    the threshold, the worst quality, the regions and the way out in the message."""
    _need_dolfinx()
    from mpi4py import MPI

    from cellsim.geometry.mesh import GeometryError, build_mesh

    spec = {"kind": "sphere", "radius": 2e-6, "mesh_size": 1e-6, "min_element_quality": 0.9}
    with pytest.raises(GeometryError) as err:
        build_mesh(spec, MPI.COMM_SELF)
    msg = str(err.value)
    assert "min_element_quality = 0.9" in msg and "worst minSICN" in msg
    assert "particle_0 (" in msg and "min_element_quality = 0 to accept" in msg
    assert "gmsh algorithms tried" in msg
    tried = msg.split("gmsh algorithms tried: ")[1].split("; ")
    assert len(tried) == 4  # the first algorithm and the three retries, on the same CAD
    q = [float(t.split("worst minSICN ")[1].rstrip(")")) for t in tried]
    assert all(0 < x < 0.9 for x in q)
    # the first of them is the mesh accepted at min_element_quality = 0 (its reported minimum)
    assert _quality(dict(spec, min_element_quality=0.0)) == pytest.approx(q[0], rel=1e-2)


def test_bad_min_element_quality_rejected_before_meshing():
    from pydantic import ValidationError

    from cellsim.geometry.spec import parse_geometry

    with pytest.raises(ValidationError, match="min_element_quality"):
        parse_geometry({"kind": "sphere", "radius": 2e-6, "min_element_quality": 1.5})


def test_pairs_tree_equals_all_pairs():
    """The packing's neighbour list from the k-d tree is the all-pairs one, element for
    element (same pairs, order and shifts), so packings do not change with it."""
    from cellsim.geometry.packing import _pairs_dense, _pairs_tree

    rng = np.random.default_rng(7)
    for n, L in ((80, np.array([20.0, 16.0, 14.0])), (300, np.array([30.0, 30.0, 20.0]))):
        c = rng.uniform((0, 0, 0), L, (n, 3))
        r = rng.uniform(0.8, 2.2, n)
        for cut in (0.0, 0.3, 1.5):
            a, b = _pairs_dense(c, r, cut, L), _pairs_tree(c, r, cut, L)
            for x, y in zip(a, b):
                assert np.array_equal(x, y)
    assert len(a[0]) > 100


def _tangency_all_pairs(k, rich, centres, radii, L) -> float:
    from cellsim.geometry.binder import _neck_valid
    from cellsim.geometry.packing import lateral_shifts

    """The all-pairs tangency clearance the builder used before its k-d tree version.

    Near-tangent surfaces make tiny CAD edges and slivers. Events: ball-ball and
    ball-particle (with in-plane images) |d - (R1 + R2)| and |d - |R1 - R2||, and on a
    particle p of radius r_p the intersection circles of two balls (angular radii
    cos(theta) = (r_p^2 + d^2 - R^2) / (2 r_p d)) whose angular separation psi is close to
    theta_a + theta_b or |theta_a - theta_b| (clearance r_p |psi - ...|).
    """
    balls = [(r[0], k * r[1]) for r in rich if _neck_valid(r, k)]
    if not balls:
        return math.inf
    cb = np.array([b[0] for b in balls])
    Rb = np.array([b[1] for b in balls])
    out = math.inf
    d = np.linalg.norm(cb[:, None, :] - cb[None, :, :], axis=2)
    iu = np.triu_indices(len(balls), 1)
    near = d[iu] < (Rb[:, None] + Rb[None, :])[iu] + 1e-3
    if near.any():
        dd = d[iu][near]
        s_ = (Rb[:, None] + Rb[None, :])[iu][near]
        df = np.abs(Rb[:, None] - Rb[None, :])[iu][near]
        out = min(out, float(np.min(np.abs(dd - s_))), float(np.min(np.abs(dd - df))))
    for sh in lateral_shifts(L):
        cp = centres + sh
        dp = np.linalg.norm(cb[:, None, :] - cp[None, :, :], axis=2)  # balls x particles
        touch = dp < Rb[:, None] + radii[None, :]
        if not touch.any():
            continue
        a = np.abs(dp - (Rb[:, None] + radii[None, :]))[touch]
        b = np.abs(dp - np.abs(Rb[:, None] - radii[None, :]))[touch]
        out = min(out, float(a.min()), float(b.min()))
        # the ball-particle intersection circle must not touch a lateral face plane
        ia, ip = np.nonzero(touch)
        dv = cp[ip] - cb[ia]
        dn = np.linalg.norm(dv, axis=1)
        nv = dv / dn[:, None]
        xa = (dn**2 + Rb[ia] ** 2 - radii[ip] ** 2) / (2 * dn)
        rho = np.sqrt(np.maximum(Rb[ia] ** 2 - xa**2, 0.0))
        q = cb[ia] + xa[:, None] * nv
        for k_, Lk in ((0, L[0]), (1, L[1])):
            reach = rho * np.sqrt(np.maximum(1 - nv[:, k_] ** 2, 0.0))
            for plane in (0.0, Lk):
                dplane = np.abs(q[:, k_] - plane)
                near = dplane < reach + 0.5 * Rb[ia]
                if near.any():
                    out = min(out, float(np.min(np.abs(dplane - reach)[near])))
        for pj in np.flatnonzero(touch.any(axis=0)):
            ia = np.flatnonzero(touch[:, pj])
            if ia.size < 2:
                continue
            rp = radii[pj]
            v = cb[ia] - cp[pj]
            dn = np.linalg.norm(v, axis=1)
            cos_t = np.clip((rp**2 + dn**2 - Rb[ia] ** 2) / (2 * rp * dn), -1, 1)
            th = np.arccos(cos_t)
            u = v / dn[:, None]
            psi = np.arccos(np.clip(u @ u.T, -1, 1))
            ii, jj = np.triu_indices(ia.size, 1)
            e1 = np.abs(psi[ii, jj] - (th[ii] + th[jj]))
            e2 = np.abs(psi[ii, jj] - np.abs(th[ii] - th[jj]))
            out = min(out, float(rp * min(e1.min(), e2.min())))
    return out


def test_tangency_clearance_tree_equals_all_pairs():
    """The binder planner's tangency clearance (k-d trees, ball pairs within ``cap``) gives
    the all-pairs value exactly where it is below cap, and at least cap elsewhere, so that
    the neck factor chosen is the same."""
    from cellsim.geometry.binder import tangency_clearance

    rng = np.random.default_rng(11)
    L = np.array([12.0, 10.0, 14.0])
    for trial in range(6):
        centres = rng.uniform((0, 0, 2), (L[0], L[1], 12), (30, 3))
        radii = rng.uniform(1.0, 2.0, 30)
        cb = rng.uniform((0, 0, 0), L, (80, 3))
        rich = [(c, float(s), 0.0, (np.inf, np.inf, np.inf), None) for c, s in zip(cb, rng.uniform(0.5, 1.5, 80))]
        k = 0.4 + 0.05 * trial
        ref = _tangency_all_pairs(k, rich, centres, radii, L)
        assert tangency_clearance(k, rich, centres, radii, L) == ref
        for cap in (0.01, 0.1, 1.0):
            got = tangency_clearance(k, rich, centres, radii, L, cap=cap)
            assert got == ref if ref < cap else got >= cap


@pytest.mark.mpi
def test_quality_check_and_refusal_on_every_rank():
    """Under MPI the mesh is made on rank 0: every rank gets the same quality report as a
    serial build, and a refusal reaches every rank as the same error (no deadlock)."""
    _need_dolfinx()
    from mpi4py import MPI

    from cellsim.geometry.mesh import GeometryError, build_mesh

    comm = MPI.COMM_WORLD
    spec = _case_geometry("halfcell_debonding")
    q = build_mesh(spec, comm).info["mesh"]["quality_min"]
    assert len(set(comm.allgather(q))) == 1 and q >= 0.01
    assert q == build_mesh(spec, MPI.COMM_SELF).info["mesh"]["quality_min"]
    bad = {"kind": "sphere", "radius": 2e-6, "mesh_size": 1e-6, "min_element_quality": 0.9}
    with pytest.raises(GeometryError, match="min_element_quality = 0.9"):
        build_mesh(bad, comm)
    comm.Barrier()


def _faces(gmsh) -> dict:
    """Sorted node triple -> number of tetrahedra with that face (the whole 3D mesh)."""
    faces = np.asarray(gmsh.model.mesh.getElementFaceNodes(4, 3)).reshape(-1, 3)
    _, counts = np.unique(np.sort(faces, axis=1), axis=0, return_counts=True)
    return counts


def test_sliver_volumes_meshed_again_alone_keep_the_rest_and_conform():
    """``_remesh_volumes`` meshes one CAD volume again in 3D with the other mesher: the other
    volume's tetrahedra and nodes are the same, the interface triangles are kept, and the
    mesh is conforming (every face of a tetrahedron is shared by two tetrahedra or lies on
    the outer boundary, whose triangle count is unchanged)."""
    import gmsh

    from cellsim.geometry.gmsh_model import gmsh_session
    from cellsim.geometry.mesh import GEOMETRY_ADAPTER, _generate, _remesh_volumes

    spec = GEOMETRY_ADAPTER.validate_python({"kind": "sphere", "radius": 2e-6})
    with gmsh_session(False, name="remesh_test"):
        occ = gmsh.model.occ
        a, b = occ.addBox(0, 0, 0, 1, 1, 1), occ.addBox(1, 0, 0, 1, 1, 1)
        occ.fragment([(3, a)], [(3, b)])
        occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.15)
        _generate(gmsh, spec, 6, 1, 0.3)
        vols = [t for _, t in gmsh.model.getEntities(3)]
        keep = gmsh.model.mesh.getElements(3, vols[1])
        xyz = dict(zip(gmsh.model.mesh.getNodes()[0].astype(int), np.reshape(gmsh.model.mesh.getNodes()[1], (-1, 3))))
        counts = _faces(gmsh)
        outer = int(np.sum(counts == 1))
        tris = {s: len(gmsh.model.mesh.getElements(2, s)[1][0]) for _, s in gmsh.model.getEntities(2)}
        before = len(gmsh.model.mesh.getElements(3, vols[0])[1][0])
        _remesh_volumes(gmsh, spec, [vols[0]], 10, 0.3)
        after = gmsh.model.mesh.getElements(3, vols[0])
        assert len(after[1][0]) > 0 and not np.array_equal(after[1][0], keep[1][0])
        again = gmsh.model.mesh.getElements(3, vols[1])
        # the same tetrahedra at the same places (gmsh renumbers elements and nodes)
        assert len(again[2][0]) == len(keep[2][0])
        now = dict(zip(gmsh.model.mesh.getNodes()[0].astype(int), np.reshape(gmsh.model.mesh.getNodes()[1], (-1, 3))))
        assert np.array_equal(np.array([now[int(n)] for n in again[2][0]]), np.array([xyz[int(n)] for n in keep[2][0]]))
        assert {s: len(gmsh.model.mesh.getElements(2, s)[1][0]) for _, s in gmsh.model.getEntities(2)} == tris
        counts = _faces(gmsh)
        assert set(counts.tolist()) == {1, 2} and int(np.sum(counts == 1)) == outer
        assert gmsh.option.getNumber("Mesh.MeshOnlyEmpty") == 0
        print("tetrahedra of the remeshed volume", before, "->", len(after[1][0]))


@pytest.mark.mpi
def test_a_sliver_is_mended_in_its_volume_not_by_a_new_mesh(monkeypatch):
    """When the quality check finds slivers, their volumes are first meshed again in 3D with
    the other mesher (the rest kept) and checked again; the whole mesh is made anew only if
    that fails. A sliver is faked in the coating of a core-shell particle: the report names
    the volume, the first mesh's quality and the mesher; the mesh is whole (region volumes
    and interface area of the CAD) and the same on 2 ranks."""
    _need_dolfinx()
    from mpi4py import MPI

    import cellsim.geometry.mesh as gm
    from cellsim.geometry.measure import interface_area, region_volume

    real, calls = gm.low_quality_volumes, []

    def fake(threshold):
        import gmsh

        qmin, bad = real(threshold)
        calls.append(qmin)
        if len(calls) == 1:  # the first mesh: a sliver in the coating (the CAD volume 2 here)
            coating = [t for _, t in gmsh.model.getEntities(3)][-1]
            return 1e-9, {**bad, coating: 1}
        return qmin, bad

    monkeypatch.setattr(gm, "low_quality_volumes", fake)
    spec = {"kind": "core_shell", "core_radius": 2e-6, "coating_thickness": 0.5e-6, "mesh_size": 0.4e-6}
    tm = gm.build_mesh(spec, MPI.COMM_WORLD)
    info = tm.info
    if MPI.COMM_WORLD.rank == 0:
        assert len(calls) == 2  # the first mesh and the mended one, no new mesh
        assert info["mesh_quality_retries"] == ["2D algorithm 6, 3D 1: worst minSICN 1e-09"]
    rem = MPI.COMM_WORLD.bcast(info.get("mesh_volumes_remeshed"), root=0)
    assert rem is not None and rem["kept"] and rem["algorithm3d"] == 10 and rem["worst_before"] == 1e-9
    assert len(rem["volumes"]) == 1
    r_c, r = 2e-6, 2.5e-6
    assert region_volume(tm, "coating") == pytest.approx(4 / 3 * math.pi * (r**3 - r_c**3), rel=2e-2)
    assert region_volume(tm, "core") == pytest.approx(4 / 3 * math.pi * r_c**3, rel=2e-2)
    assert interface_area(tm, "core_coating") == pytest.approx(4 * math.pi * r_c**2, rel=2e-2)
    assert tm.info["mesh"]["quality_min"] >= 0.01
