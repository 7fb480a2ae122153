"""Deploy, rollback and destroy on SageMaker. Imported only by commands that change things.

SageMaker does the rollout (blue/green or rolling, with its own health checks and alarm
watching) and the rollback; scalectl sends the rendered bodies, follows the endpoint's state
adaptively, and keeps Application Auto Scaling attached to the variant that serves.
"""

from __future__ import annotations

import contextlib
from typing import Any

from scalectl.errors import DeployFailed, ProviderError
from scalectl.events import Events
from scalectl.metrics import RevisionMetrics
from scalectl.provider import Live, Plan, Release, Revision
from scalectl.state import actor
from scalectl.wait import WaitTimeout

from . import guardrails
from . import requests as req
from .api import (
    AwsError,
    Clients,
    call,
    clients,
    describe_endpoint,
    list_named,
    settled,
    tags_of,
    wait_endpoint,
)
from .metrics import fleet_of
from .schema import AwsTarget

NOT_SERVABLE = ("failed", "pending")  # revisions `rollback` never goes back to
SCALABLE = {"ServiceNamespace": "sagemaker", "ScalableDimension": req.SCALABLE_DIMENSION}


# ---------------------------------------------------------------------- deploy


def deploy(plan: Plan, events: Events) -> Revision:
    """Create the revision's model and config, then create or update the endpoint and wait."""
    release, revision = plan.release, plan.revision
    target = _aws(release)
    c = clients(target.region)
    endpoint = req.endpoint_name(release)
    desc = describe_endpoint(c.sagemaker, endpoint)
    if desc is not None:
        _require_ours(c, desc)
        _require_ready(desc)
    _require_alarms(c, target)
    previous = None
    if desc is not None:
        guardrails.sweep(c, release, events)  # what an interrupted deploy left; no update runs now
        previous = guardrails.baseline(c, release, plan.live, events)

    current = _current_count(desc, target) if desc else None
    bodies = req.bodies(
        release,
        revision.number,
        actor=revision.created_by,
        timeout=plan.timeout,
        instance_count=current,
        previous_p99_ms=previous.p99_ms if previous else None,
    )
    name = req.revision_name(release, revision.number)
    events.step(f"creating model {name} ({release.model.image})")
    _create_once(c, c.sagemaker.create_model, f"creating model {name}", bodies.create_model)
    count = bodies.create_endpoint_config["ProductionVariants"][0]["InitialInstanceCount"]
    kept = ", the autoscaler's current count" if current else ""
    events.step(f"creating endpoint config {name} ({target.instance} x {count}{kept})")
    try:
        config = _create_once(
            c, c.sagemaker.create_endpoint_config, f"creating endpoint config {name}", bodies.create_endpoint_config
        )
    except AwsError:  # no config, no revision: the model alone would be an orphan no history shows
        with contextlib.suppress(AwsError):
            call(c.sagemaker.delete_model, f"deleting model {name}", ModelName=name)
        raise
    config_arn = config["EndpointConfigArn"]

    try:
        if desc is None:
            _create(c, plan, bodies, config_arn, events)
            replaced = None
        else:
            replaced = _update(c, plan, bodies, desc, config_arn, events, previous)
    except AwsError as exc:  # refused by AWS: record it with the revision, for every machine's history
        _set_status(c, config_arn, "failed", exc.message)
        raise

    _set_status(c, config_arn, "active")
    if replaced is not None:
        _set_status(c, replaced, "superseded")
    _prune(c, release, plan.live, revision.number, events)
    return Revision(**{**revision.to_dict(), "status": "active", "message": ""})


def _create(c: Clients, plan: Plan, bodies: req.Bodies, config_arn: str, events: Events) -> None:
    endpoint = bodies.create_endpoint["EndpointName"]
    events.step(f"creating endpoint {endpoint}")
    try:
        call(c.sagemaker.create_endpoint, f"creating endpoint {endpoint}", **bodies.create_endpoint)
    except AwsError as exc:  # a retry of a call that went through (its answer was lost) meets its own endpoint
        desc = describe_endpoint(c.sagemaker, endpoint) if "already existing" in exc.message else None
        if desc is None or desc["EndpointConfigName"] != bodies.create_endpoint["EndpointConfigName"]:
            raise
    final = _wait(c, endpoint, events, plan.timeout, "create")
    assert final is not None
    if final["EndpointStatus"] != "InService":
        reason = str(final.get("FailureReason") or final["EndpointStatus"]).rstrip(".")
        _set_status(c, config_arn, "failed", reason)
        events.step(f"deleting failed endpoint {endpoint}")
        call(c.sagemaker.delete_endpoint, f"deleting failed endpoint {endpoint}", EndpointName=endpoint)
        # Wait until it is gone, so the next deploy can create it again straight away.
        with contextlib.suppress(WaitTimeout):
            wait_endpoint(c.sagemaker, endpoint, events, timeout=min(plan.timeout, 600), done=lambda d: d is None)
        raise DeployFailed(
            f"SageMaker could not start revision {plan.revision.number}: {reason}. Nothing was serving before; "
            f"the failed endpoint {endpoint} was deleted (model and endpoint config kept for inspection)."
        )
    _attach_scaling(c, bodies, events)


def _update(
    c: Clients,
    plan: Plan,
    bodies: req.Bodies,
    desc: dict[str, Any],
    config_arn: str,
    events: Events,
    previous: RevisionMetrics | None = None,
) -> str | None:
    """UpdateEndpoint with guardrails (rollout.alarms and the alarms made from the rollout's gates);
    returns the previous config's ARN. Raises DeployFailed when SageMaker rolled back (the previous
    revision keeps serving)."""
    release = plan.release
    target = _aws(release)
    endpoint = desc["EndpointName"]
    old_config = desc["EndpointConfigName"]
    old = call(c.sagemaker.describe_endpoint_config, f"reading {old_config}", EndpointConfigName=old_config)
    old_types = {v["VariantName"]: v.get("InstanceType") for v in old["ProductionVariants"]}
    # SageMaker refuses to change the instance type of a variant Application Auto Scaling manages:
    # detach first, re-attach after (and restore the old attachment if the rollout fails).
    detached = []
    for variant, itype in old_types.items():
        if variant != target.variant or itype != target.instance:
            saved = _detach_scaling(c, endpoint, variant, events)
            if saved is not None:
                detached.append(saved)
    body = bodies.update_endpoint
    if set(old_types) != {target.variant}:
        # SageMaker's guardrails need the same variant name in both configs.
        body = {k: v for k, v in body.items() if k != "DeploymentConfig"}
        events.warn(
            f"the variant changes ({', '.join(old_types)} -> {target.variant}): SageMaker cannot use deployment "
            "guardrails for this update, so it switches all at once without baking or alarms"
        )
    guard = guardrails.create(c, bodies, events, previous) if "DeploymentConfig" in body else guardrails.Guard()
    events.step(f"updating endpoint {endpoint} to {body['EndpointConfigName']}")
    try:
        call(c.sagemaker.update_endpoint, f"updating endpoint {endpoint}", **body)
    except AwsError as exc:
        # a retry of a call that went through (its answer was lost) finds the endpoint updating to this config
        now = describe_endpoint(c.sagemaker, endpoint) if "in-progress" in exc.message else None
        if (now or {}).get("PendingDeploymentSummary", {}).get("EndpointConfigName") != body["EndpointConfigName"]:
            _restore_scaling(c, detached, events)
            guardrails.delete(c, guard.names, events)
            raise
    final = _wait(c, endpoint, events, plan.timeout, "update")  # a timeout keeps the alarms: SageMaker still bakes
    assert final is not None
    new_config = bodies.update_endpoint["EndpointConfigName"]
    rolled_back = final.get("EndpointConfigName") != new_config and final["EndpointStatus"] == "InService"
    fleets = (fleet_of(old_config, old), fleet_of(new_config, bodies.create_endpoint_config))
    why = guardrails.finish(c, release, guard, fleets if rolled_back else None, events)
    if final.get("EndpointConfigName") != new_config or final["EndpointStatus"] not in ("InService",):
        reason = str(final.get("FailureReason") or f"endpoint is {final['EndpointStatus']}").rstrip(".") + why
        _set_status(c, config_arn, "failed", reason)
        _restore_scaling(c, detached, events)
        if final["EndpointStatus"] == "InService":
            old_rev = _rev_of(old_config)
            raise DeployFailed(
                f"SageMaker rolled back revision {plan.revision.number}: {reason}. "
                f"Revision {old_rev} ({old_config}) still serves all traffic."
            )
        raise DeployFailed(
            f"revision {plan.revision.number} failed and endpoint {endpoint} is {final['EndpointStatus']}: {reason}. "
            "Check the endpoint in the SageMaker console; `scalectl rollback` needs it InService."
        )
    _attach_scaling(c, bodies, events)
    _carry_over_policies(c, detached, bodies, events)
    return str(old["EndpointConfigArn"])


def _create_once(c: Clients, method: Any, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """CreateModel / CreateEndpointConfig that a retry cannot break: when a first attempt went through
    but its answer was lost (a read timeout), the retry's "already existing" is the same revision,
    recognised by its scalectl tags, and its ARN is returned."""
    try:
        return call(method, action, **body)
    except AwsError as exc:
        if exc.code != "ValidationException" or "already existing" not in exc.message:
            raise
        if "EndpointConfigName" in body:
            found = call(c.sagemaker.describe_endpoint_config, action, EndpointConfigName=body["EndpointConfigName"])
            arn = str(found["EndpointConfigArn"])
        else:
            arn = str(call(c.sagemaker.describe_model, action, ModelName=body["ModelName"])["ModelArn"])
        wanted = {t["Key"]: t["Value"] for t in body.get("Tags", [])}
        if any(tags_of(c.sagemaker, arn).get(k) != v for k, v in wanted.items() if k.startswith(req.TAG)):
            raise
        return {"EndpointConfigArn": arn} if "EndpointConfigName" in body else {"ModelArn": arn}


def _carry_over_policies(c: Clients, detached: list[dict[str, Any]], bodies: req.Bodies, events: Events) -> None:
    """Scaling policies someone else added to the old variant move to the new one with it."""
    ours = req.policy_name(bodies.create_endpoint["EndpointName"], "")  # scalectl's, for any variant
    rid = bodies.register_scalable_target["ResourceId"]
    for saved in detached:
        others = [p for p in saved["policies"] if not p["PolicyName"].startswith(ours)]
        if others:
            events.step(f"moving {', '.join(p['PolicyName'] for p in others)} to {rid}")
            _put_policies(c, rid, others)


def _wait(c: Clients, endpoint: str, events: Events, timeout: int, what: str) -> dict[str, Any] | None:
    try:
        return wait_endpoint(c.sagemaker, endpoint, events, timeout=timeout, done=settled)
    except WaitTimeout:
        desc = describe_endpoint(c.sagemaker, endpoint)
        state = desc["EndpointStatus"] if desc else "gone"
        after = (
            f"SageMaker rolls the update back by itself after {req.max_execution(timeout)}s; the previous revision "
            "serves until then"
            if what == "update"
            else "it was not serving traffic before"
        )
        raise DeployFailed(f"timed out after {timeout}s waiting for endpoint {endpoint} ({state}); {after}") from None


def _current_count(desc: dict[str, Any], target: AwsTarget) -> int | None:
    """The instance count the autoscaler chose, clamped to the new min..max, so an update keeps it."""
    for v in desc.get("ProductionVariants", []):
        if v["VariantName"] == target.variant:
            count = v.get("DesiredInstanceCount") or v.get("CurrentInstanceCount")
            if count:
                return int(min(max(count, max(target.autoscaling.min, 1)), target.autoscaling.max))
    return None


# ---------------------------------------------------------------------- autoscaling


def _attach_scaling(c: Clients, bodies: req.Bodies, events: Events) -> None:
    rid = bodies.register_scalable_target["ResourceId"]
    events.step(
        f"autoscaling {rid}: {bodies.register_scalable_target['MinCapacity']}-"
        f"{bodies.register_scalable_target['MaxCapacity']} instances"
    )
    call(c.autoscaling.register_scalable_target, f"registering {rid}", **bodies.register_scalable_target)
    call(c.autoscaling.put_scaling_policy, f"attaching scaling policy to {rid}", **bodies.put_scaling_policy)


def _detach_scaling(c: Clients, endpoint: str, variant: str, events: Events) -> dict[str, Any] | None:
    """Remove the variant's policies and scalable target; returns what was there, to restore it."""
    rid = req.resource_id(endpoint, variant)
    found = call(c.autoscaling.describe_scalable_targets, f"reading {rid}", ResourceIds=[rid], **SCALABLE).get(
        "ScalableTargets", []
    )
    if not found:
        return None
    policies = call(c.autoscaling.describe_scaling_policies, f"reading policies of {rid}", ResourceId=rid, **SCALABLE)
    saved = {"target": found[0], "policies": policies.get("ScalingPolicies", [])}
    events.step(f"detaching autoscaling from {rid} while the variant changes")
    for p in saved["policies"]:
        call(
            c.autoscaling.delete_scaling_policy,
            f"deleting policy {p['PolicyName']}",
            PolicyName=p["PolicyName"],
            ResourceId=rid,
            **SCALABLE,
        )
    call(c.autoscaling.deregister_scalable_target, f"deregistering {rid}", ResourceId=rid, **SCALABLE)
    return saved


def _restore_scaling(c: Clients, detached: list[dict[str, Any]], events: Events) -> None:
    for saved in detached:
        t = saved["target"]
        events.step(f"re-attaching autoscaling to {t['ResourceId']}")
        call(
            c.autoscaling.register_scalable_target,
            f"restoring {t['ResourceId']}",
            ResourceId=t["ResourceId"],
            MinCapacity=t["MinCapacity"],
            MaxCapacity=t["MaxCapacity"],
            **SCALABLE,
        )
        _put_policies(c, t["ResourceId"], saved["policies"])


def _put_policies(c: Clients, rid: str, policies: list[dict[str, Any]]) -> None:
    """Put policies read with DescribeScalingPolicies back onto `rid`, as they were."""
    for p in policies:
        params = {"PolicyName": p["PolicyName"], "ResourceId": rid, "PolicyType": p["PolicyType"]}
        for key in ("TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration"):
            if key in p:
                params[key] = p[key]
        call(c.autoscaling.put_scaling_policy, f"restoring policy {p['PolicyName']}", **params, **SCALABLE)


# ---------------------------------------------------------------------- rollback


def rollback(release: Release, live: Live, to: Revision, events: Events) -> Revision:
    """Point the endpoint back at `to`'s retained endpoint config, all at once, keeping the count."""
    target = _aws(release)
    c = clients(target.region)
    endpoint = req.endpoint_name(release)
    desc = describe_endpoint(c.sagemaker, endpoint)
    if desc is None:
        raise ProviderError(f"endpoint {endpoint} does not exist; nothing to roll back")
    _require_ours(c, desc)
    _require_ready(desc)
    guardrails.sweep(c, release, events)
    wanted, current = _switch(c, release, desc, to.number, events)
    _set_status(c, wanted["EndpointConfigArn"], "active")
    _set_status(c, current["EndpointConfigArn"], "rolled_back")
    return Revision(**{**to.to_dict(), "status": "active"})


def _switch(
    c: Clients, release: Release, desc: dict[str, Any], number: int, events: Events
) -> tuple[dict[str, Any], dict[str, Any]]:
    """UpdateEndpoint to revision `number`'s config all at once, moving autoscaling with it;
    returns (its config, the config the endpoint named before). Raises DeployFailed when it does not land."""
    target = _aws(release)
    endpoint = desc["EndpointName"]
    name = req.revision_name(release, number)
    wanted = call(c.sagemaker.describe_endpoint_config, f"reading {name}", EndpointConfigName=name)
    current = call(
        c.sagemaker.describe_endpoint_config,
        f"reading {desc['EndpointConfigName']}",
        EndpointConfigName=desc["EndpointConfigName"],
    )
    new_types = {v["VariantName"]: v.get("InstanceType") for v in wanted["ProductionVariants"]}
    detached = []
    for v in current["ProductionVariants"]:
        if new_types.get(v["VariantName"]) != v.get("InstanceType"):
            saved = _detach_scaling(c, endpoint, v["VariantName"], events)
            if saved is not None:
                detached.append(saved)
    same_variants = set(new_types) == {v["VariantName"] for v in current["ProductionVariants"]}
    body = req.update_body(release, name, timeout=target.rollout.timeout, fast=True)
    if not same_variants:  # no guardrails and nothing to retain across a variant rename
        body = {k: v for k, v in body.items() if k != "DeploymentConfig"}
        body["RetainAllVariantProperties"] = False
    events.step(f"rolling endpoint {endpoint} back to revision {number} ({name})")
    try:
        call(c.sagemaker.update_endpoint, f"updating endpoint {endpoint}", **body)
    except AwsError:
        _restore_scaling(c, detached, events)
        raise
    final = _wait(c, endpoint, events, target.rollout.timeout, "update")
    if final is None or final.get("EndpointConfigName") != name or final["EndpointStatus"] != "InService":
        _restore_scaling(c, detached, events)
        reason = str((final or {}).get("FailureReason") or "the update did not complete").rstrip(".")
        raise DeployFailed(f"rollback to revision {number} failed: {reason}; {desc['EndpointConfigName']} still serves")
    # Re-attach scaling to the variant that now serves, on the new instance type.
    serving = next(iter(new_types))
    ours = req.policy_name(endpoint, "")
    for saved in detached:
        saved["target"] = {**saved["target"], "ResourceId": req.resource_id(endpoint, serving)}
        saved["policies"] = [
            {**p, "PolicyName": req.policy_name(endpoint, serving)} if p["PolicyName"].startswith(ours) else p
            for p in saved["policies"]
        ]
    _restore_scaling(c, detached, events)
    return wanted, current


# ---------------------------------------------------------------------- recover

STOPPING = (
    "SageMaker has no call that stops an update in progress (UpdateEndpoint answers ValidationException "
    "while the endpoint is {status}); {how}"
)
WAITING = "waiting for it to finish or roll back, then switching back"
TRIPPING = (
    "setting its guardrail alarm(s) {names} to ALARM, so SageMaker's own auto-rollback stops it now; "
    "waiting for that, then switching back if needed"
)


def recover(release: Release, live: Live, events: Events) -> list[str]:
    """Undo what an interrupted (or failed) rollout left: the last confirmed revision serves 100% again,
    the unconfirmed ones are tagged failed. Returns what was done, one line each.

    What SageMaker allows decides how: an update in progress cannot be cancelled, so it is waited
    out (SageMaker itself rolls it back by MaximumExecutionTimeoutInSeconds) and switched back
    all at once; an UpdateRollbackFailed endpoint takes UpdateEndpoint to the old config; a Failed
    endpoint takes only DeleteEndpoint, so it is recreated on the last confirmed revision.
    """
    from .provider import AwsObserved

    seen = live.observed_as(AwsObserved)
    target = _aws(release)
    c = clients(target.region)
    endpoint = req.endpoint_name(release)
    good = seen.good
    done: list[str] = []
    desc = describe_endpoint(c.sagemaker, endpoint)
    if desc is not None:
        _require_ours(c, desc)
        if desc["EndpointStatus"] in ("Creating", "Updating", "RollingBack"):
            # the interrupted update's own guardrail alarms are in its AutoRollbackConfiguration: an
            # alarm in ALARM is the one signal SageMaker takes to roll an update back before it ends
            alarms = guardrails.ours(c, release) if desc["EndpointStatus"] == "Updating" else []
            how = TRIPPING.format(names=", ".join(alarms)) if alarms else WAITING
            events.warn(STOPPING.format(status=desc["EndpointStatus"], how=how))
            for name in alarms:
                call(
                    c.cloudwatch.set_alarm_state,
                    f"setting alarm {name} to ALARM",
                    AlarmName=name,
                    StateValue="ALARM",
                    StateReason="scalectl: the rollout was interrupted; roll the update back",
                )
            limit = req.max_execution(target.rollout.timeout) + 300  # SageMaker has rolled back by then
            desc = _wait(c, endpoint, events, limit, "update")
            state = desc["EndpointStatus"] if desc else "gone"
            done.append(
                f"tripped guardrail alarm(s) {', '.join(alarms)}: SageMaker rolled the update back ({state})"
                if alarms
                else f"waited for SageMaker's update to settle ({state})"
            )
        guardrails.sweep(c, release, events)  # no update runs now: the interrupted one's alarms go
    reason = str((desc or {}).get("FailureReason") or "").rstrip(".")
    if desc is not None and good is None:
        _delete_endpoint(c, endpoint, events, target.rollout.timeout)
        done.append(f"deleted endpoint {endpoint}: nothing served before the unfinished first deploy")
    elif desc is not None and good is not None and desc["EndpointStatus"] == "Failed":
        _recreate(c, release, good, events)
        done.append(
            f"recreated endpoint {endpoint} on revision {good}: SageMaker allows only DeleteEndpoint on a Failed one"
        )
    elif desc is not None and good is not None:
        if desc["EndpointStatus"] == "UpdateRollbackFailed" or desc["EndpointConfigName"] != req.revision_name(
            release, good
        ):
            _switch(c, release, desc, good, events)
        done.append(f"traffic back on revision {good} (100%)")
    for number in seen.unconfirmed:
        name = req.revision_name(release, number)
        arn = call(c.sagemaker.describe_endpoint_config, f"reading {name}", EndpointConfigName=name)
        _set_status(c, arn["EndpointConfigArn"], "failed", reason or "interrupted: rolled back by scalectl")
        done.append(f"removed unfinished revision {number} (no instances left; model and config kept, tagged failed)")
    return done


def _delete_endpoint(c: Clients, endpoint: str, events: Events, timeout: int) -> None:
    """Delete the endpoint (its autoscaling first) and wait until it is gone."""
    desc = describe_endpoint(c.sagemaker, endpoint)
    if desc is None:
        return
    for v in desc.get("ProductionVariants", []):
        _detach_scaling(c, endpoint, v["VariantName"], events)
    if desc["EndpointStatus"] != "Deleting":
        events.step(f"deleting endpoint {endpoint}")
        call(c.sagemaker.delete_endpoint, f"deleting endpoint {endpoint}", EndpointName=endpoint)
    wait_endpoint(c.sagemaker, endpoint, events, timeout=timeout, done=lambda d: d is None)


def _recreate(c: Clients, release: Release, number: int, events: Events) -> None:
    """A Failed endpoint back in service on revision `number`'s retained config."""
    target = _aws(release)
    endpoint = req.endpoint_name(release)
    _delete_endpoint(c, endpoint, events, target.rollout.timeout)
    bodies = req.bodies(release, number, actor=actor(), timeout=target.rollout.timeout)
    events.step(f"creating endpoint {endpoint} on revision {number}")
    call(c.sagemaker.create_endpoint, f"creating endpoint {endpoint}", **bodies.create_endpoint)
    final = _wait(c, endpoint, events, target.rollout.timeout, "create")
    if final is None or final["EndpointStatus"] != "InService":
        why = str((final or {}).get("FailureReason") or "it did not come up").rstrip(".")
        raise DeployFailed(f"could not recreate endpoint {endpoint} on revision {number}: {why}")
    name = req.revision_name(release, number)
    config = call(c.sagemaker.describe_endpoint_config, f"reading {name}", EndpointConfigName=name)
    if target.variant in {v["VariantName"] for v in config["ProductionVariants"]}:
        _attach_scaling(c, bodies, events)


# ---------------------------------------------------------------------- destroy


def destroy(release: Release, live: Live, events: Events) -> list[str]:
    """Delete the endpoint, its scaling, and the models/configs scalectl tagged as its own."""
    target = _aws(release)
    c = clients(target.region)
    endpoint = req.endpoint_name(release)
    removed: list[str] = []
    desc = describe_endpoint(c.sagemaker, endpoint)
    if desc is not None:
        _require_ours(c, desc)
        for v in desc.get("ProductionVariants", []):
            if _detach_scaling(c, endpoint, v["VariantName"], events) is not None:
                removed.append(f"autoscaling {req.resource_id(endpoint, v['VariantName'])}")
        events.step(f"deleting endpoint {endpoint}")
        call(c.sagemaker.delete_endpoint, f"deleting endpoint {endpoint}", EndpointName=endpoint)
        wait_endpoint(c.sagemaker, endpoint, events, timeout=target.rollout.timeout, done=lambda d: d is None)
        removed.append(f"endpoint {endpoint}")
    removed += [f"alarm {name}" for name in guardrails.sweep(c, release, events)]
    prefix = f"{req.name_base(release)}-r"
    # models before configs: a destroy stopped half-way leaves configs, which `observe` sees, so the next
    # destroy finds the target and finishes (a model with no config left would be seen by nothing)
    for kind, lister, key, deleter, param in (
        ("model", c.sagemaker.list_models, "Models", c.sagemaker.delete_model, "ModelName"),
        (
            "endpoint config",
            c.sagemaker.list_endpoint_configs,
            "EndpointConfigs",
            c.sagemaker.delete_endpoint_config,
            "EndpointConfigName",
        ),
    ):
        arn_key = "EndpointConfigArn" if kind == "endpoint config" else "ModelArn"
        for item in list_named(lister, key, prefix, f"listing {kind}s"):
            tags = tags_of(c.sagemaker, item[arn_key])
            if tags.get(f"{req.TAG}managed-by") != req.MANAGED_BY or tags.get(f"{req.TAG}endpoint") != endpoint:
                continue
            events.step(f"deleting {kind} {item[param]}")
            call(deleter, f"deleting {kind} {item[param]}", **{param: item[param]})
            removed.append(f"{kind} {item[param]}")
    return removed


# ---------------------------------------------------------------------- shared


def _aws(release: Release) -> AwsTarget:
    target = release.target
    if not isinstance(target, AwsTarget):
        raise ProviderError(f"target {release.target_name} is not an aws target")
    return target


def _require_ours(c: Clients, desc: dict[str, Any]) -> None:
    tags = tags_of(c.sagemaker, desc["EndpointArn"])
    if tags.get(f"{req.TAG}managed-by") != req.MANAGED_BY:
        raise ProviderError(
            f"endpoint {desc['EndpointName']} exists but was not created by scalectl; scalectl will not change it. "
            "Set endpoint_name on the target to use another name."
        )


def _require_ready(desc: dict[str, Any]) -> None:
    status = desc["EndpointStatus"]
    if status == "InService":
        return
    if status == "Failed":
        raise ProviderError(
            f"endpoint {desc['EndpointName']} is Failed ({desc.get('FailureReason', 'no reason given')}); "
            "SageMaker cannot update a failed endpoint: run `scalectl destroy` and deploy again"
        )
    raise ProviderError(
        f"endpoint {desc['EndpointName']} is {status}: another deploy or a SageMaker operation is in progress; "
        "try again when it is InService"
    )


def _require_alarms(c: Clients, target: AwsTarget) -> None:
    """SageMaker only checks alarm names when it watches them; a typo should fail before anything changes."""
    if not (target.rollout.auto_rollback and target.rollout.alarms):
        return
    found = call(c.cloudwatch.describe_alarms, "reading CloudWatch alarms", AlarmNames=list(target.rollout.alarms))
    names = {a["AlarmName"] for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])}
    missing = [a for a in target.rollout.alarms if a not in names]
    if missing:
        raise ProviderError(
            f"rollout.alarms: no CloudWatch alarm named {', '.join(missing)} in {target.region}; "
            "create it, or remove it from rollout.alarms. Nothing was changed."
        )


def _set_status(c: Clients, arn: str, status: str, message: str = "") -> None:
    tags = [{"Key": f"{req.TAG}status", "Value": status}]
    if message:
        tags.append({"Key": f"{req.TAG}message", "Value": req.tag_value(message)})
    call(c.sagemaker.add_tags, f"tagging {arn}", ResourceArn=arn, Tags=tags)


def _rev_of(config_name: str) -> str:
    return config_name.rsplit("-r", 1)[-1] if "-r" in config_name else config_name


def _prune(c: Clients, release: Release, live: Live, new: int, events: Events) -> None:
    """Keep the new revision and `keep_revisions` earlier ones; delete older configs and models."""
    keep = _aws(release).keep_revisions
    good = sorted((r.number for r in live.revisions if r.number < new and r.status not in NOT_SERVABLE), reverse=True)
    kept = good[:keep]
    oldest = min(kept, default=new)
    # failed and unfinished revisions never take a slot; they go once older than every kept one
    older = [r.number for r in live.revisions if r.number < new and r.number not in kept]
    for number in sorted(n for n in older if n in good or n < oldest):
        name = req.revision_name(release, number)
        events.step(f"pruning revision {number} ({name})")
        for deleter, param in (
            (c.sagemaker.delete_endpoint_config, "EndpointConfigName"),
            (c.sagemaker.delete_model, "ModelName"),
        ):
            try:
                call(deleter, f"deleting {name}", **{param: name})
            except AwsError as exc:
                if exc.code != "ValidationException":
                    raise
