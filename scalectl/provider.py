"""The Provider interface every platform implements, the data it trades in, and the registry.

The core never imports a cloud SDK: `get_provider` imports a provider module only when a
command needs it, and provider modules import their SDK inside the methods that talk to
the platform. `check` and `render` must work without the SDK installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from scalectl.errors import Diagnostic, ProviderError

if TYPE_CHECKING:
    from scalectl.config import ModelSpec, ScaleFile, TargetConfig
    from scalectl.events import Events

RevisionStatus = Literal["pending", "active", "superseded", "failed", "rolled_back"]


@dataclass(frozen=True)
class Release:
    """What one target should run: the resolved config plus its identity."""

    app: str  # scale.yaml `name`
    target_name: str
    target: TargetConfig
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
    """What runs now, as the platform reports it."""

    exists: bool = False
    revisions: list[Revision] = field(default_factory=list)  # oldest first
    active: int | None = None  # revision taking all (or most) traffic
    traffic: dict[int, int] = field(default_factory=dict)  # revision -> percent
    url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # provider-specific, JSON-serialisable

    def revision(self, number: int) -> Revision | None:
        return next((r for r in self.revisions if r.number == number), None)

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

    def observe(self, release: Release) -> Live: ...

    def plan(self, release: Release, live: Live) -> list[Change]: ...

    def apply(self, plan: Plan, events: Events) -> Revision:
        """Roll out, wait healthy, roll back automatically on failure; returns the active revision."""
        ...

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision: ...

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        """Remove what scalectl created for this target; returns what was removed."""
        ...


_MODULES = {
    "docker": "scalectl.providers.docker",
    "aws": "scalectl.providers.aws",
    "gcp": "scalectl.providers.gcp",
    "azure": "scalectl.providers.azure",
}
_overrides: dict[str, Callable[[], Provider]] = {}
_instances: dict[str, Provider] = {}


class ProviderUnavailable(ProviderError):
    pass


def register(name: str, factory: Callable[[], Provider]) -> None:
    """Use `factory` for `provider: name` (tests register in-memory providers this way)."""
    _overrides[name] = factory
    _instances.pop(name, None)


def unregister(name: str) -> None:
    _overrides.pop(name, None)
    _instances.pop(name, None)


def get_provider(name: str) -> Provider:
    if name in _instances:
        return _instances[name]
    if name in _overrides:
        provider = _overrides[name]()
    else:
        module_name = _MODULES.get(name)
        if module_name is None:
            raise ProviderUnavailable(f"unknown provider {name!r}; expected one of: {', '.join(_MODULES)}")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise ProviderUnavailable(f"provider {name!r} is not available in this version of scalectl") from None
            raise
        provider = module.PROVIDER_CLASS()
    _instances[name] = provider
    return provider


def available(name: str) -> bool:
    try:
        get_provider(name)
    except ProviderUnavailable:
        return False
    return True


def check_target(spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
    """Run the target's provider checks offline; a missing provider is itself a finding.

    The provider sees `model` as this target runs it (its `model:` overrides applied); a finding
    about an overridden value points at the target's override, not at the shared `model:`.
    """
    from scalectl.config import effective_model

    t = spec.targets[target]
    try:
        provider = get_provider(t.provider)
    except ProviderUnavailable as exc:
        return [Diagnostic(exc.message, loc=("targets", target, "provider"))]
    as_run = spec.model_copy(update={"model": effective_model(spec, target)})
    return [_to_override(d, t.model, target) for d in provider.check(as_run, target, base_dir)]


def _to_override(diag: Diagnostic, override: Any, target: str) -> Diagnostic:
    loc = diag.loc
    if override is None or len(loc) < 2 or loc[0] != "model":
        return diag
    key = loc[1]
    value = getattr(override, str(key), None)
    overridden = bool(value) if not isinstance(value, dict) else (len(loc) > 2 and loc[2] in value)
    if not overridden:
        return diag
    return Diagnostic(diag.message, loc=("targets", target, *loc), severity=diag.severity)
