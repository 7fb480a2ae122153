"""Known secret values out of every message scalectl records or shows.

A container may print its own environment before it dies; whatever then quotes its log (the
deploy error, the journal, the Docker gateway's state file, `history`) would carry the value.
Values are remembered where scalectl resolves them (`resolve_local`) or collected from a release
(`secret_values`), and `redact` replaces them with `***` at the few places messages are recorded
(engine before the journal, Docker where container logs are read) or shown (the CLI's error printer).
Cloud references (aws-sm://, ...) are resolved by the platform, not here: their values never
reach this process, so there is nothing to redact locally.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from scalectl.errors import ProviderError
from scalectl.provider import Release

MASK = "***"
# Shorter values would mask ordinary words and digits all over a message; no real secret is this short.
MIN_LENGTH = 4
LOCAL_SCHEMES = ("env", "file")

_known: set[str] = set()


def remember(value: str) -> str:
    """Add a resolved secret value to what `redact` hides in this process; returns it unchanged."""
    if len(value) >= MIN_LENGTH:
        _known.add(value)
    return value


def resolve_local(reference: str, base_dir: Path) -> str:
    """The value behind env://VAR or file://path (relative to scale.yaml), remembered for redaction."""
    scheme, _, rest = reference.partition("://")
    if scheme == "env":
        if rest not in os.environ:
            raise ProviderError(f"secret reference {reference} names environment variable {rest}, which is not set")
        return remember(os.environ[rest])
    if scheme == "file":
        path = (base_dir / rest).expanduser()
        try:
            return remember(path.read_text().strip())
        except OSError as exc:
            raise ProviderError(f"secret reference {reference}: cannot read {path}: {exc.strerror}") from None
    raise ProviderError(f"{reference} is not a local secret reference (env:// or file://)")


def secret_values(release: Release) -> set[str]:
    """The values of the release's local secrets this process can read, plus any already resolved."""
    for reference in release.model.secrets.values():
        if reference.split("://", 1)[0] in LOCAL_SCHEMES:
            try:
                resolve_local(reference, release.base_dir)
            except ProviderError:
                continue  # unresolvable here: it was never handed to anything either
    return set(_known)


def redact(text: str, values: Iterable[str] = ()) -> str:
    """`text` with every known secret value (and `values`) replaced by `***`, longest first."""
    hidden = {v for v in (*_known, *values) if len(v) >= MIN_LENGTH}
    for value in sorted(hidden, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text
