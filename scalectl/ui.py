"""Terminal and machine output: Rich to stderr for people, one JSON document on stdout for CI."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalectl.errors import ConfigError, Diagnostic
from scalectl.events import Event

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

# Live progress (a bake's countdown) off a terminal: one line per this many seconds, not one per look
PROGRESS_EVERY = {"json": 2.0, "text": 10.0}


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class Ui:
    """Where a command's output goes. In JSON mode stdout carries exactly one document."""

    def __init__(self, output: OutputFormat = OutputFormat.text, no_color: bool = False) -> None:
        self.json = output == OutputFormat.json
        no_color = no_color or bool(os.environ.get("NO_COLOR"))
        # CI logs are wide: off a terminal, tables get 160 columns (or $COLUMNS), not Rich's 80
        width = None if sys.stderr.isatty() else int(os.environ.get("COLUMNS") or 160)
        from rich.console import Console  # here, not at the top: `--help` and `--version` need no Console

        self.err: Console = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True, width=width)
        self._lock = threading.Lock()  # targets deploying in parallel threads print whole lines, never mixed
        self._status: Status | None = None  # the transient countdown line(s) on a terminal
        self._countdowns: dict[tuple[str, str], str] = {}  # (target, what) -> its latest line, while it runs
        self._progress_at: dict[tuple[str, str], float] = {}

    def say(self, message: str) -> None:
        """Human output; stderr, so stdout stays clean for pipes and JSON."""
        with self._lock:
            self.err.print(message)

    def document(self, doc: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def details(self, details: dict[str, Any]) -> None:
        """A provider's status details: lists of records as tables, the rest as `key: value`."""
        from rich.table import Table

        for key, value in details.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                table = Table(title=key, title_justify="left", show_edge=False)
                columns = list(dict.fromkeys(k for row in value for k in row))
                for col in columns:
                    table.add_column(col)
                for row in value:
                    table.add_row(*(escape(_plain(row.get(col, ""))) for col in columns))
                self.err.print(table)
            elif isinstance(value, dict):
                pairs = ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
                self.err.print(f"  {escape(key)}: {escape(pairs)}")
            else:
                self.err.print(f"  {escape(key)}: {escape(_plain(value))}")

    def event(self, event: Event, target: str = "", width: int = 0) -> None:
        """Progress as it happens: a line for people, or with --output json one JSON object per
        line on stderr (stdout keeps the single result document).

        `target` names whose progress it is when several targets deploy at once: a column of names
        `width` wide in text, a `target` field in JSON.
        """
        from scalectl import log

        if log.on_stderr():  # `--log-format json` writes every event to stderr already
            return
        if event.kind in ("progress", "progress_end"):
            with self._lock:
                self.progress(event, target, width)
            return
        if self.json:
            doc = {"target": target, **event.to_dict()} if target else event.to_dict()
            with self._lock:
                sys.stderr.write(json.dumps(doc, default=str) + "\n")
                sys.stderr.flush()
            return
        style = {"warn": "yellow", "state": "cyan"}.get(event.kind, "")
        text = escape(event.message)
        who = f"[bold]{escape(target.ljust(width))}[/bold] [dim]|[/dim] " if target else ""
        with self._lock:
            self.err.print(f"  [dim]{event.at:6.1f}s[/dim] {who}" + (f"[{style}]{text}[/{style}]" if style else text))

    def progress(self, event: Event, target: str = "", width: int = 0) -> None:
        """A live countdown: redrawn in place on a terminal (one line per target baking at once),
        else a line every few seconds (a JSON object on stderr with --output json)."""
        key = (target, str(event.data.get("what", "")))
        who = f"[bold]{escape(target.ljust(width))}[/bold] [dim]|[/dim] " if target else ""
        if event.kind == "progress_end":
            self._progress_at.pop(key, None)
            self._countdowns.pop(key, None)
            if self._status is not None:
                if self._countdowns:
                    self._status.update("\n".join(self._countdowns.values()))
                else:
                    self._status.stop()
                    self._status = None
            return
        if not self.json and self.err.is_terminal:
            self._countdowns[key] = who + escape(event.message)
            text = "\n".join(self._countdowns.values())
            if self._status is None:
                self._status = self.err.status(text)
                self._status.start()
            else:
                self._status.update(text)
            return
        now = time.monotonic()
        if now - self._progress_at.get(key, float("-inf")) < PROGRESS_EVERY["json" if self.json else "text"]:
            return
        self._progress_at[key] = now
        if self.json:
            doc = {"target": target, **event.to_dict()} if target else event.to_dict()
            sys.stderr.write(json.dumps(doc, default=str) + "\n")
            sys.stderr.flush()
        else:
            self.err.print(f"  [dim]{event.at:6.1f}s[/dim] {who}[dim]{escape(event.message)}[/dim]")

    def diagnostics(self, diags: list[Diagnostic]) -> None:
        """Print findings as `file:line:col: field: message` with the offending line."""
        sources: dict[str, list[str]] = {}
        for d in diags:
            color = "red" if d.severity == "error" else "yellow"
            field = f"{escape(d.field)}: " if d.field else ""
            self.err.print(
                f"[bold]{escape(d.where())}[/bold]: [{color}]{d.severity}[/{color}]: {field}{escape(d.message)}"
            )
            if d.line and d.file:
                if d.file not in sources:
                    sources[d.file] = _source_lines(d.file)
                lines = sources[d.file]
                if 0 < d.line <= len(lines):
                    text, column = excerpt(lines[d.line - 1].rstrip(), d.column)
                    self.err.print(f"  [dim]{d.line:>4} |[/dim] {escape(text)}")
                    self.err.print(f"  [dim]     |[/dim] {' ' * (column - 1)}[{color}]^[/{color}]")
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for d in diags:
                kind = "error" if d.severity == "error" else "warning"
                message = f"{d.field}: {d.message}" if d.field else d.message
                message = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
                print(f"::{kind} file={d.file},line={d.line},col={d.column},title=scalectl::{message}", file=sys.stderr)


def escape(text: str) -> str:
    """Rich markup escaping for text that is not markup (names, messages, paths)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def excerpt(line: str, column: int, width: int = 100) -> tuple[str, int]:
    """At most `width` characters of a source line around `column`, and the column within them."""
    column = max(column, 1)
    if len(line) <= width:
        return line, column
    start = max(0, min(column - 1 - width // 2, len(line) - width))
    text = line[start : start + width]
    prefix = "..." if start > 0 else ""
    suffix = "..." if start + width < len(line) else ""
    return prefix + text + suffix, column - start + len(prefix)


def _source_lines(file: str) -> list[str]:
    try:
        raw = Path(file).read_bytes()
    except OSError:
        return []
    if len(raw) > 1024 * 1024:
        return []
    return raw.decode("utf-8", errors="replace").splitlines()


def config_error_doc(exc: ConfigError) -> dict[str, Any]:
    return {"ok": False, "error": exc.message, "diagnostics": [d.to_dict() for d in exc.diagnostics]}
