"""What Vertex AI online prediction runs on: the serving machine catalog and the hardware a target asks for.

Pure data: the serving machine types Vertex AI documents for dedicated endpoints, with their
fixed GPUs or TPU chips, so checks refuse a machine Vertex would refuse minutes into a deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .schema import GcpTarget


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

    @property
    def vcpus(self) -> int:
        """vCPUs from the name (`n1-standard-8` -> 8); 0 when the name does not end in a count."""
        tail = self.name.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else 0


# GPUs attachable to N1 machines: count -> the most vCPUs the machine may have with that many
# (Compute Engine, "GPU machine types", N1 + GPU table: https://cloud.google.com/compute/docs/gpus#n1-gpus).
N1_GPU_LIMITS: dict[str, dict[int, int]] = {
    "NVIDIA_TESLA_T4": {1: 48, 2: 48, 4: 96},
    "NVIDIA_TESLA_P4": {1: 24, 2: 48, 4: 96},
    "NVIDIA_TESLA_V100": {1: 12, 2: 24, 4: 48, 8: 96},
    "NVIDIA_TESLA_P100": {1: 16, 2: 32, 4: 96},
}


def _n1(name: str) -> Machine:
    return Machine(name, attachable=tuple(N1_GPU_LIMITS))


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

TOPOLOGY = re.compile(r"^[1-9][0-9]*x[1-9][0-9]*$")


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
        if topology and TOPOLOGY.match(topology) and machine.chips:
            hosts = max(1, topology_chips(topology) // machine.chips)
    return Hardware(target.machine, accel_type, accel_count, topology, hosts)
