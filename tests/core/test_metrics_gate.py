"""The one bake gate every platform applies: fixed ceilings and comparison with the replaced revision."""

from __future__ import annotations

from scalectl.metrics import RevisionMetrics, judge
from scalectl.schema import Rollout


def figures(revision: int, requests: int, p99: float | None, rate_5xx: float = 0.0) -> RevisionMetrics:
    return RevisionMetrics(revision=revision, window=60, requests=requests, p99_ms=p99, rate_5xx=rate_5xx)


def test_too_few_requests_is_not_judged_yet() -> None:
    verdict = judge(Rollout(min_requests=20), figures(5, 12, 900.0, 0.5), None)
    assert verdict.ok is None
    assert "12 of the 20" in verdict.reason


def test_error_rate_over_the_ceiling_names_the_figure_and_the_previous_revision() -> None:
    rollout = Rollout(max_error_rate=0.02, min_requests=10)
    verdict = judge(rollout, figures(5, 200, 40.0, 0.125), figures(4, 800, 40.0, 0.0))
    assert verdict.ok is False
    assert "5xx rate 12.5% of revision 5" in verdict.reason
    assert "over rollout.max_error_rate 2.0% by 10.5 points" in verdict.reason
    assert "revision 4 it replaces: 0.0%" in verdict.reason


def test_unset_error_ceiling_defaults_to_five_percent() -> None:
    assert judge(Rollout(min_requests=1), figures(2, 100, 10.0, 0.04), None).ok is True
    assert judge(Rollout(min_requests=1), figures(2, 100, 10.0, 0.06), None).ok is False


def test_p99_over_max_p99_says_by_how_much() -> None:
    rollout = Rollout.model_validate({"max_p99": "250ms", "min_requests": 10})
    assert rollout.max_p99 == 250.0
    verdict = judge(rollout, figures(7, 100, 400.0), figures(6, 100, 50.0))
    assert verdict.ok is False
    assert "P99 400 ms of revision 7 is over rollout.max_p99 250 ms by 150 ms (60%)" in verdict.reason
    assert "revision 6 it replaces: 50 ms" in verdict.reason


def test_p99_ratio_compares_with_the_replaced_revision() -> None:
    rollout = Rollout.model_validate({"max_p99_ratio": 1.5, "min_requests": 10})
    assert judge(rollout, figures(3, 100, 70.0), figures(2, 100, 50.0)).ok is True
    verdict = judge(rollout, figures(3, 100, 90.0), figures(2, 100, 50.0))
    assert verdict.ok is False
    assert "1.8x the 50 ms of revision 2" in verdict.reason
    # a previous revision that served too little to judge is not a baseline
    assert judge(rollout, figures(3, 100, 90.0), figures(2, 3, 50.0)).ok is True


def test_max_p99_reads_seconds_and_refuses_nonsense() -> None:
    assert Rollout.model_validate({"max_p99": "1.5s"}).max_p99 == 1500.0
    for bad in ("fast", "-3ms", 0, True):
        try:
            Rollout.model_validate({"max_p99": bad})
        except ValueError:
            continue
        raise AssertionError(f"max_p99 {bad!r} was accepted")
