"""What `cost-estimate` shows: the JSON document, the tables for people and the PR-comment markdown.

Plain data in (the config, the catalog, estimates, comparisons, baseline deltas), text out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalectl import cost
from scalectl.ui import Ui, escape


def cost_doc(
    config: Any,
    file: Path,
    catalog: Any,
    estimates: list[Any],
    comparisons: dict[str, list[dict[str, Any]]],
    deltas: dict[str, dict[str, Any]] | None,
    baseline: str | None,
    budget: float | None,
    over: list[Any],
) -> dict[str, Any]:
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
    }
    for e in estimates:
        entry = e.to_dict()
        if comparisons:
            entry["compare"] = comparisons.get(e.target, [])
        doc["targets"][e.target] = entry
    if budget is not None:
        doc["budget"] = {"limit": budget, "per": "target", "over": [e.target for e in over]}
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
    return "-" if value is None else "$" + f"{value:,.4f}".rstrip("0").rstrip(".")


def _whole(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _replicas(u: Any) -> str:
    if u.peak_replicas is None:
        return f"{u.min_replicas}-{u.max_replicas}"
    return f"{u.min_replicas}-{u.max_replicas}\n[dim](peak {u.peak_replicas}, off-peak {u.offpeak_replicas})[/dim]"


def _spot_cell(e: Any) -> str:
    if e.spot is not None:
        return _usd(e.spot.expected if e.spot.expected is not None else e.spot.max)
    return "n/a"


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


def print_costs(
    ui: Ui,
    config: Any,
    catalog: Any,
    estimates: list[Any],
    comparisons: dict[str, list[dict[str, Any]]],
    deltas: dict[str, dict[str, Any]] | None,
    baseline: str | None,
) -> None:
    from rich import box
    from rich.table import Table

    title = f"{config.spec.name}: USD/month (730 h), {catalog_line(catalog)}"
    if ui.err.width < 100:  # a narrow terminal: one block per target reads better than a folded table
        ui.say(f"[bold]{escape(title)}[/bold]")
        for e in estimates:
            od = e.on_demand
            rate = per_hour(e.rate.on_demand) + "/h" if e.rate.on_demand is not None else "[red]unpriced[/red]"
            rate += " (estimate)" if e.rate.basis == "estimate" else ""
            ui.say(f"[bold]{e.target}[/bold]  {e.provider} {e.region}  {escape(e.hardware)}  {rate}")
            spot = e.spot.expected if e.spot and e.spot.expected is not None else (e.spot.max if e.spot else None)
            ui.say(
                f"  replicas {_replicas(e.usage).replace(chr(10), ' ')}  min {_usd(od.min if od else None)}  "
                f"expected {_usd(od.expected if od else None)}  max {_usd(od.max if od else None)}  "
                f"spot {_usd(spot) if spot is not None else 'n/a'}"
            )
    else:
        table = Table(title=escape(title), box=box.SIMPLE_HEAD)
        for col in ("target", "type / region", "$/h", "replicas", "min", "expected", "max", "spot exp."):
            left = col in ("target", "type / region", "replicas")
            table.add_column(col, justify="left" if left else "right", overflow="fold")
        for e in estimates:
            od = e.on_demand
            spot = e.spot.expected if e.spot and e.spot.expected is not None else (e.spot.max if e.spot else None)
            table.add_row(
                f"{e.target}\n[dim]{e.provider}[/dim]",
                f"{escape(e.hardware)}\n[dim]{e.region}[/dim]",
                per_hour(e.rate.on_demand) if e.rate.on_demand is not None else "[red]unpriced[/red]",
                _replicas(e.usage),
                _whole(od.min if od else None),
                _whole(od.expected if od else None),
                _whole(od.max if od else None),
                _whole(spot),
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
        for note in e.notes:
            ui.say(f"  [yellow]{escape(note)}[/yellow]")
    if config.spec.traffic is None:
        ui.say(
            "[yellow]no `traffic:` in the file: only min and max are shown (expected needs peak_rps, "
            "offpeak_rps, peak_hours_per_day, replica_rps)[/yellow]"
        )
    ui.say(f"total expected: [bold]{_usd(cost.total(estimates))}[/bold]/month")
    for name, rows in comparisons.items():
        if not rows:
            ui.say(f"{name}: nothing to compare (no accelerator known for its hardware, or no price)")
            continue
        heading = f"{name}: same workload, nearest equivalent hardware, on-demand, cheapest first"
        if ui.err.width < 100:
            ui.say(f"[bold]{heading}[/bold]")
            for r in rows:
                est = " (estimate)" if r["rate"]["basis"] == "estimate" else ""
                saves = "current" if r["current"] else f"saves {_signed(r['saves'])}"
                ui.say(
                    f"  {r['provider']:<5} {escape(r['type'])} {r['region']}  {escape(r['hardware'])}  "
                    f"{per_hour(r['rate']['on_demand'])}/h{est}  {_usd(r['monthly'])}/mo  {saves}"
                )
            continue
        t = Table(title=heading, box=box.SIMPLE_HEAD)
        for col in ("provider", "type / region", "hardware", "$/h", "expected", "spot exp.", "saves"):
            t.add_column(
                col, overflow="fold", justify="right" if col in ("$/h", "expected", "spot exp.", "saves") else "left"
            )
        for r in rows:
            spot = r["spot"]
            t.add_row(
                r["provider"] + ("\n[dim](current)[/dim]" if r["current"] else ""),
                f"{escape(r['type'])}\n[dim]{r['region']}[/dim]",
                escape(r["hardware"]),
                per_hour(r["rate"]["on_demand"]) + (" est." if r["rate"]["basis"] == "estimate" else ""),
                _whole(r["monthly"]),
                _whole(spot["expected"] if spot and spot["expected"] is not None else (spot or {}).get("max")),
                "-" if r["current"] else _whole(r["saves"]),
            )
        ui.err.print(t)
    if deltas is not None:
        total = sum((d["delta"] or 0.0) for d in deltas.values())
        ui.say(f"vs baseline {escape(str(baseline))}: [bold]{_signed(total)}[/bold]/month")
        for name, d in deltas.items():
            ui.say(f"  {name}: {_usd(d['before'])} -> {_usd(d['after'])} ({_signed(d['delta'])}, {d['status']})")


def cost_markdown(
    config: Any,
    catalog: Any,
    estimates: list[Any],
    comparisons: dict[str, list[dict[str, Any]]],
    deltas: dict[str, dict[str, Any]] | None,
    baseline: str | None,
    budget: float | None,
    over: list[Any],
) -> str:
    """A table fit for a pull-request comment."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### scalectl cost-estimate: `{config.spec.name}`", ""]
    head = ["target", "provider", "type", "region", "rate $/h", "min/mo", "expected/mo", "max/mo", "spot/mo"]
    if deltas is not None:
        head.append("delta/mo")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in estimates:
        od = e.on_demand
        rate = per_hour(e.rate.on_demand) + (" (estimate)" if e.rate.basis == "estimate" else "")
        if e.rate.on_demand is None:
            rate = "unpriced"
        row = [
            e.target + (" :warning:" if e in over else ""),
            e.provider,
            f"`{cell(e.hardware)}`",
            e.region,
            rate,
            _usd(od.min if od else None),
            _usd(od.expected if od else None),
            _usd(od.max if od else None),
            _spot_cell(e) if e.spot is not None else "n/a",
        ]
        if deltas is not None:
            row.append(_signed(deltas.get(e.target, {}).get("delta")))
        lines.append("| " + " | ".join(row) + " |")
    total = ["**total**", "", "", "", "", "", f"**{_usd(cost.total(estimates))}**", "", ""]
    if deltas is not None:
        total.append(f"**{_signed(sum((d['delta'] or 0.0) for d in deltas.values()))}**")
    lines.append("| " + " | ".join(total) + " |")
    lines.append("")
    if deltas is not None:
        removed = [n for n, d in deltas.items() if d["status"] == "removed"]
        if removed:
            lines.append(f"Removed since `{baseline}`: {', '.join(removed)}.")
        lines.append(f"Delta against `{baseline}`.")
    if budget is not None:
        verdict = f"over: {', '.join(e.target for e in over)}" if over else "all targets within it"
        lines.append(f"Budget ${budget:,.2f}/month per target: {verdict}.")
    if config.spec.traffic is None:
        lines.append("No `traffic:` profile in the file, so expected = max (only min and max are known).")
    for e in estimates:
        spot = f" Spot: {e.rate.spot_note}." if e.spot is None and e.rate.spot_note else ""
        lines.append(f"- `{e.target}`: {e.rate.basis} rate, {cell(e.rate.source)}.{spot}")
    for name, rows in comparisons.items():
        if rows:
            lines += ["", f"<details><summary>{name}: nearest equivalent hardware, cheapest first</summary>", ""]
            lines += ["| provider | type | region | hardware | expected/mo | saves/mo |", "|---|---|---|---|---|---|"]
            for r in rows:
                who = r["provider"] + (" (current)" if r["current"] else "")
                saves = "-" if r["current"] else _signed(r["saves"])
                lines.append(
                    f"| {who} | `{r['type']}` | {r['region']} | {r['hardware']} | {_usd(r['monthly'])} | {saves} |"
                )
            lines += ["", "</details>"]
    lines += ["", f"<sub>730 h/month; {catalog_line(catalog)}.</sub>", ""]
    return "\n".join(lines)
