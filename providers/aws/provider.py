"""`provider: aws` - SageMaker real-time endpoints (Inf2 included) with SageMaker's own deployment
guardrails, Application Auto Scaling, and history kept in tags on the per-revision resources.

Every revision is a model and an endpoint config named `<endpoint>-r<N>` and tagged with its
revision, digest, image, author and status, so `history` and `rollback` work from any machine.
The first deploy creates the endpoint; later ones call UpdateEndpoint with a blue/green
(ALL_AT_ONCE / CANARY / LINEAR) or rolling DeploymentConfig, and SageMaker itself rolls back
when the new fleet fails its health check or an alarm fires. boto3 is imported lazily.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scalectl.config import ScaleFile
from scalectl.errors import Diagnostic, ProviderError
from scalectl.events import Events
from scalectl.metrics import RevisionMetrics
from scalectl.provider import ACTOR, REVISION, Change, ChangeAction, Live, Plan, Release, Revision
from scalectl.render import pretty

from . import requests as req
from .checks import check as check_target
from .schema import AwsTarget


@dataclass
class AwsObserved:
    """What `observe` hands `plan`: the endpoint's status, its variants and their autoscaling bounds."""

    endpoint_status: str | None  # None: no endpoint (only retained revisions, or nothing)
    desired_instances: dict[str, int | None] = field(default_factory=dict)  # variant -> autoscaler's count
    autoscaling: dict[str, tuple[int, int]] = field(default_factory=dict)  # resource id -> (min, max)
    # the last revision a deploy or rollback confirmed (its config is tagged active): what `recover` returns to
    good: int | None = None
    # revisions no deploy confirmed (tagged pending) newer than `good`: what `recover` undoes
    unconfirmed: list[int] = field(default_factory=list)


class AwsProvider:
    """SageMaker real-time inference through boto3."""

    name = "aws"

    # ------------------------------------------------------------------ offline

    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        return check_target(spec, target)

    def render(self, release: Release) -> dict[str, str]:
        """The bodies of the next revision; `{revision}` and `{actor}` are filled in at deploy time,
        and an update's InitialInstanceCount is the autoscaler's count at that moment."""
        target = _aws(release)
        files = req.bodies(release, REVISION, actor=ACTOR, timeout=target.rollout.timeout).as_files()
        out = {name: pretty(body) for name, body in files.items()}
        out["iam_policy.json"] = pretty(req.iam_policy(release))
        role_policy = req.capture_role_policy(release)
        if role_policy is not None:
            out["capture_role_policy.json"] = pretty(role_policy)
        return out

    # ------------------------------------------------------------------ reading

    def observe(self, release: Release) -> Live:
        from .api import clients

        c = clients(_aws(release).region)
        return _observe(c, release)

    def metrics(self, release: Release, live: Live, window: float) -> list[RevisionMetrics]:
        """Per revision, from CloudWatch (see providers/aws/metrics.py for what each figure is)."""
        from .api import clients
        from .metrics import revision_metrics

        return revision_metrics(clients(_aws(release).region), release, live, window)

    def plan(self, release: Release, live: Live) -> list[Change]:
        target = _aws(release)
        endpoint = req.endpoint_name(release)
        # `deploy` rolls an unfinished rollout back before anything else (the engine calls `recover`)
        undo = [Change("update", f"endpoint {endpoint}", f"roll back: {line}") for line in live.unfinished]
        active = live.active_revision
        if active is not None and active.digest == release.digest:
            return [*undo, Change("keep", f"endpoint {endpoint}", f"revision {active.number} runs this config")]
        seen = live.observed_as(AwsObserved)
        count = seen.desired_instances.get(target.variant)
        count_note = f"{count}, the autoscaler's current count" if count else str(req.initial_count(target))
        changes = [
            *undo,
            Change("create", f"model {req.name_base(release)}-r{REVISION}", release.model.image),
            Change(
                "create", f"endpoint config {req.name_base(release)}-r{REVISION}", f"{target.instance} x {count_note}"
            ),
        ]
        if seen.endpoint_status is None:
            changes.append(Change("create", f"endpoint {endpoint}", "new endpoint"))
        else:
            old_variants = set(seen.desired_instances)
            how = _strategy_text(target)
            if old_variants and old_variants != {target.variant}:
                how = "all at once: SageMaker's guardrails need the same variant name"
            changes.append(Change("update", f"endpoint {endpoint}", how))
            if not (old_variants and old_variants != {target.variant}):
                changes += [
                    Change("create", f"alarm {req.alarm_name(release, REVISION, gate)}", _gate_text(target, gate))
                    for gate in req.gates(target)
                ]
        auto = target.autoscaling
        scaling = seen.autoscaling.get(req.resource_id(endpoint, target.variant))
        want = f"min {max(auto.min, 1)}, max {auto.max}, {_metric_text(release)}"
        if scaling is None:
            action: ChangeAction = "create"
        elif scaling == (max(auto.min, 1), auto.max):
            action = "keep"
        else:
            action = "update"
            bounds = f"min {scaling[0]} -> {max(auto.min, 1)}, max {scaling[1]} -> {auto.max}"
            want = f"{bounds}, {_metric_text(release)}"
        changes.append(Change(action, f"autoscaling {req.resource_id(endpoint, target.variant)}", want))
        return changes

    # ------------------------------------------------------------------ changing

    def apply(self, plan: Plan, events: Events) -> Revision:
        from .rollout import deploy

        return deploy(plan, events)

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        from .rollout import rollback

        return rollback(release, live, to, events)

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        from .rollout import destroy

        return destroy(release, live, events)

    def recover(self, release: Release, live: Live, events: Events) -> list[str]:
        from .rollout import recover

        return recover(release, live, events)


# ---------------------------------------------------------------------- helpers


def _aws(release: Release) -> AwsTarget:
    target = release.target
    if not isinstance(target, AwsTarget):
        raise ProviderError(f"target {release.target_name} is not an aws target")
    return target


def _strategy_text(target: AwsTarget) -> str:
    r = target.rollout
    if target.rolling_batch:
        return f"rolling update, batches of {target.rolling_batch}, bake {r.bake}s"
    text = {
        "all_at_once": "blue/green all at once",
        "canary": f"blue/green canary {r.percent}%",
        "linear": f"blue/green linear steps of {r.percent}%",
    }[r.strategy]
    text += f", bake {r.bake}s"
    watched = [*r.alarms, *(f"{gate} alarm" for gate in req.gates(target))] if r.auto_rollback else []
    if watched:
        text += f", roll back on {', '.join(watched)}"
    return text


def _gate_text(target: AwsTarget, gate: str) -> str:
    """What a guardrail alarm judges, for `plan`."""
    r = target.rollout
    need = max(r.min_requests, 1)
    what = {
        "5xx": f"new fleet's 5xx share > {r.max_error_rate or 0:.1%}",
        "p99": f"new fleet's ModelLatency p99 > {r.max_p99 or 0:g} ms",
        "p99-ratio": f"new fleet's ModelLatency p99 > {r.max_p99_ratio or 0:g}x the serving revision's "
        "(measured at deploy)",
    }[gate]
    return f"{what} in a minute with >= {need} invocations; SageMaker rolls back on it; deleted after the rollout"


def _metric_text(release: Release) -> str:
    metric = req.scaling_metric(release)
    if metric["predefined_metric"]:
        return f"{metric['target_value']:g} invocations/instance/minute"
    return f"{metric['metric_name']} {metric['target_value']:g}"


_REV = re.compile(r"-r(\d+)$")


def _observe(c: Any, release: Release) -> Live:
    """Endpoint, revisions (from the tagged endpoint configs) and autoscaling, as AWS reports them."""
    from .api import call, describe_endpoint, list_named, tags_of

    target = _aws(release)
    endpoint = req.endpoint_name(release)
    desc = describe_endpoint(c.sagemaker, endpoint)
    current = desc.get("EndpointConfigName") if desc else None
    pending = (desc or {}).get("PendingDeploymentSummary", {}).get("EndpointConfigName")
    revisions: list[Revision] = []
    tagged: dict[int, str] = {}  # revision -> the status its config is tagged with
    prefix = f"{req.name_base(release)}-r"
    for summary in list_named(c.sagemaker.list_endpoint_configs, "EndpointConfigs", prefix, "listing endpoint configs"):
        name = summary["EndpointConfigName"]
        if not re.fullmatch(re.escape(prefix) + r"\d+", name):
            continue
        tags = tags_of(c.sagemaker, summary["EndpointConfigArn"])
        if tags.get(f"{req.TAG}managed-by") != req.MANAGED_BY or tags.get(f"{req.TAG}endpoint") != endpoint:
            continue
        revision = _revision(name, summary, tags, current, pending)
        tagged[revision.number] = tags.get(f"{req.TAG}status", "pending")
        revisions.append(revision)
    revisions.sort(key=lambda r: r.number)
    serving = _number(current)
    good = serving if serving is not None and tagged.get(serving) == "active" else None
    if good is None:
        good = max((n for n, st in tagged.items() if st == "active"), default=None)
    unconfirmed = sorted(n for n, st in tagged.items() if st == "pending" and n != good)
    for r in revisions:
        if r.number in unconfirmed and r.status == "active":
            r.status = "pending"  # serves, but no deploy confirmed it: never "active" in history
    unfinished = _unfinished(desc, good, unconfirmed, serving, _number(pending))
    active = next((r.number for r in revisions if r.status == "active"), None)
    if active is None and unconfirmed and serving in unconfirmed:
        active = good
    # `exists` also when only retained revisions are left (a first deploy that failed), so that
    # `destroy` cleans them up; observed.endpoint_status says whether there is an endpoint.
    live = Live(exists=desc is not None or bool(revisions), revisions=revisions, active=active)
    live.unfinished = unfinished
    live.problems = list(unfinished)
    if desc is None:
        live.details = {"endpoint": endpoint, "status": "absent", "retained_revisions": len(revisions)}
        live.observed = AwsObserved(endpoint_status=None, good=good, unconfirmed=unconfirmed)
        return live
    live.url = req.runtime_url(target.region, endpoint)
    live.traffic = {serving: 100} if serving is not None else {}
    variants = {
        v["VariantName"]: {
            "current_instances": v.get("CurrentInstanceCount"),
            "desired_instances": v.get("DesiredInstanceCount"),
            "weight": v.get("CurrentWeight"),
        }
        for v in desc.get("ProductionVariants", [])
    }
    live.details = {"endpoint": endpoint, "status": desc["EndpointStatus"], "variants": variants}
    if desc.get("FailureReason"):
        live.details["failure_reason"] = desc["FailureReason"]
    scaling: dict[str, tuple[int, int]] = {}
    if variants:
        ids = [req.resource_id(endpoint, v) for v in variants]
        found = call(
            c.autoscaling.describe_scalable_targets,
            "reading autoscaling",
            ServiceNamespace="sagemaker",
            ResourceIds=ids,
            ScalableDimension=req.SCALABLE_DIMENSION,
        )
        scaling = {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in found.get("ScalableTargets", [])}
        live.details["autoscaling"] = {rid: {"min": low, "max": high} for rid, (low, high) in scaling.items()}
    live.observed = AwsObserved(
        endpoint_status=desc["EndpointStatus"],
        desired_instances={name: v["desired_instances"] for name, v in variants.items()},
        autoscaling=scaling,
        good=good,
        unconfirmed=unconfirmed,
    )
    status = desc["EndpointStatus"]
    if status != "InService":  # Updating/RollingBack: a rollout is running or was left; Failed/OutOfService: down
        reason = f": {desc['FailureReason']}" if desc.get("FailureReason") else ""
        live.problems.append(f"endpoint {endpoint} is {status}{reason}")
    return live


def _number(config: str | None) -> int | None:
    match = _REV.search(config or "")
    return int(match.group(1)) if match else None


def _unfinished(
    desc: dict[str, Any] | None, good: int | None, unconfirmed: list[int], serving: int | None, pending: int | None
) -> list[str]:
    """What an interrupted (or failed) rollout left on the endpoint, one line each, for `recover` to undo.

    Only scalectl's own revisions count: an Updating endpoint with no pending scalectl config is
    Application Auto Scaling at work, SystemUpdating is SageMaker's maintenance.
    """
    lines: list[str] = []
    status = desc["EndpointStatus"] if desc else None
    reason = f" ({str(desc.get('FailureReason')).rstrip('.')})" if desc and desc.get("FailureReason") else ""
    if status in ("Updating", "RollingBack") and pending in unconfirmed:
        lines.append(f"endpoint is {status} to revision {pending}, a rollout that never finished")
    elif status == "Creating" and serving in unconfirmed:
        lines.append(f"endpoint is Creating on revision {serving}, a first deploy that never finished")
    elif status == "UpdateRollbackFailed":
        lines.append(
            f"the update to revision {pending or serving} failed and so did SageMaker's own rollback{reason}: "
            "the endpoint serves a mix of revisions"
        )
    elif status == "Failed" and good is not None:
        lines.append(f"endpoint is Failed{reason}; revision {good} served before")
    elif status == "InService" and serving in unconfirmed:
        what = f"revision {serving} serves all traffic but its rollout never finished"
        lines.append(what if good is not None else f"{what} (a first deploy)")
    named = {pending, serving} if lines else set()
    lines += [f"revision {n} was created but its rollout never started" for n in unconfirmed if n not in named]
    return lines


def _revision(
    name: str, summary: dict[str, Any], tags: dict[str, str], current: str | None, pending: str | None
) -> Revision:
    match = _REV.search(name)
    assert match is not None
    status = tags.get(f"{req.TAG}status", "pending")
    if name == current:
        status = "active"
    elif name == pending:
        status = "pending"
    elif status == "active":
        status = "superseded"  # tagged active by a deploy that has since been replaced
    created = summary.get("CreationTime")
    created_at = (
        created.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        if isinstance(created, datetime)
        else str(created or "")
    )
    return Revision(
        number=int(match.group(1)),
        digest=tags.get(f"{req.TAG}digest", ""),
        image=tags.get(f"{req.TAG}image", ""),
        created_at=created_at,
        created_by=tags.get(f"{req.TAG}created-by", ""),
        status=status,  # type: ignore[arg-type]
        message=tags.get(f"{req.TAG}message", ""),
    )
