"""Offline checks of an `aws` target: what SageMaker real-time endpoints can and cannot do."""

from __future__ import annotations

import difflib
import math
import re

from scalectl.config import ScaleFile
from scalectl.errors import Diagnostic, Findings
from scalectl.rollout import total_bake

from .instances import HOSTING_INSTANCE_TYPES
from .requests import NAME_LIMIT, gates, gpus_per_instance, initial_count
from .schema import AwsTarget

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_LARGE_MODEL_FAMILIES = ("inf1", "inf2", "trn1", "trn1n", "trn2", "p4d", "p4de", "p5", "p5e", "p5en")
# Hosting instances with local NVMe instance storage take no EBS volume, so no VolumeSizeInGB:
# https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html (the `d` families, g4dn,
# g5 and newer GPU families, p4d and newer, Trainium, DL1). Inf1/Inf2, p2/p3 and the other CPU families are EBS-only.
_NVME_FAMILIES = (
    *("c5d", "c6gd", "m5d", "m6gd", "r5d", "r6gd", "r7gd"),
    *("g4dn", "g5", "g6", "g6e", "g7e", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "p6e-gb200"),
    *("trn1", "trn1n", "trn2", "dl1"),
)
# SageMaker's own bounds on a deployment (MaximumExecutionTimeoutInSeconds, UpdateEndpoint API reference).
MAX_EXECUTION = 28800


def check(spec: ScaleFile, name: str) -> list[Diagnostic]:
    target = spec.targets[name]
    assert isinstance(target, AwsTarget)
    f = Findings()
    at = ("targets", name)
    _instance(f, at, target)
    _platform(f, at, target)
    _naming(f, at, spec, name, target)
    _container(f, spec, name)
    _autoscaling(f, at, target)
    _rollout(f, at, target)
    _capture(f, at, target)
    return f.items


def _capture(f: Findings, at: tuple[str, ...], target: AwsTarget) -> None:
    """SageMaker writes captures to S3 only, and samples in whole percents."""
    cap = target.monitoring.capture
    if cap is None:
        return
    where = (*at, "monitoring", "capture")
    if not cap.destination.startswith("s3://") or len(cap.destination) <= len("s3://"):
        f.error(
            (*where, "destination"),
            f"SageMaker data capture writes to S3 only: expected s3://bucket/prefix, got {cap.destination!r}",
        )
    if cap.percent != int(cap.percent):
        f.error((*where, "percent"), f"SageMaker samples whole percents (1-100), got {cap.percent}")


def suggest_instance(value: str) -> list[str]:
    """Close hosting instance types: `inf2.xlarge` -> `ml.inf2.xlarge`, `ml.g5.xlarg` -> `ml.g5.xlarge`."""
    candidates = sorted(HOSTING_INSTANCE_TYPES)
    guess = value if value.startswith("ml.") else f"ml.{value}"
    if guess in HOSTING_INSTANCE_TYPES:
        return [guess]
    close = difflib.get_close_matches(guess, candidates, n=3, cutoff=0.75)
    if not close:
        family = guess.split(".")[1] if guess.count(".") >= 1 else ""
        close = [c for c in candidates if c.split(".")[1] == family][:4]
    return close


def _instance(f: Findings, at: tuple[str, ...], target: AwsTarget) -> None:
    if target.instance in HOSTING_INSTANCE_TYPES:
        family = target.instance.split(".")[1]
        if family in _LARGE_MODEL_FAMILIES and target.startup_timeout is None:
            f.warning(
                (*at, "instance"),
                f"{target.instance} usually loads large or Neuron-compiled models: the default container "
                "start-up health check may time out; consider startup_timeout: 10m and download_timeout: 10m",
            )
        return
    hint = suggest_instance(target.instance)
    tip = f"; did you mean {' or '.join(f'`{h}`' for h in hint)}?" if hint else ""
    f.error(
        (*at, "instance"),
        f"`{target.instance}` is not a SageMaker real-time hosting instance type{tip} "
        "(hosting types start with `ml.`, e.g. ml.g5.xlarge, ml.inf2.xlarge)",
    )


def _platform(f: Findings, at: tuple[str, ...], target: AwsTarget) -> None:
    if target.spot:
        f.error(
            (*at, "spot"),
            "SageMaker real-time endpoints offer no spot capacity; remove `spot`, or use SageMaker "
            "asynchronous inference / batch transform for interruptible work, or a gcp target with spot: true",
        )
    if not _REGION.match(target.region):
        f.error((*at, "region"), f"`{target.region}` is not an AWS region name (like us-east-1)")
    if target.execution_role is None:
        f.error(
            at,
            "execution_role is required: the ARN of the IAM role SageMaker assumes to pull the image and "
            "model files (arn:aws:iam::<account>:role/<name>)",
        )
    elif not _ROLE.match(target.execution_role):
        f.error((*at, "execution_role"), f"`{target.execution_role}` is not an IAM role ARN")
    for key, value in (("startup_timeout", target.startup_timeout), ("download_timeout", target.download_timeout)):
        if value is not None and not 60 <= value <= 3600:
            f.error((*at, key), f"SageMaker accepts {key} between 60s and 1h, got {value}s")
    if target.termination_wait > 3600:
        f.error((*at, "termination_wait"), "SageMaker keeps the old fleet at most 1h (TerminationWaitInSeconds)")
    family = target.instance.split(".")[1] if target.instance.count(".") == 2 else ""
    if target.volume_size_gb is not None and family in _NVME_FAMILIES:
        f.error(
            (*at, "volume_size_gb"),
            f"{target.instance} has local NVMe instance storage, so SageMaker attaches no EBS volume and refuses "
            "VolumeSizeInGB: remove volume_size_gb (the model gets the instance storage), or pick an EBS-backed "
            "type such as ml.inf2 or ml.m5",
        )


def _naming(f: Findings, at: tuple[str, ...], spec: ScaleFile, name: str, target: AwsTarget) -> None:
    endpoint = target.endpoint_name or f"{spec.name}-{name}"
    where = (*at, "endpoint_name") if target.endpoint_name else at
    if len(endpoint) > NAME_LIMIT:
        f.error(
            where, f"endpoint name `{endpoint}` has {len(endpoint)} characters; SageMaker allows 63: set endpoint_name"
        )
    elif not _NAME.match(endpoint):
        f.error(where, f"endpoint name `{endpoint}` may contain only letters, digits and '-' (not at either end)")
    if not _NAME.match(target.variant) or len(target.variant) > NAME_LIMIT:
        f.error((*at, "variant"), f"variant name `{target.variant}` may contain only letters, digits and '-'")


def _container(f: Findings, spec: ScaleFile, name: str) -> None:
    model = spec.model
    contract = {
        "port": (model.port, 8080),
        "health": (model.health, "/ping"),
        "predict": (model.predict, "/invocations"),
    }
    for key, (value, fixed) in contract.items():
        if value != fixed:
            f.error(
                ("model", key),
                f"target {name}: SageMaker always calls the container on {fixed} (port 8080, GET /ping, "
                f"POST /invocations); make the image serve that contract, or leave `{key}` at its default",
            )
    if model.artifact and not model.artifact.startswith("s3://"):
        f.error(("model", "artifact"), f"target {name}: SageMaker reads model files from S3: upload them, use s3://...")
    for secret, ref in model.secrets.items():
        if not ref.startswith(("aws-sm://", "aws-ssm://")):
            f.error(
                ("model", "secrets", secret),
                f"target {name}: a SageMaker container cannot read {ref.split('://')[0]}:// references and scalectl "
                "never copies secret values into the endpoint; use aws-sm://<secret-id> or aws-ssm://<parameter> "
                f"(passed as {secret}_SECRET_REF for the container to fetch with its execution role)",
            )


def _autoscaling(f: Findings, at: tuple[str, ...], target: AwsTarget) -> None:
    auto = target.autoscaling
    where = (*at, "autoscaling")
    if auto.min < 1:
        f.error(
            (*where, "min"),
            "a SageMaker real-time endpoint variant keeps at least 1 instance (scale to zero needs inference "
            "components); set min: 1, or use asynchronous inference",
        )
    if target.instance_count is not None and not auto.min <= target.instance_count <= auto.max:
        f.error(
            (*at, "instance_count"),
            f"instance_count {target.instance_count} is outside min..max ({auto.min}..{auto.max})",
        )
    if auto.metric == "accelerator_duty_cycle":
        f.error(
            (*where, "metric"),
            "SageMaker has no accelerator duty-cycle metric for autoscaling; "
            "use requests_per_replica, cpu, gpu or memory",
        )
    if auto.metric == "gpu" and gpus_per_instance(target.instance) is None:
        f.error(
            (*where, "metric"),
            f"metric gpu needs a GPU instance type scalectl knows the GPU count of; {target.instance} is not one "
            "(use requests_per_replica)",
        )


def _rollout(f: Findings, at: tuple[str, ...], target: AwsTarget) -> None:
    rollout = target.rollout
    where = (*at, "rollout")
    if rollout.bake > 3600:
        f.error((*where, "bake"), "SageMaker bakes each traffic step at most 1h (WaitIntervalInSeconds)")
    if rollout.timeout > 28800:
        f.error((*where, "timeout"), "SageMaker limits a deployment to 8h (MaximumExecutionTimeoutInSeconds)")
    if target.rolling_batch is None and rollout.strategy == "canary" and rollout.percent > 50:
        f.error((*where, "percent"), f"a SageMaker canary is at most 50% of the new fleet, got {rollout.percent}%")
    if target.rolling_batch is None and rollout.strategy == "linear" and not 10 <= rollout.percent <= 50:
        f.error((*where, "percent"), f"SageMaker linear steps are 10-50% of the new fleet, got {rollout.percent}%")
    if target.instance.startswith("ml.inf1.") and (rollout.strategy != "all_at_once" or target.rolling_batch):
        f.warning(
            (*where, "strategy"),
            "SageMaker does not apply deployment guardrails to Inf1 endpoints: updates switch all at once "
            "without baking; use ml.inf2 for canary/linear rollouts",
        )
    made = gates(target)
    if len(rollout.alarms) + len(made) > 10:
        extra = f" plus the {len(made)} scalectl makes from max_error_rate/max_p99/max_p99_ratio" if made else ""
        f.error(
            (*where, "alarms"),
            f"SageMaker watches at most 10 alarms per deployment, got {len(rollout.alarms)}{extra}",
        )
    if rollout.alarms and not rollout.auto_rollback:
        f.warning((*where, "alarms"), "auto_rollback is false, so these alarms are not passed to SageMaker")
    for key in ("max_error_rate", "max_p99", "max_p99_ratio"):
        if getattr(rollout, key) is not None and not rollout.auto_rollback:
            f.warning(
                (*where, key), "auto_rollback is false, so scalectl makes no CloudWatch alarm from it for SageMaker"
            )
    _deadline(f, at, target)
    _fleet_fractions(f, at, target)
    if target.rolling_batch is not None and rollout.strategy != "all_at_once":
        f.warning(
            (*at, "rolling_batch"),
            f"rolling_batch makes SageMaker replace instances in batches; rollout.strategy {rollout.strategy} "
            "(blue/green traffic shifting) is not used",
        )


def waits(target: AwsTarget) -> int:
    """Seconds SageMaker itself waits in one deployment: its bakes (WaitIntervalInSeconds per traffic
    step, or per rolling batch) and TerminationWaitInSeconds, before counting any instance start-up."""
    rollout = target.rollout
    if target.rolling_batch is not None:
        return math.ceil(initial_count(target) / target.rolling_batch) * rollout.bake
    # all_at_once still bakes once at 100% (the wait interval is its baking period)
    bakes = total_bake(rollout) if rollout.strategy != "all_at_once" else rollout.bake
    return bakes + target.termination_wait


def _deadline(f: Findings, at: tuple[str, ...], target: AwsTarget) -> None:
    """MaximumExecutionTimeoutInSeconds (rollout.timeout, 600-28800 s) must outlast every wait, else
    SageMaker rolls back a healthy deployment when its own deadline passes."""
    needed = waits(target)
    timeout = target.rollout.timeout
    if needed >= MAX_EXECUTION:
        f.error(
            (*at, "rollout", "bake"),
            f"SageMaker would wait {needed}s in this deployment (bakes and termination_wait), but it ends any "
            f"deployment after {MAX_EXECUTION}s (8h, MaximumExecutionTimeoutInSeconds): shorten bake, use "
            "fewer steps (a larger percent or rolling_batch) or a shorter termination_wait",
        )
    elif max(timeout, 600) <= needed:
        f.error(
            (*at, "rollout", "timeout"),
            f"rollout.timeout {timeout}s becomes SageMaker's MaximumExecutionTimeoutInSeconds, but the deployment "
            f"waits {needed}s in bakes and termination_wait before it can finish: set rollout.timeout above "
            f"{needed}s plus instance start-up (at most {MAX_EXECUTION}s)",
        )


def _fleet_fractions(f: Findings, at: tuple[str, ...], target: AwsTarget) -> None:
    """Rolling batches must be 5-50% of the variant's instances; a canary must be less than the fleet."""
    count = initial_count(target)
    rollout = target.rollout
    if target.rolling_batch is not None:
        share = 100 * target.rolling_batch / count
        if not 5 <= share <= 50:
            f.error(
                (*at, "rolling_batch"),
                f"SageMaker's MaximumBatchSize must be 5-50% of the variant's instance count; rolling_batch "
                f"{target.rolling_batch} of {count} instance(s) is {share:g}%"
                + (": a rolling update needs at least 2 instances" if count < 2 else ""),
            )
        return
    if (
        rollout.strategy == "all_at_once"
        or rollout.percent > 50
        or (rollout.strategy == "linear" and rollout.percent < 10)
    ):
        return  # no shift at all, or a percent already refused above
    first = math.ceil(count * rollout.percent / 100)  # SageMaker rounds a CAPACITY_PERCENT up to whole instances
    if first >= count:
        message = (
            f"{rollout.percent}% of {count} instance(s) rounds up to the whole new fleet: the {rollout.strategy} "
            "step is all traffic at once, no canary; raise the instance count or the percent's share of it"
        )
        if rollout.auto_rollback and (rollout.alarms or gates(target)):
            f.error((*at, "rollout", "percent"), message + " (auto_rollback would watch the alarms too late)")
        else:
            f.warning((*at, "rollout", "percent"), message)
