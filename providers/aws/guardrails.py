"""The CloudWatch alarms scalectl makes from `rollout.max_error_rate`, `max_p99` and `max_p99_ratio`.

SageMaker's deployment guardrails roll an update back when an alarm in AutoRollbackConfiguration
goes to ALARM, so the gates become alarms on the new fleet's own figures (see
`requests.guardrail_alarms`), created just before UpdateEndpoint and passed with the user's
`rollout.alarms`; SageMaker does the watching, even if scalectl's process goes away. They are
deleted when the update ends (promoted or rolled back); what an interrupted deploy left is swept
by the next deploy, rollback or destroy. Only alarms carrying this app's and target's scalectl
tags are ever deleted, never a user's.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from scalectl.events import Events
from scalectl.metrics import RevisionMetrics, judge
from scalectl.provider import Live, Release

from . import requests as req
from .api import AwsError, Clients, call
from .metrics import Fleet, read, revision_metrics
from .schema import AwsTarget

BASELINE_WINDOW = 900  # seconds of the serving revision's traffic max_p99_ratio compares with


@dataclass
class Guard:
    """The alarms one update made, when it started, and the serving revision's figures before it."""

    names: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    previous: RevisionMetrics | None = None


def baseline(c: Clients, release: Release, live: Live, events: Events) -> RevisionMetrics | None:
    """The serving revision's P99 over the last 15 minutes (or one bake), read before the update
    while it alone serves: the base of the max_p99_ratio alarm. None, with a warning, when it
    served fewer than `rollout.min_requests` requests (the ratio cannot be judged, as in `judge`)."""
    target = _aws(release)
    rollout = target.rollout
    if rollout.max_p99_ratio is None or not rollout.auto_rollback:
        return None
    window = max(BASELINE_WINDOW, rollout.bake)
    found = revision_metrics(c, release, live, window)
    need = max(rollout.min_requests, 1)
    m = found[-1] if found else None
    if m is None or m.requests < need or not m.p99_ms:
        served = f"served {m.requests} requests" if m else "has no figures"
        events.warn(
            f"rollout.max_p99_ratio is not applied to this update: the serving revision {served} in the last "
            f"{window // 60} min, fewer than the {need} needed to know its P99 (max_p99 and max_error_rate still apply)"
        )
        return None
    assert m.p99_ms is not None
    events.step(
        f"revision {m.revision}'s P99 over the last {window // 60} min: {m.p99_ms:.1f} ms ({m.requests:,} requests); "
        f"the new revision may reach {m.p99_ms * rollout.max_p99_ratio:.1f} ms (rollout.max_p99_ratio "
        f"{rollout.max_p99_ratio:g}x)"
    )
    return m


def create(c: Clients, bodies: req.Bodies, events: Events, previous: RevisionMetrics | None) -> Guard:
    """PutMetricAlarm for each gate; if one fails, the ones made are deleted before the error goes up."""
    guard = Guard(previous=previous)
    try:
        for body in bodies.guardrail_alarms:
            name = body["AlarmName"]
            events.step(f"creating alarm {name}: {body['AlarmDescription'].split(': ', 1)[-1]}")
            call(c.cloudwatch.put_metric_alarm, f"creating alarm {name}", **body)
            guard.names.append(name)
    except AwsError:
        delete(c, guard.names, events)
        raise
    guard.started = time.time()
    return guard


def delete(c: Clients, names: list[str], events: Events) -> None:
    if not names:
        return
    events.step(f"deleting alarm{'s' if len(names) > 1 else ''} {', '.join(names)}")
    for start in range(0, len(names), 100):  # DeleteAlarms takes at most 100 names
        call(c.cloudwatch.delete_alarms, "deleting guardrail alarms", AlarmNames=names[start : start + 100])


def ours(c: Clients, release: Release) -> list[str]:
    """Guardrail alarms of this app and target: found by name prefix, confirmed by their tags."""
    prefix = req.alarm_prefix(release)
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"AlarmNamePrefix": prefix, "AlarmTypes": ["MetricAlarm"], "MaxRecords": 100}
        if token:
            params["NextToken"] = token
        page = call(c.cloudwatch.describe_alarms, "reading CloudWatch alarms", **params)
        found += page.get("MetricAlarms", [])
        token = page.get("NextToken")
        if not token:
            break
    names = []
    for alarm in found:
        tags = call(
            c.cloudwatch.list_tags_for_resource, f"reading tags of {alarm['AlarmName']}", ResourceARN=alarm["AlarmArn"]
        )
        kv = {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
        if (
            kv.get(f"{req.TAG}managed-by") == req.MANAGED_BY
            and kv.get(f"{req.TAG}app") == req.tag_value(release.app)
            and kv.get(f"{req.TAG}target") == req.tag_value(release.target_name)
        ):
            names.append(alarm["AlarmName"])
    return names


def sweep(c: Clients, release: Release, events: Events) -> list[str]:
    """Delete guardrail alarms an interrupted deploy left (only when no update is running)."""
    names = ours(c, release)
    delete(c, names, events)
    return names


def finish(c: Clients, release: Release, guard: Guard, rolled_back: tuple[Fleet, Fleet] | None, events: Events) -> str:
    """The update ended: say which of our alarms rolled it back and by how much (when one did), then
    delete them. `rolled_back` is (old fleet, new fleet) when SageMaker rolled the update back."""
    why = explain(c, release, guard, *rolled_back) if rolled_back and guard.names else ""
    delete(c, guard.names, events)
    return why


def explain(c: Clients, release: Release, guard: Guard, old: Fleet, new: Fleet) -> str:
    """The gate's figure: `judge` over the new fleet's and the old one's figures since the update
    began; CloudWatch's own state reason when the figures do not show it (metrics lag a minute)."""
    found = call(c.cloudwatch.describe_alarms, "reading guardrail alarms", AlarmNames=guard.names)
    firing = [a for a in found.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]
    if not firing:
        return ""
    names = ", ".join(a["AlarmName"] for a in firing)
    before: RevisionMetrics | None = None
    after: RevisionMetrics | None = None
    with contextlib.suppress(AwsError):  # the figures are a courtesy: the rollback already happened
        before, after = read(c, req.endpoint_name(release), [old, new], time.time() - guard.started + 60)
    if after is not None and before is not None:
        if before.p99_ms is None and guard.previous is not None:
            before = guard.previous  # no per-fleet latency for the old fleet: its figures before the update
        verdict = judge(_aws(release).rollout, after, before)
        if verdict.ok is False:
            return f"; {names}: {verdict.reason}"
    return "; " + "; ".join(f"{a['AlarmName']}: {a.get('StateReason', 'in ALARM')}" for a in firing)


def _aws(release: Release) -> AwsTarget:
    target = release.target
    assert isinstance(target, AwsTarget)
    return target
