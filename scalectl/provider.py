"""The Provider interface every platform implements, and the data it trades in.

The core never imports a cloud SDK: `scalectl.registry.get_provider` imports a provider
module only when a command needs it, and provider modules import their SDK inside the
methods that talk to the platform. `check` and `render` must work without the SDK installed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from scalectl.errors import Diagnostic

if TYPE_CHECKING:
    from scalectl.config import ScaleFile
    from scalectl.events import Events
    from scalectl.schema import ModelSpec, TargetBase

RevisionStatus = Literal["pending", "active", "superseded", "failed", "rolled_back"]
T = TypeVar("T")


def placeholder(name: str) -> str:
    """What `render` and `plan` show where only deploy (or the platform) knows the value.

    One form on every platform, `{name}`: `{revision}`, `{actor}`, `{deploy_time}`, `{endpoint_id}`.
    """
    return "{" + name + "}"


REVISION = placeholder("revision")
ACTOR = placeholder("actor")
DEPLOY_TIME = placeholder("deploy_time")


@dataclass(frozen=True)
class Release:
    """What one target should run: the resolved config plus its identity."""

    app: str  # scale.yaml `name`
    target_name: str
    target: TargetBase  # the platform's own schema model
    model: ModelSpec
    digest: str  # content digest of model + target settings
    base_dir: Path  # folder of scale.yaml: relative `build`/`artifact` paths resolve here


@dataclass
class Revision:
    """One deploy of one target. Providers store these fields with the deployment itself
    (labels, tags) so another machine reads the same history."""

    number: int
    digest: str
    image: str
    created_at: str  # ISO-8601, UTC
    created_by: str
    status: RevisionStatus = "pending"
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Live:
    """What runs now, as the platform reports it.

    `details` is for people: what `status` prints and its JSON carries, nothing reads it
    back. `observed` is for the provider: the state its `observe` read (its own type), which
    its `plan`, `apply`, `rollback` and `destroy` get back through `observed_as`.
    """

    exists: bool = False
    revisions: list[Revision] = field(default_factory=list)  # oldest first
    active: int | None = None  # revision taking all (or most) traffic
    traffic: dict[int, int] = field(default_factory=dict)  # revision -> percent
    url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # display only, JSON-serialisable
    # what is wrong now (gateway down, replicas dead, traffic split): `status` exits 6 when any
    problems: list[str] = field(default_factory=list)
    # an interrupted rollout left behind (pending revision, split mid-step): `recover` undoes it
    unfinished: list[str] = field(default_factory=list)
    # a rollout stopped on purpose (auto_rollback: false) mid-step: `rollback` undoes it through
    # `recover`; `status` and `deploy` leave it for a person to decide (it is in `problems` too)
    halted: list[str] = field(default_factory=list)
    observed: object | None = field(default=None, repr=False)  # provider-owned, never shown

    def revision(self, number: int) -> Revision | None:
        return next((r for r in self.revisions if r.number == number), None)

    def observed_as(self, kind: type[T]) -> T:
        """The provider's observed state as the type its `observe` stored; anything else is a bug."""
        assert isinstance(self.observed, kind), f"expected {kind.__name__} from observe, got {self.observed!r}"
        return self.observed

    @property
    def active_revision(self) -> Revision | None:
        return None if self.active is None else self.revision(self.active)

    def to_dict(self) -> dict[str, Any]:
        return {
            "exists": self.exists,
            "active": self.active,
            "traffic": {str(k): v for k, v in self.traffic.items()},
            "url": self.url,
            "revisions": [r.to_dict() for r in self.revisions],
            "details": self.details,
            "problems": self.problems,
            "unfinished": self.unfinished,
            "halted": self.halted,
        }


ChangeAction = Literal["create", "update", "delete", "keep"]


@dataclass(frozen=True)
class Change:
    action: ChangeAction
    resource: str
    detail: str = ""


@dataclass
class Plan:
    """Desired vs live for one target; `revision` is what deploy would record."""

    release: Release
    live: Live
    revision: Revision
    changes: list[Change]
    timeout: int  # seconds the rollout may take before it is rolled back
    allow_idle_bake: bool = False  # promote after a bake that saw fewer than rollout.min_requests

    @property
    def has_changes(self) -> bool:
        return any(c.action != "keep" for c in self.changes)


class Provider(Protocol):
    """A platform. Errors are raised as ScalectlError subclasses with user-facing messages.

    `apply` must leave the previous revision serving when it fails (raise DeployFailed
    saying so); `rollback` and `destroy` act only on what scalectl created.
    """

    name: str

    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        """Offline capability checks; `loc` paths start at ("targets", target, ...)."""
        ...

    def render(self, release: Release) -> dict[str, str]:
        """File name -> exactly what the platform will receive (no secret values)."""
        ...

    def observe(self, release: Release) -> Live:
        """Read the target from the platform: `details` for display, `observed` for the methods below."""
        ...

    def plan(self, release: Release, live: Live) -> list[Change]:
        """What `apply` would change; reads `live.observed`, never `live.details`."""
        ...

    def apply(self, plan: Plan, events: Events) -> Revision:
        """Roll out, wait healthy, roll back automatically on failure; returns the active revision."""
        ...

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        """Serve `to` again (`live` is this command's `observe`); returns it as now active."""
        ...

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        """Remove what scalectl created for this target; returns what was removed."""
        ...


class Recovers(Protocol):
    """Optional: a provider that can undo an interrupted rollout (see `Live.unfinished`).

    The engine calls `recover` when SIGINT/SIGTERM stops `apply`, and before `deploy`,
    `rollback` or `status` acts on a target whose `observe` reports `unfinished`.
    It must put all traffic back on the active revision, remove the unfinished (or halted)
    one and mark it failed, and return what it did (one line each).
    """

    def recover(self, release: Release, live: Live, events: Events) -> list[str]: ...
