"""`--slo p99=250ms,errors=0.5%` and `--rate 200/s`: parsing, and judging a result against an SLO.

Pure: no I/O, no histogram import, so flags are checked before any load is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scalectl.errors import UsageError

LATENCY_KEYS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99.9": "p999", "p999": "p999", "max": "max"}
_LATENCY = re.compile(r"^(\d+(?:\.\d+)?)\s*(us|ms|s)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")
_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min))?$")


@dataclass(frozen=True)
class Slo:
    """Latency ceilings in milliseconds (keys as in `Tally.latency_ms`) and an error-rate ceiling (a fraction)."""

    latency_ms: dict[str, float]
    error_rate: float | None = None
    text: str = ""

    def breaches(self, latency: dict[str, float | None], error_rate: float, answered: int) -> list[str]:
        """What the measured figures miss, one sentence each; empty when the SLO held."""
        out = []
        if answered == 0 and self.latency_ms:
            out.append("no request was answered")
        for key, ceiling in self.latency_ms.items():
            seen = latency.get(key)
            if seen is not None and seen > ceiling:
                out.append(f"{key} {seen:g}ms > {ceiling:g}ms")
        if self.error_rate is not None and error_rate > self.error_rate:
            out.append(f"errors {error_rate * 100:.2f}% > {self.error_rate * 100:g}%")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "latency_ms": self.latency_ms, "error_rate": self.error_rate}


def parse_slo(text: str) -> Slo:
    """`p99=250ms,errors=0.5%` -> Slo; a UsageError names the part it cannot read."""
    latency: dict[str, float] = {}
    errors: float | None = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = (s.strip() for s in part.partition("="))
        key = key.lower()
        if not sep:
            raise UsageError(f"--slo {text}: `{part}` is not key=value (e.g. p99=250ms,errors=0.5%)")
        if key == "errors":
            m = _PERCENT.match(value)
            if not m or float(m.group(1)) > 100:
                raise UsageError(f"--slo {text}: errors={value}: expected a percentage like 0.5%")
            errors = float(m.group(1)) / 100
        elif key in LATENCY_KEYS:
            m = _LATENCY.match(value)
            if not m:
                raise UsageError(f"--slo {text}: {key}={value}: expected a latency like 250ms, 1.5s or 800us")
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            latency[LATENCY_KEYS[key]] = float(m.group(1)) * scale
        else:
            known = ", ".join([*LATENCY_KEYS, "errors"])
            raise UsageError(f"--slo {text}: unknown key `{key}` (known: {known})")
    if not latency and errors is None:
        raise UsageError(f"--slo {text}: names no objective (e.g. p99=250ms,errors=0.5%)")
    return Slo(latency, errors, text)


def parse_rate(text: str, flag: str = "--rate") -> float:
    """`200/s`, `200`, `12000/m` -> requests per second."""
    m = _RATE.match(text.strip().lower())
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"{flag} {text}: expected a positive rate like 200/s or 6000/m")
    per_minute = m.group(2) in ("m", "min")
    return float(m.group(1)) / (60 if per_minute else 1)
