"""Live figures per revision, and the gate every bake applies to them.

Providers read the figures their platform keeps (the Docker gateway's access log, CloudWatch,
Cloud Monitoring, Azure Monitor, the Kubernetes API) into `RevisionMetrics`; `status`, `top`
and every bake use the same type. `judge` is the one gate: the same `rollout.max_error_rate`,
`max_p99`, `max_p99_ratio` and `min_requests` keys mean the same thing on every platform, and
the new revision is compared with the one it replaces, not only with fixed numbers.
Pure: no I/O here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from scalectl.provider import Live, Release
    from scalectl.schema import Rollout

DEFAULT_MAX_ERROR_RATE = 0.05  # share of a new revision's requests that may fail when rollout.max_error_rate is unset


@dataclass
class RevisionMetrics:
    """What one revision served over the last `window` seconds. None: the platform does not say."""

    revision: int
    window: float
    requests: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    rate_4xx: float | None = None  # share of requests, 0..1
    rate_5xx: float | None = None
    replicas_desired: int | None = None
    replicas_ready: int | None = None
    cpu_percent: float | None = None
    gpu_percent: float | None = None
    memory_percent: float | None = None
    source: str = ""  # where the figures came from, e.g. "gateway access log", "CloudWatch AWS/SageMaker"
    notes: list[str] = field(default_factory=list)  # what the platform does not report, in words

    @property
    def rps(self) -> float:
        return self.requests / self.window if self.window > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 3)}


class Metrics(Protocol):
    """Optional provider capability: live figures for the revisions that serve now."""

    def metrics(self, release: Release, live: Live, window: float) -> list[RevisionMetrics]:
        """One entry per revision with traffic (or replicas), newest last; `window` in seconds."""
        ...


@dataclass(frozen=True)
class Verdict:
    """A gate's answer for one look at a bake.

    `ok` is None while the new revision has served fewer than `rollout.min_requests` requests
    (nothing to judge yet), False with `reason` naming the figure that failed and by how much.
    `figures` is one line for a bake's live display.
    """

    ok: bool | None
    reason: str = ""
    figures: str = ""


def error_ceiling(rollout: Rollout) -> float:
    return rollout.max_error_rate if rollout.max_error_rate is not None else DEFAULT_MAX_ERROR_RATE


def ms_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def percent_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def figures_line(new: RevisionMetrics, previous: RevisionMetrics | None) -> str:
    """`rev 5: 312 req, p99 48 ms, 5xx 0.0% | rev 4: 1,204 req, p99 41 ms, 5xx 0.0%`."""

    def one(m: RevisionMetrics) -> str:
        return f"rev {m.revision}: {m.requests:,} req, p99 {ms_text(m.p99_ms)}, 5xx {percent_text(m.rate_5xx)}"

    return one(new) if previous is None else f"{one(new)} | {one(previous)}"


def judge(rollout: Rollout, new: RevisionMetrics, previous: RevisionMetrics | None) -> Verdict:
    """Does the new revision hold up against the rollout's gates and the revision it replaces?

    Errors: the new revision's 5xx share above `max_error_rate` (default 5%) fails. Latency:
    its P99 above `max_p99` fails, and so does a P99 more than `max_p99_ratio` times the
    previous revision's over the same window (when the previous one served enough to judge).
    """
    line = figures_line(new, previous)
    if new.requests < max(rollout.min_requests, 1):
        return Verdict(None, f"{new.requests} of the {rollout.min_requests} requests needed to judge", line)
    judged_prev = previous if previous is not None and previous.requests >= max(rollout.min_requests, 1) else None
    ceiling = error_ceiling(rollout)
    if new.rate_5xx is not None and new.rate_5xx > ceiling:
        than = (
            f"; revision {judged_prev.revision} it replaces: {percent_text(judged_prev.rate_5xx)}"
            if judged_prev
            else ""
        )
        return Verdict(
            False,
            f"5xx rate {new.rate_5xx:.1%} of revision {new.revision} ({new.requests:,} requests) is over "
            f"rollout.max_error_rate {ceiling:.1%} by {(new.rate_5xx - ceiling) * 100:.1f} points{than}",
            line,
        )
    if rollout.max_p99 is not None and new.p99_ms is not None and new.p99_ms > rollout.max_p99:
        than = f"; revision {judged_prev.revision} it replaces: {ms_text(judged_prev.p99_ms)}" if judged_prev else ""
        return Verdict(
            False,
            f"P99 {ms_text(new.p99_ms)} of revision {new.revision} is over rollout.max_p99 {ms_text(rollout.max_p99)} "
            f"by {ms_text(new.p99_ms - rollout.max_p99)} ({new.p99_ms / rollout.max_p99 - 1:.0%}){than}",
            line,
        )
    if (
        rollout.max_p99_ratio is not None
        and judged_prev is not None
        and judged_prev.p99_ms
        and new.p99_ms is not None
        and new.p99_ms > judged_prev.p99_ms * rollout.max_p99_ratio
    ):
        ratio = new.p99_ms / judged_prev.p99_ms
        return Verdict(
            False,
            f"P99 {ms_text(new.p99_ms)} of revision {new.revision} is {ratio:.1f}x the "
            f"{ms_text(judged_prev.p99_ms)} of revision {judged_prev.revision} it replaces, "
            f"over rollout.max_p99_ratio {rollout.max_p99_ratio:g}x",
            line,
        )
    return Verdict(True, "", line)


def gates_text(rollout: Rollout, previous: int | None = None) -> str:
    """What a bake judges, for its opening line: `max error rate 5%, max p99 250 ms, max p99 1.5x revision 4's`."""
    gates = [f"max error rate {error_ceiling(rollout):.0%}"]
    if rollout.max_p99 is not None:
        gates.append(f"max p99 {rollout.max_p99:g} ms")
    if rollout.max_p99_ratio is not None:
        than = f"revision {previous}'s" if previous is not None else "the previous revision's"
        gates.append(f"max p99 {rollout.max_p99_ratio:g}x {than}")
    return ", ".join(gates)
