"""Live figures per serving revision (`status`, `top`) as a Rich table, and as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scalectl.metrics import RevisionMetrics, ms_text, percent_text
from scalectl.ui import escape

if TYPE_CHECKING:
    from rich.table import Table


def window_text(seconds: float) -> str:
    """`300` -> `5m`, `90` -> `1m30s`, `45` -> `45s`."""
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes and secs else f"{minutes}m" if minutes else f"{secs}s"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def metrics_table(title: str, figures: list[RevisionMetrics]) -> Table:
    """One row per serving revision: traffic, latency, errors, replicas and resource use."""
    from rich import box
    from rich.table import Table

    window = window_text(figures[0].window) if figures else ""
    table = Table(title=f"{escape(title)} (last {window})", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    # resource columns no revision reports are left out (the notes say why), so the table fits 80 columns
    resources = [
        (name, attr)
        for name, attr in (("cpu", "cpu_percent"), ("mem", "memory_percent"), ("gpu", "gpu_percent"))
        if any(getattr(m, attr) is not None for m in figures)
    ]
    for name in ("rev", "req/s", "requests", "p50", "p95", "p99", "4xx", "5xx", "ready", *(n for n, _ in resources)):
        table.add_column(name, justify="left" if name == "rev" else "right", no_wrap=True)
    for m in figures:
        ready = "-" if m.replicas_ready is None else f"{m.replicas_ready}/{m.replicas_desired or '-'}"
        table.add_row(
            str(m.revision),
            f"{m.rps:.1f}",
            f"{m.requests:,}",
            ms_text(m.p50_ms),
            ms_text(m.p95_ms),
            ms_text(m.p99_ms),
            percent_text(m.rate_4xx),
            percent_text(m.rate_5xx),
            ready,
            *(_share(getattr(m, attr)) for _, attr in resources),
        )
    return table


def notes(figures: list[RevisionMetrics]) -> list[str]:
    """What the figures mean and what the platform does not report, once per table."""
    seen: list[str] = []
    for m in figures:
        for note in ([f"source: {m.source}"] if m.source else []) + m.notes:
            if note not in seen:
                seen.append(note)
    return seen


def figures_doc(figures: list[RevisionMetrics] | None) -> list[dict[str, Any]] | None:
    return None if figures is None else [m.to_dict() for m in figures]


def top_view(readings: dict[str, tuple[Any, list[RevisionMetrics] | None]], window: float, every: float = 0) -> Any:
    """What `top` shows: per target its split and the figures table, then the notes once."""
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = []
    all_figures: list[RevisionMetrics] = []
    for name, (live, figures) in readings.items():
        split = ", ".join(f"rev {r}: {p}%" for r, p in sorted(live.traffic.items())) or "-"
        if not live.exists:
            parts.append(Text.from_markup(f"[bold]{escape(name)}[/bold]: not deployed"))
            continue
        parts.append(Text.from_markup(f"[bold]{escape(name)}[/bold]: traffic {escape(split)} | url {live.url or '-'}"))
        for problem in live.problems:
            parts.append(Text.from_markup(f"  [red]degraded:[/red] {escape(problem)}"))
        if figures:
            parts.append(metrics_table(name, figures))
            all_figures += figures
        else:
            parts.append(Text(f"  no serving revision to measure over the last {window_text(window)}"))
    for note in notes(all_figures):
        parts.append(Text(f"  {note}", style="dim"))
    if every:
        parts.append(Text(f"  refreshed every {window_text(every)}; Ctrl-C quits", style="dim"))
    return Group(*parts)


def print_figures(ui: Any, name: str, figures: list[RevisionMetrics] | None) -> None:
    """`status`'s figures table for one target (nothing when the provider reports none)."""
    if not figures:
        return
    ui.err.print(metrics_table(f"{name} live", figures))
    for note in notes(figures):
        ui.err.print(f"  [dim]{escape(note)}[/dim]")
