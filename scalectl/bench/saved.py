"""Measured replica_rps, saved by `bench --ramp --save` and read by `cost-estimate`.

Where: `.scalectl/bench/<target>.json` next to scale.yaml, a small JSON file a person can read, edit or
delete. It overrides `traffic.replica_rps` for that one target, and cost-estimate says so (with when it
was measured); deleting the file goes back to the figure in scale.yaml. Stdlib only: cost-estimate imports it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


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
