"""Progress events from providers and the engine, rendered by the CLI.

Providers only call these methods; whether they become a Rich progress line, a JSON list
or nothing is the CLI's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Sink = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    kind: str  # "step" | "state" | "warn" | "done"
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

    def _emit(self, kind: str, message: str, data: dict[str, Any]) -> None:
        event = Event(kind, message, time.monotonic() - self.started, data)
        self.items.append(event)
        if self.sink is not None:
            self.sink(event)

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

    def to_list(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.items]
