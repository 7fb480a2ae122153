"""Container CPU and memory during a Docker bench, from the engine's stats API.

One thread per replica reads the engine's stats stream (a sample about every second) until the run ends.
The Docker stats API reports no GPU use, so none is reported here; a cloud target reports nothing yet.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Usage:
    name: str
    role: str  # replica | gateway
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (monotonic time, percent of one CPU)
    memory: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, bytes)
    limit: int = 0
    error: str | None = None

    def summary(self, start: float = 0.0, end: float = float("inf")) -> dict[str, Any]:
        """Figures of the samples taken between `start` and `end` (a ramp step), or of all of them."""
        mb = 1024 * 1024
        cpu = [v for t, v in self.cpu if start <= t <= end]
        memory = [v for t, v in self.memory if start <= t <= end]
        return {
            "name": self.name,
            "role": self.role,
            "samples": len(memory),
            "cpu_avg_pct": round(sum(cpu) / len(cpu), 1) if cpu else None,
            "cpu_max_pct": round(max(cpu), 1) if cpu else None,
            "memory_max_mb": round(max(memory) / mb, 1) if memory else None,
            "memory_limit_mb": round(self.limit / mb, 1) if self.limit else None,
            "error": self.error,
        }


def _cpu_percent(stats: dict[str, Any]) -> float | None:
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    try:
        used = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    except (KeyError, TypeError):
        return None  # the first sample has no previous one
    cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or [1])
    return used / system * cpus * 100 if system > 0 else None


class ResourceSampler:
    """`with ResourceSampler(names) as s: ...` then `s.summary()`."""

    def __init__(self, containers: dict[str, str]) -> None:
        """`containers`: name -> role (replica, gateway)."""
        self.usages = [_Usage(name, role) for name, role in containers.items()]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _sample(self, usage: _Usage) -> None:
        from scalectl.providers.docker.api import connect

        try:
            container = connect().containers.get(usage.name)
            for stats in container.stats(stream=True, decode=True):
                memory = (stats.get("memory_stats") or {}).get("usage")
                now = time.monotonic()
                if memory:
                    usage.memory.append((now, int(memory)))
                    usage.limit = int((stats.get("memory_stats") or {}).get("limit") or 0)
                cpu = _cpu_percent(stats)
                if cpu is not None:
                    usage.cpu.append((now, cpu))
                if self._stop.is_set():
                    return
        except Exception as exc:  # stats are a bonus: a failure is reported, never fails the bench
            usage.error = f"{type(exc).__name__}: {exc}"[:200]

    def __enter__(self) -> ResourceSampler:
        for usage in self.usages:
            thread = threading.Thread(target=self._sample, args=(usage,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.5)  # the stream yields about once a second

    def summary(self, start: float = 0.0, end: float = float("inf")) -> dict[str, Any]:
        return {
            "source": "docker engine stats",
            "gpu": "not reported by the Docker stats API",
            "containers": [u.summary(start, end) for u in self.usages],
        }
