"""The cost model: replica-hours a month under an autoscaling policy, times an hourly rate.

Pure arithmetic, no I/O: `catalog.py` finds the rate, this module turns bounds, a traffic
profile and a rate into min / expected / max monthly figures. A month is 730 hours (the
figure AWS, GCP and Azure use on their pricing pages).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

HOURS_PER_MONTH = 730.0
HOURS_PER_DAY = 24.0

Basis = Literal["list", "estimate", "vm-rate", "user", "unpriced"]


@dataclass(frozen=True)
class Rate:
    """USD per replica-hour for one target, and where the figure comes from.

    `on_demand` is None when no usable price is known (`problem` says why); `spot` is None
    when the service cannot buy spot or the catalog has no trustworthy spot figure
    (`spot_note` says which).
    """

    on_demand: float | None
    spot: float | None
    basis: Basis
    source: str
    date: str
    spot_note: str = ""
    parts: tuple[str, ...] = ()  # e.g. ("a2-highgpu-1g host 0.73948", "A100 x1 2.93391")
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrafficProfile:
    """A day's load: `peak_rps` for `peak_hours_per_day`, `offpeak_rps` for the rest."""

    peak_rps: float
    offpeak_rps: float
    peak_hours_per_day: float
    replica_rps: float


@dataclass(frozen=True)
class Usage:
    """Replica counts and replica-hours a month for one target."""

    min_replicas: int
    max_replicas: int
    peak_replicas: int | None
    offpeak_replicas: int | None
    peak_hours: float  # per month
    offpeak_hours: float
    min_hours: float  # replica-hours a month at min replicas all the time
    expected_hours: float | None  # under the traffic profile; None without one
    max_hours: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Monthly:
    """USD a month at one hourly rate."""

    min: float
    expected: float | None
    max: float

    def to_dict(self) -> dict[str, Any]:
        return {"min": _cents(self.min), "expected": _opt_cents(self.expected), "max": _cents(self.max)}


@dataclass(frozen=True)
class Estimate:
    """One target's monthly cost: usage, rate, on-demand and (where offered) spot figures."""

    target: str
    provider: str
    hardware: str  # what is priced: instance/machine type, or "docker host"
    region: str
    usage: Usage
    rate: Rate
    on_demand: Monthly | None
    spot: Monthly | None
    billed: Literal["on_demand", "spot"]  # what the target would pay: spot only when it asks and can
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def priced(self) -> bool:
        return self.on_demand is not None

    @property
    def billed_monthly(self) -> Monthly | None:
        return self.spot if self.billed == "spot" and self.spot is not None else self.on_demand

    @property
    def billed_rate(self) -> float | None:
        """USD per replica-hour the target pays: the spot rate when billed at spot."""
        return self.rate.spot if self.billed == "spot" else self.rate.on_demand

    @property
    def billed_label(self) -> str:
        return "spot" if self.billed == "spot" else "on-demand"

    @property
    def expected(self) -> float | None:
        """The figure a budget is checked against: expected under the profile, else max."""
        m = self.billed_monthly
        if m is None:
            return None
        return m.expected if m.expected is not None else m.max

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "provider": self.provider,
            "hardware": self.hardware,
            "region": self.region,
            "usage": self.usage.to_dict(),
            "rate": self.rate.to_dict(),
            "on_demand": self.on_demand.to_dict() if self.on_demand else None,
            "spot": self.spot.to_dict() if self.spot else None,
            "billed": self.billed,
            "billed_rate": self.billed_rate,
            "billed_monthly": self.billed_monthly.to_dict() if self.billed_monthly else None,
            "monthly": _opt_cents(self.expected),
            "notes": list(self.notes),
        }


def replicas_for(rps: float, replica_rps: float, lo: int, hi: int) -> int:
    """Replicas needed to serve `rps`: ceil(rps / replica_rps), clamped to the autoscaling bounds."""
    if replica_rps <= 0:
        raise ValueError("replica_rps must be positive")
    needed = math.ceil(round(rps / replica_rps, 9))  # 120/40 is 3, not 3.0000000001 -> 4
    return max(lo, min(hi, needed))


def usage(lo: int, hi: int, traffic: TrafficProfile | None) -> Usage:
    """Replica-hours a month at min, under the profile, and at max."""
    if lo > hi:
        raise ValueError(f"min replicas ({lo}) above max ({hi})")
    min_hours = lo * HOURS_PER_MONTH
    max_hours = hi * HOURS_PER_MONTH
    if traffic is None:
        return Usage(
            min_replicas=lo,
            max_replicas=hi,
            peak_replicas=None,
            offpeak_replicas=None,
            peak_hours=0.0,
            offpeak_hours=0.0,
            min_hours=min_hours,
            expected_hours=None,
            max_hours=max_hours,
            note="no `traffic:` in the file, so no expected figure: add peak_rps, offpeak_rps, "
            "peak_hours_per_day and replica_rps to get one",
        )
    peak_hours = HOURS_PER_MONTH * traffic.peak_hours_per_day / HOURS_PER_DAY
    offpeak_hours = HOURS_PER_MONTH - peak_hours
    peak = replicas_for(traffic.peak_rps, traffic.replica_rps, lo, hi)
    off = replicas_for(traffic.offpeak_rps, traffic.replica_rps, lo, hi)
    note = ""
    wanted = math.ceil(round(traffic.peak_rps / traffic.replica_rps, 9))
    if wanted > hi:
        note = (
            f"peak needs {wanted} replicas but autoscaling.max is {hi}: "
            f"expected cost assumes {hi} (latency will suffer at peak)"
        )
    return Usage(
        min_replicas=lo,
        max_replicas=hi,
        peak_replicas=peak,
        offpeak_replicas=off,
        peak_hours=peak_hours,
        offpeak_hours=offpeak_hours,
        min_hours=min_hours,
        expected_hours=peak * peak_hours + off * offpeak_hours,
        max_hours=max_hours,
        note=note,
    )


def monthly(u: Usage, hourly: float) -> Monthly:
    """USD a month for each usage figure at `hourly` USD per replica-hour."""
    return Monthly(
        min=u.min_hours * hourly,
        expected=None if u.expected_hours is None else u.expected_hours * hourly,
        max=u.max_hours * hourly,
    )


def estimate(
    target: str,
    provider: str,
    hardware: str,
    region: str,
    u: Usage,
    rate: Rate,
    wants_spot: bool,
    notes: tuple[str, ...] = (),
) -> Estimate:
    """Combine usage and rate. Spot is billed only when the target asks for it and a spot price exists."""
    on_demand = monthly(u, rate.on_demand) if rate.on_demand is not None else None
    spot = monthly(u, rate.spot) if rate.spot is not None and rate.on_demand is not None else None
    extra = list(notes)
    if u.note:
        extra.append(u.note)
    billed: Literal["on_demand", "spot"] = "on_demand"
    if wants_spot:
        if spot is not None:
            billed = "spot"
        else:
            extra.append(f"spot: true but no spot price to bill ({rate.spot_note or 'unknown'}); on-demand used")
    return Estimate(
        target=target,
        provider=provider,
        hardware=hardware,
        region=region,
        usage=u,
        rate=rate,
        on_demand=on_demand,
        spot=spot,
        billed=billed,
        notes=tuple(extra),
    )


def total(estimates: list[Estimate]) -> float:
    """Sum of the billed expected (or max) figures of the priced targets."""
    return sum(e.expected or 0.0 for e in estimates)


def totals(estimates: list[Estimate]) -> dict[str, float]:
    """Billed min / expected (else max) / max, each summed over the priced targets.

    Every column a view prints is one of these per target, so each adds up to its total.
    """
    billed = [m for m in (e.billed_monthly for e in estimates) if m is not None]
    return {
        "min": _cents(sum(m.min for m in billed)),
        "expected": _cents(total(estimates)),
        "max": _cents(sum(m.max for m in billed)),
    }


def delta(current: dict[str, float | None], baseline: dict[str, float | None]) -> dict[str, dict[str, Any]]:
    """Per-target monthly change against a baseline; targets added or removed count in full."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys([*baseline, *current]):
        before = baseline.get(name)
        after = current.get(name)
        status = "added" if name not in baseline else "removed" if name not in current else "changed"
        change = (
            None
            if (before is None and name in baseline) or (after is None and name in current)
            else ((after or 0.0) - (before or 0.0))
        )
        if status == "changed" and change is not None and abs(change) < 0.005:
            status = "unchanged"
        out[name] = {
            "before": _opt_cents(before),
            "after": _opt_cents(after),
            "delta": _opt_cents(change),
            "status": status,
        }
    return out


def _cents(value: float) -> float:
    return round(value + 0.0, 2)


def _opt_cents(value: float | None) -> float | None:
    return None if value is None else _cents(value)


@dataclass(frozen=True)
class BudgetVerdict:
    """What the budgets say: per target (`--budget`) and for all targets together (`--total-budget`)."""

    per_target: float | None
    total_limit: float | None
    total: float
    over: tuple[str, ...]  # targets above the per-target budget
    total_over: bool

    @property
    def over_any(self) -> bool:
        return bool(self.over) or self.total_over

    @property
    def text(self) -> str:
        """One sentence, printed whatever the outcome."""
        if self.per_target is None and self.total_limit is None:
            return "no budget set (--budget USD per target, --total-budget USD for all targets)"
        parts = []
        if self.per_target is not None:
            parts.append(
                f"over budget ${self.per_target:,.2f}/month per target: {', '.join(self.over)}"
                if self.over
                else f"within budget ${self.per_target:,.2f}/month per target: every target"
            )
        if self.total_limit is not None:
            gap = abs(self.total - self.total_limit)
            parts.append(
                f"total ${self.total:,.2f}/month is over budget ${self.total_limit:,.2f} by ${gap:,.2f}"
                if self.total_over
                else f"total ${self.total:,.2f}/month is within budget ${self.total_limit:,.2f} (${gap:,.2f} to spare)"
            )
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.per_target,
            "per": "target",
            "over": list(self.over),
            "total_limit": self.total_limit,
            "total": _cents(self.total),
            "total_over": self.total_over,
            "ok": not self.over_any,
            "verdict": self.text,
        }


def budget_verdict(
    estimates: list[Estimate], per_target: float | None, total_limit: float | None, over: list[Estimate]
) -> BudgetVerdict:
    spent = total(estimates)
    return BudgetVerdict(
        per_target=per_target,
        total_limit=total_limit,
        total=spent,
        over=tuple(e.target for e in over),
        total_over=total_limit is not None and spent > total_limit + 0.005,
    )
