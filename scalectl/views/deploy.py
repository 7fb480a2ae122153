"""What `deploy` prints for several targets: the wave order before, a summary table after."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalectl.ui import Ui, escape

if TYPE_CHECKING:
    from scalectl.waves import Outcome

COLORS = {
    "deployed": "green",
    "repaired": "green",
    "unchanged": "dim",
    "failed": "red",
    "interrupted": "red",
    "skipped": "yellow",
}


def order_text(waves: list[tuple[int, list[str]]]) -> str:
    """`wave 1: staging, canary-eu -> wave 2: prod-us, prod-eu`."""
    return " -> ".join(f"wave {wave}: {', '.join(names)}" for wave, names in waves)


def print_summary(ui: Ui, outcomes: list[Outcome]) -> None:
    """One row per target: wave, result, revision, duration, and why when it did not deploy."""
    from rich.table import Table

    table = Table(title="deploy summary", title_justify="left", show_edge=False)
    for column in ("target", "wave", "result", "revision", "took", "reason"):
        table.add_column(column, overflow="fold", justify="right" if column in ("wave", "revision", "took") else "left")
    for o in outcomes:
        color = COLORS.get(o.result, "")
        table.add_row(
            escape(o.target),
            str(o.wave),
            f"[{color}]{o.result}[/{color}]",
            "" if o.revision is None else str(o.revision),
            f"{o.seconds:.1f}s" if o.result != "skipped" else "",
            escape(o.reason),
        )
    ui.say("")
    ui.err.print(table)  # printed after every worker finished: nothing else writes now
