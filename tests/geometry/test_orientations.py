"""Grain orientations of secondary particles (``[geometry] orientations``, ``euler``), single
particle and composite (``particle_type = "secondary"``).

* 'random' (default) is what the seed gave before the key existed: the Voronoi seeds are
  unchanged by the key, and the rotations are uniform draws (orthonormal, det 1, they differ
  from grain to grain) whose recorded Bunge angles give them back.
* 'radial': for every grain, the crystal a-axis [100] is the direction from the particle
  centre to its Voronoi seed and the c-axis [001] is perpendicular to it (tangential), for
  random seeds and radii; composites: radial from each particle's own centre.
* 'aligned' with ``euler``: every grain R = Rz(phi1) Rx(Phi) Rz(phi2) (degrees), recorded in
  the mesh info with the same angles; an explicit list: one rotation per grain, in order.
* Wrong input (unknown rule, 'aligned' without euler, euler without 'aligned', a list of the
  wrong length, an angle outside [-360, 360]) is refused before any mesh, naming key, value
  and what is allowed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cellsim.geometry.packing import bunge_euler, euler_to_matrix
from cellsim.geometry.spec import parse_geometry
from cellsim.geometry.structured import plan_secondary, radial_rotation

GEOM = {"kind": "secondary_particle", "radius": 3e-6, "n_grains": 5, "seed": 3, "mesh_size": 1.2e-6}
HALF = dict(kind="half_cell", thickness=6e-6, width=9e-6, depth=5e-6, collector_thickness=1e-6,
            separator_thickness=3e-6, binder_fraction=0.05, seed=1,
            particles=[{"centre": [2.3e-6, 2.5e-6, 3e-6], "radius": 2e-6},
                       {"centre": [6.6e-6, 2.5e-6, 3e-6], "radius": 1.9e-6}],
            mesh_size=1.2e-6, interface_mesh_size=0.5e-6, particle_type="secondary", n_grains=4)  # fmt: skip


def rotations(**over):
    p = plan_secondary(parse_geometry({**GEOM, **over}))
    return np.asarray(p["seeds"]), np.asarray(p["rotations"])


def assert_rotations(R):
    for r in R:
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-13)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-13)


def test_random_is_the_default_and_keeps_the_seeds():
    s0, R0 = rotations()
    assert parse_geometry(GEOM).orientations == "random"
    for other in ({"orientations": "radial"}, {"orientations": "aligned", "euler": [10, 20, 30]}):
        s1, R1 = rotations(**other)
        np.testing.assert_array_equal(s1, s0)  # the key changes the orientations only
        assert np.abs(R1 - R0).max() > 1e-3
    assert_rotations(R0)
    assert min(np.abs(R0[i] - R0[j]).max() for i in range(5) for j in range(i)) > 1e-3
    for r in R0:  # the recorded angles give the rotation back
        np.testing.assert_allclose(euler_to_matrix(*bunge_euler(r)), r, atol=1e-12)


def test_radial_rule_a_axis_radial_c_axis_tangential():
    rng = np.random.default_rng(5)
    for seed in range(4):
        s, R = rotations(orientations="radial", seed=seed, n_grains=int(rng.integers(2, 12)))
        assert_rotations(R)
        rhat = s / np.linalg.norm(s, axis=1)[:, None]
        np.testing.assert_allclose(np.einsum("nij,ni->nj", R, rhat)[:, 0], 1.0, atol=1e-12)  # a = r
        np.testing.assert_allclose(np.einsum("ni,ni->n", R[:, :, 2], rhat), 0.0, atol=1e-12)  # c . r = 0
    # the spin about the radius: u sets the c-axis angle; a seed on the z axis and at the centre
    for point in ([0.3, -0.2, 0.7], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]):
        Ra, Rb = radial_rotation(point, 0.0), radial_rotation(point, 0.25)
        assert_rotations([Ra, Rb])
        assert Ra[:, 2] @ Rb[:, 2] == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(Ra[:, 0], Rb[:, 0], atol=1e-15)


def test_aligned_and_explicit_lists():
    e = [35.0, 70.0, 110.0]
    _, R = rotations(orientations="aligned", euler=e)
    want = euler_to_matrix(*np.radians(e))
    for r in R:
        np.testing.assert_array_equal(r, want)
    np.testing.assert_allclose(np.degrees(bunge_euler(want)), e, atol=1e-10)
    triples = [[10.0 * i, 15.0 + 20 * i, 5.0 * i] for i in range(5)]
    _, R = rotations(orientations=triples)
    for r, t in zip(R, triples):
        np.testing.assert_allclose(r, euler_to_matrix(*np.radians(t)), atol=0)


@pytest.mark.parametrize("over, words", [
    ({"orientations": "texture"}, r"geometry\.orientations = 'texture': unknown rule; allowed: 'random', 'radial'"),
    ({"orientations": "aligned"}, r"orientations = 'aligned' needs euler"),
    ({"euler": [1, 2, 3]}, r"euler = \[1\.0, 2\.0, 3\.0\] is only used with orientations = 'aligned'"),
    ({"orientations": [[0, 0, 0]] * 4}, r"orientations: 4 Euler triples for n_grains = 5; allowed: exactly one"),
    ({"orientations": [[0, 0, 0]] * 4 + [[0, 400, 0]]}, r"item 4 = \[0, 400, 0\]: allowed: .*\[-360, 360\]"),
    ({"orientations": "aligned", "euler": [0, 0]}, r"geometry\.euler"),
])
def test_bad_orientations_fail_in_validation(over, words):
    from cellsim.case import CaseError, case_from_dict

    with pytest.raises(CaseError, match=words):
        case_from_dict({"geometry": {**GEOM, **over}, "control": {"mode": "flux", "c_rate": 1.0}})


def test_composite_orientations_per_particle():
    from cellsim.geometry.composite_particles import plan_features

    spec = parse_geometry({**HALF, "orientations": "radial"})
    feats = plan_features(spec, [2e-6, 1.9e-6], np.random.default_rng(0))
    for f in feats:  # seeds relative to the particle's centre: radial from it
        s, R = np.asarray(f["seeds"]), np.asarray(f["rotations"])
        rhat = s / np.linalg.norm(s, axis=1)[:, None]
        np.testing.assert_allclose(np.einsum("ni,ni->n", R[:, :, 2], rhat), 0.0, atol=1e-12)
        np.testing.assert_allclose(np.einsum("ni,ni->n", R[:, :, 0], rhat), 1.0, atol=1e-12)
    triples = [[0, 0, 0], [90, 0, 0], [0, 90, 0], [0, 90, 90]]
    feats = plan_features(parse_geometry({**HALF, "orientations": triples}), [2e-6, 1.9e-6], np.random.default_rng(0))
    for f in feats:  # the same list for every particle
        for r, t in zip(f["rotations"], triples):
            np.testing.assert_allclose(r, euler_to_matrix(*np.radians(t)), atol=0)
    dflt = plan_features(parse_geometry(HALF), [2e-6, 1.9e-6], np.random.default_rng(0))
    rnd = plan_features(parse_geometry({**HALF, "orientations": "random"}), [2e-6, 1.9e-6], np.random.default_rng(0))
    assert dflt == rnd
    from pydantic import ValidationError

    for over, words in (({"orientations": [[0, 0, 0]] * 3}, "3 Euler triples for n_grains = 4"),
                        ({"particle_type": "dense", "n_grains": None, "orientations": "radial"},
                         "orientations = 'radial' is only used with particle_type = 'secondary'")):
        with pytest.raises((ValueError, ValidationError), match=words):
            parse_geometry({**HALF, **over})


@pytest.mark.mpi
def test_mesh_info_records_the_orientations():
    from cellsim.dolfinx_env import require_dolfinx

    require_dolfinx()
    from mpi4py import MPI

    from cellsim.geometry.mesh import build_mesh

    e = [20.0, 50.0, 80.0]
    tm = build_mesh(parse_geometry({**GEOM, "n_grains": 3, "orientations": "aligned", "euler": e}), MPI.COMM_WORLD)
    o = tm.info["grain_orientations"]
    assert len(o) == 3
    for g in o:
        np.testing.assert_allclose(g["rotation"], euler_to_matrix(*np.radians(e)), atol=1e-15)
        np.testing.assert_allclose(g["euler_bunge_rad"], np.radians(e), atol=1e-12)
    assert math.isclose(sum(tm.info["exact_volume"].get(f"grain_{i}", 0.0) for i in range(3)),
                        4 / 3 * math.pi * GEOM["radius"] ** 3, rel_tol=1e-6)
