"""Request bodies for Vertex AI, rendered from `templates/gcp/`.

Every body the provider sends is produced here with `render_json`, so `scalectl render`
and `scalectl deploy` share one source. Values only known at deploy time (the revision
number, resource ids) are filled by the same templates; `render` shows them as <...>.
No Google SDK here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from scalectl.provider import Release, Revision, placeholder
from scalectl.render import pretty, render_json
from scalectl.rollout import bake_after, traffic_steps

from .machines import hardware
from .schema import GcpTarget

# label keys use underscores: they appear in list filters (`labels.scalectl_app="..."`)
MANAGED_BY = "managed_by"
APP = "scalectl_app"
TARGET = "scalectl_target"
REVISION = "scalectl_revision"
DIGEST = "scalectl_digest"
STATUS = "scalectl_status"  # set on a Model that failed or was rolled back

CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
DUTY_CYCLE_METRIC = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"
REQUEST_COUNT_METRIC = "aiplatform.googleapis.com/prediction/online/request_count"


def target_of(release: Release) -> GcpTarget:
    assert isinstance(release.target, GcpTarget)
    return release.target


def parent(target: GcpTarget) -> str:
    return f"projects/{target.project}/locations/{target.region}"


def endpoint_display_name(release: Release) -> str:
    return target_of(release).endpoint_name or f"{release.app}-{release.target_name}"


def label_value(value: str) -> str:
    """Google label values: lowercase letters, digits, '_' and '-', at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", value.lower())[:63]


def endpoint_labels(release: Release) -> dict[str, str]:
    """How scalectl finds its endpoint again: by label, never by display name alone."""
    tags = {label_value(k): label_value(v) for k, v in target_of(release).tags.items()}
    return {**tags, MANAGED_BY: "scalectl", APP: release.app, TARGET: release.target_name}


def model_labels(release: Release, revision: str) -> dict[str, str]:
    return {**endpoint_labels(release), REVISION: revision, DIGEST: release.digest}


def env_pairs(release: Release) -> list[tuple[str, str]]:
    """The container's env: model.env, plus secret *references* the container resolves itself."""
    pairs = list(release.model.env.items())
    pairs += [(f"SCALECTL_SECRET_{name}", ref) for name, ref in release.model.secrets.items()]
    return pairs


def dedicated_resources(release: Release) -> dict[str, Any]:
    target = target_of(release)
    return render_json(
        "gcp/dedicated_resources.json.j2",
        hw=hardware(target),
        autoscaling=target.autoscaling,
        metric_specs=autoscaling_metric(target),
        spot=target.spot,
    )


# Vertex scales on CPU utilisation (and accelerator duty cycle when the machine has an accelerator count)
# at a default target of 60% unless a spec overrides it, alongside the metric sent: a target of 100 (the
# highest utilisation Vertex accepts) for the metrics the user did not choose leaves the chosen one in charge.
# https://cloud.google.com/vertex-ai/docs/reference/rest/v1/DedicatedResources (autoscalingMetricSpecs)
UNCHOSEN_TARGET = 100


def metric_target(target: GcpTarget) -> float:
    """The target as Vertex counts it: percent, or requests per replica per minute (requests/s x 60)."""
    a = target.autoscaling
    return a.target * 60 if a.metric == "requests_per_replica" else a.target


def whole(value: float) -> int | None:
    """`value` as the int32 Vertex takes, or None when that would change it (70.7, 0.3)."""
    nearest = round(value)
    return nearest if nearest >= 1 and abs(value - nearest) < 1e-9 else None


def autoscaling_metric(target: GcpTarget) -> list[dict[str, Any]]:
    """Every autoscalingMetricSpec Vertex would apply, explicit: the chosen metric at its target, the
    implicit ones at 100% so they never scale out on their own (check() refuses targets that are not whole)."""
    a = target.autoscaling
    names = {"cpu": CPU_METRIC, "gpu": DUTY_CYCLE_METRIC, "accelerator_duty_cycle": DUTY_CYCLE_METRIC}
    chosen = names.get(a.metric, REQUEST_COUNT_METRIC if a.metric == "requests_per_replica" else None)
    if chosen is None:
        return []  # memory: refused by check()
    value = whole(metric_target(target))
    specs = [{"metricName": chosen, "target": value if value is not None else round(metric_target(target))}]
    implicit = [CPU_METRIC]
    if hardware(target).accelerator_count > 0:
        implicit.append(DUTY_CYCLE_METRIC)
    specs += [{"metricName": m, "target": UNCHOSEN_TARGET} for m in implicit if m != chosen]
    return specs


@dataclass(frozen=True)
class RevisionInfo:
    """The revision record kept in the Model's description, so any machine reads history."""

    number: str
    created_at: str
    created_by: str


def description(release: Release, info: RevisionInfo) -> str:
    """JSON in the Model description: the revision record and the resources to redeploy it with."""
    record = {
        "scalectl": {
            "app": release.app,
            "target": release.target_name,
            "revision": info.number,
            "digest": release.digest,
            "image": release.model.image,
            "created_at": info.created_at,
            "created_by": info.created_by,
            "dedicatedResources": dedicated_resources(release),
        }
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def upload_model(release: Release, info: RevisionInfo) -> dict[str, Any]:
    return render_json(
        "gcp/upload_model.json.j2",
        parent=parent(target_of(release)),
        model_display_name=f"{release.app}-{release.target_name}-r{info.number}",
        description=description(release, info),
        labels=model_labels(release, info.number),
        model=release.model,
        env=env_pairs(release),
    )


def create_endpoint(release: Release) -> dict[str, Any]:
    return render_json(
        "gcp/create_endpoint.json.j2",
        parent=parent(target_of(release)),
        endpoint_display_name=endpoint_display_name(release),
        endpoint_labels=endpoint_labels(release),
        app=release.app,
        target_name=release.target_name,
        logging=request_response_logging(target_of(release)),
    )


def request_response_logging(target: GcpTarget) -> dict[str, Any] | None:
    """`monitoring.capture` as the endpoint's request-response logging: a sampling rate and a BigQuery table."""
    cap = target.monitoring.capture
    if cap is None:
        return None
    return {"enabled": True, "samplingRate": cap.percent / 100, "bigqueryDestination": {"outputUri": cap.destination}}


def logging_differs(endpoint: dict[str, Any], target: GcpTarget) -> bool:
    """Whether an existing endpoint's request-response logging is not what `monitoring.capture` asks for."""
    have = endpoint.get("predictRequestResponseLoggingConfig") or {}
    want = request_response_logging(target)
    if want is None:
        return bool(have.get("enabled"))
    return (
        not have.get("enabled")
        or abs(float(have.get("samplingRate", 0)) - want["samplingRate"]) > 1e-9
        or (have.get("bigqueryDestination") or {}).get("outputUri") != want["bigqueryDestination"]["outputUri"]
    )


def update_logging(endpoint: str, target: GcpTarget) -> dict[str, Any]:
    """UpdateEndpoint (PATCH, update_mask predictRequestResponseLoggingConfig): capture on an existing endpoint,
    or off again (`enabled: false`) when `monitoring.capture` was removed."""
    return render_json(
        "gcp/update_logging.json.j2",
        endpoint=endpoint,
        logging=request_response_logging(target) or {"enabled": False},
    )


def deploy_model(
    release: Release,
    *,
    endpoint: str,
    model_resource: str,
    revision: str,
    traffic_split: dict[str, int],
    resources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """DeployModel: "0" in traffic_split is the model being deployed (Vertex's convention)."""
    return render_json(
        "gcp/deploy_model.json.j2",
        endpoint=endpoint,
        model_resource=model_resource,
        deployed_display_name=f"{release.app}-{release.target_name}-r{revision}",
        dedicated_resources=resources if resources is not None else dedicated_resources(release),
        service_account=target_of(release).service_account,
        traffic_split=traffic_split,
    )


def mark_model(model: dict[str, Any], status: str, note: str) -> dict[str, Any]:
    """UpdateModel: label a revision failed/rolled_back and say why in its description record."""
    try:
        record = json.loads(model.get("description", ""))
    except json.JSONDecodeError:
        record = {}
    if not isinstance(record, dict):
        record = {}
    record.setdefault("scalectl", {})[status] = note
    return render_json(
        "gcp/update_model.json.j2",
        model_name=model["name"],
        labels={**model.get("labels", {}), STATUS: status},
        description=json.dumps(record, sort_keys=True, separators=(",", ":")),
    )


def update_traffic(endpoint: str, traffic_split: dict[str, int]) -> dict[str, Any]:
    return render_json("gcp/update_traffic.json.j2", endpoint=endpoint, traffic_split=traffic_split)


def undeploy_model(endpoint: str, deployed_model_id: str, traffic_split: dict[str, int]) -> dict[str, Any]:
    return render_json(
        "gcp/undeploy_model.json.j2",
        endpoint=endpoint,
        deployed_model_id=deployed_model_id,
        traffic_split=traffic_split,
    )


def iam(release: Release) -> dict[str, Any]:
    target = target_of(release)
    return render_json(
        "gcp/iam.json.j2",
        project=target.project,
        service_account=target.service_account,
        model=release.model,
        secret_refs=sorted(release.model.secrets.values()),
        capture_table=target.monitoring.capture.destination if target.monitoring.capture else None,
    )


def rollout_plan(release: Release) -> dict[str, Any]:
    target = target_of(release)
    return {
        "strategy": target.rollout.strategy,
        "steps": [
            {"new_revision_percent": p, "bake_seconds": bake_after(target.rollout, p)}
            for p in traffic_steps(target.rollout)
        ],
        "health_gate": "each step waits for the deployed model's available replicas; a failure moves traffic back",
        "metrics_gate": "each bake below 100% judges Cloud Monitoring's 5xx share and P99 of the new deployed model "
        "against rollout.max_error_rate / max_p99 / max_p99_ratio and the one it replaces",
        "auto_rollback": target.rollout.auto_rollback,
        "undeploy_previous_after_seconds": target.undeploy_grace,
        "first_deploy": "an endpoint with nothing deployed gets the new revision at 100% in one step",
    }


def render_preview(release: Release, preview: Revision | None = None) -> dict[str, str]:
    """What `scalectl render` writes: every request body, with deploy-time ids as `{name}` placeholders."""
    target = target_of(release)
    info = RevisionInfo(
        number=str(preview.number) if preview else placeholder("revision"),
        created_at=preview.created_at if preview else placeholder("deploy_time"),
        created_by=preview.created_by if preview else placeholder("actor"),
    )
    endpoint = f"{parent(target)}/endpoints/{placeholder('endpoint_id')}"
    steps = traffic_steps(target.rollout)
    first = deploy_model(
        release,
        endpoint=endpoint,
        model_resource=f"{parent(target)}/models/{placeholder('model_id')}",
        revision=info.number,
        traffic_split={"0": 100},
    )
    update = deploy_model(
        release,
        endpoint=endpoint,
        model_resource=f"{parent(target)}/models/{placeholder('model_id')}",
        revision=info.number,
        traffic_split={"0": steps[0]}
        if steps[0] == 100
        else {"0": steps[0], placeholder("previous_deployed_model_id"): 100 - steps[0]},
    )
    files = {
        "upload_model.json": pretty(upload_model(release, info)),
        "create_endpoint.json": pretty(create_endpoint(release)),
        "deploy_model.first.json": pretty(first),
        "deploy_model.update.json": pretty(update),
        "rollout.json": pretty(rollout_plan(release)),
        "iam.json": pretty(iam(release)),
    }
    if target.monitoring.capture is not None:  # sent when the endpoint exists with other logging settings
        files["update_logging.json"] = pretty(update_logging(endpoint, target))
    if len(steps) > 1:  # the first UpdateEndpoint traffic step after the canary's bake
        new, old = placeholder("new_deployed_model_id"), placeholder("previous_deployed_model_id")
        split = {new: steps[1]} if steps[1] == 100 else {new: steps[1], old: 100 - steps[1]}
        files["update_traffic.json"] = pretty(update_traffic(endpoint, split))
    return files
