"""Plan / apply / rollback orchestration, shared by every provider.

The engine decides revision numbers, holds the target lock, records the journal and picks
the rollback target (`scalectl.rollout.rollback_target`); providers do the platform work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scalectl.config import Config, digest, effective_model
from scalectl.errors import ScalectlError, UsageError
from scalectl.events import Events
from scalectl.provider import Change, Live, Plan, Release, Revision
from scalectl.redact import redact, secret_values
from scalectl.registry import get_provider
from scalectl.rollout import rollback_target
from scalectl.state import Journal, actor, now_iso


def release_for(config: Config, target: str) -> Release:
    """The pure config -> release step: what `target` should run."""
    spec = config.spec
    return Release(
        app=spec.name,
        target_name=target,
        target=spec.targets[target],
        model=effective_model(spec, target),
        digest=digest(spec, target),
        base_dir=config.path.resolve().parent,
    )


def next_revision(live: Live, journal: list[Revision]) -> int:
    """One past the highest number anyone has used, here or on the platform."""
    numbers = [r.number for r in live.revisions] + [r.number for r in journal]
    return max(numbers, default=0) + 1


def merged_history(live: Live, journal: list[Revision]) -> list[Revision]:
    """The platform's revisions, plus attempts only this machine's journal knows about."""
    by_number = {r.number: r for r in journal}
    by_number.update({r.number: r for r in live.revisions})
    return [by_number[n] for n in sorted(by_number)]


@dataclass
class Engine:
    """Runs commands for one config against its providers, with a journal in `state_dir`."""

    config: Config
    state_dir: Path

    def __post_init__(self) -> None:
        self.journal = Journal.open(self.state_dir)

    def release(self, target: str) -> Release:
        return release_for(self.config, target)

    def observe(self, target: str) -> Live:
        release = self.release(target)
        return get_provider(release.target.provider).observe(release)

    def plan(self, target: str, timeout: int | None = None) -> Plan:
        release = self.release(target)
        provider = get_provider(release.target.provider)
        live = provider.observe(release)
        changes = provider.plan(release, live)
        active = live.active_revision
        if active is not None and active.digest == release.digest:
            # same digest = same model and target settings: nothing to roll out
            changes = [Change("keep", f"revision {active.number}", "already running this config")]
        revision = Revision(
            number=next_revision(live, self.journal.revisions(release.app, target)),
            digest=release.digest,
            image=release.model.image,
            created_at=now_iso(),
            created_by=actor(),
        )
        return Plan(release, live, revision, changes, timeout or release.target.rollout.timeout)

    def deploy(
        self,
        target: str,
        events: Events,
        *,
        timeout: int | None = None,
        confirm: Callable[[Plan], None] = lambda plan: None,
    ) -> tuple[Plan, Revision | None]:
        """Plan and apply under the target lock, so the plan cannot go stale before it is applied.

        `confirm` sees the plan first and raises to stop; returns (plan, None) when there is
        nothing to change. The journal records success and failure alike.
        """
        release = self.release(target)
        provider = get_provider(release.target.provider)
        with self.journal.lock(release.app, target):
            plan = self.plan(target, timeout)
            if not plan.has_changes:
                return plan, None
            confirm(plan)
            try:
                revision = provider.apply(plan, events)
            except ScalectlError as exc:
                message = redact(exc.message, secret_values(release))
                failed = Revision(**{**plan.revision.to_dict(), "status": "failed", "message": message})
                self.journal.record(release.app, target, failed)
                self.journal.audit(release.app, target, "deploy", failed.number, "failed", message)
                raise
            self.journal.record(release.app, target, revision)
            self.journal.audit(release.app, target, "deploy", revision.number, "ok", revision.digest)
            return plan, revision

    def history(self, target: str) -> list[Revision]:
        release = self.release(target)
        live = get_provider(release.target.provider).observe(release)
        return merged_history(live, self.journal.revisions(release.app, target))

    def rollback(self, target: str, to: int | None, events: Events) -> tuple[Revision, Revision | None]:
        """Returns (revision now serving, revision it replaced)."""
        release = self.release(target)
        provider = get_provider(release.target.provider)
        with self.journal.lock(release.app, target):
            live = provider.observe(release)
            if not live.exists:
                raise UsageError(f"target {target!r} has nothing deployed to roll back")
            chosen = rollback_target(live, to)
            previous = live.active_revision
            try:
                revision = provider.rollback(release, live, chosen, events)
            except ScalectlError as exc:
                message = redact(exc.message, secret_values(release))
                self.journal.audit(release.app, target, "rollback", chosen.number, "failed", message)
                raise
            self.journal.record(release.app, target, revision)
            if previous is not None:
                self.journal.record(release.app, target, Revision(**{**previous.to_dict(), "status": "rolled_back"}))
            self.journal.audit(release.app, target, "rollback", revision.number, "ok", {"from": live.active})
            return revision, previous

    def destroy(self, target: str, events: Events) -> list[str]:
        release = self.release(target)
        provider = get_provider(release.target.provider)
        with self.journal.lock(release.app, target):
            live = provider.observe(release)
            removed = provider.destroy(release, live, events) if live.exists else []
            self.journal.audit(release.app, target, "destroy", None, "ok", removed)
            return removed
