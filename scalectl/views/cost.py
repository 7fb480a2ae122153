"""What `cost-estimate` shows: the JSON document, the tables for people and the PR-comment markdown.

Plain data in (the config, the catalog, estimates, comparisons, baseline deltas), text out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalectl import cost
from scalectl.ui import Ui, escape


@dataclass(frozen=True)
class CostReport:
    """Everything cost-estimate measured, once; the JSON document, the tables and the markdown each show it."""

    config: Any
    catalog: Any
    estimates: list[Any]
    comparisons: dict[str, list[dict[str, Any]]]
    deltas: dict[str, dict[str, Any]] | None
    baseline: str | None
    verdict: cost.BudgetVerdict


def cost_doc(report: CostReport, file: Path) -> dict[str, Any]:
    config, catalog, estimates = report.config, report.catalog, report.estimates
    comparisons, deltas, baseline, verdict = report.comparisons, report.deltas, report.baseline, report.verdict
    traffic = config.spec.traffic
    doc: dict[str, Any] = {
        "command": "cost-estimate",
        "ok": True,
        "file": str(file),
        "currency": "USD",
        "hours_per_month": cost.HOURS_PER_MONTH,
        "catalog": {
            "origin": catalog.origin,
            "date": catalog.date,
            "age_days": catalog.age_days(),
            "dates": catalog.dates(),
        },
        "traffic": traffic.model_dump() if traffic else None,
        "targets": {},
        "total_monthly": round(cost.total(estimates), 2),
        "totals": cost.totals(estimates),  # billed min / expected / max, each the sum of its column
        "budget": verdict.to_dict(),
    }
    for e in estimates:
        entry = e.to_dict()
        if comparisons:
            entry["compare"] = comparisons.get(e.target, [])
        doc["targets"][e.target] = entry
    if deltas is not None:
        before = sum(d["before"] or 0.0 for d in deltas.values())
        doc["baseline"] = {
            "ref": baseline,
            "total_before": round(before, 2),
            "total_after": doc["total_monthly"],
            "delta": round(doc["total_monthly"] - before, 2),
            "targets": deltas,
        }
    return doc


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _signed(value: float | None) -> str:
    if value is None:
        return "?"
    return f"+${value:,.2f}" if value >= 0 else f"-${-value:,.2f}"


def per_hour(value: float | None) -> str:
    """An hourly rate, always to 4 decimals (the catalog's precision)."""
    return "-" if value is None else f"${value:,.4f}"


def _billed(e: Any) -> Any:
    """The billed monthly figures, with expected falling back to max (what the total adds)."""
    m = e.billed_monthly
    if m is None:
        return None
    return cost.Monthly(m.min, m.expected if m.expected is not None else m.max, m.max)


def _rate_cell(e: Any) -> str:
    if e.rate.on_demand is None:
        return "unpriced"
    return f"{per_hour(e.billed_rate)} {e.billed_label}" + (" (estimate)" if e.rate.basis == "estimate" else "")


def _other_rate(e: Any) -> str:
    """The figure at the rate the target is not billed at, for comparison (not in any total)."""
    if e.billed == "spot" and e.on_demand is not None:
        od = e.on_demand.expected if e.on_demand.expected is not None else e.on_demand.max
        return f"on-demand ({per_hour(e.rate.on_demand)}/h) would be {_usd(od)}/month"
    if e.spot is not None:
        sp = e.spot.expected if e.spot.expected is not None else e.spot.max
        return f"spot ({per_hour(e.rate.spot)}/h) would be {_usd(sp)}/month with `spot: true`"
    return ""


def _whole(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _replicas(u: Any) -> str:
    if u.peak_replicas is None:
        return f"{u.min_replicas}-{u.max_replicas}"
    return f"{u.min_replicas}-{u.max_replicas}\n[dim](peak {u.peak_replicas}, off-peak {u.offpeak_replicas})[/dim]"


STALE_CATALOG_DAYS = 120


def catalog_line(catalog: Any) -> str:
    where = "the shipped catalog" if catalog.origin == "shipped" else catalog.origin
    line = f"prices from {where}, dated {catalog.date or 'unknown'}"
    age = catalog.age_days()
    if age is not None and age > STALE_CATALOG_DAYS:
        line += f" ({age} days old: `scalectl catalog refresh` when online)"
    if catalog.shipped_date and catalog.shipped_date > catalog.date:
        line += (
            f"; the catalog shipped with this scalectl is newer ({catalog.shipped_date}): refresh or delete the copy"
        )
    return line


def print_costs(ui: Ui, report: CostReport) -> None:
    """Tables on stderr; every money column is at the rate the target is billed and adds up to its total."""
    config, catalog, estimates = report.config, report.catalog, report.estimates
    comparisons, deltas, baseline, verdict = report.comparisons, report.deltas, report.baseline, report.verdict
    from rich import box
    from rich.table import Table

    title = f"{config.spec.name}: USD/month (730 h) at the billed rate, {catalog_line(catalog)}"
    totals = cost.totals(estimates)
    if ui.err.width < 100:  # a narrow terminal: one block per target reads better than a folded table
        ui.say(f"[bold]{escape(title)}[/bold]")
        for e in estimates:
            m = _billed(e)
            rate = _rate_cell(e) if e.rate.on_demand is not None else "[red]unpriced[/red]"
            ui.say(f"[bold]{e.target}[/bold]  {e.provider} {e.region}  {escape(e.hardware)}  {rate}")
            ui.say(
                f"  replicas {_replicas(e.usage).replace(chr(10), ' ')}  min {_usd(m.min if m else None)}  "
                f"expected {_usd(m.expected if m else None)}  max {_usd(m.max if m else None)}"
            )
        ui.say(
            f"[bold]total[/bold]  min {_usd(totals['min'])}  expected {_usd(totals['expected'])}  "
            f"max {_usd(totals['max'])}"
        )
    else:
        table = Table(title=escape(title), box=box.SIMPLE_HEAD, show_footer=True)
        footer = {"target": "total", "min": _whole(totals["min"]), "expected": _whole(totals["expected"])}
        footer["max"] = _whole(totals["max"])
        for col in ("target", "type / region", "billed $/h", "replicas", "min", "expected", "max"):
            left = col in ("target", "type / region", "replicas")
            table.add_column(col, footer=footer.get(col, ""), justify="left" if left else "right", overflow="fold")
        for e in estimates:
            m = _billed(e)
            rate = "[red]unpriced[/red]"
            if e.rate.on_demand is not None:
                rate = per_hour(e.billed_rate) + f"\n[dim]{e.billed_label}"
                rate += " est." if e.rate.basis == "estimate" else ""
                rate += "[/dim]"
            table.add_row(
                f"{e.target}\n[dim]{e.provider}[/dim]",
                f"{escape(e.hardware)}\n[dim]{e.region}[/dim]",
                rate,
                _replicas(e.usage),
                _whole(m.min if m else None),
                _whole(m.expected if m else None),
                _whole(m.max if m else None),
            )
        ui.err.print(table)
    for e in estimates:
        dated = f" ({e.rate.date})" if e.rate.date else ""
        ui.say(f"[bold]{e.target}[/bold] ({e.rate.basis} rate): {escape(e.rate.source)}{dated}")
        if e.rate.parts:
            ui.say(f"  = {escape(' + '.join(e.rate.parts))}")
        if e.spot is None and e.rate.spot_note:
            ui.say(f"  spot: {escape(e.rate.spot_note)}")
        if e.billed == "spot":
            ui.say("  billed at the spot rate (spot: true)")
        if _other_rate(e):
            ui.say(f"  [dim]{escape(_other_rate(e))}[/dim]")
        for note in e.notes:
            ui.say(f"  [yellow]{escape(note)}[/yellow]")
    if config.spec.traffic is None:
        ui.say(
            "[yellow]no `traffic:` in the file: only min and max are known, so expected shows max (expected "
            "needs peak_rps, offpeak_rps, peak_hours_per_day, replica_rps)[/yellow]"
        )
    ui.say(f"total expected: [bold]{_usd(cost.total(estimates))}[/bold]/month")
    for name, rows in comparisons.items():
        if not rows:
            ui.say(f"{name}: nothing to compare (no accelerator known for its hardware, or no price)")
            continue
        billed = (
            "spot where sold, like the target"
            if rows[0]["billed"] == "spot" or any(r["current"] and r["billed"] == "spot" for r in rows)
            else "on-demand, like the target"
        )
        heading = f"{name}: same workload, nearest equivalent hardware, {billed}, cheapest first"
        if ui.err.width < 100:
            ui.say(f"[bold]{heading}[/bold]")
            for r in rows:
                est = " (estimate)" if r["rate"]["basis"] == "estimate" else ""
                ui.say(
                    f"  {r['provider']:<5} {escape(r['type'])} {r['region']}  {escape(r['hardware'])}  "
                    f"{per_hour(r['billed_rate'])}/h {_label(r['billed'])}{est}  {_usd(r['monthly'])}/mo  "
                    f"{saves_text(r)}"
                )
            continue
        t = Table(title=heading, box=box.SIMPLE_HEAD)
        for col in ("provider", "type / region", "hardware", "billed $/h", "expected", "vs current"):
            t.add_column(col, overflow="fold", justify="right" if col in ("billed $/h", "expected") else "left")
        for r in rows:
            est = " est." if r["rate"]["basis"] == "estimate" else ""
            t.add_row(
                r["provider"] + ("\n[dim](current)[/dim]" if r["current"] else ""),
                f"{escape(r['type'])}\n[dim]{r['region']}[/dim]",
                escape(r["hardware"]),
                per_hour(r["billed_rate"]) + f"\n[dim]{_label(r['billed'])}{est}[/dim]",
                _whole(r["monthly"]),
                saves_text(r),
            )
        ui.err.print(t)
    if deltas is not None:
        total = sum((d["delta"] or 0.0) for d in deltas.values())
        ui.say(f"vs baseline {escape(str(baseline))}: [bold]{_signed(total)}[/bold]/month")
        for name, d in deltas.items():
            ui.say(f"  {name}: {_usd(d['before'])} -> {_usd(d['after'])} ({_signed(d['delta'])}, {d['status']})")
    color = "red" if verdict.over_any else "green" if verdict.per_target or verdict.total_limit else "dim"
    ui.say(f"budget: [{color}]{escape(verdict.text)}[/{color}]")


def _label(billed: str) -> str:
    return "spot" if billed == "spot" else "on-demand"


def saves_text(row: dict[str, Any]) -> str:
    """Against the current target: "saves $X" or "costs $X more"; never a negative saving."""
    if row["current"]:
        return "current"
    saves = row["saves"]
    if abs(saves) < 0.005:
        return "same cost"
    return f"saves {_usd(saves)}" if saves > 0 else f"costs {_usd(-saves)} more"


def cost_markdown(report: CostReport) -> str:
    """A table fit for a pull-request comment; every money column adds up to its total row."""
    config, catalog, estimates = report.config, report.catalog, report.estimates
    comparisons, deltas, baseline, verdict = report.comparisons, report.deltas, report.baseline, report.verdict

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### scalectl cost-estimate: `{config.spec.name}`", ""]
    head = ["target", "provider", "type", "region", "billed rate $/h", "min/mo", "expected/mo", "max/mo"]
    if deltas is not None:
        head.append("delta/mo")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in estimates:
        m = _billed(e)
        row = [
            e.target + (" :warning:" if e.target in verdict.over else ""),
            e.provider,
            f"`{cell(e.hardware)}`",
            e.region,
            _rate_cell(e),
            _usd(m.min if m else None),
            _usd(m.expected if m else None),
            _usd(m.max if m else None),
        ]
        if deltas is not None:
            row.append(_signed(deltas.get(e.target, {}).get("delta")))
        lines.append("| " + " | ".join(row) + " |")
    totals = cost.totals(estimates)
    total = ["**total**", "", "", "", ""] + [f"**{_usd(totals[k])}**" for k in ("min", "expected", "max")]
    if deltas is not None:
        total.append(f"**{_signed(sum((d['delta'] or 0.0) for d in deltas.values()))}**")
    lines.append("| " + " | ".join(total) + " |")
    lines.append("")
    lines.append(
        "Every figure is at the rate the target is billed (spot only for `spot: true` where the service sells it)."
    )
    if deltas is not None:
        removed = [n for n, d in deltas.items() if d["status"] == "removed"]
        if removed:
            lines.append(f"Removed since `{baseline}`: {', '.join(removed)}.")
        lines.append(f"Delta against `{baseline}`.")
    lines.append(f"Budget: {':warning: ' if verdict.over_any else ''}{verdict.text}.")
    if config.spec.traffic is None:
        lines.append("No `traffic:` profile in the file, so expected = max (only min and max are known).")
    for e in estimates:
        spot = f" Spot: {e.rate.spot_note}." if e.spot is None and e.rate.spot_note else ""
        other = f" {_other_rate(e).capitalize()}." if _other_rate(e) else ""
        lines.append(
            f"- `{e.target}`: billed {e.billed_label}, {e.rate.basis} rate, {cell(e.rate.source)}.{spot}{other}"
        )
    for name, rows in comparisons.items():
        if rows:
            lines += ["", f"<details><summary>{name}: nearest equivalent hardware, cheapest first</summary>", ""]
            lines += [
                "| provider | type | region | hardware | billed rate $/h | expected/mo | vs current |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in rows:
                who = r["provider"] + (" (current)" if r["current"] else "")
                rate = f"{per_hour(r['billed_rate'])} {_label(r['billed'])}"
                rate += " (estimate)" if r["rate"]["basis"] == "estimate" else ""
                lines.append(
                    f"| {who} | `{r['type']}` | {r['region']} | {r['hardware']} | {rate} | {_usd(r['monthly'])} "
                    f"| {saves_text(r)} |"
                )
            lines += ["", "</details>"]
    lines += ["", f"<sub>730 h/month; {catalog_line(catalog)}.</sub>", ""]
    return "\n".join(lines)
