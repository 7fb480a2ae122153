"""Typed errors. Each carries the exit code the CLI returns and a message written for the user."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the operation failed (what was rolled back is said)
    BAD_INPUT = 2  # bad file or flags; nothing was changed
    CHANGES = 3  # `plan --detailed-exitcode` found changes
    OVER_BUDGET = 4  # `cost-estimate --budget` exceeded
    LOCKED = 5  # another deploy holds the target
    DEGRADED = 6  # `status`: a target is not serving as deployed (what is wrong is said)
    SLO_MISSED = 7  # `bench --slo` was missed
    DRIFT = 8  # `drift` found inputs or predictions over the thresholds
    INTERRUPTED_INT = 130  # SIGINT (Ctrl-C) during a rollout: rolled back first
    INTERRUPTED_TERM = 143  # SIGTERM (a cancelled CI job) during a rollout: rolled back first


def did_you_mean(word: str, options: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> str:
    """` (did you mean `a`?)` or ` (did you mean `a`, `b`?)` for the closest options, or ``."""
    close = difflib.get_close_matches(word, list(options), n=n, cutoff=cutoff)
    return f" (did you mean {', '.join(f'`{c}`' for c in close)}?)" if close else ""


@dataclass(frozen=True)
class Diagnostic:
    """One finding about the config, with the place it points at.

    `loc` is the path inside the document (("targets", "prod", "spot")); the loader turns
    it into `line`/`column` of the offending value.
    """

    message: str
    loc: tuple[str | int, ...] = ()
    severity: str = "error"  # "error" | "warning"
    file: str = ""
    line: int = 0
    column: int = 0

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.loc)

    def where(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class ScalectlError(Exception):
    """Base of every error scalectl reports; `exit_code` says how the CLI exits."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ScalectlError):
    """The scale file (or a flag) is invalid; carries every finding, not just the first."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"]
        first = errors[0] if errors else diagnostics[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.where()}: {first.field or 'file'}: {first.message}{more}")


class UsageError(ScalectlError):
    """A flag or argument is wrong (unknown target, missing --yes without a terminal, ...)."""

    exit_code = ExitCode.BAD_INPUT


class DeployFailed(ScalectlError):
    """A rollout failed; the message says what still serves traffic."""

    exit_code = ExitCode.FAILED


class ProviderError(ScalectlError):
    """A cloud or engine call failed in a way the user must act on."""

    exit_code = ExitCode.FAILED


class LockedError(ScalectlError):
    """Another deploy holds the target."""

    exit_code = ExitCode.LOCKED


class StateError(ScalectlError):
    """The local state directory or journal cannot be used (a file, unwritable, corrupt)."""

    exit_code = ExitCode.FAILED


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a command; raised from the signal handler.

    A BaseException (through KeyboardInterrupt), so no `except Exception` swallows it on the
    way to the engine, which rolls the unfinished rollout back before the CLI exits.
    """

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum
        self.message = ""  # what the rollback did, set by the engine


class OverBudget(ScalectlError):
    exit_code = ExitCode.OVER_BUDGET


class SloMissed(ScalectlError):
    """`scalectl bench --slo` measured figures outside the objective: a pipeline must not promote."""

    exit_code = ExitCode.SLO_MISSED


class DriftDetected(ScalectlError):
    """`scalectl drift`: a feature or the predictions moved past the thresholds."""

    exit_code = ExitCode.DRIFT


@dataclass
class Findings:
    """Collects diagnostics while validating, so all are reported at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, loc: tuple[str | int, ...], message: str) -> None:
        self.items.append(Diagnostic(message=message, loc=loc))

    def warning(self, loc: tuple[str | int, ...], message: str) -> None:
        self.items.append(Diagnostic(message=message, loc=loc, severity="warning"))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]
