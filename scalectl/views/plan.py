"""A plan (desired vs live) as a table for people and as a JSON entry for CI."""

from __future__ import annotations

from typing import Any

from scalectl.ui import Ui, escape

COLORS = {"create": "green", "update": "yellow", "delete": "red", "keep": "dim"}


def print_plan(ui: Ui, plan: Any, capacity: Any = None) -> None:
    """The changes as a table, then the target's capacity against its expected peak (when `traffic:` says)."""
    from rich.table import Table

    table = Table(title=f"{plan.release.target_name} ({plan.release.target.provider}): revision {plan.revision.number}")
    table.add_column("action")
    table.add_column("resource")
    table.add_column("detail")
    for c in plan.changes:
        table.add_row(f"[{COLORS[c.action]}]{c.action}[/]", escape(c.resource), escape(c.detail))
    ui.err.print(table)
    if capacity is not None:
        color = "" if capacity.covers_peak else "[yellow]"
        ui.say(f"{color}{escape(capacity.describe())}{'[/yellow]' if color else ''}")


def plan_doc(plan: Any, capacity: Any = None) -> dict[str, Any]:
    return {
        "provider": plan.release.target.provider,
        "wave": plan.release.target.wave,
        "digest": plan.release.digest,
        "revision": plan.revision.number,
        "active": plan.live.active,
        "has_changes": plan.has_changes,
        "changes": [{"action": c.action, "resource": c.resource, "detail": c.detail} for c in plan.changes],
        "capacity": capacity.to_dict() if capacity is not None else None,
    }
