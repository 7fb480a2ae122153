"""What runs now (`status`) and what ran before (`history`), for people."""

from __future__ import annotations

from typing import Any

from scalectl.ui import Ui, escape


def print_status(ui: Ui, lives: dict[str, Any], figures: dict[str, Any] | None = None) -> None:
    """One line per target (revision, traffic split, URL), the provider's details, then its live figures."""
    from scalectl.views.metrics import print_figures

    for name, live in lives.items():
        if not live.exists:
            ui.say(f"[bold]{name}[/bold]: not deployed")
            continue
        split = ", ".join(f"rev {r}: {p}%" for r, p in sorted(live.traffic.items())) or "-"
        ui.say(f"[bold]{name}[/bold]: revision {live.active} | traffic {split} | url {live.url or '-'}")
        for problem in live.problems:
            ui.say(f"  [red]degraded:[/red] {escape(problem)}")
        ui.details(live.details)
        print_figures(ui, name, (figures or {}).get(name))


HISTORY_FULL_WIDTH = 110  # below this the digest column is left out (it stays in --output json)


def _when(created_at: str, year: bool = True) -> str:
    """`2026-11-30T23:27:48Z` -> `2026-11-30 23:27` (or `11-30 23:27`): minutes tell deploys apart."""
    if len(created_at) >= 16 and created_at[10] == "T":
        return created_at[0 if year else 5 : 16].replace("T", " ")
    return created_at


def print_history(ui: Ui, hist: dict[str, list[Any]]) -> None:
    """A table of revisions per target that fits 80-100 columns: long cells wrap, never `ro…`."""
    from rich import box
    from rich.table import Table

    full = ui.err.width >= HISTORY_FULL_WIDTH
    for name, revisions in hist.items():
        table = Table(title=name, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
        table.add_column("rev", justify="right", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("created (UTC)", no_wrap=True)
        table.add_column("by", no_wrap=True, max_width=14, overflow="ellipsis")
        if full:
            table.add_column("digest", no_wrap=True)
        table.add_column("image", overflow="fold", min_width=10, ratio=1)
        table.add_column("message", overflow="fold", min_width=14, ratio=1)
        for r in revisions:
            row = [str(r.number), r.status, _when(r.created_at, year=full), escape(r.created_by)]
            if full:
                row.append(r.digest)
            image = r.image if full else r.image.rsplit("/", 1)[-1]  # the repository path is in --output json
            table.add_row(*row, escape(image), escape(r.message))
        ui.err.print(table)
    if not full and hist:
        ui.say("[dim]digests and image repositories left out at this width: `--output json` has them[/dim]")
