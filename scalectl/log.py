"""Structured logs: `scalectl --log-format json [--log-file PATH] <command>`.

One JSON object per line for every command start and end and every progress event, with the
command, target, revision, step and elapsed seconds, so a CI log or a log pipeline can trace a
rollout. Without `--log-file` the lines go to stderr (and replace the human progress lines there);
`--log-format text --log-file PATH` writes the same records as plain lines. Every line passes
through `redact`: a secret a container printed never reaches a log.

The command (bound with `bind`) holds for the whole process; target and revision come with each
event from its `Events.context`, which the engine fills: targets deploying in parallel threads, and
the provider worker threads under them, each log under their own target.
Light on purpose: the CLI's root callback imports it for every command.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from scalectl.events import Event

FORMATS = ("text", "json")
PROGRESS_EVERY = 5.0  # seconds between two logged progress lines of the same wait

_stream: TextIO | None = None  # None: no structured log (the default)
_format = "text"
_owned = False  # the stream is a file this module opened
_fields: dict[str, Any] = {}
_started = time.monotonic()
_last_progress: dict[str, float] = {}


def configure(fmt: str = "text", path: Path | None = None) -> None:
    """Start (or stop) logging for this invocation: json to stderr or `path`, text only to `path`.

    Raises OSError when `path` cannot be opened for appending.
    """
    global _stream, _format, _owned, _started
    close()
    _format = fmt
    _started = time.monotonic()
    _fields.clear()
    _last_progress.clear()
    if path is not None:
        _stream = path.expanduser().open("a", encoding="utf-8", buffering=1)
        _owned = True
    elif fmt == "json":
        _stream = sys.stderr
        _owned = False


def close() -> None:
    global _stream, _owned
    if _stream is not None and _owned:
        _stream.close()
    _stream, _owned = None, False


def on_stderr() -> bool:
    """JSON lines go to stderr: the human (or --output json) progress lines there would repeat them."""
    return _stream is not None and not _owned


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Every line written inside the block carries these fields (the command)."""
    saved = {k: _fields[k] for k in fields if k in _fields}
    _fields.update({k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        for key in fields:
            _fields.pop(key, None)
        _fields.update(saved)


def record(step: str, message: str = "", context: dict[str, Any] | None = None, **data: Any) -> None:
    """One line: `step` is what happened (`start`, `end`, an event's kind); `context` adds target, revision."""
    if _stream is None:
        return
    from scalectl.redact import redact

    line: dict[str, Any] = {
        "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **_fields,
        **(context or {}),
        "step": step,
        "message": message,
        "elapsed": round(time.monotonic() - _started, 3),
        **{k: v for k, v in data.items() if k not in _fields and k not in (context or {})},
    }
    if _format == "json":
        text = json.dumps(line, default=str)
    else:
        where = " ".join(f"{k}={line[k]}" for k in ("command", "target", "revision") if k in line)
        text = f"{line['ts']} {where} +{line['elapsed']:.1f}s {step}: {message}".rstrip(": ")
    try:
        _stream.write(redact(text) + "\n")
        _stream.flush()
    except (OSError, ValueError):  # a closed pipe or full disk must not fail the rollout it traces
        pass


def event(ev: Event, context: dict[str, Any] | None = None) -> None:
    """A provider's or the engine's progress event; live progress at most every PROGRESS_EVERY seconds."""
    if _stream is None or ev.kind == "progress_end":
        return
    if ev.kind == "progress":
        key = f"{(context or {}).get('target', '')}|{ev.data.get('what', '')}"
        now = time.monotonic()
        if now - _last_progress.get(key, -PROGRESS_EVERY) < PROGRESS_EVERY:
            return
        _last_progress[key] = now
    record(ev.kind, ev.message, context, **ev.data)
