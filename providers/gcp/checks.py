"""Vertex AI target: offline checks of what Vertex AI online prediction would refuse.

Pure: `scalectl validate` runs these without the Google SDK. A machine outside the catalog
(`machines`) is refused with the nearest names, because Vertex would refuse it too,
minutes into a deploy.
"""

from __future__ import annotations

import re

from scalectl.config import ScaleFile
from scalectl.errors import Diagnostic, Findings, did_you_mean
from scalectl.rollout import total_bake

from .machines import MACHINES, N1_GPU_LIMITS, TOPOLOGY, Hardware, Machine, hardware
from .requests import metric_target, whole
from .schema import GcpTarget


def check(spec: ScaleFile, name: str) -> list[Diagnostic]:
    """Everything Vertex AI would refuse, found offline, each with what to use instead."""
    target = spec.targets[name]
    assert isinstance(target, GcpTarget)
    at = ("targets", name)
    f = Findings()
    machine = MACHINES.get(target.machine)
    if machine is None:
        hint = did_you_mean(target.machine, MACHINES, n=3, cutoff=0.5)
        f.error(
            (*at, "machine"),
            f"`{target.machine}` is not a Vertex AI serving machine type{hint}; "
            "for example GPU: g2-standard-8 with NVIDIA_L4, a2-highgpu-1g; "
            "TPU: ct5lp-hightpu-1t/4t/8t, ct6e-standard-1t/4t/8t",
        )
    else:
        _check_accelerator(f, at, target, machine)
        _check_tpu(f, at, target, machine)
    hw = hardware(target)
    _check_autoscaling(f, at, target, hw)
    _check_model(f, spec)
    _check_capture(f, at, target)
    if hw.hosts > 1 and target.spot:
        f.error(
            (*at, "spot"),
            f"Vertex AI does not run multi-host TPU slices ({hw.tpu_topology} = {hw.hosts} hosts) on Spot VMs; "
            f"set spot: false, or use a single-host topology ({machine.host_topology if machine else '?'}) with spot",
        )
    if target.service_account is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", target.service_account):
        f.error(
            (*at, "service_account"),
            f"service_account must be an email like name@{target.project}.iam.gserviceaccount.com, "
            f"got {target.service_account!r}",
        )
    waits = total_bake(target.rollout) + target.undeploy_grace
    if waits >= target.rollout.timeout:
        f.error(
            (*at, "rollout", "timeout"),
            f"the rollout waits {waits}s in bakes and undeploy_grace alone, but rollout.timeout is "
            f"{target.rollout.timeout}s; raise the timeout or shorten the bakes",
        )
    if target.rollout.alarms:
        f.warning(
            (*at, "rollout", "alarms"),
            "rollout.alarms are CloudWatch alarms (AWS); Vertex rollouts are gated by the deployed model's health",
        )
    if target.api_endpoint and target.api_endpoint.startswith("http://") and not _is_local(target.api_endpoint):
        f.error(
            (*at, "api_endpoint"),
            "plain http:// is only allowed for a local emulator (127.0.0.1/localhost); use https:// or a bare host",
        )
    return f.items


def _check_accelerator(f: Findings, at: tuple[str, ...], target: GcpTarget, machine: Machine) -> None:
    acc = target.accelerator
    if acc is None:
        return
    loc = (*at, "accelerator")
    if machine.tpu:
        f.error(loc, f"{machine.name} is a TPU machine; remove `accelerator` and set tpu_topology if needed")
    elif machine.gpu and (acc.type != machine.gpu or acc.count != machine.gpus):
        f.error(loc, f"{machine.name} comes with {machine.gpus} x {machine.gpu}; set accelerator to that or remove it")
    elif not machine.gpu and acc.type not in machine.attachable:
        allowed = ", ".join(machine.attachable) or "none (CPU only)"
        f.error(
            loc,
            f"{acc.type} cannot be attached to {machine.name} (attachable: {allowed}); "
            "for NVIDIA_L4 use g2-standard-*, for A100 a2-highgpu-*",
        )
    elif machine.gpu:
        return  # the machine's own GPUs, as its family fixes them
    elif acc.count not in N1_GPU_LIMITS.get(acc.type, {}):
        counts = ", ".join(str(c) for c in N1_GPU_LIMITS.get(acc.type, {}))
        f.error((*loc, "count"), f"{machine.name} takes {counts} x {acc.type}, not {acc.count}")
    elif machine.vcpus > N1_GPU_LIMITS[acc.type][acc.count]:
        most = N1_GPU_LIMITS[acc.type][acc.count]
        f.error(
            (*loc, "count"),
            f"{acc.count} x {acc.type} can be attached to N1 machines of at most {most} vCPUs; {machine.name} has "
            f"{machine.vcpus}: attach more GPUs or pick a smaller machine",
        )


def _check_tpu(f: Findings, at: tuple[str, ...], target: GcpTarget, machine: Machine) -> None:
    topo = target.tpu_topology
    if topo is None:
        return
    loc = (*at, "tpu_topology")
    if not machine.tpu:
        f.error(loc, f"tpu_topology applies to TPU machines (ct5lp-hightpu-*, ct6e-standard-*), not {machine.name}")
        return
    if not TOPOLOGY.match(topo):
        f.error(loc, f"tpu_topology must look like 2x2, got {topo!r}")
        return
    allowed = (machine.host_topology or "", *machine.multi_host_topologies)
    if topo not in allowed:
        f.error(
            loc,
            f"{machine.name} ({machine.chips} {machine.tpu} chips per host) serves topology "
            f"{' or '.join(a for a in allowed if a)}, not {topo}",
        )


def _check_autoscaling(f: Findings, at: tuple[str, ...], target: GcpTarget, hw: Hardware) -> None:
    a = target.autoscaling
    loc = (*at, "autoscaling")
    if a.metric == "memory":
        f.error(
            (*loc, "metric"),
            "Vertex AI cannot autoscale on memory; use cpu, accelerator_duty_cycle or requests_per_replica",
        )
    if a.metric in ("gpu", "accelerator_duty_cycle") and hw.tpu_topology is not None:
        # DedicatedResources.autoscalingMetricSpecs: duty cycle applies only when machineSpec.acceleratorCount
        # is above 0, else Vertex scales on CPU alone; a TPU machine spec carries a topology, not a count.
        f.error(
            (*loc, "metric"),
            f"Vertex applies accelerator duty-cycle autoscaling only to machines with an accelerator count; "
            f"{target.machine} is a TPU machine (a topology, no count), so Vertex would scale it on CPU: "
            "use requests_per_replica or cpu",
        )
    elif a.metric in ("gpu", "accelerator_duty_cycle") and not hw.has_accelerator:
        f.error(
            (*loc, "metric"),
            f"{a.metric} autoscaling needs an accelerator, and {target.machine} has none; "
            "use cpu or requests_per_replica, or a GPU machine",
        )
    if a.metric != "memory" and whole(metric_target(target)) is None:
        value = metric_target(target)
        if a.metric == "requests_per_replica":
            nearest = max(1, round(value))
            f.error(
                (*loc, "target"),
                f"Vertex takes the request-count target as whole requests per replica per minute; {a.target} "
                f"requests/s is {value:g}/minute: use a multiple of 1/60 such as {nearest / 60:.4g} ({nearest}/minute)",
            )
        else:
            f.error(
                (*loc, "target"),
                f"Vertex takes a utilisation target as a whole percent (1-100); {a.target} would be sent as "
                f"{int(value)}: use {max(1, round(value))}",
            )
    if a.min < 1:
        f.error((*loc, "min"), "Vertex AI dedicated endpoints keep at least one replica; set min: 1")


def _check_model(f: Findings, spec: ScaleFile) -> None:
    """The container contract on Vertex: a gs:// artifact, secrets only from Secret Manager."""
    m = spec.model
    if m.artifact is not None and not m.artifact.startswith("gs://"):
        f.error(("model", "artifact"), f"Vertex AI reads model artifacts from gs:// only, not {m.artifact!r}")
    for key, ref in m.secrets.items():
        if not ref.startswith("gcp-sm://"):
            f.error(
                ("model", "secrets", key),
                f"on gcp a secret must be a Secret Manager reference (gcp-sm://projects/P/secrets/S/versions/V); "
                f"{ref.split('://')[0]}:// would put the value into the Vertex Model's environment",
            )


def _is_local(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


# bq://project.dataset.table: a project id (6-30 of a-z, 0-9, -), a dataset and a table name
BIGQUERY_TABLE = re.compile(r"^bq://[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_-]{1,1024}$")


def _check_capture(f: Findings, at: tuple[str, ...], target: GcpTarget) -> None:
    """Vertex logs requests and responses to a BigQuery table only."""
    cap = target.monitoring.capture
    if cap is not None and not BIGQUERY_TABLE.match(cap.destination):
        f.error(
            (*at, "monitoring", "capture", "destination"),
            "Vertex AI request-response logging writes to BigQuery only: expected bq://project.dataset.table, "
            f"got {cap.destination!r}",
        )
