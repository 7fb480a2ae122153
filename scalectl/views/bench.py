"""What `scalectl bench` prints: live progress on stderr, the results table, the JSON and the HTML report."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scalectl.ui import Ui, escape

LATENCY_COLUMNS = ("p50", "p90", "p95", "p99", "p999", "max")
HEADINGS = {"p999": "p99.9"}


def run_doc(result: Any, breaches: list[str]) -> dict[str, Any]:
    """One run (or ramp step) as JSON: latencies in milliseconds."""
    spec = result.spec
    return {
        "offered_rps": spec.rate,
        "concurrency": spec.concurrency,
        "duration_s": spec.duration,
        "elapsed_s": round(result.elapsed, 3),
        "stopped_by": result.stopped_by,
        "sent": result.sent,
        "ok": result.all.ok,
        "errors": dict(sorted(result.all.errors.items())),
        "error_rate": round(result.error_rate, 6),
        "throughput_rps": round(result.throughput, 2),
        "latency_ms": result.all.latency_ms(),
        "client_lag_ms": result.client_lag_ms() if spec.rate is not None else None,
        "queued_for_connection": result.queued if spec.rate is not None else None,
        "revisions": {
            rev: {"ok": t.ok, "errors": dict(t.errors), "latency_ms": t.latency_ms()}
            for rev, t in sorted(result.revisions.items())
        },
        "slo_breaches": breaches,
    }


@contextmanager
def live_progress(ui: Ui, title: str) -> Iterator[Callable[[Any], None] | None]:
    """A Rich progress line on stderr while a run goes; nothing in JSON mode or off a terminal."""
    if ui.json or not ui.err.is_terminal:
        yield None
        return
    from rich.live import Live

    with Live("", console=ui.err, refresh_per_second=4, transient=True) as live:

        def update(p: Any) -> None:
            live.update(
                f"{escape(title)}  {p.elapsed:5.1f}/{p.duration:g}s  sent {p.sent}  ok {p.ok}  "
                f"errors {p.errors}  in flight {p.in_flight}  {p.rps:,.0f}/s"
            )

        yield update


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _cpu(step: dict[str, Any]) -> str:
    """Mean CPU of the replicas during a step (percent of one CPU each), or - when not reported."""
    values = [
        c["cpu_avg_pct"] for c in step.get("resources") or [] if c["cpu_avg_pct"] is not None and c["role"] == "replica"
    ]
    return f"{sum(values) / len(values):.1f}" if values else "-"


def print_bench(ui: Ui, doc: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="latency (ms) and throughput", title_justify="left", show_edge=False)
    table.add_column("load")
    for col in LATENCY_COLUMNS:
        table.add_column(HEADINGS.get(col, col), justify="right")
    for col in ("req/s", "ok", "errors", "replica CPU %", "SLO"):
        table.add_column(col, justify="right")
    for step in doc["steps"]:
        load = f"{step['offered_rps']:g}/s" if step["offered_rps"] else f"{step['concurrency']} conc."
        errors = ", ".join(f"{k}: {v}" for k, v in step["errors"].items()) or "0"
        verdict = "" if doc["slo"] is None else ("[red]missed[/red]" if step["slo_breaches"] else "[green]held[/green]")
        table.add_row(
            load,
            *(_ms(step["latency_ms"][c]) for c in LATENCY_COLUMNS),
            f"{step['throughput_rps']:,.1f}",
            str(step["ok"]),
            escape(errors),
            _cpu(step),
            verdict,
        )
    ui.err.print(table)
    last = doc["steps"][-1]
    if len(last["revisions"]) > 1 or (last["revisions"] and len(doc.get("traffic") or {}) > 1):
        rev_table = Table(title="per revision (last run)", title_justify="left", show_edge=False)
        for col in ("revision", "traffic %", "ok", "errors", "p50", "p99", "max"):
            rev_table.add_column(col, justify="right")
        for rev, t in last["revisions"].items():
            lat = t["latency_ms"]
            rev_table.add_row(
                rev,
                str((doc.get("traffic") or {}).get(rev, "?")),
                str(t["ok"]),
                str(sum(t["errors"].values())),
                _ms(lat["p50"]),
                _ms(lat["p99"]),
                _ms(lat["max"]),
            )
        ui.err.print(rev_table)
    from scalectl.bench.engine import CLIENT_LATE_MS

    lag = last.get("client_lag_ms")
    if lag and lag["p99"] > CLIENT_LATE_MS:
        ui.say(
            f"[yellow]warning:[/yellow] the load client ran late (p99 {lag['p99']:.1f}ms behind schedule while "
            "it had free connections): this machine, not the server, limited the offered rate"
        )
    if last.get("queued_for_connection"):
        ui.say(
            f"  {last['queued_for_connection']} request(s) found all {doc.get('connections', '')} connections busy "
            "and waited for one; the wait is in their latency (raise --connections to offer more in flight)"
        )
    resources = doc.get("resources")
    if resources and resources["containers"]:
        res_table = Table(title="resource use during the run (docker stats)", title_justify="left", show_edge=False)
        for col in ("container", "role", "samples", "CPU avg %", "CPU max %", "memory max MB", "limit MB"):
            res_table.add_column(col, justify="right")
        for c in resources["containers"]:
            res_table.add_row(
                escape(c["name"]),
                c["role"],
                str(c["samples"]),
                *("-" if c[k] is None else f"{c[k]:,.1f}" for k in ("cpu_avg_pct", "cpu_max_pct", "memory_max_mb")),
                "-" if c["memory_limit_mb"] is None else f"{c['memory_limit_mb']:,.0f}",
            )
        ui.err.print(res_table)
    for step in doc["steps"]:
        for breach in step["slo_breaches"]:
            load = f"{step['offered_rps']:g}/s" if step["offered_rps"] else f"{step['concurrency']} concurrent"
            ui.say(f"  [red]SLO[/red] at {load}: {escape(breach)}")
    if "ramp" in doc:
        r = doc["ramp"]
        if r["held_rps"] is None:
            ui.say("ramp: the SLO did not hold even at the first rate")
        else:
            per = f"; replica_rps = {r['replica_rps']:g} ({doc['replicas']} replica(s))" if r["replica_rps"] else ""
            ui.say(f"ramp: held {r['held_rps']:g}/s" + per)
            if r.get("client_limited"):
                ui.say(
                    "[yellow]warning:[/yellow] the step that broke was limited by this machine (the client ran "
                    "late): the figure is a lower bound; bench from a less loaded machine for the real capacity"
                )
    if doc.get("saved"):
        ui.say(f"saved replica_rps to {escape(doc['saved'])} (cost-estimate uses it; edit or delete to override)")
    if doc.get("report"):
        ui.say(f"report: {escape(doc['report'])}")


def write_report(path: Path, doc: dict[str, Any]) -> None:
    """A self-contained HTML page: latency percentiles against offered load, as inline SVG (no scripts, no CDN)."""
    steps = doc["steps"]
    points = [(s["offered_rps"] or s["throughput_rps"], s) for s in steps]
    rows = "".join(
        "<tr><td>{}</td>{}<td>{:,.1f}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            f"{x:g}/s",
            "".join(f"<td>{_ms(s['latency_ms'][c])}</td>" for c in LATENCY_COLUMNS),
            s["throughput_rps"],
            html.escape(", ".join(f"{k}: {v}" for k, v in s["errors"].items()) or "0"),
            _cpu(s),
            html.escape("; ".join(s["slo_breaches"]) or ("held" if doc["slo"] else "")),
        )
        for x, s in points
    )
    title = html.escape(f"scalectl bench: {doc.get('target') or doc['url']}")
    slo = html.escape(doc["slo"]["text"]) if doc["slo"] else "none"
    ramp = doc.get("ramp") or {}
    summary = f"replica_rps {ramp['replica_rps']:g}" if ramp.get("replica_rps") else ""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}
td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}}th{{background:#f4f4f4}}</style></head>
<body><h1>{title}</h1>
<p>front door: {html.escape(doc["front_door"])} &middot; mode: {doc["mode"]} loop &middot; SLO: {slo}
{("&middot; " + summary) if summary else ""}</p>
{_svg(points, doc)}
<table><tr><th>offered</th>{"".join(f"<th>{HEADINGS.get(c, c)} ms</th>" for c in LATENCY_COLUMNS)}
<th>req/s</th><th>errors</th><th>replica CPU %</th><th>SLO</th></tr>{rows}</table>
</body></html>
"""
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        from scalectl.errors import UsageError

        raise UsageError(f"--report {path}: cannot write it ({exc.strerror})") from None


def _svg(points: list[tuple[float, dict[str, Any]]], doc: dict[str, Any]) -> str:
    """Latency percentile lines against offered load (log-scale latency), SLO ceilings dashed."""
    import math

    width, height, left, bottom, top, right = 760, 380, 70, 40, 20, 110
    colors = {"p50": "#2b8cbe", "p90": "#7bccc4", "p99": "#f03b20", "p999": "#bd0026", "max": "#636363"}
    values = [s["latency_ms"][c] for _, s in points for c in colors if s["latency_ms"][c]]
    ceilings = dict((doc["slo"] or {}).get("latency_ms", {}))
    values += list(ceilings.values())
    if not values:
        return "<p>no request was answered: nothing to plot</p>"  # the table still says what failed
    lo = math.log10(max(min(values), 0.01)) - 0.1
    hi = math.log10(max(values)) + 0.1
    xs = [x for x, _ in points]
    x0, x1 = (min(xs), max(xs)) if len(xs) > 1 else (0.0, xs[0] * 2 or 1.0)

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * (width - left - right)

    def py(v: float) -> float:
        return top + (hi - math.log10(max(v, 0.01))) / ((hi - lo) or 1) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">']
    parts.append(
        f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
        'fill="none" stroke="#999"/>'
    )
    for exp in range(math.floor(lo), math.ceil(hi) + 1):
        for mult in (1, 2, 5):
            v = mult * 10**exp
            if lo <= math.log10(v) <= hi:
                y = py(v)
                parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
                parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g} ms</text>')
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x:g}</text>')
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">offered load (requests/s)</text>'
    )
    for row, (key, color) in enumerate(colors.items()):
        pts = [(px(x), py(s["latency_ms"][key])) for x, s in points if s["latency_ms"][key]]
        if not pts:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in pts]
        label = HEADINGS.get(key, key)
        parts.append(f'<text x="{width - right + 10}" y="{top + 14 + row * 16}" fill="{color}">{label}</text>')
    for key, ceiling in ceilings.items():
        y = py(ceiling)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#f03b20" '
            'stroke-dasharray="6 4"/>'
        )
        name = HEADINGS.get(str(key), str(key))
        parts.append(f'<text x="{left + 6}" y="{y - 4:.1f}" fill="#f03b20">SLO {name} {ceiling:g} ms</text>')
    parts.append("</svg>")
    return "\n".join(parts)
