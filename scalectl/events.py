"""Progress events from providers and the engine, rendered by the CLI.

Providers only call these methods; whether they become a Rich progress line, a JSON list
or nothing is the CLI's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Sink = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    kind: str  # "step" | "state" | "warn" | "done"; "progress" and "progress_end" are live, never recorded
    message: str
    at: float
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "t": round(self.at, 3), **self.data}


class Events:
    """Collects events (for `--output json`) and forwards each to a sink as it happens."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.sink = sink
        self.started = time.monotonic()
        self.items: list[Event] = []
        # what the structured log says these events are about (target, revision); set by the engine
        self.context: dict[str, Any] = {}

    def _emit(self, kind: str, message: str, data: dict[str, Any], record: bool = True) -> None:
        event = Event(kind, message, time.monotonic() - self.started, data)
        if record:
            self.items.append(event)
        if self.sink is not None:
            self.sink(event)
        from scalectl import log  # light: json, time and contextvars only

        log.event(event, self.context)

    def step(self, message: str, **data: Any) -> None:
        """A stage of the operation began ("creating endpoint config rev-3")."""
        self._emit("step", message, data)

    def state(self, resource: str, state: str, **data: Any) -> None:
        """A resource changed state (Creating -> InService); repeated states are dropped."""
        last = next((e for e in reversed(self.items) if e.kind == "state" and e.data.get("resource") == resource), None)
        if last is not None and last.data.get("state") == state:
            return
        self._emit("state", f"{resource}: {state}", {"resource": resource, "state": state, **data})

    def warn(self, message: str, **data: Any) -> None:
        self._emit("warn", message, data)

    @contextmanager
    def countdown(self, what: str) -> Iterator[Callable[[float, str], None]]:
        """A timed wait (a bake) shown live: `tick(seconds_left, figures)` at each look.

        On a terminal one transient line (`baking revision 5: 42s left | rev 5: 312 req, p99 48 ms, ...`)
        redrawn in place; with `--output json` a `progress` event on stderr every few seconds; in a
        structured log (`--log-format json`) the same, throttled. Never recorded in the result's
        event list: a ten-minute bake would flood it. Every provider's bake loop calls it the same way:

            with events.countdown(f"baking revision {n}") as tick:
                while ...:
                    tick(deadline - time.monotonic(), verdict.figures)
        """

        def tick(seconds_left: float, figures: str = "") -> None:
            left = max(0.0, seconds_left)
            text = f"{what}: {left:.0f}s left" + (f" | {figures}" if figures else "")
            self._emit("progress", text, {"what": what, "seconds_left": round(left, 1), "figures": figures}, False)

        try:
            yield tick
        finally:
            self._emit("progress_end", what, {"what": what}, False)

    def to_list(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.items]
