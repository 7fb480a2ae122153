"""The second step of `validate`: each target's platform checks it offline.

Loading a file (`scalectl.config.load_config`) knows no platform rules; this step asks each
target's provider what its platform would refuse, and places every finding in the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scalectl.config import Config, ScaleFile, dedupe, effective_model, load_config
from scalectl.errors import ConfigError, Diagnostic
from scalectl.registry import ProviderUnavailable, get_provider


def check_config(config: Config, targets: Sequence[str] | None = None) -> Config:
    """Run provider checks for `targets` (default all); raise ConfigError on any error.

    Returns the config with the checks' warnings attached.
    """
    spec = config.spec
    names = list(spec.targets) if not targets else [t for t in targets if t in spec.targets]
    base_dir = config.path.resolve().parent
    problems: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    for name in names:
        for d in check_target(spec, name, base_dir):
            located = config.document.locate(d)
            (warnings if d.severity == "warning" else problems).append(located)
    if problems:
        raise ConfigError(dedupe(problems) + dedupe(warnings))
    return dataclasses.replace(config, warnings=tuple(dedupe(warnings)))


def load_checked(
    path: Path | str, *, env: Mapping[str, str] | None = None, targets: Sequence[str] | None = None
) -> Config:
    """Both steps of `validate`: load the file, then run the platform checks."""
    return check_config(load_config(path, env=env), targets)


def check_target(spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
    """Run the target's provider checks offline; a missing provider is itself a finding.

    The provider sees `model` as this target runs it (its `model:` overrides applied); a finding
    about an overridden value points at the target's override, not at the shared `model:`.
    """
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
