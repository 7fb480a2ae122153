"""The cost model against hand-computed cases."""

from __future__ import annotations

import pytest

from scalectl import cost
from scalectl.cost import Rate, TrafficProfile

# 400 rps at peak for 10 h/day, 40 rps otherwise; one replica serves 60 rps.
PROFILE = TrafficProfile(peak_rps=400, offpeak_rps=40, peak_hours_per_day=10, replica_rps=60)
PEAK_HOURS = 730 * 10 / 24  # 304.1666...
OFFPEAK_HOURS = 730 - PEAK_HOURS  # 425.8333...


def test_replicas_are_ceil_of_load_clamped_to_bounds() -> None:
    assert cost.replicas_for(400, 60, 1, 10) == 7  # 6.67 -> 7
    assert cost.replicas_for(400, 60, 1, 4) == 4  # clamped to max
    assert cost.replicas_for(40, 60, 2, 4) == 2  # clamped to min
    assert cost.replicas_for(0, 60, 0, 4) == 0  # scale to zero
    assert cost.replicas_for(120, 40, 1, 8) == 3  # exactly 3, not 4 from float noise


def test_min_expected_max_by_hand() -> None:
    u = cost.usage(1, 4, PROFILE)
    assert (u.peak_replicas, u.offpeak_replicas) == (4, 1)
    assert u.min_hours == 730
    assert u.max_hours == 2920
    assert u.expected_hours == pytest.approx(4 * PEAK_HOURS + 1 * OFFPEAK_HOURS)  # 1642.5
    assert u.expected_hours == pytest.approx(1642.5)
    assert "max is 4" in u.note  # peak wanted 7

    m = cost.monthly(u, 2.0)
    assert (m.min, m.expected, m.max) == pytest.approx((1460.0, 3285.0, 5840.0))


def test_profile_inside_bounds_is_not_clamped() -> None:
    u = cost.usage(1, 10, PROFILE)
    assert (u.peak_replicas, u.offpeak_replicas) == (7, 1)
    assert u.expected_hours == pytest.approx(7 * PEAK_HOURS + OFFPEAK_HOURS)
    assert u.note == ""


def test_without_traffic_only_min_and_max_and_why() -> None:
    u = cost.usage(2, 5, None)
    m = cost.monthly(u, 1.0)
    assert (m.min, m.expected, m.max) == (1460.0, None, 3650.0)
    assert "no `traffic:`" in u.note


def test_spot_is_billed_only_when_asked_and_offered() -> None:
    u = cost.usage(1, 4, PROFILE)
    rate = Rate(on_demand=1.0, spot=0.3, basis="list", source="test", date="2026-01-01")
    on_demand = cost.estimate("t", "gcp", "m", "r", u, rate, wants_spot=False)
    spot = cost.estimate("t", "gcp", "m", "r", u, rate, wants_spot=True)
    assert on_demand.billed == "on_demand"
    assert on_demand.expected == pytest.approx(1642.5)
    assert on_demand.spot is not None and on_demand.spot.expected == pytest.approx(1642.5 * 0.3)
    assert spot.billed == "spot"
    assert spot.expected == pytest.approx(492.75)

    no_spot = Rate(on_demand=1.0, spot=None, basis="list", source="t", date="", spot_note="not offered here")
    asked = cost.estimate("t", "aws", "m", "r", u, no_spot, wants_spot=True)
    assert asked.billed == "on_demand"
    assert asked.spot is None
    assert any("not offered here" in n for n in asked.notes)


def test_unpriced_rate_gives_no_figures() -> None:
    u = cost.usage(1, 2, PROFILE)
    rate = Rate(on_demand=None, spot=None, basis="unpriced", source="s", date="", problem="placeholder")
    e = cost.estimate("t", "gcp", "m", "r", u, rate, wants_spot=True)
    assert not e.priced
    assert e.expected is None and e.spot is None


def test_delta_against_baseline() -> None:
    d = cost.delta({"a": 150.0, "b": 10.0}, {"a": 100.0, "c": 40.0})
    assert d["a"] == {"before": 100.0, "after": 150.0, "delta": 50.0, "status": "changed"}
    assert d["b"]["status"] == "added" and d["b"]["delta"] == 10.0
    assert d["c"]["status"] == "removed" and d["c"]["delta"] == -40.0
