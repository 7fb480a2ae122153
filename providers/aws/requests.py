"""The request bodies scalectl sends to SageMaker and Application Auto Scaling, and their names.

Pure functions of the release (no boto3): `render` shows these bodies and `apply` sends them,
so what a user reviews is exactly what AWS receives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from scalectl import __version__
from scalectl.provider import ACTOR, REVISION, Release, placeholder
from scalectl.render import render_json

from .schema import AwsTarget

MANAGED_BY = "scalectl"
TAG = "scalectl:"  # prefix of every tag key scalectl writes
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
NAME_LIMIT = 63  # SageMaker endpoint, endpoint config and model names
ALARM_PERIOD = 60  # seconds: SageMaker publishes invocation metrics once a minute
PREVIOUS_P99 = placeholder("previous_p99_us")  # what `render` shows where deploy measures the previous P99
_TAG_VALUE_BAD = re.compile(r"[^\w\s.:/=+\-@]", re.UNICODE)

# GPUs per instance for the GPU families whose GPUUtilization SageMaker sums over GPUs
# (EC2 accelerated computing instance specs: https://aws.amazon.com/ec2/instance-types/#Accelerated_Computing).
_GPUS_BY_SIZE = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4}
_GPU_FAMILIES = ("g4dn", "g5", "g6", "g6e")
# G7e (RTX PRO 6000 Blackwell): 2/4/8xlarge 1 GPU, 12xlarge 2, 24xlarge 4, 48xlarge 8.
_G7E_GPUS = {"2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "12xlarge": 2, "24xlarge": 4, "48xlarge": 8}
_OTHER_GPUS = {
    "p2": {"xlarge": 1, "8xlarge": 8, "16xlarge": 16},
    "p3": {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8},
    "p5": {"4xlarge": 1, "48xlarge": 8},  # p5.4xlarge is a single H100
    "p6e-gb200": {"36xlarge": 4},  # one GB200 superchip tray: 4 B200 GPUs per instance
}


def endpoint_name(release: Release) -> str:
    target = _aws(release)
    return target.endpoint_name or f"{release.app}-{release.target_name}"


def name_base(release: Release) -> str:
    """Prefix of the per-revision model and config names (room left for `-r<N>`)."""
    return endpoint_name(release)[: NAME_LIMIT - 8].rstrip("-")


def revision_name(release: Release, revision: int | str) -> str:
    """Model and endpoint config name of one revision (both share it; they are different kinds)."""
    return f"{name_base(release)}-r{revision}"


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, variant: str) -> str:
    return f"scalectl-{endpoint}-{variant}"[:256]


def runtime_url(region: str, endpoint: str) -> str:
    return f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{endpoint}/invocations"


PLACEHOLDERS = (REVISION, ACTOR)  # what `render` shows where deploy fills in a value


def tag_value(text: str) -> str:
    """SageMaker tag values allow letters, digits, spaces and `_.:/=+-@`, up to 256 characters."""
    if text in PLACEHOLDERS:
        return text
    return _TAG_VALUE_BAD.sub("_", text)[:256]


def revision_tags(release: Release, revision: int | str, actor: str, status: str = "pending") -> list[dict[str, str]]:
    """Tags that let any machine rebuild history from the endpoint configs and models alone."""
    target = _aws(release)
    ours = {
        "managed-by": MANAGED_BY,
        "app": release.app,
        "target": release.target_name,
        "endpoint": endpoint_name(release),
        "revision": str(revision),
        "digest": release.digest,
        "image": release.model.image,
        "version": __version__,
        "created-by": actor,
        "status": status,
    }
    tags = [{"Key": f"{TAG}{k}", "Value": tag_value(v)} for k, v in ours.items()]
    tags += [{"Key": k, "Value": tag_value(v)} for k, v in target.tags.items() if not k.startswith(TAG)]
    return tags


def endpoint_tags(release: Release) -> list[dict[str, str]]:
    target = _aws(release)
    ours = {"managed-by": MANAGED_BY, "app": release.app, "target": release.target_name}
    tags = [{"Key": f"{TAG}{k}", "Value": tag_value(v)} for k, v in ours.items()]
    tags += [{"Key": k, "Value": tag_value(v)} for k, v in target.tags.items() if not k.startswith(TAG)]
    return tags


def environment(release: Release) -> dict[str, str]:
    """Container environment: `env` as is, secrets as references only (`NAME_SECRET_REF`)."""
    env = dict(release.model.env)
    for name, ref in release.model.secrets.items():
        env[f"{name}_SECRET_REF"] = ref
    return env


def initial_count(target: AwsTarget) -> int:
    return target.instance_count or max(target.autoscaling.min, 1)


def gpus_per_instance(instance_type: str) -> int | None:
    """GPU count for the GPU families scalectl knows; None when unknown."""
    parts = instance_type.split(".")
    if len(parts) != 3:
        return None
    family, size = parts[1], parts[2]
    if family in _GPU_FAMILIES:
        return 8 if size in ("48xlarge", "metal") else _GPUS_BY_SIZE.get(size)
    if family == "g7e":
        return _G7E_GPUS.get(size)
    if family in _OTHER_GPUS:
        return _OTHER_GPUS[family].get(size)
    if family.startswith(("p4", "p5", "p6")):
        return 8
    return None


def vcpus_per_instance(instance_type: str) -> int | None:
    """vCPUs from the size name (`large` 2, `xlarge` 4, `Nxlarge` 4N), true for every hosting family."""
    size = instance_type.rsplit(".", 1)[-1]
    if size in ("medium", "large"):
        return 2
    if size == "xlarge":
        return 4
    m = re.fullmatch(r"(\d+)xlarge", size)
    return 4 * int(m.group(1)) if m else None


def scaling_metric(release: Release) -> dict[str, Any]:
    """Template context for the target-tracking policy: metric and the target in SageMaker's units."""
    target = _aws(release)
    auto = target.autoscaling
    if auto.metric == "requests_per_replica":
        # SageMakerVariantInvocationsPerInstance is per minute; scale.yaml says per second.
        return {
            "predefined_metric": "SageMakerVariantInvocationsPerInstance",
            "target_value": round(auto.target * 60, 3),
        }
    if auto.metric == "cpu":
        cpus = vcpus_per_instance(target.instance) or 1
        return {"predefined_metric": None, "metric_name": "CPUUtilization", "target_value": auto.target * cpus}
    if auto.metric == "gpu":
        gpus = gpus_per_instance(target.instance) or 1
        return {"predefined_metric": None, "metric_name": "GPUUtilization", "target_value": auto.target * gpus}
    if auto.metric == "memory":
        return {"predefined_metric": None, "metric_name": "MemoryUtilization", "target_value": auto.target}
    raise ValueError(f"metric {auto.metric} has no SageMaker equivalent")  # check() refuses it first


@dataclass(frozen=True)
class Bodies:
    """Every request body of one deploy of one revision, as sent."""

    create_model: dict[str, Any]
    create_endpoint_config: dict[str, Any]
    create_endpoint: dict[str, Any]
    update_endpoint: dict[str, Any]
    register_scalable_target: dict[str, Any]
    put_scaling_policy: dict[str, Any]
    guardrail_alarms: list[dict[str, Any]] = field(default_factory=list)  # PutMetricAlarm, before an update

    def as_files(self) -> dict[str, dict[str, Any]]:
        files = {
            "create_model.json": self.create_model,
            "create_endpoint_config.json": self.create_endpoint_config,
            "create_endpoint.json": self.create_endpoint,
            "update_endpoint.json": self.update_endpoint,
            "register_scalable_target.json": self.register_scalable_target,
            "put_scaling_policy.json": self.put_scaling_policy,
        }
        for alarm in self.guardrail_alarms:
            gate = next(t["Value"] for t in alarm["Tags"] if t["Key"] == f"{TAG}gate")
            files[f"put_metric_alarm_{gate}.json"] = alarm
        return files


def bodies(
    release: Release,
    revision: int | str,
    *,
    actor: str,
    timeout: int,
    instance_count: int | None = None,
    previous_p99_ms: float | str | None = PREVIOUS_P99,
) -> Bodies:
    """Render the request bodies of `revision`; `instance_count` overrides the initial count (updates).

    `previous_p99_ms` is the serving revision's P99 measured at deploy time (None: too few requests
    to know it, so no max_p99_ratio alarm); `render` shows a placeholder."""
    target = _aws(release)
    alarms = guardrail_alarms(release, revision, previous_p99_ms=previous_p99_ms)
    endpoint = endpoint_name(release)
    name = revision_name(release, revision)
    rid = resource_id(endpoint, target.variant)
    common: dict[str, Any] = {
        "endpoint_name": endpoint,
        "config_name": name,
        "model_name": name,
        "variant": target.variant,
    }
    return Bodies(
        create_model=render_json(
            "aws/create_model.json.j2",
            model_name=name,
            image=release.model.image,
            artifact=release.model.artifact,
            environment=environment(release),
            execution_role=target.execution_role or "",
            tags=revision_tags(release, revision, actor),
        ),
        create_endpoint_config=render_json(
            "aws/create_endpoint_config.json.j2",
            **common,
            instance_type=target.instance,
            instance_count=instance_count or initial_count(target),
            volume_size_gb=target.volume_size_gb,
            startup_timeout=target.startup_timeout,
            download_timeout=target.download_timeout,
            data_capture=data_capture(target),
            tags=revision_tags(release, revision, actor),
        ),
        create_endpoint=render_json("aws/create_endpoint.json.j2", **common, endpoint_tags=endpoint_tags(release)),
        update_endpoint=update_body(release, name, timeout=timeout, guardrails=[a["AlarmName"] for a in alarms]),
        register_scalable_target=render_json(
            "aws/register_scalable_target.json.j2",
            resource_id=rid,
            min_capacity=max(target.autoscaling.min, 1),
            max_capacity=target.autoscaling.max,
        ),
        put_scaling_policy=render_json(
            "aws/put_scaling_policy.json.j2",
            **common,
            resource_id=rid,
            policy_name=policy_name(endpoint, target.variant),
            scale_in_cooldown=target.autoscaling.scale_in_cooldown,
            scale_out_cooldown=target.autoscaling.scale_out_cooldown,
            **scaling_metric(release),
        ),
        guardrail_alarms=alarms,
    )


def update_body(
    release: Release,
    config_name: str,
    *,
    timeout: int,
    fast: bool = False,
    guardrails: list[str] | None = None,
) -> dict[str, Any]:
    """UpdateEndpoint with the rollout's guardrails (`rollout.alarms` plus the `guardrails` alarms
    scalectl made for this revision); `fast` (rollback) is all-at-once without baking and keeps
    the variant's current instance count and weight."""
    target = _aws(release)
    rollout = target.rollout
    return render_json(
        "aws/update_endpoint.json.j2",
        endpoint_name=endpoint_name(release),
        config_name=config_name,
        retain_variant_properties=fast,
        rolling_batch=None if fast else target.rolling_batch,
        strategy="all_at_once" if fast else rollout.strategy,
        percent=rollout.percent,
        bake=0 if fast else rollout.bake,
        termination_wait=0 if fast else target.termination_wait,
        max_execution=max_execution(timeout),
        # A rollback must not watch the alarms: they are usually firing, which is why it runs.
        alarms=[*rollout.alarms, *(guardrails or [])] if rollout.auto_rollback and not fast else [],
    )


# ---------------------------------------------------------------------- guardrail alarms


def gates(target: AwsTarget) -> list[str]:
    """The rollout gates scalectl turns into CloudWatch alarms for a new revision's fleet."""
    r = target.rollout
    if not r.auto_rollback:
        return []
    wanted = [("5xx", r.max_error_rate), ("p99", r.max_p99), ("p99-ratio", r.max_p99_ratio)]
    return [gate for gate, value in wanted if value is not None]


def alarm_prefix(release: Release) -> str:
    """Start of every guardrail alarm name of this app and target (the tags say whose it is)."""
    return f"scalectl-{release.app}-{release.target_name}-r"


def alarm_name(release: Release, revision: int | str, gate: str) -> str:
    return f"{alarm_prefix(release)}{revision}-{gate}"[:255]


def fleet_dimensions(release: Release, revision: int | str) -> list[dict[str, str]]:
    """The new fleet's own figures: SageMaker adds EndpointConfigName once that fleet takes traffic."""
    target = _aws(release)
    return [
        {"Name": "EndpointName", "Value": endpoint_name(release)},
        {"Name": "VariantName", "Value": target.variant},
        {"Name": "EndpointConfigName", "Value": revision_name(release, revision)},
    ]


def guardrail_alarms(
    release: Release, revision: int | str, *, previous_p99_ms: float | str | None = PREVIOUS_P99
) -> list[dict[str, Any]]:
    """PutMetricAlarm bodies for the new revision's fleet, one per gate set in `rollout`.

    Error rate: 5xx invocations / invocations. Latency: ModelLatency's p99 (the container's time,
    microseconds in CloudWatch, shown in ms). Ratio: that P99 over the previous revision's P99,
    measured by deploy just before the update, when the previous revision alone served (None: not
    enough requests to know it, so no ratio alarm). Each judges a minute only with at least
    `rollout.min_requests` invocations in it.
    """
    target = _aws(release)
    r = target.rollout
    need = max(r.min_requests, 1)
    out = []
    spec: dict[str, Any]
    for gate in gates(target):
        if gate == "5xx":
            assert r.max_error_rate is not None
            spec = {
                "metric": "Invocation5XXErrors",
                "stat": "Sum",
                "value_id": "err",
                "expression": f"IF(inv >= {need}, err / inv, 0)",
                "label": "5xx share of invocations",
                "threshold": r.max_error_rate,
                "description": f"5xx share above rollout.max_error_rate {r.max_error_rate:.1%}",
            }
        elif gate == "p99":
            assert r.max_p99 is not None
            spec = {
                "metric": "ModelLatency",
                "stat": "p99",
                "value_id": "lat",
                "expression": f"IF(inv >= {need}, lat / 1000, 0)",
                "label": "ModelLatency p99 (ms)",
                "threshold": r.max_p99,
                "description": f"ModelLatency p99 above rollout.max_p99 {r.max_p99:g} ms",
            }
        else:
            assert r.max_p99_ratio is not None
            if previous_p99_ms is None:
                continue
            base = previous_p99_ms if isinstance(previous_p99_ms, str) else f"{previous_p99_ms * 1000:.0f}"
            spec = {
                "metric": "ModelLatency",
                "stat": "p99",
                "value_id": "lat",
                "expression": f"IF(inv >= {need}, lat / {base}, 0)",
                "label": "ModelLatency p99 / the previous revision's",
                "threshold": r.max_p99_ratio,
                "description": f"ModelLatency p99 above rollout.max_p99_ratio {r.max_p99_ratio:g}x the previous "
                f"revision's ({base} us, measured before the update)",
            }
        name = alarm_name(release, revision, gate)
        tags = {
            "managed-by": MANAGED_BY,
            "app": release.app,
            "target": release.target_name,
            "endpoint": endpoint_name(release),
            "revision": str(revision),
            "gate": gate,
        }
        out.append(
            render_json(
                "aws/put_metric_alarm.json.j2",
                alarm_name=name,
                dimensions=fleet_dimensions(release, revision),
                period=ALARM_PERIOD,
                tags=[{"Key": f"{TAG}{k}", "Value": tag_value(v)} for k, v in tags.items()],
                **{
                    **spec,
                    "description": f"scalectl guardrail for revision {revision} of {endpoint_name(release)}: "
                    f"{spec['description']}, in a minute with at least {need} invocations",
                },
            )
        )
    return out


def data_capture(target: AwsTarget) -> dict[str, Any] | None:
    """`monitoring.capture` as SageMaker's DataCaptureConfig: inputs and outputs, JSON and CSV bodies, to S3."""
    cap = target.monitoring.capture
    if cap is None:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": int(cap.percent),
        "DestinationS3Uri": cap.destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }


def max_execution(timeout: int) -> int:
    """SageMaker's own rollout deadline (it rolls back after it): the API allows 600-28800 s."""
    return min(max(timeout, 600), 28800)


def iam_policy(release: Release) -> dict[str, Any]:
    """The least the identity running scalectl needs; with capture, `drift` reading the capture prefix too."""
    target = _aws(release)
    return render_json(
        "aws/iam_policy.json.j2",
        region=target.region,
        endpoint_name=endpoint_name(release),
        name_base=name_base(release),
        alarm_prefix=alarm_prefix(release),
        execution_role=target.execution_role or "arn:aws:iam::*:role/*",
        capture=capture_prefix(target),
    )


def capture_prefix(target: AwsTarget) -> dict[str, str] | None:
    """`monitoring.capture.destination` as bucket and key prefix (no trailing slash), or None when capture is off."""
    cap = target.monitoring.capture
    if cap is None or not cap.destination.startswith("s3://"):
        return None
    bucket, _, key = cap.destination[len("s3://") :].partition("/")
    return {"bucket": bucket, "prefix": key.strip("/")}


def capture_role_policy(release: Release) -> dict[str, Any] | None:
    """What the execution role needs for data capture: SageMaker writes the capture files to S3 as that role."""
    target = _aws(release)
    capture = capture_prefix(target)
    if capture is None:
        return None
    return render_json("aws/capture_role_policy.json.j2", capture=capture)


def _aws(release: Release) -> AwsTarget:
    target = release.target
    if not isinstance(target, AwsTarget):  # the registry only sends aws targets here
        raise TypeError(f"not an aws target: {target!r}")
    return target
