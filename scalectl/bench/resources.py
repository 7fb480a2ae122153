"""Container CPU and memory during a Docker bench, from the engine's stats API.

One thread per replica reads the engine's stats stream (a sample about every second) until the run ends.
The Docker stats API reports no GPU use, so none is reported here; a cloud target reports nothing yet.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Usage:
    name: str
    cpu: list[float] = field(default_factory=list)  # percent of one CPU
    memory: list[int] = field(default_factory=list)  # bytes
    limit: int = 0
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        mb = 1024 * 1024
        return {
            "name": self.name,
            "samples": len(self.memory),
            "cpu_avg_pct": round(sum(self.cpu) / len(self.cpu), 1) if self.cpu else None,
            "cpu_max_pct": round(max(self.cpu), 1) if self.cpu else None,
            "memory_max_mb": round(max(self.memory) / mb, 1) if self.memory else None,
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

    def __init__(self, containers: list[str]) -> None:
        self.usages = [_Usage(name) for name in containers]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _sample(self, usage: _Usage) -> None:
        from scalectl.providers.docker.api import connect

        try:
            container = connect().containers.get(usage.name)
            for stats in container.stats(stream=True, decode=True):
                memory = (stats.get("memory_stats") or {}).get("usage")
                if memory:
                    usage.memory.append(int(memory))
                    usage.limit = int((stats.get("memory_stats") or {}).get("limit") or 0)
                cpu = _cpu_percent(stats)
                if cpu is not None:
                    usage.cpu.append(cpu)
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

    def summary(self) -> dict[str, Any]:
        return {
            "source": "docker engine stats",
            "gpu": "not reported by the Docker stats API",
            "containers": [u.summary() for u in self.usages],
        }
