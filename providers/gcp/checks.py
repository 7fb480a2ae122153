"""What Vertex AI online prediction accepts, and the offline checks built on it.

Pure data and pure functions: `scalectl validate` runs these without the Google SDK. The
catalog lists the serving machine types Vertex AI documents for dedicated endpoints; a
machine outside it is refused with the nearest names, because Vertex would refuse it too,
minutes into a deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scalectl.config import ScaleFile
from scalectl.errors import Diagnostic, Findings, did_you_mean

from .schema import GcpTarget

CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
DUTY_CYCLE_METRIC = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"
REQUEST_COUNT_METRIC = "aiplatform.googleapis.com/prediction/online/request_count"


@dataclass(frozen=True)
class Machine:
    """One serving machine type: its fixed GPUs (if any) or its TPU chips."""

    name: str
    gpu: str | None = None  # accelerator type fixed by the machine family (g2, a2, a3)
    gpus: int = 0
    tpu: str | None = None  # "v5e" / "v6e"
    chips: int = 0  # TPU chips on one host
    host_topology: str | None = None  # the topology of one host's chips
    multi_host_topologies: tuple[str, ...] = ()  # larger slices this machine can be a host of
    attachable: tuple[str, ...] = ()  # N1: GPUs that may be attached


def _n1(name: str) -> Machine:
    return Machine(name, attachable=("NVIDIA_TESLA_T4", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_P100"))


_MULTI = ("4x4", "4x8", "8x8", "8x16", "16x16")

MACHINES: dict[str, Machine] = {
    m.name: m
    for m in [
        # CPU only
        *(Machine(f"e2-standard-{n}") for n in (2, 4, 8, 16, 32)),
        *(Machine(f"e2-highmem-{n}") for n in (2, 4, 8, 16)),
        *(Machine(f"e2-highcpu-{n}") for n in (2, 4, 8, 16, 32)),
        *(Machine(f"n2-standard-{n}") for n in (2, 4, 8, 16, 32, 48, 64, 80)),
        *(Machine(f"n2-highmem-{n}") for n in (2, 4, 8, 16, 32, 48, 64, 80)),
        *(Machine(f"c2-standard-{n}") for n in (4, 8, 16, 30, 60)),
        # N1: CPU, or with attached T4/V100/P4/P100
        *(_n1(f"n1-standard-{n}") for n in (2, 4, 8, 16, 32, 64, 96)),
        *(_n1(f"n1-highmem-{n}") for n in (2, 4, 8, 16, 32, 64, 96)),
        *(_n1(f"n1-highcpu-{n}") for n in (4, 8, 16, 32, 64, 96)),
        # G2: NVIDIA L4
        *(Machine(f"g2-standard-{n}", gpu="NVIDIA_L4", gpus=1) for n in (4, 8, 12, 16, 32)),
        Machine("g2-standard-24", gpu="NVIDIA_L4", gpus=2),
        Machine("g2-standard-48", gpu="NVIDIA_L4", gpus=4),
        Machine("g2-standard-96", gpu="NVIDIA_L4", gpus=8),
        # A2 / A3: A100, H100
        *(Machine(f"a2-highgpu-{n}g", gpu="NVIDIA_TESLA_A100", gpus=n) for n in (1, 2, 4, 8)),
        *(Machine(f"a2-ultragpu-{n}g", gpu="NVIDIA_A100_80GB", gpus=n) for n in (1, 2, 4, 8)),
        Machine("a3-highgpu-8g", gpu="NVIDIA_H100_80GB", gpus=8),
        # TPU v5e (single host: 1, 4 or 8 chips; the 4-chip host can be part of a multi-host slice)
        Machine("ct5lp-hightpu-1t", tpu="v5e", chips=1, host_topology="1x1"),
        Machine("ct5lp-hightpu-4t", tpu="v5e", chips=4, host_topology="2x2", multi_host_topologies=_MULTI),
        Machine("ct5lp-hightpu-8t", tpu="v5e", chips=8, host_topology="2x4"),
        # TPU v6e (Trillium)
        Machine("ct6e-standard-1t", tpu="v6e", chips=1, host_topology="1x1"),
        Machine("ct6e-standard-4t", tpu="v6e", chips=4, host_topology="2x2", multi_host_topologies=_MULTI),
        Machine("ct6e-standard-8t", tpu="v6e", chips=8, host_topology="2x4"),
    ]
}

_TOPOLOGY = re.compile(r"^[1-9][0-9]*x[1-9][0-9]*$")


def topology_chips(topology: str) -> int:
    a, b = topology.split("x")
    return int(a) * int(b)


@dataclass(frozen=True)
class Hardware:
    """What the DeployModel request asks for, resolved from the target."""

    machine: str
    accelerator_type: str | None
    accelerator_count: int
    tpu_topology: str | None
    hosts: int  # > 1 for a multi-host TPU slice

    @property
    def has_accelerator(self) -> bool:
        return self.accelerator_type is not None or self.tpu_topology is not None


def hardware(target: GcpTarget) -> Hardware:
    """Machine settings as sent: fixed GPUs filled in from the family, TPU topology defaulted."""
    machine = MACHINES.get(target.machine)
    accel_type = target.accelerator.type if target.accelerator else None
    accel_count = target.accelerator.count if target.accelerator else 0
    topology = target.tpu_topology
    hosts = 1
    if machine is not None and machine.gpu and accel_type is None:
        accel_type, accel_count = machine.gpu, machine.gpus
    if machine is not None and machine.tpu:
        topology = topology or machine.host_topology
        if topology and _TOPOLOGY.match(topology) and machine.chips:
            hosts = max(1, topology_chips(topology) // machine.chips)
    return Hardware(target.machine, accel_type, accel_count, topology, hosts)


def autoscaling_metric(target: GcpTarget) -> tuple[str, float] | None:
    """The autoscaling metric spec Vertex gets; requests/s per replica becomes requests/minute."""
    a = target.autoscaling
    if a.metric == "cpu":
        return CPU_METRIC, a.target
    if a.metric in ("gpu", "accelerator_duty_cycle"):
        return DUTY_CYCLE_METRIC, a.target
    if a.metric == "requests_per_replica":
        return REQUEST_COUNT_METRIC, a.target * 60
    return None  # memory: refused by check()


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
    waits = _bake_seconds(target) + target.undeploy_grace
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


def _bake_seconds(target: GcpTarget) -> int:
    """Time a rollout spends baking: one bake per traffic step below 100%."""
    r = target.rollout
    steps = {"all_at_once": 0, "canary": 1, "linear": len(range(r.percent, 100, r.percent))}[r.strategy]
    return steps * r.bake


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
    elif acc.count not in (1, 2, 4, 8):
        f.error((*loc, "count"), f"accelerator count must be 1, 2, 4 or 8, got {acc.count}")


def _check_tpu(f: Findings, at: tuple[str, ...], target: GcpTarget, machine: Machine) -> None:
    topo = target.tpu_topology
    if topo is None:
        return
    loc = (*at, "tpu_topology")
    if not machine.tpu:
        f.error(loc, f"tpu_topology applies to TPU machines (ct5lp-hightpu-*, ct6e-standard-*), not {machine.name}")
        return
    if not _TOPOLOGY.match(topo):
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
    if a.metric in ("gpu", "accelerator_duty_cycle") and not hw.has_accelerator:
        f.error(
            (*loc, "metric"),
            f"{a.metric} autoscaling needs an accelerator, and {target.machine} has none; "
            "use cpu or requests_per_replica, or a GPU/TPU machine",
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
