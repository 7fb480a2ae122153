"""Live figures per revision from Cloud Monitoring's Vertex AI prediction metrics.

One `projects.timeSeries.list` per metric type for the whole endpoint (raw points, no aligner),
grouped here by `deployed_model_id` and tied back to revisions through the deployed models.
Latency percentiles come from the `prediction_latencies` distribution's bucket counts (merged
across points, interpolated within a bucket), so P99 is as fine as Vertex's buckets are.
Cloud Monitoring samples Vertex metrics every 60 s and shows them up to a few minutes late: a
short bake sees fewer requests than were served, which `rollout.min_requests` accounts for.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from scalectl.metrics import RevisionMetrics

if TYPE_CHECKING:
    from .api import Vertex
    from .rollout import Deployed

PREFIX = "aiplatform.googleapis.com/prediction/online/"
RESPONSE_COUNT = PREFIX + "response_count"
LATENCIES = PREFIX + "prediction_latencies"
REPLICAS = PREFIX + "replicas"
TARGET_REPLICAS = PREFIX + "target_replicas"
CPU = PREFIX + "cpu/utilization"
DUTY_CYCLE = PREFIX + "accelerator/duty_cycle"
SOURCE = "Cloud Monitoring aiplatform.googleapis.com/prediction/online"
TRAFFIC = (RESPONSE_COUNT, LATENCIES)
ALL = (RESPONSE_COUNT, LATENCIES, REPLICAS, TARGET_REPLICAS, CPU, DUTY_CYCLE)


def rfc3339(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def figures(
    vertex: Vertex,
    endpoint: str,
    deployed: Iterable[Deployed],
    since: float,
    until: float,
    metric_types: tuple[str, ...] = ALL,
) -> dict[str, RevisionMetrics]:
    """RevisionMetrics per deployed model id over [since, until] (wall-clock seconds)."""
    endpoint_id = endpoint.rsplit("/", 1)[-1]
    mine = {d.id: d for d in deployed}
    by_type: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for metric_type in metric_types:
        series = vertex.list_time_series(
            f'metric.type="{metric_type}" AND resource.labels.endpoint_id="{endpoint_id}"',
            rfc3339(since),
            rfc3339(until + 1),  # the end is exclusive to the second
        )
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in series:
            grouped[str(s.get("metric", {}).get("labels", {}).get("deployed_model_id", ""))].append(s)
        by_type[metric_type] = grouped
    window = max(until - since, 0.001)
    out: dict[str, RevisionMetrics] = {}
    for dm_id, d in mine.items():
        m = RevisionMetrics(revision=d.revision or 0, window=window, source=SOURCE)
        if RESPONSE_COUNT in by_type:
            _responses(m, by_type[RESPONSE_COUNT].get(dm_id, []))
        if LATENCIES in by_type:
            _latencies(m, by_type[LATENCIES].get(dm_id, []))
        if REPLICAS in by_type:
            ready = _newest(by_type[REPLICAS].get(dm_id, []), sum)
            m.replicas_ready = None if ready is None else int(ready)
            desired = _newest(by_type[TARGET_REPLICAS].get(dm_id, []), sum)
            m.replicas_desired = None if desired is None else int(desired)
            if m.replicas_ready is None:  # no sample yet: the endpoint's own count is current
                m.replicas_ready = d.available_replicas
        if CPU in by_type:
            cpu = _newest(by_type[CPU].get(dm_id, []), _mean)
            m.cpu_percent = None if cpu is None else round(cpu * 100, 1)
            duty = _newest(by_type[DUTY_CYCLE].get(dm_id, []), _mean)
            m.gpu_percent = None if duty is None else round(duty * 100, 1)
            m.notes.append("memory: Vertex reports bytes used, not a share of the machine")
            if duty is None:
                m.notes.append("accelerator duty cycle: none reported (no accelerator, or no sample yet)")
        out[dm_id] = m
    return out


def _responses(m: RevisionMetrics, series: list[dict[str, Any]]) -> None:
    """Sum response_count points by response code into requests and 4xx/5xx shares."""
    by_class: dict[str, int] = defaultdict(int)
    for s in series:
        code = str(s.get("metric", {}).get("labels", {}).get("response_code", ""))
        by_class[code[:1]] += sum(int(_value(p) or 0) for p in s.get("points", []))
    m.requests = sum(by_class.values())
    if m.requests:
        m.rate_4xx = by_class["4"] / m.requests
        m.rate_5xx = by_class["5"] / m.requests


def _latencies(m: RevisionMetrics, series: list[dict[str, Any]]) -> None:
    """P50/P95/P99 of the merged prediction_latencies distribution (milliseconds)."""
    types = {str(s.get("metric", {}).get("labels", {}).get("latency_type", "")): s for s in series}
    # Vertex splits latency by type (model, overhead, total); the client's view is the total
    preferred = next((types[t] for t in ("total", "model", "") if t in types), None)
    if preferred is None:
        return
    wanted = preferred.get("metric", {}).get("labels", {}).get("latency_type")
    chosen = [s for s in series if s.get("metric", {}).get("labels", {}).get("latency_type") == wanted]
    merged = merge_distributions(p["value"]["distributionValue"] for s in chosen for p in s.get("points", []))
    if merged is None:
        return
    m.p50_ms, m.p95_ms, m.p99_ms = (percentile(merged, q) for q in (0.50, 0.95, 0.99))
    if wanted and wanted != "total":
        m.notes.append(f"latency: Vertex's {wanted!r} latency (no total reported)")


def merge_distributions(values: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Sum bucket counts of distributions that share bucket options (a series keeps its options)."""
    merged: dict[str, Any] | None = None
    for v in values:
        counts = [int(c) for c in v.get("bucketCounts", [])]
        if merged is None:
            merged = {"bucketOptions": v.get("bucketOptions", {}), "bucketCounts": counts}
            continue
        if v.get("bucketOptions", {}) != merged["bucketOptions"]:
            continue  # a re-bucketed series cannot be added bucket by bucket; its other points still count
        have = merged["bucketCounts"]
        have.extend([0] * (len(counts) - len(have)))
        for i, c in enumerate(counts):
            have[i] += c
    return merged if merged is not None and sum(merged["bucketCounts"]) else None


def bucket_bounds(options: dict[str, Any], index: int) -> tuple[float, float]:
    """[lower, upper) of bucket `index` (0 = underflow) for linear, exponential or explicit buckets."""
    if "linearBuckets" in options:
        o = options["linearBuckets"]
        n, width, offset = int(o["numFiniteBuckets"]), float(o["width"]), float(o.get("offset", 0))
        bounds = [offset + width * i for i in range(n + 1)]
    elif "exponentialBuckets" in options:
        o = options["exponentialBuckets"]
        n, growth, scale = int(o["numFiniteBuckets"]), float(o["growthFactor"]), float(o["scale"])
        bounds = [scale * growth**i for i in range(n + 1)]
    elif "explicitBuckets" in options:
        bounds = [float(b) for b in options["explicitBuckets"]["bounds"]]
    else:
        raise ValueError(f"unknown bucketOptions {sorted(options)}")
    lower = bounds[index - 1] if 0 < index <= len(bounds) else (-math.inf if index == 0 else bounds[-1])
    upper = bounds[index] if index < len(bounds) else math.inf
    return lower, upper


def percentile(distribution: dict[str, Any], q: float) -> float:
    """The q-quantile, interpolated linearly inside the bucket where the cumulative count crosses it."""
    counts = distribution["bucketCounts"]
    options = distribution["bucketOptions"]
    rank = q * sum(counts)
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            lower, upper = bucket_bounds(options, i)
            if math.isinf(lower):
                return max(upper, 0.0)  # underflow: below the first bound
            if math.isinf(upper):
                return lower  # overflow: at least the last bound
            return lower + (upper - lower) * (rank - seen) / c
        seen += c
    return bucket_bounds(options, len(counts) - 1)[0]


def _value(point: dict[str, Any]) -> float | None:
    v = point.get("value", {})
    for key in ("int64Value", "doubleValue"):
        if key in v:
            return float(v[key])
    return None


def _newest(series: list[dict[str, Any]], combine: Any) -> float | None:
    """The newest point of each series (Cloud Monitoring lists points newest first), combined."""
    latest = [v for s in series if s.get("points") and (v := _value(s["points"][0])) is not None]
    return combine(latest) if latest else None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
