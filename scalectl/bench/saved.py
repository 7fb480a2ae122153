"""Measured replica_rps, saved by `bench --ramp --save` and read by `cost-estimate`.

Where: `.scalectl/bench/<target>.json` next to scale.yaml, a small JSON file a person can read, edit or
delete. It overrides `traffic.replica_rps` for that one target, and cost-estimate says so (with when it
was measured); deleting the file goes back to the figure in scale.yaml. `plan` reads it the same way
(`effective_traffic`) to say what a replica serves and whether autoscaling's max covers the peak.
No third-party import: cost-estimate and plan import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scalectl.cost import TrafficProfile


@dataclass(frozen=True)
class Measured:
    replica_rps: float
    measured_at: str
    path: Path


def bench_file(scale_file: Path, target: str) -> Path:
    return scale_file.resolve().parent / ".scalectl" / "bench" / f"{target}.json"


def save_measurement(scale_file: Path, target: str, replica_rps: float, doc: dict[str, Any]) -> Path:
    path = bench_file(scale_file, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "replica_rps": replica_rps,
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "slo": doc["slo"]["text"] if doc.get("slo") else None,
        "held_rps": doc["ramp"]["held_rps"],
        "replicas": doc["replicas"],
        "url": doc["url"],
        "note": "written by `scalectl bench --ramp --save`; cost-estimate uses replica_rps for this target "
        "instead of traffic.replica_rps. Edit or delete this file to override.",
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path


def load_measurement(scale_file: Path, target: str) -> Measured | None:
    """The saved figure, or None when there is none (or it is not a positive number)."""
    path = bench_file(scale_file, target)
    try:
        record = json.loads(path.read_text())
        value = float(record["replica_rps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if value <= 0:
        return None
    return Measured(value, str(record.get("measured_at", "unknown time")), path)


def effective_traffic(config: Any, target: str) -> tuple[TrafficProfile | None, Measured | None]:
    """The file's `traffic:` profile with a saved bench figure in place of `replica_rps`, and that figure
    (None when the hand-typed one stands); (None, None) without a `traffic:` profile."""
    from dataclasses import replace

    from scalectl.cost import TrafficProfile

    t = config.spec.traffic
    if t is None:
        return None, None
    traffic = TrafficProfile(t.peak_rps, t.offpeak_rps, t.peak_hours_per_day, t.replica_rps)
    measured = load_measurement(config.path, target)
    if measured is not None:  # `bench --ramp --save` measured it: it replaces the hand-typed guess
        traffic = replace(traffic, replica_rps=measured.replica_rps)
    return traffic, measured


def measured_note(measured: Measured) -> str:
    return (
        f"replica_rps {measured.replica_rps:g} measured by `scalectl bench` at {measured.measured_at} "
        f"({measured.path}; delete it to use traffic.replica_rps)"
    )


@dataclass(frozen=True)
class Capacity:
    """What one replica serves and whether the most replicas the target may run cover the peak."""

    replica_rps: float
    source: str  # "bench" (a saved measurement) or "scale.yaml" (traffic.replica_rps)
    measured_at: str | None
    peak_rps: float
    max_replicas: int
    max_source: str  # autoscaling.max, or replicas for a fixed-size target
    needed: int  # replicas the peak needs

    @property
    def covers_peak(self) -> bool:
        return self.needed <= self.max_replicas

    def describe(self) -> str:
        where = (
            f"measured by `scalectl bench` at {self.measured_at}" if self.source == "bench" else "traffic.replica_rps"
        )
        verdict = (
            "covers" if self.covers_peak else f"does NOT cover (peak needs {self.needed}; raise {self.max_source})"
        )
        return (
            f"capacity {self.replica_rps:g} req/s per replica ({where}); {self.max_source} {self.max_replicas} x "
            f"{self.replica_rps:g} = {self.max_replicas * self.replica_rps:g} req/s {verdict} the expected peak "
            f"of {self.peak_rps:g} req/s"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "replica_rps": self.replica_rps,
            "source": self.source,
            "measured_at": self.measured_at,
            "peak_rps": self.peak_rps,
            "max_replicas": self.max_replicas,
            "max_source": self.max_source,
            "replicas_needed_at_peak": self.needed,
            "covers_peak": self.covers_peak,
        }


def capacity(config: Any, target: str) -> Capacity | None:
    """The target's capacity against its `traffic:` peak; None without a traffic profile."""
    import math

    traffic, measured = effective_traffic(config, target)
    if traffic is None:
        return None
    tgt = config.spec.targets[target]
    fixed = tgt.provider == "docker"  # a fixed replica count, no autoscaling
    top = int(tgt.replicas if fixed else tgt.autoscaling.max)
    return Capacity(
        replica_rps=traffic.replica_rps,
        source="bench" if measured else "scale.yaml",
        measured_at=measured.measured_at if measured else None,
        peak_rps=traffic.peak_rps,
        max_replicas=top,
        max_source="replicas" if fixed else "autoscaling.max",
        needed=math.ceil(round(traffic.peak_rps / traffic.replica_rps, 9)),
    )
