"""Connectivity predicted from the plan (before any CAD) agrees with the CAD check, so the
repair bridges go into the first build (no rebuild, the same bridges, the same model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cellsim.geometry.connectivity_plan import box_fraction, predict_isolated

pytest.importorskip("gmsh")

from tests.geometry.test_connectivity import SWEEP  # the connectivity sweep's geometry


def test_box_fraction_closed_forms():
    c = np.array([5.0, 5.0, 5.0])
    assert box_fraction(c, 1.0, 10, 10, 10) == pytest.approx(1.0, rel=1e-4)
    for h in (0.05, 0.2, 1.0, 1.7):  # a cap of height h inside x > 0, and the ball less it
        cap = math.pi * h * h * (3 - h) / 3 / (4 / 3 * math.pi)
        assert box_fraction(np.array([h - 1.0, 5, 5]), 1.0, 10, 10, 10) == pytest.approx(cap, rel=2e-3)
        assert box_fraction(np.array([1.0 - h, 5, 5]), 1.0, 10, 10, 10) == pytest.approx(1 - cap, rel=1e-4)
    assert box_fraction(np.array([0.0, 0.0, 5.0]), 1.0, 10, 10, 10) == pytest.approx(0.25, rel=1e-4)
    assert box_fraction(np.array([0.0, 0.0, 0.0]), 1.0, 10, 10, 10) == pytest.approx(0.125, rel=1e-4)
    assert box_fraction(np.array([-2.0, 5, 5]), 1.0, 10, 10, 10) == 0.0


def test_predicted_graph_of_simple_arrangements():
    """Units: um. A collector neck grounds the low particle, a pair neck its neighbour; a
    particle far above is isolated; a particle cut by x = 0 has two pieces, and only the
    one its neck reaches is grounded (the mesh is not periodic)."""
    box = (20.0, 10.0, 20.0)
    centres = np.array([[5.0, 5.0, 2.5], [9.6, 5.0, 2.5], [5.0, 5.0, 16.0], [1.0, 5.0, 9.0]])
    radii = np.array([2.0, 2.0, 2.0, 2.0])
    necks = [((5.0, 5.0, 0.0), 1.2), ((7.3, 5.0, 2.5), 0.7)]
    iso, grounded = predict_isolated(centres, radii, necks, box, 1e-3)
    assert sorted(i for i, _ in grounded) == [0, 1]
    assert sorted(sorted(i for i, _ in comp) for comp in iso) == [[2], [3], [3]]
    # a chain of three balls from the collector to the piece of particle 3 at x = 1
    chain = [((1.6, 5.0, 6.3), 1.5), ((1.6, 5.0, 3.6), 1.5), ((1.6, 5.0, 0.8), 1.5)]
    iso, grounded = predict_isolated(centres, radii, necks + chain, box, 1e-3)
    assert sorted((i, round(float(c[0]), 6)) for i, c in grounded) == [(0, 5.0), (1, 9.6), (3, 1.0)]
    assert sorted((i, round(float(c[0]), 6)) for comp in iso for i, c in comp) == [(2, 5.0), (3, 21.0)]


def _cad(spec_dict, predict=True):
    """The CAD build only (no mesh): the builder's result and the region volumes."""
    from cellsim.geometry import electrode
    from cellsim.geometry.gmsh_model import gmsh_session
    from cellsim.geometry.mesh import plan_geometry
    from cellsim.geometry.spec import parse_geometry

    spec = parse_geometry(spec_dict)
    plan = plan_geometry(spec)
    old = electrode.PREDICT_BRIDGES
    electrode.PREDICT_BRIDGES = predict
    try:
        with gmsh_session(False):
            res = electrode.build_electrode(spec, plan)
    finally:
        electrode.PREDICT_BRIDGES = old
    return res, plan


@pytest.mark.parametrize("seed", [pytest.param(1, marks=pytest.mark.slow), 5])
def test_prediction_finds_what_the_cad_finds(seed):
    """Seeds 1 (no particle reaches the collector) and 5 (corner pieces cut by two lateral
    faces): the isolated particles predicted from the plan are those of the CAD check of
    the necks alone, and with the prediction the first build is the repaired one: no
    rebuild, the same bridges as the CAD-planned repair."""
    from cellsim.geometry.base import MODEL_UNIT
    from cellsim.geometry.electrode import TINY_PIECE, _model_units

    spec = dict(SWEEP, seed=seed)
    cad_alone, plan = _cad(dict(spec, allow_isolated_particles=True), predict=False)
    _half, (W, D, T, _tcc), centres, radii = _model_units(_spec(spec), plan)
    balls = [(np.asarray(p0) / MODEL_UNIT, rb / MODEL_UNIT) for (p0, _p1, _l), rb in zip(plan["binder"]["segments"], plan["binder"]["radii"])]
    iso, _ = predict_isolated(centres, radii, balls, (W, D, T), TINY_PIECE)
    predicted = sorted({i for comp in iso for i, _ in comp})
    assert predicted == cad_alone.info["connectivity"]["particles_not_connected"] != []
    old, _ = _cad(spec, predict=False)
    new, _ = _cad(spec, predict=True)
    co, cn = old.info["connectivity"], new.info["connectivity"]
    assert co["repair_rounds"] >= 1 and cn["repair_rounds"] == 0
    assert cn["bridges_predicted"] == len(cn["bridges"]) == len(co["bridges"])
    for a, b in zip(co["bridges"], cn["bridges"]):
        assert (a["from"], a["to"], a["kind"]) == (b["from"], b["to"], b["kind"])
        assert np.allclose(a["start"], b["start"], rtol=0, atol=1e-15) and np.allclose(a["end"], b["end"], rtol=0, atol=1e-15)
    assert cn["particles_not_connected"] == [] and cn["connected_fraction"] == 1.0
    assert new.info["exact_volume"] == pytest.approx(old.info["exact_volume"], rel=1e-12)


def _spec(d):
    from cellsim.geometry.spec import parse_geometry

    return parse_geometry(d)
