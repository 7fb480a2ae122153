"""`scalectl drift`: have the captured inputs (and the model's outputs) moved away from the training data?

Reading captures is scalectl/capture.py, the statistics scalectl/drift.py (numpy/scipy, the `drift`
extra, imported only here), the printing scalectl/views/drift.py. Exit 8 when anything drifted.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from scalectl.commands.common import Common, exit_with, reporting, shared_options
from scalectl.errors import DriftDetected, ScalectlError, UsageError
from scalectl.ui import escape

# Where each platform's capture lands, and what to do until `drift` reads it there itself.
_REMOTE = {
    "pvc": "each pod's sidecar writes a folder on the claim: copy them out (`kubectl cp POD:/captures -c capture "
    "./captures`), then --captures ./captures",
}


class DriftFormat(str, Enum):
    text = "text"
    markdown = "markdown"


def window(text: str, flag: str) -> timedelta:
    """`24h`, `90m`, `7d`, `1d12h` -> a timedelta (days on top of the usual scale.yaml durations)."""
    from scalectl.schema import parse_duration

    rest, days = text.strip(), 0
    if "d" in rest:
        head, _, rest = rest.partition("d")
        if not head.strip().isdigit():
            raise UsageError(f"{flag} {text}: expected a duration like 24h, 90m or 7d")
        days = int(head)
    try:
        seconds = parse_duration(rest) if rest.strip() else 0
    except ValueError:
        raise UsageError(f"{flag} {text}: expected a duration like 24h, 90m or 7d") from None
    total = timedelta(days=days, seconds=seconds)
    if total <= timedelta(0):
        raise UsageError(f"{flag} {text}: must be longer than zero")
    return total


@shared_options()
def drift(
    common: Common,
    baseline: Annotated[
        Path, typer.Option("--baseline", help="Training data: .csv, .jsonl or .parquet; its columns are the features.")
    ],
    since: Annotated[
        str, typer.Option("--since", help="Recent window: captures newer than this (24h, 90m, 7d).")
    ] = "24h",
    captures: Annotated[
        str | None,
        typer.Option(
            "--captures",
            help="Captured requests: a directory, a file, s3://bucket/prefix, azblob://account/container/prefix "
            "or bq://project.dataset.table; "
            "default: the target's destination.",
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="Reference outputs for prediction drift: a table (.csv/.jsonl/.parquet) or captured requests.",
        ),
    ] = None,
    reference_since: Annotated[
        str | None,
        typer.Option(
            "--reference-since",
            help="Reference outputs: captures from this long ago up to the recent window (default: one window before).",
        ),
    ] = None,
    psi: Annotated[float | None, typer.Option("--psi", min=0, help="PSI threshold (monitoring.drift.psi).")] = None,
    ks_p: Annotated[
        float | None, typer.Option("--ks-p", min=0, max=1, help="KS p-value threshold (monitoring.drift.ks_p).")
    ] = None,
    chi2_p: Annotated[
        float | None,
        typer.Option("--chi2-p", min=0, max=1, help="Chi-square p-value threshold (monitoring.drift.chi2_p)."),
    ] = None,
    fmt: Annotated[
        DriftFormat, typer.Option("--format", help="text tables, or markdown for a pull request or issue.")
    ] = DriftFormat.text,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write an HTML report with a picture per drifted feature.")
    ] = None,
) -> None:
    """Recent captured requests vs the training data per feature, outputs vs a reference; exit 8 on drift."""
    ui = common.ui
    with reporting(ui, "drift"):
        config, names = common.load(check_providers=False)
        if len(names) != 1:
            raise UsageError(f"drift compares one target at a time: pass -t NAME (targets: {', '.join(names)})")
        name = names[0]
        target = config.spec.targets[name]
        recent_window = window(since, "--since")
        ref_window = window(reference_since, "--reference-since") if reference_since else None
        if ref_window is not None and ref_window <= recent_window:
            raise UsageError(f"--reference-since {reference_since} must reach further back than --since {since}")
        source = captures or _destination(config, name, target)
        region = getattr(target, "region", None) if target.provider == "aws" else None

        from scalectl import capture
        from scalectl import drift as stats  # numpy/scipy: the `drift` extra
        from scalectl.views.drift import drift_doc, drift_html, drift_markdown, print_drift

        limits = target.monitoring.drift
        thresholds = stats.Thresholds(
            psi=limits.psi if psi is None else psi,
            ks_p=limits.ks_p if ks_p is None else ks_p,
            chi2_p=limits.chi2_p if chi2_p is None else chi2_p,
            min_samples=limits.min_samples,
        )
        now = datetime.now(timezone.utc)
        cutoff = now - recent_window
        base = capture.load_table(baseline)
        recent = capture.read_records(source, since=cutoff, region=region)
        if not recent:
            raise ScalectlError(
                f"no captured requests at {source} since {capture.utc_stamp(cutoff)}: nothing to compare"
                " (is monitoring.capture on, and is the model getting traffic?)"
            )
        inputs = stats.compare(base, capture.request_features(recent, list(base)), thresholds)
        if not any(f.recent_count for f in inputs.features):
            raise UsageError(
                f"none of the {len(recent)} captured requests carries a feature of {baseline} "
                f"(its columns: {', '.join(list(base)[:8])}); is it the right baseline?"
            )
        outputs_now = capture.prediction_features(recent)
        if reference is not None:
            ref_values = (
                capture.prediction_features(capture.read_records(reference))
                if capture.is_capture(reference)
                else capture.load_table(reference, "--reference")
            )
            ref_label = str(reference)
        else:
            start = now - (ref_window or 2 * recent_window)
            earlier = capture.read_records(source, since=start, until=cutoff, region=region)
            ref_values = capture.prediction_features(earlier)
            ref_label = f"captures {capture.utc_stamp(start)} .. {capture.utc_stamp(cutoff)}"
        predictions = None
        if any(ref_values.values()):
            predictions = stats.compare(ref_values, outputs_now, thresholds)
        context: dict[str, Any] = {
            "target": name,
            "baseline": str(baseline),
            "baseline_rows": max((len(v) for v in base.values()), default=0),
            "captures": str(source),
            "since": capture.utc_stamp(cutoff),
            "records": len(recent),
            "reference": ref_label,
        }
        doc = drift_doc(context, inputs, predictions)
        if report is not None:
            try:
                report.write_text(drift_html(context, inputs, predictions), encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"--report {report}: cannot write ({exc.strerror})") from None
        drifted = bool(inputs.drifted or (predictions and predictions.drifted))
        if ui.json:
            if fmt == DriftFormat.markdown:
                doc["markdown"] = drift_markdown(context, inputs, predictions)
            ui.document(doc)
        elif fmt == DriftFormat.markdown:
            sys.stdout.write(drift_markdown(context, inputs, predictions))
        else:
            print_drift(ui, context, inputs, predictions)
        if report is not None:
            ui.say(f"report: {escape(str(report))}")
        if drifted:
            moved = [f.name for f in inputs.drifted]
            moved += [f"prediction {f.name}" for f in (predictions.drifted if predictions else [])]
            failure = DriftDetected(f"drift on {name}: {', '.join(dict.fromkeys(moved))}")
            if ui.json:
                ui.say(f"[red]error:[/red] {escape(failure.message)}")
                exit_with(failure.exit_code)
            raise failure


def _destination(config: Any, name: str, target: Any) -> str:
    """The target's capture directory, s3:// prefix or bq:// table; other cloud destinations are refused with
    what works."""
    cap = target.monitoring.capture
    if cap is None:
        raise UsageError(
            f"target {name} has no monitoring.capture in {config.path}: turn capture on, "
            "or point --captures at captured requests"
        )
    scheme, sep, _ = cap.destination.partition("://")
    if scheme in ("s3", "bq"):
        return cap.destination
    if scheme == "azureml":
        from scalectl.engine import release_for
        from scalectl.providers.azure.requests import endpoint_name

        endpoint = endpoint_name(release_for(config, name)) if target.provider == "azure" else "<endpoint>"
        raise UsageError(
            f"Azure ML's data collector writes to the workspace's default blob store ({cap.destination}), whose "
            f"storage account only the workspace knows: pass --captures "
            f"azblob://ACCOUNT/CONTAINER/modelDataCollector/{endpoint} (the account and container of the "
            f"workspace's workspaceblobstore datastore, e.g. `az ml datastore show -n workspaceblobstore`)"
        )
    if sep:
        how = _REMOTE.get(scheme, "copy them locally, then --captures PATH")
        raise UsageError(
            f"drift does not read {scheme}:// captures directly; it reads local JSON lines (Docker capture "
            f"directories, copied Kubernetes ones), SageMaker capture files (local or s3://), Azure ML data "
            f"collector files (local or azblob://) and Vertex AI request-response log tables (bq://). "
            f"For {cap.destination}: {how}"
        )
    path = Path(cap.destination)
    return str(path if path.is_absolute() else config.path.resolve().parent / path)
