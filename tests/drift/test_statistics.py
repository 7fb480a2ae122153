"""The drift statistics against hand-computed cases, scipy's own functions, and synthetic data with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from scalectl.drift import Thresholds, compare, compare_categorical, compare_numeric, numeric_bins, psi

ONE = Thresholds(min_samples=1)


def test_psi_matches_the_hand_computed_sum() -> None:
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(expected)
    assert psi(np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5])) == 0.0


def test_ks_is_the_two_sample_statistic() -> None:
    f = compare_numeric("x", [1, 2, 3, 4], [3, 4, 5, 6], ONE)
    assert f.ks_statistic == pytest.approx(0.5)  # the CDFs differ most at 2 and 4: 2/4 - 0/4
    assert f.ks_p == pytest.approx(stats.ks_2samp([1, 2, 3, 4], [3, 4, 5, 6]).pvalue)


def test_chi_square_is_the_contingency_test() -> None:
    base = ["a"] * 50 + ["b"] * 50
    recent = ["a"] * 30 + ["b"] * 70
    f = compare_categorical("c", base, recent, ONE)
    # 2 x 2 with Yates' correction: expected 40/60 per row; sum (|o - e| - 0.5)^2 / e
    assert f.chi2 == pytest.approx(2 * (9.5**2 / 40 + 9.5**2 / 60))
    assert f.chi2_p == pytest.approx(stats.chi2.sf(f.chi2, 1))


def test_bins_are_baseline_deciles_or_one_per_value_for_flags() -> None:
    edges = numeric_bins(np.arange(1000, dtype=float))
    assert len(edges) == 11 and edges[0] == -np.inf and edges[-1] == np.inf
    assert edges[5] == pytest.approx(499.5)
    assert list(numeric_bins(np.array([0.0, 1.0, 1.0]))) == [-np.inf, 0.5, np.inf]
    assert list(numeric_bins(np.array([3.0, 3.0]))) == [-np.inf, 2.5, 3.5, np.inf]


def _frame(rng: np.random.Generator, n: int, mean: float = 0.0, colors: tuple[str, ...] = ("red", "green")) -> dict:
    return {
        "x": rng.normal(mean, 1.0, n).tolist(),
        "y": rng.exponential(2.0, n).tolist(),
        "flag": rng.integers(0, 2, n).tolist(),
        "color": rng.choice(list(colors), n).tolist(),
    }


def test_same_distribution_is_no_drift() -> None:
    rng = np.random.default_rng(7)
    report = compare(_frame(rng, 5000), _frame(rng, 1000), Thresholds())
    assert report.drifted == [], [f.reasons for f in report.features]
    assert all(f.psi is not None and f.psi < 0.05 for f in report.features)


def test_shifted_mean_drifts_that_feature_only() -> None:
    rng = np.random.default_rng(8)
    report = compare(_frame(rng, 5000), _frame(rng, 1000, mean=1.0), Thresholds())
    assert [f.name for f in report.drifted] == ["x"]
    assert report.top(1)[0].name == "x"
    x = report.features[0]
    assert x.psi is not None and x.psi > 0.2 and x.ks_p is not None and x.ks_p < 1e-10
    assert x.recent_mean == pytest.approx(1.0, abs=0.1)


def test_new_category_is_categorical_drift() -> None:
    rng = np.random.default_rng(9)
    report = compare(_frame(rng, 5000), _frame(rng, 1000, colors=("red", "green", "blue")), Thresholds())
    assert [f.name for f in report.drifted] == ["color"]
    color = report.drifted[0]
    assert color.kind == "categorical" and color.new_categories == ["blue"]
    assert color.chi2_p is not None and color.chi2_p < 1e-10


def test_a_flag_that_flips_is_seen_by_psi() -> None:
    base = [0] * 900 + [1] * 100
    recent = [0] * 500 + [1] * 500
    f = compare_numeric("foreign", base, recent, Thresholds())
    assert f.drifted and f.psi is not None and f.psi > 0.5


def test_missing_feature_and_too_few_values() -> None:
    base = {"a": list(range(100)), "b": list(range(100))}
    report = compare(base, {"a": list(range(100)), "z": [1]}, Thresholds())
    b = report.features[1]
    assert b.kind == "missing" and b.drifted and "absent" in b.reasons[0]
    assert report.unknown_features == ["z"]
    few = compare_numeric("a", list(range(100)), [500.0] * 5, Thresholds())
    assert not few.drifted and few.psi is None and "too few" in few.reasons[0]


def test_thresholds_decide() -> None:
    rng = np.random.default_rng(10)
    base, shifted = rng.normal(0, 1, 2000).tolist(), rng.normal(0.3, 1, 2000).tolist()
    assert compare_numeric("x", base, shifted, Thresholds()).drifted
    lenient = Thresholds(psi=5.0, ks_p=0.0)
    assert not compare_numeric("x", base, shifted, lenient).drifted
