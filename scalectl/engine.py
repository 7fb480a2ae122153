"""Plan / apply / rollback orchestration, shared by every provider.

The engine decides revision numbers, holds the target lock, records the journal and picks
the rollback target (`scalectl.rollout.rollback_target`); providers do the platform work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import ClassVar, NoReturn

from scalectl.config import Config, digest, effective_model
from scalectl.errors import Interrupted, LockedError, ProviderError, ScalectlError, StateError, UsageError
from scalectl.events import Events
from scalectl.lease import hold, store_for
from scalectl.metrics import RevisionMetrics
from scalectl.provider import Live, Plan, Provider, Release, Revision
from scalectl.redact import redact, secret_values
from scalectl.registry import get_provider
from scalectl.rollout import rollback_target
from scalectl.state import Journal, actor, now_iso
from scalectl.wait import wake, wakeable


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
    """The platform's revisions, plus attempts only this machine's journal knows about.

    The platform is the truth about what serves: a revision only the journal remembers as
    active or pending (destroyed since, or removed by another machine) is shown as superseded.
    """
    by_number = {
        r.number: r if r.status not in ("active", "pending") else replace(r, status="superseded") for r in journal
    }
    by_number.update({r.number: r for r in live.revisions})
    return [by_number[n] for n in sorted(by_number)]


@contextlib.contextmanager
def interruptible(left: str) -> Iterator[None]:
    """The first SIGINT/SIGTERM in the block raises `Interrupted`, so the engine can undo the rollout;
    a second one exits at once, printing `left` (what is left behind and who finishes it).

    Signals reach the main thread only. In a worker thread, the block takes its interrupt from the
    `Interrupts` the main thread is delivering (several targets deploying at once); with none, it
    runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        hub = Interrupts.current
        if hub is None:
            yield
            return
        hub.enter(left)
        try:
            yield
        finally:
            hub.leave()
        return
    seen: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if seen:
            _exit_now(signum, left)
        seen.append(signum)
        raise Interrupted(signum)

    saved = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def _exit_now(signum: int, left: str) -> NoReturn:
    name = signal.Signals(signum).name
    sys.stderr.write(f"\nsecond signal ({name}): exiting now without finishing the rollback; {left}\n")
    sys.stderr.flush()
    os._exit(128 + signum)


class Interrupts:
    """SIGINT/SIGTERM for rollouts running in worker threads (several targets deploying at once).

    While the main thread waits for the workers, `delivering()` catches the signal there and raises
    `Interrupted` inside every worker that is in its `interruptible` block, as an asynchronous
    exception: the same "wherever it is" semantics a signal has in the main thread, so each worker's
    engine rolls its own rollout back exactly as a single deploy does. A worker that reaches the block
    afterwards stops before applying; a second signal exits at once, naming what is left.
    """

    current: ClassVar[Interrupts | None] = None  # the one being delivered in this process, if any

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside: dict[int, str] = {}  # thread ident -> what it leaves if the process dies now
        self._sent: set[int] = set()
        self.signum: int | None = None

    def enter(self, left: str) -> None:
        """A worker enters its rollout; raise at once when a signal came first (nothing applied yet)."""
        with self._lock:
            if self.signum is not None:
                raise Interrupted(self.signum)
            self._inside[threading.get_ident()] = left
            wakeable(threading.get_ident(), True)

    def leave(self) -> None:
        """A worker leaves its rollout: an interrupt sent but not yet raised there is withdrawn
        (the rollout finished; the engine records it)."""
        ident = threading.get_ident()
        with self._lock:
            self._inside.pop(ident, None)
            wakeable(ident, False)
            if ident in self._sent:
                _async_raise(ident, None)

    def deliver(self, signum: int) -> None:
        """Raise `Interrupted(signum)` once in every worker inside its rollout."""
        with self._lock:
            self.signum = signum
            for ident in self._inside:
                if ident not in self._sent:
                    self._sent.add(ident)
                    _async_raise(ident, _interrupt_class(signum))
                    wake(ident)  # a worker in `scalectl.wait.pause` sees it now, not after its backoff

    def left(self) -> str:
        with self._lock:
            return "; ".join(self._inside.values()) or "no rollout was in progress"

    @contextlib.contextmanager
    def delivering(self) -> Iterator[None]:
        """In the main thread: the first SIGINT/SIGTERM is delivered to the workers (the main thread goes
        on waiting for their rollbacks); a second one exits at once."""
        if threading.current_thread() is not threading.main_thread():  # embedded: no signal reaches us here
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.signum is not None:
                _exit_now(signum, self.left())
            self.deliver(signum)

        saved = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        Interrupts.current = self
        try:
            yield
        finally:
            Interrupts.current = None
            for s, h in saved.items():
                signal.signal(s, h)


def _interrupt_class(signum: int) -> type[Interrupted]:
    """An `Interrupted` that Python can raise asynchronously (it instantiates the class with no arguments)."""

    class Signalled(Interrupted):
        def __init__(self) -> None:
            super().__init__(signum)

    return Signalled


def _async_raise(ident: int, exc: type[BaseException] | None) -> None:
    """Raise `exc` in thread `ident` at its next bytecode; None withdraws one not raised yet."""
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc) if exc else None)


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
        """What deploy would change; the provider compares desired with live (drift included)."""
        release = self.release(target)
        provider = get_provider(release.target.provider)
        return self._plan(release, provider, provider.observe(release), timeout)

    def _plan(self, release: Release, provider: Provider, live: Live, timeout: int | None) -> Plan:
        changes = provider.plan(release, live)
        revision = Revision(
            number=next_revision(live, self._journal_revisions(release)),
            digest=release.digest,
            image=release.model.image,
            created_at=now_iso(),
            created_by=actor(),
        )
        return Plan(release, live, revision, changes, timeout or release.target.rollout.timeout)

    def _journal_revisions(self, release: Release) -> list[Revision]:
        """The journal's revisions, or none when it cannot be read (the platform's history still counts)."""
        try:
            return self.journal.revisions(release.app, release.target_name)
        except StateError:
            return []

    def _bookkeep(self, events: Events, write: Callable[[], None]) -> None:
        """A journal write after the platform changed: a failure is a warning, never the command's failure."""
        try:
            write()
        except StateError as exc:
            events.warn(f"the change was made, but the local journal could not record it: {exc.message}")

    def settle(
        self, release: Release, provider: Provider, events: Events, *, halted: bool = False
    ) -> tuple[Live, list[str]]:
        """Observe; when an interrupted rollout is found, finish its rollback first and observe again.

        `halted`: undo a rollout stopped on purpose (auto_rollback: false) too, as `rollback` does.
        Returns the live state and what the recovery did (empty when there was nothing to finish).
        """
        live = provider.observe(release)
        found = live.unfinished + (live.halted if halted else [])
        if not found:
            return live, []
        kind = "an unfinished rollout" if live.unfinished else "a halted rollout"
        events.warn(f"found {kind}: " + "; ".join(found) + ". Rolling it back first")
        recover = getattr(provider, "recover", None)
        if recover is None:
            raise ProviderError(
                f"target {release.target_name} has {kind} ({'; '.join(found)}) and the "
                f"{provider.name} provider cannot roll it back automatically; finish it on the platform first"
            )
        done: list[str] = recover(release, live, events)
        for line in done:
            events.state("recovery", line)
        self._bookkeep(
            events,
            lambda: self.journal.audit(release.app, release.target_name, "recover", live.active, "ok", done),
        )
        return provider.observe(release), done

    @staticmethod
    def _left(plan: Plan) -> str:
        """What an interrupted rollout may leave when its rollback cannot finish, and who finishes it."""
        return (
            f"revision {plan.revision.number} may still run and take traffic; the next `scalectl deploy`, "
            f"`rollback` or `status` of {plan.release.target_name} finishes the rollback"
        )

    def _abort(self, plan: Plan, provider: Provider, events: Events, exc: Interrupted) -> None:
        """SIGINT/SIGTERM stopped `apply`: put traffic back and remove the new revision, then let it exit.

        Runs inside `interruptible`, so a second signal exits at once.
        """
        release = plan.release
        number = plan.revision.number
        events.warn(f"interrupted ({signal.Signals(exc.signum).name}): rolling back revision {number}")
        try:
            live, done = self.settle(release, provider, events)
        except ScalectlError as error:
            exc.message = f"revision {number} could not be rolled back: {error.message}; {self._left(plan)}"
            return
        failed = Revision(**{**plan.revision.to_dict(), "status": "failed", "message": "interrupted"})
        self._bookkeep(events, lambda: self.journal.record(release.app, release.target_name, failed))
        serving = f"revision {live.active} serves 100%" if live.active is not None else "nothing serves"
        if not done and exc.message:  # the provider rolled back itself and said so
            return
        exc.message = (
            f"revision {number} was rolled back and removed ({'; '.join(done) or 'nothing to undo'}); {serving}"
        )

    def deploy(
        self,
        target: str,
        events: Events,
        *,
        timeout: int | None = None,
        confirm: Callable[[Plan], None] = lambda plan: None,
        allow_idle_bake: bool = False,
    ) -> tuple[Plan, Revision | None]:
        """Plan and apply under the target lock, so the plan cannot go stale before it is applied.

        An unfinished rollout found first is rolled back. `confirm` sees the plan first and
        raises to stop; returns (plan, None) when there is nothing to change. SIGINT/SIGTERM
        during `apply` rolls the new revision back before `Interrupted` propagates. The journal
        records success and failure alike (a journal that fails after success only warns).
        """
        events.context["target"] = target
        release = self.release(target)
        provider = get_provider(release.target.provider)
        self.journal.require()
        with hold(release, "scalectl deploy", events), self.journal.lock(release.app, target):
            live, _ = self.settle(release, provider, events)
            plan = self._plan(release, provider, live, timeout)
            plan.allow_idle_bake = allow_idle_bake
            events.context["revision"] = plan.revision.number
            if not plan.has_changes:
                return plan, None
            confirm(plan)
            applied: Revision | None = None
            # a crash from here on leaves this row last: the next `status` here knows the rollout is its own
            self._bookkeep(
                events, lambda: self.journal.audit(release.app, target, "deploy", plan.revision.number, "started")
            )
            try:
                with interruptible(self._left(plan)):
                    try:
                        applied = provider.apply(plan, events)
                    except Interrupted as exc:
                        self._abort(plan, provider, events, exc)
                        raise
            except Interrupted:
                # a worker's interrupt that landed after `apply` returned (before it was withdrawn):
                # the rollout finished, so it is recorded as the success it is
                if applied is None or threading.current_thread() is threading.main_thread():
                    raise
            except ScalectlError as exc:
                why = redact(exc.message, secret_values(release))
                failed = Revision(**{**plan.revision.to_dict(), "status": "failed", "message": why})
                self._bookkeep(events, lambda: self.journal.record(release.app, target, failed))
                self._bookkeep(
                    events,
                    lambda: self.journal.audit(release.app, target, "deploy", failed.number, "failed", why),
                )
                raise
            assert applied is not None
            revision = applied
            self._bookkeep(events, lambda: self.journal.record(release.app, target, revision))
            self._bookkeep(
                events,
                lambda: self.journal.audit(release.app, target, "deploy", revision.number, "ok", revision.digest),
            )
            return plan, revision

    def status(self, target: str, events: Events) -> tuple[Live, list[str]]:
        """What runs now, after finishing the rollback of an unfinished rollout (unless a deploy holds the target)."""
        events.context["target"] = target
        release = self.release(target)
        provider = get_provider(release.target.provider)
        live = provider.observe(release)
        if not live.unfinished:
            return live, []  # nothing to finish: status takes no lease and changes nothing
        if store_for(release)[0] is None and not self.journal.last_deploy_unfinished(release.app, target):
            # no shared lease says whether a deploy elsewhere is still running this rollout: a read
            # command must not undo a rollout another runner may be in the middle of
            live.problems.append(
                f"an unfinished rollout ({'; '.join(live.unfinished)}) not started from this state directory: "
                f"status leaves it, since another machine may still be deploying it (target {target} has no "
                f"`lock: {{store: ...}}`); if nothing is deploying it, `scalectl rollback -t {target}` finishes it"
            )
            return live, []
        try:
            with hold(release, "scalectl status", events), self.journal.lock(release.app, target):
                try:
                    return self.settle(release, provider, events)
                except ProviderError as exc:  # status still shows what runs, and says what could not be done
                    live = provider.observe(release)
                    live.problems.append(f"the unfinished rollout could not be rolled back: {exc.message}")
                    return live, []
        except LockedError as exc:
            live = provider.observe(release)
            if live.unfinished:
                live.problems.append(f"a rollout is in progress ({exc.message})")
            return live, []

    def metrics_capable(self, target: str) -> bool:
        """Does the target's provider report live figures (`scalectl.metrics.Metrics`)?"""
        return callable(getattr(get_provider(self.release(target).target.provider), "metrics", None))

    def metrics(self, target: str, live: Live, window: float) -> list[RevisionMetrics] | None:
        """Live figures of the serving revisions over `window` seconds; None when the platform's
        provider does not implement `scalectl.metrics.Metrics`."""
        release = self.release(target)
        reader = getattr(get_provider(release.target.provider), "metrics", None)
        if reader is None:
            return None
        if not live.exists:
            return []
        found: list[RevisionMetrics] = reader(release, live, window)
        return found

    def history(self, target: str) -> list[Revision]:
        release = self.release(target)
        live = get_provider(release.target.provider).observe(release)
        return merged_history(live, self._journal_revisions(release))

    def rollback(self, target: str, to: int | None, events: Events) -> tuple[Revision, Revision | None]:
        """Returns (revision now serving, revision it replaced).

        An unfinished rollout is rolled back first; without `--to` that is the whole rollback.
        Works from the platform alone when the journal is unusable (with a warning).
        """
        events.context["target"] = target
        release = self.release(target)
        provider = get_provider(release.target.provider)
        if self.journal.problem:
            events.warn(f"{self.journal.problem}; rolling back from what the platform reports, without a local lock")
        with hold(release, "scalectl rollback", events), self.journal.lock(release.app, target):
            before = provider.observe(release)
            live, done = self.settle(release, provider, events, halted=True)
            if not live.exists:
                raise UsageError(f"target {target!r} has nothing deployed to roll back")
            serving = live.active_revision
            if done and to is None and serving is not None:
                undone = [
                    r
                    for r in before.revisions
                    if r.number > serving.number and (r.number in before.traffic or r.status == "pending")
                ]
                return serving, undone[-1] if undone else None
            chosen = rollback_target(live, to)
            events.context["revision"] = chosen.number
            previous = live.active_revision
            try:
                revision = provider.rollback(release, live, chosen, events)
            except ScalectlError as exc:
                why = redact(exc.message, secret_values(release))
                self._bookkeep(
                    events,
                    lambda: self.journal.audit(release.app, target, "rollback", chosen.number, "failed", why),
                )
                raise

            def record() -> None:
                self.journal.record(release.app, target, revision)
                if previous is not None:
                    self.journal.record(
                        release.app, target, Revision(**{**previous.to_dict(), "status": "rolled_back"})
                    )
                self.journal.audit(release.app, target, "rollback", revision.number, "ok", {"from": live.active})

            self._bookkeep(events, record)
            return revision, previous

    def destroy(self, target: str, events: Events) -> list[str]:
        events.context["target"] = target
        release = self.release(target)
        provider = get_provider(release.target.provider)
        self.journal.require()
        with hold(release, "scalectl destroy", events), self.journal.lock(release.app, target):
            live = provider.observe(release)
            removed = provider.destroy(release, live, events) if live.exists else []
            self._bookkeep(events, lambda: self.journal.audit(release.app, target, "destroy", None, "ok", removed))
            return removed
