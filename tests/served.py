"""Injected figures for the cloud simulators' metric APIs (Cloud Monitoring, Azure Monitor): a steady
load per image that a simulator reports as served, next to the requests it really answered."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Load"]


@dataclass
class Load:
    """Injected per image substring (the longest key contained in the image wins).

    What a deployed model serves each second, as injected figures: `per_second` requests, the
    first `error_rate` share of them answered `error_code`, latencies cycling through `latency_ms`;
    CPU and accelerator (GPU) use as fractions 0..1 (Vertex reports fractions, Azure percent)."""

    per_second: int
    error_rate: float = 0.0
    latency_ms: list[float] = field(default_factory=lambda: [20.0])
    error_code: str = "503"
    cpu: float = 0.25
    memory: float = 0.3
    duty_cycle: float | None = None
    fail_from: int = 0  # seconds after it starts serving before `error_rate` applies (a canary that turns bad)

    def requests(self, second: int) -> list[tuple[str, float]]:
        """(code, latency ms) of the requests served in whole second `second` after serving began."""
        errors = round(self.per_second * self.error_rate) if second >= self.fail_from else 0
        cycle = self.latency_ms
        return [
            (self.error_code if i < errors else "200", cycle[(second * self.per_second + i) % len(cycle)])
            for i in range(self.per_second)
        ]
