"""What `drift` shows: the JSON document, a table for people, markdown for a PR or issue, and an HTML report.

The HTML is one self-contained file: inline SVG bar charts (baseline vs recent share per bin or
category) for each drifted feature, no scripts, no fonts or stylesheets fetched from anywhere.
"""

from __future__ import annotations

import html
from typing import Any

from scalectl.drift import DriftReport, FeatureDrift, Histogram
from scalectl.ui import Ui, escape


def drift_doc(context: dict[str, Any], inputs: DriftReport, predictions: DriftReport | None) -> dict[str, Any]:
    drifted = bool(inputs.drifted or (predictions and predictions.drifted))
    return {
        "command": "drift",
        "ok": not drifted,
        **context,
        "verdict": "drift" if drifted else "ok",
        "thresholds": vars(inputs.thresholds),
        "inputs": inputs.to_dict(),
        "predictions": predictions.to_dict() if predictions else None,
    }


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}" if abs(value) < 1e-3 else f"{value:.{digits}f}"


def _row(f: FeatureDrift) -> list[str]:
    test = f"KS p {_num(f.ks_p)}" if f.ks_p is not None else f"chi2 p {_num(f.chi2_p)}" if f.chi2_p is not None else "-"
    means = f"{_num(f.baseline_mean)} -> {_num(f.recent_mean)}" if f.baseline_mean is not None else ""
    verdict = "DRIFT" if f.drifted else "ok" if f.psi is not None else "n/a"
    return [f.name, f.kind, _num(f.psi), test, means, f"{f.recent_count}", verdict, "; ".join(f.reasons)]


_HEADER = ["feature", "kind", "PSI", "test", "mean (then -> now)", "recent n", "verdict", "why"]


def print_drift(ui: Ui, context: dict[str, Any], inputs: DriftReport, predictions: DriftReport | None) -> None:
    from rich.table import Table

    ui.say(
        f"[bold]{escape(context['target'])}[/bold]: {context['records']} captured requests since {context['since']} "
        f"vs {escape(context['baseline'])} ({context['baseline_rows']} rows)"
    )
    sections = [("inputs", inputs)] + ([("predictions", predictions)] if predictions else [])
    for title, report in sections:
        table = Table(title=title, title_justify="left", show_edge=False)
        for col in _HEADER:
            table.add_column(col)
        for f in report.features:
            cells = [escape(c) for c in _row(f)]
            if f.drifted:
                cells[6] = f"[red]{cells[6]}[/red]"
            table.add_row(*cells)
        ui.err.print(table)
        if report.unknown_features:
            ui.say(f"  not in the baseline: {escape(', '.join(report.unknown_features))}")
    if predictions is None:
        ui.say(f"predictions: no reference outputs ({escape(context['reference'])}); pass --reference FILE")
    ui.say(_verdict(inputs, predictions))


def _verdict(inputs: DriftReport, predictions: DriftReport | None) -> str:
    moved = [f.name for f in inputs.drifted] + [
        f"prediction {f.name}" for f in (predictions.drifted if predictions else [])
    ]
    if moved:
        return f"verdict: DRIFT on {len(moved)} feature(s): {', '.join(moved)}"
    top = inputs.top(3)
    return "verdict: no drift" + (f" (moved most: {', '.join(f.name for f in top)})" if top else "")


def drift_markdown(context: dict[str, Any], inputs: DriftReport, predictions: DriftReport | None) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        f"### Data drift: `{context['target']}`",
        "",
        f"{context['records']} captured requests since {context['since']} vs `{context['baseline']}` "
        f"({context['baseline_rows']} rows). Thresholds: PSI >= {inputs.thresholds.psi}, "
        f"KS p < {inputs.thresholds.ks_p}, chi-square p < {inputs.thresholds.chi2_p}.",
        "",
        f"**{_verdict(inputs, predictions)}**",
    ]
    sections = [("Inputs", inputs)] + ([("Predictions", predictions)] if predictions else [])
    for title, report in sections:
        lines += ["", f"#### {title}", "", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
        lines += ["| " + " | ".join(cell(c) for c in _row(f)) + " |" for f in report.features]
        if report.unknown_features:
            lines += ["", f"Not in the baseline: {', '.join(f'`{n}`' for n in report.unknown_features)}"]
    if predictions is None:
        lines += ["", f"Predictions: no reference outputs ({context['reference']})."]
    return "\n".join(lines) + "\n"


# --- HTML --------------------------------------------------------------------------------------------------------

_W, _H, _PAD = 640, 220, 36


def svg_histogram(h: Histogram, title: str) -> str:
    """Side-by-side bars, baseline (grey) and recent (red), per bin or category; pure SVG."""
    n = max(len(h.labels), 1)
    top = max([*h.baseline, *h.recent, 1e-9])
    slot = (_W - 2 * _PAD) / n
    bar = slot * 0.38
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H + 40}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<line x1="{_PAD}" y1="{_H}" x2="{_W - _PAD}" y2="{_H}" stroke="#333"/>',
    ]
    for i, label in enumerate(h.labels):
        x = _PAD + i * slot + slot * 0.1
        for j, (share, color) in enumerate(((h.baseline[i], "#9aa0a6"), (h.recent[i], "#d93025"))):
            height = (_H - 20) * share / top
            parts.append(
                f'<rect x="{x + j * bar:.1f}" y="{_H - height:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{color}"><title>{html.escape(label)}: {"baseline" if j == 0 else "recent"} '
                f"{share:.1%}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar:.1f}" y="{_H + 14}" font-size="9" text-anchor="middle">{html.escape(label[:14])}</text>'
        )
    parts.append(
        f'<text x="{_PAD}" y="{_H + 34}" font-size="11"><tspan fill="#9aa0a6">&#9632; baseline</tspan> '
        '<tspan fill="#d93025">&#9632; recent</tspan> (share of values per bin)</text></svg>'
    )
    return "".join(parts)


def drift_html(context: dict[str, Any], inputs: DriftReport, predictions: DriftReport | None) -> str:
    def table(report: DriftReport) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _HEADER)
        rows = "".join(
            f'<tr class="{"drift" if f.drifted else ""}">'
            + "".join(f"<td>{html.escape(c)}</td>" for c in _row(f))
            + "</tr>"
            for f in report.features
        )
        return f"<table><tr>{head}</tr>{rows}</table>"

    body = [
        f"<h1>Data drift: {html.escape(context['target'])}</h1>",
        f"<p>{context['records']} captured requests since {html.escape(context['since'])} vs "
        f"<code>{html.escape(context['baseline'])}</code> ({context['baseline_rows']} rows).</p>",
        f"<p><strong>{html.escape(_verdict(inputs, predictions))}</strong></p>",
        "<h2>Inputs</h2>",
        table(inputs),
    ]
    if predictions:
        body += ["<h2>Predictions</h2>", table(predictions)]
    charts = [("", f) for f in inputs.drifted] + [
        ("prediction ", f) for f in (predictions.drifted if predictions else [])
    ]
    for prefix, f in charts:
        if f.histogram is not None:
            title = f"{prefix}{f.name}"
            body += [
                f"<h3>{html.escape(title)}</h3><p>{html.escape('; '.join(f.reasons))}</p>",
                svg_histogram(f.histogram, title),
            ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}tr.drift td{background:#fce8e6}"
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>drift: {html.escape(context["target"])}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
