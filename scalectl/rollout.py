"""Rollout semantics every platform shares: traffic steps, bakes and the rollback target.

Pure functions over the `rollout:` settings and the observed history, so `all_at_once`,
`canary` and `linear` mean the same on every platform; providers map the steps onto their
own mechanism (gateway weights, traffic splits, SageMaker deployment configs).
"""

from __future__ import annotations

from scalectl.errors import UsageError
from scalectl.provider import Live, Revision
from scalectl.schema import Rollout


def traffic_steps(rollout: Rollout, has_previous: bool = True) -> list[int]:
    """Percent of traffic the new revision takes at each step, ending at 100.

    all_at_once: [100]; canary: [p, 100]; linear: [p, 2p, ..., 100]. Without a previous
    revision there is nothing to split with, so every strategy is one step of 100%.
    """
    if not has_previous or rollout.strategy == "all_at_once":
        return [100]
    if rollout.strategy == "canary":
        return [rollout.percent, 100]
    return [*range(rollout.percent, 100, rollout.percent), 100]


def bake_after(rollout: Rollout, percent: int) -> int:
    """Seconds to watch the new revision at a step before the next: a bake below 100%, none at 100%."""
    return rollout.bake if percent < 100 else 0


def total_bake(rollout: Rollout) -> int:
    """Seconds a rollout spends baking: one bake per traffic step below 100%."""
    return sum(bake_after(rollout, p) for p in traffic_steps(rollout))


def steps_text(steps: list[int]) -> str:
    """The steps as plans print them: `10% -> 100%`."""
    return " -> ".join(f"{p}%" for p in steps)


def rollback_target(live: Live, to: int | None) -> Revision:
    """`--to N` if the platform still has it, else the newest good revision before the active one."""
    if to is not None:
        rev = live.revision(to)
        if rev is None:
            known = ", ".join(str(r.number) for r in live.revisions) or "none"
            raise UsageError(f"revision {to} is not known to the platform (known: {known})")
        if rev.number == live.active:
            raise UsageError(f"revision {to} is already active")
        return rev
    skip = ("failed", "pending", "rolled_back")  # a revision already rolled back from is not "good"
    candidates = [r for r in live.revisions if r.number != live.active and r.status not in skip]
    if live.active is not None:
        candidates = [r for r in candidates if r.number < live.active] or candidates
    if not candidates:
        raise UsageError("there is no earlier good revision to roll back to")
    return candidates[-1]
