"""The one protocol: signs of the end events for positive and negative working electrodes.

A graphite (negative) electrode gains state of charge while it is lithiated (discharge of
its half-cell), an NMC (positive) electrode loses it: ``until_soc`` must be approached from
the side the step moves the state of charge, for either material (a graphite discharge with
until_soc = 0.9 used to end at t = 0, "0.0253 reached 0.9").
"""

from __future__ import annotations

import pytest

from cellsim.case.common import CCStep, CVStep
from cellsim.protocol import Quantities, first_crossing, iterate_steps, step_events


def q(falls: bool) -> Quantities:
    return Quantities("voltage [V]", "current density [A m-2]", 10.0, falls)


def row(soc=0.5, v=3.8, i=0.0):
    return {"state of charge [-]": soc, "voltage [V]": v, "current density [A m-2]": i}


@pytest.mark.parametrize("falls, direction, start, end, crossed", [
    (False, "discharge", 0.0253, 0.95, True),   # graphite lithiated: SOC rises to 0.9
    (False, "discharge", 0.0253, 0.5, False),
    (False, "charge", 0.95, 0.85, True),        # graphite delithiated: SOC falls to 0.9
    (True, "discharge", 0.95, 0.85, True),      # NMC lithiated: SOC falls to 0.9
    (True, "charge", 0.5, 0.95, True),          # NMC delithiated: SOC rises to 0.9
    (True, "charge", 0.5, 0.6, False),
])
def test_until_soc_is_approached_from_the_side_the_step_moves(falls, direction, start, end, crossed):
    st = CCStep(mode="cc", c_rate=1.0, direction=direction, until_soc=0.9)
    ev = step_events(st, q(falls))
    assert [e.name for e in ev] == ["until_soc"]
    assert ev[0].g(row(soc=start)) > 0  # not reached at the start
    hit, frac = first_crossing(ev, row(soc=start), row(soc=end))
    assert (hit is not None) == crossed
    if crossed:
        assert frac == pytest.approx((0.9 - start) / (end - start))


def test_until_voltage_and_current_limit_signs():
    dis = step_events(CCStep(mode="cc", c_rate=2.0, direction="discharge", until_voltage=3.5), q(True))[0]
    assert dis.g(row(v=3.6)) > 0 > dis.g(row(v=3.4))  # lithiation: the voltage falls to the limit
    chg = step_events(CCStep(mode="cc", c_rate=2.0, direction="charge", until_voltage=4.2), q(True))[0]
    assert chg.g(row(v=4.1)) > 0 > chg.g(row(v=4.3))
    cv = step_events(CVStep(mode="cv", voltage=4.2, until_c_rate=0.05), q(True))[0]
    assert cv.g(row(i=1.0)) > 0 > cv.g(row(i=0.4))  # limit 0.05 x 10 A m-2


def test_cycles_and_currents():
    from cellsim.case.common import ProtocolSpec

    p = ProtocolSpec(steps=[{"mode": "cc", "c_rate": 0.5, "direction": "charge", "duration": 10.0},
                            {"mode": "rest", "duration": 5.0}], cycles=3)
    steps = list(iterate_steps(p, q(True)))
    assert [s.number for s in steps] == [1, 2, 3, 4, 5, 6]
    assert [s.cycle for s in steps] == [1, 1, 2, 2, 3, 3]
    assert steps[0].current == pytest.approx(-5.0) and steps[1].current == 0.0
