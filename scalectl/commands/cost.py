"""`scalectl cost-estimate`: monthly cost per target from the price catalog, compared and against a baseline.

The cost model is scalectl/cost.py and prices scalectl/catalog.py; the printing is scalectl/views/cost.py.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from scalectl.commands.common import Common, exit_with, reporting, shared_options
from scalectl.errors import ConfigError, OverBudget, ScalectlError, UsageError
from scalectl.ui import escape


class CostFormat(str, Enum):
    text = "text"
    markdown = "markdown"


@shared_options()
def cost_estimate(
    common: Common,
    compare: Annotated[
        bool, typer.Option("--compare", help="Also price the workload on every provider's nearest equivalent hardware.")
    ] = False,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            envvar="SCALECTL_BUDGET",
            min=0,
            help="Exit 4 when any one target's expected USD/month is above this.",
        ),
    ] = None,
    total_budget: Annotated[
        float | None,
        typer.Option(
            "--total-budget",
            envvar="SCALECTL_TOTAL_BUDGET",
            min=0,
            help="Exit 4 when the expected USD/month of all the targets together is above this.",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            envvar="SCALECTL_BASELINE",
            help="Previous config: a file path or a git revision (e.g. origin/main); shows the monthly delta.",
        ),
    ] = None,
    fmt: Annotated[
        CostFormat,
        typer.Option("--format", envvar="SCALECTL_COST_FORMAT", help="text tables, or markdown for a PR comment."),
    ] = CostFormat.text,
) -> None:
    """Monthly cost under each target's autoscaling policy: min, expected (traffic profile), max; on-demand vs spot."""
    ui = common.ui
    file = common.file
    with reporting(ui, "cost-estimate"):
        from scalectl import cost
        from scalectl.catalog import load_catalog
        from scalectl.views.cost import CostReport, cost_doc, cost_markdown, print_costs

        config, names = common.load(check_providers=False)
        catalog = load_catalog()
        estimates = _estimate_all(config, names, catalog)
        comparisons = {e.target: _compare(catalog, config, e) for e in estimates} if compare else {}
        base = _baseline_figures(baseline, file, names, catalog) if baseline else None
        current = {e.target: e.expected for e in estimates}
        deltas = cost.delta(current, base) if base is not None else None
        over = [e for e in estimates if budget is not None and e.expected is not None and e.expected > budget]
        verdict = cost.budget_verdict(estimates, budget, total_budget, over)
        unpriced = [e.target for e in estimates if not e.priced]
        report = CostReport(config, catalog, estimates, comparisons, deltas, baseline, verdict)
        failure: ScalectlError | None = None
        if (budget is not None or total_budget is not None) and unpriced:
            failure = ScalectlError(f"cannot check the budget: no usable price for {', '.join(unpriced)}")
        elif verdict.over_any:
            failure = OverBudget(verdict.text)
        if ui.json:
            doc = cost_doc(report, file)
            if fmt == CostFormat.markdown:
                doc["markdown"] = cost_markdown(report)
            if failure is not None:
                doc.update(ok=False, error=failure.message, exit_code=int(failure.exit_code))
            ui.document(doc)
        elif fmt == CostFormat.markdown:
            sys.stdout.write(cost_markdown(report))
        else:
            print_costs(ui, report)
        if failure is not None:
            if ui.json:
                ui.say(f"[red]error:[/red] {escape(failure.message)}")
                exit_with(failure.exit_code)
            raise failure


def _estimate_all(config: Any, names: list[str], catalog: Any) -> list[Any]:
    """An Estimate per target; unknown types/regions become one ConfigError with file:line:col."""
    from scalectl.catalog import UnknownHardware
    from scalectl.errors import Diagnostic

    out = []
    problems: list[Diagnostic] = []
    for name in names:
        try:
            out.append(_estimate_target(config, name, catalog))
        except UnknownHardware as exc:
            problems.append(config.document.locate(Diagnostic(exc.message, loc=("targets", name, exc.field))))
    if problems:
        raise ConfigError(problems)
    return out


def _estimate_target(config: Any, name: str, catalog: Any) -> Any:
    from scalectl import cost
    from scalectl.bench.saved import effective_traffic, measured_note
    from scalectl.catalog import SERVICES, rate_for

    tgt = config.spec.targets[name]
    rate, _hw, type_, region = rate_for(catalog, tgt)
    notes: list[str] = []
    traffic, measured = effective_traffic(config, name)
    if measured is not None:
        notes.append(measured_note(measured))
    if tgt.provider == "docker":
        usage = cost.usage(tgt.replicas, tgt.replicas, traffic)
        usage = cost.Usage(**{**usage.to_dict(), "expected_hours": usage.max_hours, "note": ""})
        notes.append(f"docker runs a fixed {tgt.replicas} replica(s); autoscaling does not apply")
    else:
        usage = cost.usage(tgt.autoscaling.min, tgt.autoscaling.max, traffic)
    _service, offers_spot, no_spot = SERVICES[tgt.provider]
    if not offers_spot:
        rate = cost.Rate(**{**rate.to_dict(), "spot": None, "spot_note": rate.spot_note or no_spot})
    if rate.problem:
        notes.append(f"no usable price: {rate.problem}")
    if rate.basis == "estimate":
        notes.append("rate is an estimate, not a list price")
    return cost.estimate(name, tgt.provider, type_, region, usage, rate, tgt.spot, tuple(notes))


def _compare(catalog: Any, config: Any, current: Any) -> list[dict[str, Any]]:
    """The same usage on each provider's nearest equivalent hardware, cheapest first.

    Each row is billed the way the target is (spot where it asks for spot and the service sells
    it), so `saves` is measured against what the target actually pays; negative means it costs more.
    """
    from scalectl import cost
    from scalectl.catalog import SERVICES, nearest, rate_for

    _rate, hw, _type, _region = rate_for(catalog, config.spec.targets[current.target])
    if not hw.accelerator or current.on_demand is None:
        return []

    wants_spot = current.billed == "spot"

    def entry(provider: str, type_: str, region: str, hardware: str, rate: Any, is_current: bool) -> dict[str, Any]:
        est = cost.estimate(current.target, provider, type_, region, current.usage, rate, wants_spot)
        return {
            "provider": provider,
            "type": type_,
            "region": region,
            "hardware": hardware,
            "rate": rate.to_dict(),
            "on_demand": est.on_demand.to_dict() if est.on_demand else None,
            "spot": est.spot.to_dict() if est.spot else None,
            "billed": est.billed,
            "billed_rate": est.billed_rate,
            "monthly": round(est.expected or 0.0, 2),
            "current": is_current,
        }

    rows = [entry(current.provider, current.hardware, current.region, hw.describe(), current.rate, True)]
    for provider in ("aws", "gcp", "azure"):
        region = current.region if provider == current.provider else None
        offer = nearest(catalog, hw, provider, region)
        if offer is None or (provider == current.provider and offer.type == current.hardware):
            continue
        rate = offer.rate
        if not SERVICES[provider][1]:
            rate = cost.Rate(**{**rate.to_dict(), "spot": None, "spot_note": SERVICES[provider][2]})
        rows.append(entry(provider, offer.type, offer.region, offer.hardware.describe(), rate, False))
    rows.sort(key=lambda r: r["monthly"])
    mine = rows[[r["current"] for r in rows].index(True)]["monthly"]  # billed, like the others
    for r in rows:
        r["saves"] = round(mine - r["monthly"], 2)
    return rows


def _baseline_figures(ref: str, file: Path, names: list[str], catalog: Any) -> dict[str, float | None]:
    """Expected monthly cost per target of a previous config: a file, or `git show REV:file`."""
    import subprocess
    import tempfile

    from scalectl.catalog import UnknownHardware

    path = Path(ref)
    if path.is_file():
        base_config = _load_baseline(path, ref)
    else:
        try:
            shown = subprocess.run(
                ["git", "-C", str(file.resolve().parent), "show", f"{ref}:./{file.name}"],
                capture_output=True,
                check=False,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(f"--baseline {ref}: cannot run git ({exc})") from None
        if shown.returncode != 0:
            why = shown.stderr.decode(errors="replace").strip().splitlines()
            raise UsageError(
                f"--baseline {ref}: not a file, and `git show {ref}:{file.name}` failed"
                + (f" ({why[-1]})" if why else "")
            )
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / file.name
            copy.write_bytes(shown.stdout)
            base_config = _load_baseline(copy, f"{ref}:{file.name}")
    out: dict[str, float | None] = {}
    wanted = [n for n in base_config.spec.targets if n in names] if names else list(base_config.spec.targets)
    for name in wanted:
        try:
            out[name] = _estimate_target(base_config, name, catalog).expected
        except UnknownHardware:
            out[name] = None  # the old file named hardware we cannot price; its delta is unknown
    return out


def _load_baseline(path: Path, name: str) -> Any:
    """The previous config; if it does not validate, say so about the baseline, not a temp file."""
    from scalectl.config import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        first = next((d for d in exc.diagnostics if d.severity == "error"), exc.diagnostics[0])
        where = f"{name}:{first.line}:{first.column}" if first.line else name
        raise UsageError(f"--baseline {where}: {first.field or 'file'}: {first.message}") from None
