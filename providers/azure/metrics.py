"""Live figures per revision from Azure Monitor's metrics for managed online endpoints.

Traffic is an endpoint metric split by the `deployment` dimension (one deployment per revision,
`rev-N`): `RequestsPerMinute` by `statusCodeClass` gives requests and 4xx/5xx shares, and
`RequestLatency_P50/_P95/_P99` give latency per minute, combined over the window weighted by
each minute's requests (Azure publishes percentiles per minute, not a mergeable histogram).
Resource use is a deployment metric split by `instanceId`: CPU, GPU and memory percent, and
`DeploymentCapacity` (instances reporting). Everything is at Azure Monitor's one-minute grain
and reaches it a minute or more late, which `rollout.min_requests` accounts for in a bake.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from scalectl.metrics import RevisionMetrics

if TYPE_CHECKING:
    from .api import Arm

REQUESTS = "RequestsPerMinute"
LATENCY = {"RequestLatency_P50": "p50_ms", "RequestLatency_P95": "p95_ms", "RequestLatency_P99": "p99_ms"}
USE = {
    "CpuUtilizationPercentage": "cpu_percent",
    "GpuUtilizationPercentage": "gpu_percent",
    "CpuMemoryUtilizationPercentage": "memory_percent",
}
CAPACITY = "DeploymentCapacity"
SOURCE = "Azure Monitor (Microsoft.MachineLearningServices/workspaces/onlineEndpoints)"


def timespan(since: float, until: float) -> str:
    """ISO 8601 interval, as Azure Monitor's `timespan` takes it."""

    def iso(wall: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))

    return f"{iso(since)}/{iso(until + 1)}"  # the end is exclusive to the second


def figures(
    arm: Arm,
    endpoint: str,
    deployments: dict[str, int],
    since: float,
    until: float,
    desired: dict[str, int] | None = None,
    resources: bool = True,
) -> dict[str, RevisionMetrics]:
    """RevisionMetrics per deployment name (`deployments`: name -> revision) over [since, until] (wall clock).

    `resources`: also read each deployment's CPU/GPU/memory and instances (one call per deployment);
    a bake needs only the endpoint's traffic figures (two calls)."""
    span = timespan(since, until)
    window = max(until - since, 0.001)
    out = {name: RevisionMetrics(revision=rev, window=window, source=SOURCE) for name, rev in deployments.items()}
    rid = arm.resource_id(endpoint)
    per_minute: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))  # dep -> minute -> requests
    by_class: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for metric in arm.metrics(rid, [REQUESTS], span, "deployment eq '*' and statusCodeClass eq '*'"):
        for series in metric.get("timeseries") or []:
            dims = _dims(series)
            dep = dims.get("deployment", "")
            for point in series.get("data") or []:
                value = point.get("average")
                if value is not None:
                    per_minute[dep][str(point.get("timeStamp"))] += float(value)
                    by_class[dep][dims.get("statuscodeclass", "")[:1]] += float(value)
    for name, m in out.items():
        counts = by_class.get(name, {})
        m.requests = round(sum(counts.values()))
        if m.requests:
            m.rate_4xx = counts.get("4", 0.0) / sum(counts.values())
            m.rate_5xx = counts.get("5", 0.0) / sum(counts.values())
    for metric in arm.metrics(rid, list(LATENCY), span, "deployment eq '*'"):
        field = LATENCY.get(_name(metric))
        if field is None:
            continue
        for series in metric.get("timeseries") or []:
            dep = _dims(series).get("deployment", "")
            if dep not in out:
                continue
            weighted = [
                (float(p["average"]), per_minute[dep].get(str(p.get("timeStamp")), 0.0) or 1.0)
                for p in series.get("data") or []
                if p.get("average") is not None
            ]
            if weighted:
                setattr(out[dep], field, sum(v * w for v, w in weighted) / sum(w for _, w in weighted))
    for name, m in out.items():
        if m.p99_ms is not None:
            m.notes.append("latency: Azure's per-minute percentiles, averaged over the window by requests")
        if desired and name in desired:
            m.replicas_desired = desired[name]
        if resources:
            _use(arm, arm.resource_id(endpoint, name), span, m)
    return out


def _use(arm: Arm, resource: str, span: str, m: RevisionMetrics) -> None:
    """CPU/GPU/memory percent (mean of each instance's newest minute) and instances reporting."""
    for metric in arm.metrics(resource, [*USE, CAPACITY], span, "instanceId eq '*'"):
        newest = [
            float(points[-1]["average"])
            for series in metric.get("timeseries") or []
            if (points := [p for p in series.get("data") or [] if p.get("average") is not None])
        ]
        name = _name(metric)
        if name == CAPACITY:
            m.replicas_ready = sum(1 for v in newest if v > 0) if newest else None
        elif name in USE and newest:
            setattr(m, USE[name], round(sum(newest) / len(newest), 1))
    if m.gpu_percent is None:
        m.notes.append("GPU: none reported (a CPU instance type, or no sample yet)")


def _name(metric: dict[str, Any]) -> str:
    name = metric.get("name")
    return str(name.get("value") if isinstance(name, dict) else name or "")


def _dims(series: dict[str, Any]) -> dict[str, str]:
    """A series' dimension values by lower-cased dimension name (Azure echoes names in its own case)."""
    out = {}
    for item in series.get("metadatavalues") or []:
        key = item.get("name")
        key = key.get("value") if isinstance(key, dict) else key
        out[str(key).lower()] = str(item.get("value", ""))
    return out
