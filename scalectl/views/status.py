"""What runs now (`status`) and what ran before (`history`), for people."""

from __future__ import annotations

from typing import Any

from scalectl.ui import Ui, escape


def print_status(ui: Ui, lives: dict[str, Any]) -> None:
    """One line per target (revision, traffic split, URL), then the provider's details."""
    for name, live in lives.items():
        if not live.exists:
            ui.say(f"[bold]{name}[/bold]: not deployed")
            continue
        split = ", ".join(f"rev {r}: {p}%" for r, p in sorted(live.traffic.items())) or "-"
        ui.say(f"[bold]{name}[/bold]: revision {live.active} | traffic {split} | url {live.url or '-'}")
        for problem in live.problems:
            ui.say(f"  [red]degraded:[/red] {escape(problem)}")
        ui.details(live.details)


def print_history(ui: Ui, hist: dict[str, list[Any]]) -> None:
    """A table of revisions per target."""
    from rich.table import Table

    for name, revisions in hist.items():
        table = Table(title=name, title_justify="left")
        for col in ("rev", "status", "created", "by", "digest", "image"):
            table.add_column(col, no_wrap=True)
        table.add_column("message")
        for r in revisions:
            table.add_row(
                str(r.number),
                r.status,
                r.created_at,
                escape(r.created_by),
                r.digest,
                escape(r.image),
                escape(r.message),
            )
        ui.err.print(table)
