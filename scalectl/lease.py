"""A deploy lease that every machine respects: held where the target lives or in a named store.

The local journal's lock only serialises commands that share a state directory; two CI runners
do not. A lease is taken atomically on a shared store (compare-and-set, never read-then-write),
names its holder (actor, host, pid, command, since), expires unless renewed, and is renewed by a
background thread while the command runs. An expired lease (its holder crashed) is taken over
atomically. Stores live in the platform packages, found through the registry, so core imports
no SDK:

- a target's `lock: {store: "scheme://..."}` picks the platform whose `lease_stores` has that scheme;
- with no store, the target's own platform may hold it where the target lives (`Platform.lease`,
  Docker: a named container on the engine);
- otherwise only the local journal lock applies, and under CI a warning says so.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from scalectl.errors import LockedError, ScalectlError, UsageError
from scalectl.state import actor

if TYPE_CHECKING:
    from scalectl.events import Events
    from scalectl.provider import Release
    from scalectl.schema import TargetBase

DEFAULT_TTL = 60  # seconds a lease lives without renewal; renewed every third of that


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class LeaseLost(ScalectlError):
    """The lease is no longer ours (broken with `unlock --force`, or taken over after it expired)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, since when and until when (epoch seconds; the writer's clock)."""

    actor: str
    host: str
    pid: int
    command: str
    since: float
    expires: float

    @classmethod
    def me(cls, command: str, ttl: int) -> Holder:
        now = time.time()
        return cls(actor(), socket.gethostname(), os.getpid(), command, now, now + ttl)

    def renewed(self, ttl: int) -> Holder:
        return replace(self, expires=time.time() + ttl)

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires

    def takeable(self) -> bool:
        """Expired, or its process is gone on this very host (a SIGKILLed deploy): take it over now,
        so the next command can finish the rollout that process left."""
        if self.expired():
            return True
        if self.host != socket.gethostname() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Holder:
        """A holder from a store; an unreadable record counts as held (by "unknown") and never expires,
        so a stranger's object is not taken over silently: `unlock --force` removes it."""
        try:
            data: dict[str, Any] = json.loads(text)
            return cls(
                str(data["actor"]),
                str(data["host"]),
                int(data["pid"]),
                str(data["command"]),
                float(data["since"]),
                float(data["expires"]),
            )
        except (ValueError, KeyError, TypeError):
            return cls("unknown", "unknown", 0, "an unreadable lease record", 0.0, float("inf"))

    def describe(self) -> str:
        until = "never expires" if self.expires == float("inf") else f"expires {_iso(self.expires)}"
        return (
            f"{self.actor} (`{self.command}`, pid {self.pid} on {self.host}) since {_iso(self.since)}, {until} "
            "unless renewed"
        )


class LeaseStore(ABC):
    """One lease on one store. Every method is a single atomic call on the store, or a loop of them."""

    where: str  # for messages: "s3://bucket/prefix/app/target.lock", "docker container scalectl-lease-..."

    def effective_ttl(self, ttl: int) -> int:
        """The time-to-live this store can keep (Azure blob leases last 15 to 60 s)."""
        return ttl

    @abstractmethod
    def acquire(self, holder: Holder) -> Holder | None:
        """Take the lease for `holder` (taking over an expired one); the live holder when refused."""

    @abstractmethod
    def renew(self, holder: Holder) -> None:
        """Push the expiry forward; LeaseLost when the lease is no longer ours."""

    @abstractmethod
    def release(self) -> None:
        """Give the lease up if it is still ours; gone already is fine."""

    @abstractmethod
    def current(self) -> Holder | None:
        """Who holds it now (expired or not), or None."""

    @abstractmethod
    def force_release(self) -> Holder | None:
        """Remove whatever lease is there (for `unlock --force`); returns who held it."""


class CasStore(LeaseStore):
    """A lease on an object store with create-if-absent and compare-and-set by version token.

    Subclasses give four atomic primitives; the protocol (take over only an expired lease, and
    only by compare-and-set on the version that was read) is here once.
    """

    token: str | None = None  # the version of the record we wrote last

    @abstractmethod
    def create(self, body: str) -> str | None:
        """Write `body` only if no record exists; its version token, or None when one exists."""

    @abstractmethod
    def read(self) -> tuple[str, str] | None:
        """(body, version token) of the record, or None."""

    @abstractmethod
    def swap(self, body: str, token: str) -> str | None:
        """Replace the record only if its version is still `token`; the new token, or None."""

    @abstractmethod
    def delete(self, token: str | None) -> bool:
        """Delete the record (only if its version is `token`, unless None); False if it was not."""

    def acquire(self, holder: Holder) -> Holder | None:
        for _ in range(5):  # each round is atomic; only a lost race with another taker loops
            token = self.create(holder.to_json())
            if token is not None:
                self.token = token
                return None
            found = self.read()
            if found is None:
                continue  # released between our create and read: try again
            body, version = found
            current = Holder.from_json(body)
            if not current.takeable():
                return current
            token = self.swap(holder.to_json(), version)
            if token is not None:
                self.token = token
                return None
        return self.current() or Holder("unknown", "unknown", 0, "a contended lease", time.time(), time.time())

    def renew(self, holder: Holder) -> None:
        if self.token is None:
            raise LeaseLost(f"the lease at {self.where} is not held")
        token = self.swap(holder.to_json(), self.token)
        if token is None:
            raise LeaseLost(f"the lease at {self.where} was removed or taken over")
        self.token = token

    def release(self) -> None:
        if self.token is not None:
            self.delete(self.token)
            self.token = None

    def current(self) -> Holder | None:
        found = self.read()
        return Holder.from_json(found[0]) if found else None

    def force_release(self) -> Holder | None:
        found = self.read()
        if found is None:
            return None
        self.delete(None)
        return Holder.from_json(found[0])


def store_for(release: Release) -> tuple[LeaseStore | None, int]:
    """The lease store of a target and its time-to-live, or (None, ttl) when it has none."""
    from scalectl.registry import lease_factory, load, overridden, platform

    target = release.target
    lock = target.lock
    ttl = lock.ttl if lock is not None else DEFAULT_TTL
    key = f"{release.app}/{release.target_name}"
    if lock is not None and lock.store:
        scheme, _, location = lock.store.partition("://")
        factory = lease_factory(scheme)
        return factory(location, key, target), ttl
    own = None if overridden(target.provider) else platform(target.provider).lease
    if own is not None:
        make: Callable[[str, str, TargetBase], LeaseStore] = load(own)
        return make("", key, target), ttl
    return None, ttl


def locked_message(target: str, store: LeaseStore, holder: Holder) -> str:
    return (
        f"target {target!r} is locked by {holder.describe()} (lease at {store.where}); wait for that command "
        f"to finish, or remove a stuck lease with `scalectl unlock --force -t {target}`"
    )


@contextmanager
def hold(release: Release, command: str, events: Events | None = None) -> Iterator[None]:
    """Hold the target's lease while the block runs, renewing it in a background thread.

    Refused with LockedError (exit 5) naming the holder. A renewal that fails is reported as a
    warning (the command is not interrupted half-way: stopping a rollout mid-step is worse).
    """
    store, ttl = store_for(release)
    if store is None:
        if os.environ.get("CI"):
            _warn(
                None,  # on stderr, not as a rollout event: it is about the setup, not this rollout
                f"no lock store for target {release.target_name!r}: CI runners deploying it at once are NOT "
                "serialised (only commands sharing this state directory are). Set `lock: {store: ...}` on the "
                "target or in `defaults`",
            )
        yield
        return
    ttl = store.effective_ttl(ttl)
    holder = Holder.me(command, ttl)
    refused = store.acquire(holder)
    if refused is not None:
        raise LockedError(locked_message(release.target_name, store, refused))
    renewer = _Renewer(store, holder, ttl, events)
    renewer.start()
    try:
        yield
    finally:
        renewer.stop()
        try:
            store.release()
        except ScalectlError as exc:
            _warn(events, f"could not release the lease at {store.where} ({exc.message}); it expires by itself")


class _Renewer(threading.Thread):
    """Renews every ttl/3 seconds until stopped; a lost lease is said once, not retried."""

    def __init__(self, store: LeaseStore, holder: Holder, ttl: int, events: Events | None) -> None:
        super().__init__(name="scalectl-lease", daemon=True)
        self.store, self.holder, self.ttl, self.events = store, holder, ttl, events
        self.stopped = threading.Event()
        self.renewals = 0

    def run(self) -> None:
        while not self.stopped.wait(self.ttl / 3):
            try:
                self.holder = self.holder.renewed(self.ttl)
                self.store.renew(self.holder)
                self.renewals += 1
            except LeaseLost as exc:
                _warn(self.events, f"{exc.message}: another command may now change this target")
                return
            except Exception as exc:  # a store hiccup: try again at the next tick, before expiry
                _warn(self.events, f"renewing the lease at {self.store.where} failed ({exc}); retrying")

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)


def _warn(events: Events | None, message: str) -> None:
    if events is not None:
        events.warn(message)
    else:
        import sys

        print(f"warning: {message}", file=sys.stderr)


def unlock(release: Release) -> Holder | None:
    """Remove the target's shared lease whoever holds it (`unlock --force`); who held it, or None."""
    store, _ = store_for(release)
    if store is None:
        raise UsageError(
            f"target {release.target_name!r} has no shared lease (no `lock: {{store: ...}}` and its platform "
            "keeps none); only the local journal lock applies"
        )
    return store.force_release()


def peek(release: Release) -> tuple[LeaseStore, Holder] | None:
    """The shared lease of a target and its holder, when one is held."""
    store, _ = store_for(release)
    if store is None:
        return None
    holder = store.current()
    return (store, holder) if holder is not None else None
