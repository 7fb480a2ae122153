"""Which platforms exist: the built-in ones and any installed package that declares one.

A platform is described by a `Platform`: its name, its target schema (a pydantic model that
imports no SDK) and where its Provider class lives, imported only when a command needs it.
Built-in platforms live in `scalectl.providers.<name>`; another package adds one with an
entry point in the `scalectl.providers` group whose value is its `Platform`:

    [project.entry-points."scalectl.providers"]
    nomad = "scalectl_nomad:PLATFORM"

Everything that lists platforms (the `targets` union, `scalectl schema`, `validate`,
`cost-estimate`, the hint naming the extra to install) reads this registry, so adding a
platform touches no core file.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from scalectl.errors import ProviderError

if TYPE_CHECKING:
    from scalectl.provider import Provider
    from scalectl.schema import TargetBase

ENTRY_POINT_GROUP = "scalectl.providers"


def builtin() -> tuple[str, ...]:
    """The platform packages shipped inside scalectl (`providers/<name>/`): a new one needs no list edited."""
    import pkgutil

    import scalectl.providers

    return tuple(sorted(m.name for m in pkgutil.iter_modules(scalectl.providers.__path__) if m.ispkg))


@dataclass(frozen=True)
class Platform:
    """One platform as the core sees it; nothing here imports the platform's SDK."""

    name: str
    schema: type[TargetBase]  # its `targets.<name>` model, with `provider: Literal[name]`
    provider: str  # "module:Class" of its Provider, imported on first use
    extra: str | None = None  # pip extra that installs its SDK: `pip install 'scalectl[extra]'`
    sdk_modules: tuple[str, ...] = ()  # top-level modules of that SDK, to turn an ImportError into that hint
    pricing: str | None = None  # module with its rates and price API (scalectl.catalog.Pricing); None: hourly_cost only
    description: str = ""  # what it deploys to, for `cost-estimate` and docs
    lease: str | None = None  # "module:function" making the lease kept where its targets live (scalectl.lease)
    lease_stores: tuple[LeaseStoreRef, ...] = ()  # `lock: {store: "scheme://..."}` stores its package implements


@dataclass(frozen=True)
class LeaseStoreRef:
    """A `lock.store` scheme a platform package implements; checked offline by `pattern`."""

    scheme: str  # "s3"
    factory: str  # "module:Class", called with (location after "scheme://", "app/target", target)
    pattern: str  # what may follow "scheme://" (a regular expression)
    example: str  # "s3://bucket/prefix", for messages


class ProviderUnavailable(ProviderError):
    pass


_broken: dict[str, str] = {}  # entry point name -> why it could not be loaded
_overrides: dict[str, Callable[[], Provider]] = {}
_instances: dict[str, Provider] = {}
_instances_lock = threading.Lock()  # targets deploying in parallel threads share one instance per platform


@cache
def platforms() -> dict[str, Platform]:
    """Every platform, built-ins first, then installed entry points in name order."""
    found = {name: _builtin(name) for name in builtin()}
    for ep in sorted(_entry_points(), key=lambda e: e.name):
        if ep.name in found:
            _broken[ep.name] = f"entry point {ep.value} names a built-in platform; it is ignored"
            continue
        try:
            platform = ep.load()
        except Exception as exc:  # a broken plugin must not break every command
            _broken[ep.name] = f"its package failed to load ({type(exc).__name__}: {exc})"
            continue
        if not isinstance(platform, Platform) or platform.name != ep.name:
            _broken[ep.name] = f"entry point {ep.value} is not a scalectl Platform named {ep.name!r}"
            continue
        found[ep.name] = platform
    return found


def platforms_for(names: Iterable[str]) -> dict[str, Platform]:
    """The known platforms among `names`; installed packages are scanned only for a name that is not built in.

    Scanning every installed distribution for entry points costs tens of milliseconds, which
    `validate` of a file using only built-in platforms need not pay.
    """
    wanted = set(names)
    if wanted <= set(builtin()):
        return {name: _builtin(name) for name in sorted(wanted)}
    return {name: p for name, p in platforms().items() if name in wanted}


def _builtin(name: str) -> Platform:
    platform: Platform = importlib.import_module(f"scalectl.providers.{name}").PLATFORM
    return platform


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def platform(name: str) -> Platform:
    known = platforms()
    if name not in known:
        why = _broken.get(name)
        if why:
            raise ProviderUnavailable(f"provider {name!r} is installed but unusable: {why}")
        raise ProviderUnavailable(f"unknown provider {name!r}; expected one of: {', '.join(known)}")
    return known[name]


def load(reference: str) -> Any:
    """Import "module:attribute" and return the attribute."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def register(name: str, factory: Callable[[], Provider]) -> None:
    """Use `factory` for `provider: name` (tests register in-memory providers this way)."""
    _overrides[name] = factory
    _instances.pop(name, None)


def unregister(name: str) -> None:
    _overrides.pop(name, None)
    _instances.pop(name, None)


def overridden(name: str) -> bool:
    """True when `register` swapped in another provider: the platform's own lease is not where it lives.

    The platform's own provider class registered afresh (a test's new instance) is not another provider."""
    factory = _overrides.get(name)
    if factory is None:
        return False
    try:
        return factory is not load(platform(name).provider)
    except (ProviderUnavailable, ImportError, AttributeError):
        return True


def get_provider(name: str) -> Provider:
    with _instances_lock:
        if name in _instances:
            return _instances[name]
        provider: Provider = _overrides[name]() if name in _overrides else load(platform(name).provider)()
        _instances[name] = provider
        return provider


def lease_stores() -> dict[str, LeaseStoreRef]:
    """Every `lock.store` scheme any platform implements."""
    return {ref.scheme: ref for p in platforms().values() for ref in p.lease_stores}


def lease_factory(scheme: str) -> Any:
    ref = lease_stores().get(scheme)
    if ref is None:
        raise ProviderUnavailable(f"no installed platform keeps leases in {scheme}:// stores")
    return load(ref.factory)


# extras that belong to a command, not a platform
_COMMAND_EXTRAS = {"numpy": "drift", "scipy": "drift", "pyarrow": "drift"}


def sdk_extra(module: str) -> str | None:
    """The extra that installs `module` (a top-level import name), if a platform's SDK or a command owns it."""
    if module in _COMMAND_EXTRAS:
        return _COMMAND_EXTRAS[module]
    for p in platforms().values():
        if module in p.sdk_modules:
            return p.extra
    return None
