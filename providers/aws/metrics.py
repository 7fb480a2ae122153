"""Live figures per revision from CloudWatch: what `status`, `top` and the rollout gates read on AWS.

SageMaker publishes each variant's invocation figures in `AWS/SageMaker` (dimensions EndpointName
+ VariantName) and, for a fleet a deployment brought up, the same figures with an extra
EndpointConfigName dimension: that is one revision here (`<endpoint>-r<N>`), so a canary and the
revision it replaces are read apart. CPU/GPU/memory come from `/aws/sagemaker/Endpoints` per
variant only. Latency is ModelLatency (the container's time; CloudWatch keeps microseconds),
with p50/p95/p99 as CloudWatch extended statistics; SageMaker's own OverheadLatency is left out
of the percentiles (they do not add up) and its p99 is given in the notes. One GetMetricData call
per look, one period spanning the whole window.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from scalectl.metrics import RevisionMetrics
from scalectl.provider import Live, Release

from . import requests as req
from .api import Clients, call, describe_endpoint

NAMESPACE = "AWS/SageMaker"
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
SOURCE = "CloudWatch AWS/SageMaker: Invocations, Invocation4XX/5XXErrors, ModelLatency p50/p95/p99"
# Invocation figures: (query suffix, metric, statistic)
_INVOCATION = (
    ("inv", "Invocations", "Sum"),
    ("e4", "Invocation4XXErrors", "Sum"),
    ("e5", "Invocation5XXErrors", "Sum"),
    ("p50", "ModelLatency", "p50"),
    ("p95", "ModelLatency", "p95"),
    ("p99", "ModelLatency", "p99"),
    ("o99", "OverheadLatency", "p99"),
)
_INSTANCE = (("cpu", "CPUUtilization"), ("gpu", "GPUUtilization"), ("mem", "MemoryUtilization"))


@dataclass(frozen=True)
class Fleet:
    """One revision's fleet on the endpoint: its config, variant and instance counts."""

    revision: int
    config: str
    variant: str
    instance_type: str | None
    desired: int | None
    ready: int | None


def fleet_of(config_name: str, config: dict[str, Any]) -> Fleet:
    """The fleet of one endpoint config (a DescribeEndpointConfig answer or CreateEndpointConfig body)."""
    variant = config["ProductionVariants"][0]
    match = re.search(r"-r(\d+)$", config_name)
    return Fleet(
        revision=int(match.group(1)) if match else 0,
        config=config_name,
        variant=variant["VariantName"],
        instance_type=variant.get("InstanceType"),
        desired=None,
        ready=None,
    )


def period_of(window: float) -> int:
    """CloudWatch periods are whole minutes: the window rounded up, at least one minute."""
    return max(60, math.ceil(window / 60) * 60)


def fleets(release: Release, desc: dict[str, Any]) -> list[Fleet]:
    """The serving fleet and, during an update, the new one, mapped to revisions by config name."""
    pattern = re.compile(re.escape(req.name_base(release)) + r"-r(\d+)$")
    out = []
    pending = desc.get("PendingDeploymentSummary") or {}
    for config, variants in (
        (desc.get("EndpointConfigName", ""), desc.get("ProductionVariants") or []),
        (pending.get("EndpointConfigName", ""), pending.get("ProductionVariants") or []),
    ):
        match = pattern.fullmatch(config)
        if not match or not variants:
            continue
        v = variants[0]
        out.append(
            Fleet(
                revision=int(match.group(1)),
                config=config,
                variant=v["VariantName"],
                instance_type=v.get("InstanceType"),
                desired=v.get("DesiredInstanceCount"),
                ready=v.get("CurrentInstanceCount"),
            )
        )
    return sorted(out, key=lambda f: f.revision)


def _dims(endpoint: str, variant: str, config: str | None = None) -> list[dict[str, str]]:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    if config:
        dims.append({"Name": "EndpointConfigName", "Value": config})
    return dims


def queries(endpoint: str, scopes: dict[str, tuple[str, str | None]], period: int) -> list[dict[str, Any]]:
    """GetMetricData queries: every invocation figure per scope (id prefix -> variant, config or
    None for the whole variant), and instance utilisation per variant scope."""
    out = []
    for scope, (variant, config) in scopes.items():
        specs = [(f"{scope}_{k}", NAMESPACE, m, s) for k, m, s in _INVOCATION]
        if config is None:
            specs += [(f"{scope}_{k}", INSTANCE_NAMESPACE, m, "Average") for k, m in _INSTANCE]
        for qid, namespace, metric, stat in specs:
            out.append(
                {
                    "Id": qid,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": namespace,
                            "MetricName": metric,
                            "Dimensions": _dims(endpoint, variant, config),
                        },
                        "Period": period,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }
            )
    return out


def fetch(c: Clients, q: list[dict[str, Any]], period: int, now: datetime | None = None) -> dict[str, float | None]:
    """One GetMetricData over the last `period` seconds (ending at the next whole minute): id -> value."""
    end = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(seconds=period)
    values: dict[str, list[float]] = {}
    token: str | None = None
    while True:
        params: dict[str, Any] = {"MetricDataQueries": q, "StartTime": start, "EndTime": end}
        if token:
            params["NextToken"] = token
        page = call(c.cloudwatch.get_metric_data, "reading CloudWatch metrics", **params)
        for result in page.get("MetricDataResults", []):
            values.setdefault(result["Id"], []).extend(v for v in result.get("Values", []) if v is not None)
        token = page.get("NextToken")
        if not token:
            break
    # one period spans the window; a second (partial) bucket can only appear at its edge: counts add
    # up, statistics of the larger bucket stand
    out: dict[str, float | None] = {}
    for item in q:
        got = values.get(item["Id"], [])
        stat = item["MetricStat"]["Stat"]
        out[item["Id"]] = (sum(got) if stat == "Sum" else max(got)) if got else None
    return out


def figures(
    v: dict[str, float | None], scope: str, fleet: Fleet, window: float, *, utilisation: bool
) -> RevisionMetrics:
    """A RevisionMetrics from one scope's values (latency in ms, utilisation per core/GPU in 0-100)."""
    inv = int(v.get(f"{scope}_inv") or 0)

    def ms(key: str) -> float | None:
        value = v.get(f"{scope}_{key}")
        return None if value is None else value / 1000.0

    def share(key: str) -> float | None:
        value = v.get(f"{scope}_{key}")
        return None if not inv else (value or 0.0) / inv

    m = RevisionMetrics(
        revision=fleet.revision,
        window=window,
        requests=inv,
        p50_ms=ms("p50"),
        p95_ms=ms("p95"),
        p99_ms=ms("p99"),
        rate_4xx=share("e4"),
        rate_5xx=share("e5"),
        replicas_desired=fleet.desired,
        replicas_ready=fleet.ready,
        source=SOURCE,
    )
    overhead = ms("o99")
    if overhead is not None:
        m.notes.append(f"latency is the model's (ModelLatency); SageMaker's OverheadLatency p99 adds {overhead:.1f} ms")
    if utilisation:
        itype = fleet.instance_type or ""
        for key, attr, per in (
            ("cpu", "cpu_percent", req.vcpus_per_instance(itype)),
            ("gpu", "gpu_percent", req.gpus_per_instance(itype)),
            ("mem", "memory_percent", 1),
        ):
            value = v.get(f"{scope}_{key}")
            if value is not None:
                # SageMaker sums CPU over vCPUs and GPU over GPUs (0-400% on 4): back to 0-100
                setattr(m, attr, value / (per or 1))
        m.source += "; /aws/sagemaker/Endpoints utilisation"
    return m


def revision_metrics(
    c: Clients, release: Release, live: Live, window: float, now: datetime | None = None
) -> list[RevisionMetrics]:
    """One RevisionMetrics per fleet on the endpoint (the serving one, and the new one during an
    update), read in one GetMetricData call; newest last."""
    endpoint = req.endpoint_name(release)
    desc = describe_endpoint(c.sagemaker, endpoint)
    if desc is None:
        return []
    found = fleets(release, desc)
    if len(found) == 1 and found[0].instance_type is None:
        # DescribeEndpoint's variant summary has no instance type; utilisation needs it per core/GPU
        config = call(
            c.sagemaker.describe_endpoint_config, f"reading {found[0].config}", EndpointConfigName=found[0].config
        )
        itype = fleet_of(found[0].config, config).instance_type
        found = [dataclasses.replace(found[0], instance_type=itype)]
    return read(c, endpoint, found, window, now)


def read(
    c: Clients, endpoint: str, found: list[Fleet], window: float, now: datetime | None = None
) -> list[RevisionMetrics]:
    """Figures of `found` (oldest first; two of them: an update, the old fleet and the new one)."""
    if not found:
        return []
    period = period_of(window)
    scopes: dict[str, tuple[str, str | None]] = {f"r{f.revision}": (f.variant, f.config) for f in found}
    scopes["all"] = (found[0].variant, None)
    v = fetch(c, queries(endpoint, scopes, period), period, now)
    updating = len(found) > 1
    out = []
    for f in found:
        m = figures(v, f"r{f.revision}", f, float(period), utilisation=False)
        if v.get(f"r{f.revision}_inv") is None and f.variant == found[0].variant:
            whole = figures(v, "all", f, float(period), utilisation=not updating)
            if not updating:
                # a fleet CreateEndpoint started has only the per-variant figures: it is all of them
                m = whole
                m.notes.append("per-variant figures (this fleet has no EndpointConfigName figures yet)")
            elif f is found[0] and whole.requests:
                # the old fleet during an update: counts are the variant's minus the new fleet's
                new_v = {k: v.get(f"r{found[-1].revision}_{k}") or 0.0 for k in ("inv", "e4", "e5")}
                m.requests = max(whole.requests - int(new_v["inv"]), 0)
                for attr, key in (("rate_4xx", "e4"), ("rate_5xx", "e5")):
                    errors = (v.get(f"all_{key}") or 0.0) - new_v[key]
                    setattr(m, attr, max(errors, 0.0) / m.requests if m.requests else None)
                m.notes.append(
                    "counts are the variant's minus the new fleet's; CloudWatch has no per-config latency "
                    "for this fleet, so its percentiles are not known during the update"
                )
        elif not updating:
            whole = figures(v, "all", f, float(period), utilisation=True)
            m.cpu_percent, m.gpu_percent, m.memory_percent = whole.cpu_percent, whole.gpu_percent, whole.memory_percent
            m.source = whole.source
        if updating:
            m.notes.append("CPU/GPU/memory are per variant in CloudWatch, not per fleet: not shown during an update")
        out.append(m)
    return out
