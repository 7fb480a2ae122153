"""`catalog show`: a type's catalog rows per region, with numbered sources."""

from __future__ import annotations

from typing import Any

from scalectl.ui import Ui, escape
from scalectl.views.cost import catalog_line, per_hour


def print_catalog_rows(ui: Ui, type_: str, catalog: Any, rows: list[Any]) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=f"{type_}: {catalog_line(catalog)}", box=box.SIMPLE_HEAD)
    several = len({r.type or r.kind for r in rows}) > 1  # e.g. ml.* with its EC2 base, or a GPU name
    for col in ("provider", "type", "region", "accelerator", "$/h", "spot $/h", "src"):
        if col != "type" or several:
            table.add_column(col, no_wrap=col != "type", overflow="fold")
    sources: list[str] = []
    for r in rows:
        source = f"{r.source} ({r.date})"
        if source not in sources:
            sources.append(source)
        price = per_hour(r.usable_price) if r.price_status == "ok" else f"[red]{r.price_status}[/red]"
        spot = per_hour(r.usable_spot) if r.usable_spot is not None else r.spot_status
        accel = f"{r.accelerator_count}x {r.accelerator}" if r.accelerator else "-"
        cells = [r.provider, r.type or r.kind, r.region, accel, price, spot, f"[{sources.index(source) + 1}]"]
        table.add_row(*(cells if several else cells[:1] + cells[2:]))
    ui.err.print(table)
    for i, source in enumerate(sources, 1):
        ui.say(f"  [{i}] {escape(source)}")
    if type_.startswith("ml.") and not any(r.kind == "hosting" for r in rows):
        ui.say("no SageMaker list price known: cost-estimate uses the EC2 rate above times an estimate ratio")
