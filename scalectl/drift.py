"""Data drift statistics: how far recent inputs (or outputs) moved from a baseline, per feature.

Numbers get the population stability index over the baseline's deciles and the two-sample
Kolmogorov-Smirnov test; categories (strings, booleans) get PSI over the categories and a
chi-square test of the 2 x k contingency table. numpy and scipy are the `drift` extra and are
imported only here, so every other command starts without them.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

# Smoothing for empty bins: PSI is infinite when a bin is empty on one side, which says nothing useful.
EPSILON = 1e-4
BINS = 10


@dataclass(frozen=True)
class Thresholds:
    """When a feature counts as drifted (`monitoring.drift` in scale.yaml, or flags)."""

    psi: float = 0.2  # PSI at or above this is drift (0.1-0.2 is "moderate" in the usual reading)
    ks_p: float = 0.01  # a Kolmogorov-Smirnov p-value below this is drift (numbers)
    chi2_p: float = 0.01  # a chi-square p-value below this is drift (categories)
    min_samples: int = 30  # fewer recent values than this: "too few", never a verdict


@dataclass
class Histogram:
    """What the HTML report draws: baseline vs recent shares over the same bins or categories."""

    labels: list[str]
    baseline: list[float]
    recent: list[float]


@dataclass
class FeatureDrift:
    """One feature's drift: its kind, the statistics, and whether they crossed a threshold."""

    name: str
    kind: str  # "numeric" | "categorical" | "missing"
    baseline_count: int
    recent_count: int
    psi: float | None = None
    ks_statistic: float | None = None
    ks_p: float | None = None
    chi2: float | None = None
    chi2_p: float | None = None
    drifted: bool = False
    reasons: list[str] = field(default_factory=list)
    baseline_mean: float | None = None
    recent_mean: float | None = None
    new_categories: list[str] = field(default_factory=list)
    histogram: Histogram | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("histogram")
        return {k: (_round(v) if isinstance(v, float) else v) for k, v in out.items()}


@dataclass
class DriftReport:
    """Per-feature results and the overall verdict for one comparison (inputs or predictions)."""

    features: list[FeatureDrift]
    thresholds: Thresholds
    unknown_features: list[str] = field(default_factory=list)  # seen in requests, absent from the baseline

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    def top(self, n: int = 5) -> list[FeatureDrift]:
        """The features that moved most, by PSI (the one statistic every kind has)."""
        scored = [f for f in self.features if f.psi is not None]
        return sorted(scored, key=lambda f: f.psi or 0.0, reverse=True)[:n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": "drift" if self.drifted else "ok",
            "drifted": [f.name for f in self.drifted],
            "top": [f.name for f in self.top()],
            "unknown_features": self.unknown_features,
            "features": [f.to_dict() for f in self.features],
        }


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def kind_of(values: Sequence[Any]) -> str:
    """`numeric` when every present value is a number, else `categorical` (booleans are categories)."""
    present = [v for v in values if v is not None]
    return "numeric" if present and all(is_number(v) for v in present) else "categorical"


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins: sum((a - e) * ln(a / e))."""
    e = np.clip(expected, EPSILON, None)
    a = np.clip(actual, EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_bins(baseline: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Edges at the baseline's quantiles (equal-mass bins), outer edges open so nothing falls outside.

    A feature with few distinct values (a 0/1 flag, a count) gets one bin per value instead:
    quantile edges would put all of a flag in one bin and hide any shift.
    """
    distinct = np.unique(baseline)
    if len(distinct) <= bins:
        edges = np.concatenate(([-np.inf], (distinct[:-1] + distinct[1:]) / 2, [np.inf]))
        if len(edges) == 2:  # a constant feature: the value, and anything else on either side
            v = float(distinct[0]) if len(distinct) else 0.0
            edges = np.array([-np.inf, v - 0.5, v + 0.5, np.inf])
        return edges.astype(float)
    edges = np.unique(np.quantile(baseline, np.linspace(0, 1, bins + 1))).astype(float)
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


def shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(values, bins=edges)
    total = counts.sum()
    return counts / total if total else counts.astype(float)


def compare_numeric(name: str, base: Sequence[Any], recent: Sequence[Any], t: Thresholds) -> FeatureDrift:
    b = np.array([v for v in base if is_number(v)], dtype=float)
    r = np.array([v for v in recent if is_number(v)], dtype=float)
    out = FeatureDrift(name, "numeric", len(b), len(r))
    if len(r) < t.min_samples or len(b) < t.min_samples:
        out.reasons.append(f"too few values to judge ({len(r)} recent, {len(b)} baseline; need {t.min_samples})")
        return out
    edges = numeric_bins(b)
    bs, rs = shares(b, edges), shares(r, edges)
    out.psi = psi(bs, rs)
    ks = stats.ks_2samp(b, r)
    out.ks_statistic, out.ks_p = float(ks.statistic), float(ks.pvalue)
    out.baseline_mean, out.recent_mean = float(b.mean()), float(r.mean())
    out.histogram = Histogram(_edge_labels(edges, b, r), bs.tolist(), rs.tolist())
    if out.psi >= t.psi:
        out.reasons.append(f"PSI {out.psi:.3f} >= {t.psi}")
    if out.ks_p < t.ks_p:
        out.reasons.append(f"KS p {out.ks_p:.2g} < {t.ks_p}")
    out.drifted = bool(out.reasons)
    return out


def _edge_labels(edges: np.ndarray, b: np.ndarray, r: np.ndarray) -> list[str]:
    """Bin labels for the picture: the open outer edges shown as the data's own minimum and maximum."""
    shown = edges.copy()
    shown[0] = min(b.min(), r.min())
    shown[-1] = max(b.max(), r.max())
    return [f"{_short(lo)}..{_short(hi)}" for lo, hi in itertools.pairwise(shown)]


def _short(x: float) -> str:
    return f"{x:.3g}"


def _category(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compare_categorical(name: str, base: Sequence[Any], recent: Sequence[Any], t: Thresholds) -> FeatureDrift:
    b = Counter(_category(v) for v in base if v is not None)
    r = Counter(_category(v) for v in recent if v is not None)
    nb, nr = sum(b.values()), sum(r.values())
    out = FeatureDrift(name, "categorical", nb, nr)
    if nr < t.min_samples or nb < t.min_samples:
        out.reasons.append(f"too few values to judge ({nr} recent, {nb} baseline; need {t.min_samples})")
        return out
    categories = sorted(set(b) | set(r), key=lambda c: (-b[c], c))
    bs = np.array([b[c] / nb for c in categories])
    rs = np.array([r[c] / nr for c in categories])
    out.psi = psi(bs, rs)
    out.new_categories = [c for c in categories if b[c] == 0]
    out.histogram = Histogram(categories, bs.tolist(), rs.tolist())
    if len(categories) > 1:
        table = np.array([[b[c] for c in categories], [r[c] for c in categories]])
        chi2, p, _dof, _exp = stats.chi2_contingency(table)
        out.chi2, out.chi2_p = float(chi2), float(p)
    if out.psi >= t.psi:
        out.reasons.append(f"PSI {out.psi:.3f} >= {t.psi}")
    if out.chi2_p is not None and out.chi2_p < t.chi2_p:
        out.reasons.append(f"chi-square p {out.chi2_p:.2g} < {t.chi2_p}")
    if out.new_categories:
        shown = ", ".join(out.new_categories[:5])
        out.reasons.append(f"categories not in the baseline: {shown}")
    out.drifted = bool(out.reasons)
    return out


def compare(
    baseline: Mapping[str, Sequence[Any]],
    recent: Mapping[str, Sequence[Any]],
    thresholds: Thresholds,
) -> DriftReport:
    """Compare every baseline column with the same feature in the recent values, in baseline order."""
    features: list[FeatureDrift] = []
    for name, base in baseline.items():
        now = recent.get(name, [])
        present = [v for v in now if v is not None]
        if not present:
            f = FeatureDrift(name, "missing", sum(v is not None for v in base), 0)
            if any(len([v for v in col if v is not None]) for col in recent.values()):
                f.drifted = True  # requests arrive, but never with this feature: the input schema moved
                f.reasons.append("absent from every recent request")
            else:
                f.reasons.append("no recent values")
            features.append(f)
            continue
        kind = kind_of(list(base) + present)
        fn = compare_numeric if kind == "numeric" else compare_categorical
        features.append(fn(name, base, now, thresholds))
    unknown = [k for k in recent if k not in baseline]
    return DriftReport(features, thresholds, unknown)
