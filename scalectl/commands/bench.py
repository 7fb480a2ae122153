"""`scalectl bench`: load a deployed target through its front door (or any --url) and measure it.

The engine is scalectl/bench/ (open loop at a fixed rate, closed loop at a fixed concurrency, HDR
histograms); the printing, live progress and HTML report are scalectl/views/bench.py.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from scalectl.commands.common import Common, exit_with, reporting, shared_options
from scalectl.errors import ScalectlError, SloMissed, UsageError
from scalectl.ui import escape

MAX_DURATION = 3600  # seconds: no single run (or ramp step) is longer than an hour


@shared_options()
def bench(
    common: Common,
    url: Annotated[
        str | None, typer.Option("--url", help="Bench this HTTP endpoint instead of a target's front door.")
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option("--rate", envvar="SCALECTL_BENCH_RATE", help="Open loop: requests per second, e.g. 200/s."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, max=4096, help="Closed loop: this many requests in flight, back to back."),
    ] = None,
    duration: Annotated[
        str, typer.Option("--duration", envvar="SCALECTL_BENCH_DURATION", help="How long each run (ramp step) lasts.")
    ] = "10s",
    max_rate: Annotated[
        str, typer.Option("--max-rate", help="Refuse (and stop a ramp at) rates above this; raise it on purpose.")
    ] = "2000/s",
    max_requests: Annotated[
        int, typer.Option("--max-requests", min=1, help="Stop a run after this many requests.")
    ] = 100_000,
    request_timeout: Annotated[
        float, typer.Option("--request-timeout", min=0.001, help="Seconds before a request counts as a timeout.")
    ] = 10.0,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=256,
            help="Client processes, one event loop each (default: closed loop one per core; open loop one per "
            "2000/s, up to one per core).",
        ),
    ] = None,
    connections: Annotated[
        int, typer.Option("--connections", min=1, max=4096, help="Open loop: at most this many requests in flight.")
    ] = 256,
    requests: Annotated[
        Path | None,
        typer.Option(
            "--requests", help="Request bodies, JSON lines sent round-robin (default: bench.jsonl next to the file)."
        ),
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", metavar="NAME:VALUE", help="Extra request header (repeatable).")
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option("--slo", envvar="SCALECTL_BENCH_SLO", help="e.g. p99=250ms,errors=0.5%; missed -> exit 7."),
    ] = None,
    ramp: Annotated[
        bool, typer.Option("--ramp", help="Step the rate up from --rate until the SLO breaks: measures replica_rps.")
    ] = False,
    ramp_factor: Annotated[
        float, typer.Option("--ramp-factor", min=1.05, help="Each ramp step's rate multiplier.")
    ] = 1.5,
    replicas: Annotated[
        int | None, typer.Option("--replicas", min=1, help="Replicas behind --url (a target's are read from it).")
    ] = None,
    save: Annotated[
        bool, typer.Option("--save", help="Record the measured replica_rps for cost-estimate (.scalectl/bench/).")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report (latency vs offered load).")
    ] = None,
) -> None:
    """Measure latency (P50..P99.9, max), throughput and errors under a bounded load; gate on an SLO."""
    ui = common.ui
    with reporting(ui, "bench"):
        import importlib.util

        if importlib.util.find_spec("hdrh") is None:
            raise ScalectlError("scalectl bench needs the hdrhistogram package: pip install 'scalectl[bench]'")
        from scalectl.bench import slo as slos
        from scalectl.bench.engine import LoadSpec
        from scalectl.bench.targets import EXAMPLE_FILE, FrontDoor, front_door, load_bodies
        from scalectl.schema import parse_duration

        if (rate is None) == (concurrency is None):
            raise UsageError("pass exactly one of --rate (open loop, e.g. 200/s) and --concurrency (closed loop)")
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise UsageError(f"--duration {duration}: {exc}") from None
        if not 0 < seconds <= MAX_DURATION:
            raise UsageError(f"--duration {duration}: must be between 1s and {MAX_DURATION // 60}m")
        ceiling = slos.parse_rate(max_rate, "--max-rate")
        offered = slos.parse_rate(rate) if rate is not None else None
        if offered is not None and offered > ceiling:
            raise UsageError(f"--rate {rate} is above --max-rate {max_rate}: raise --max-rate to mean it")
        objective = slos.parse_slo(slo) if slo else None
        if ramp and (objective is None or offered is None):
            raise UsageError("--ramp needs --rate (the first step) and --slo (what must hold)")
        if save and not ramp:
            raise UsageError("--save records the replica_rps a --ramp measures: add --ramp")
        extra = _headers(header or [])

        config: Any = None
        target: str | None = None
        if url is not None:
            if common.targets:
                raise UsageError("pass --url or --target, not both")
            door = FrontDoor(url=url, describe=url, replicas=replicas)
            if save:
                raise UsageError("--save records a figure for a target: use -t TARGET, not --url")
        else:
            config, names = common.load(check_providers=False)
            if len(names) != 1:
                raise UsageError(f"bench one target at a time: pass -t with one of {', '.join(names)}")
            target = names[0]
            door = front_door(config, target)
            if replicas is not None:
                door.replicas = replicas
        if requests is None and config is not None and (config.path.resolve().parent / EXAMPLE_FILE).is_file():
            requests = config.path.resolve().parent / EXAMPLE_FILE
        if requests is None:
            raise UsageError(
                f"no request bodies: pass --requests FILE (JSON lines) or put {EXAMPLE_FILE} next to the scale file"
            )
        bodies = load_bodies(requests)

        def spec(step_rate: float | None) -> LoadSpec:
            return LoadSpec(
                url=door.url,
                bodies=bodies,
                duration=float(seconds),
                max_requests=max_requests,
                rate=step_rate,
                concurrency=None if step_rate is not None else concurrency,
                headers={**door.headers, **extra},
                timeout=request_timeout,
                connections=connections,
                sign=door.sign,
                revision_header=door.revision_header,
                revision_field=door.revision_field,
                tls=door.tls,
            )

        rates = _ramp_rates(offered, ramp_factor, ceiling) if ramp and offered is not None else [offered]
        sampler = None
        if door.containers:
            from scalectl.bench.resources import ResourceSampler

            sampler = ResourceSampler(door.containers)
        with sampler or nullcontext():
            outcome = _run_steps(ui, door, [spec(r) for r in rates], objective, ramp, workers)
        doc = _document(target, door, outcome, objective, ramp)
        doc["resources"] = sampler.summary() if sampler else None
        if sampler is not None:  # each step's own share of the samples: CPU against offered load
            for step, (result, _) in zip(doc["steps"], outcome, strict=True):
                step["resources"] = sampler.summary(result.started, result.started + result.elapsed)["containers"]
        if save and target is not None:
            doc["saved"] = _save(config, target, doc)
        if report is not None:
            from scalectl.views.bench import write_report

            write_report(report, doc)
            doc["report"] = str(report)
        _finish(ui, doc)


def _headers(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header {value!r}: expected NAME:VALUE")
        out[name.strip()] = content.strip()
    return out


def _ramp_rates(start: float, factor: float, ceiling: float) -> list[float]:
    rates = [start]
    while rates[-1] * factor <= ceiling and len(rates) < 40:
        rates.append(round(rates[-1] * factor, 2))
    return rates


def _run_steps(
    ui: Any, door: Any, specs: list[Any], objective: Any, ramp: bool, workers: int | None
) -> list[tuple[Any, list[str]]]:
    """Run each spec in turn with live progress; a ramp stops at the first step that misses the SLO."""
    from scalectl.bench.engine import default_workers, run
    from scalectl.views.bench import live_progress

    if not ui.json:
        ui.say(f"bench {escape(door.describe)}")
    out: list[tuple[Any, list[str]]] = []
    for index, spec in enumerate(specs):
        title = f"step {index + 1}/{len(specs)}: " if len(specs) > 1 else ""
        title += f"{spec.rate:g}/s open loop" if spec.rate is not None else f"{spec.concurrency} concurrent"
        with live_progress(ui, title) as progress:
            result = run(spec, progress, workers or default_workers(spec))
        breaches = _breaches(result, objective, ramp)
        out.append((result, breaches))
        if ramp and breaches:
            break
    return out


def _breaches(result: Any, objective: Any, ramp: bool) -> list[str]:
    out = objective.breaches(result.all.latency_ms(), result.error_rate, result.all.total) if objective else []
    offered = result.spec.rate
    if ramp and offered and result.throughput < 0.9 * offered:  # it could not keep up: that rate did not hold
        out.append(f"served {result.throughput:.0f}/s of {offered:g}/s offered")
    return out


def _document(target: str | None, door: Any, outcome: list[tuple[Any, list[str]]], objective: Any, ramp: bool) -> dict:
    from scalectl.bench.engine import CLIENT_LATE_MS
    from scalectl.views.bench import run_doc

    steps = [run_doc(result, breaches) for result, breaches in outcome]
    for step in steps:  # the platform's names for what served (Vertex: deployed model ids) as revisions
        step["revisions"] = {door.revision_names.get(k, k): v for k, v in step["revisions"].items()}
    doc: dict[str, Any] = {
        "command": "bench",
        "target": target,
        "url": door.url,
        "front_door": door.describe,
        "replicas": door.replicas,
        "traffic": door.serving,
        "mode": "open" if outcome[0][0].spec.rate is not None else "closed",
        "connections": outcome[0][0].spec.connections,
        "workers": max(r.workers for r, _ in outcome),  # client processes (one event loop each), at most
        "event_loop": outcome[0][0].event_loop,
        "slo": objective.to_dict() if objective else None,
        "steps": steps,
    }
    if ramp:
        held = [s for s in steps if not s["slo_breaches"]]
        best = held[-1]["offered_rps"] if held else None
        broke = steps[-1] if steps[-1]["slo_breaches"] else None
        doc["ramp"] = {
            "held_rps": best,
            "broke_at_rps": broke["offered_rps"] if broke else None,
            "replica_rps": round(best / door.replicas, 2) if best and door.replicas else None,
            # the step that broke was late on this machine's side: the server may hold more than was measured
            "client_limited": bool(broke and (broke["client_lag_ms"] or {}).get("p99", 0) > CLIENT_LATE_MS),
        }
        doc["slo_met"] = bool(held)
    else:
        doc["slo_met"] = not steps[-1]["slo_breaches"] if objective else None
    doc["ok"] = doc["slo_met"] is not False and any(s["ok"] for s in steps)
    return doc


def _save(config: Any, target: str, doc: dict[str, Any]) -> str | None:
    from scalectl.bench.saved import save_measurement

    replica_rps = doc["ramp"]["replica_rps"]
    if replica_rps is None:
        return None
    return str(save_measurement(config.path, target, replica_rps, doc))


def _finish(ui: Any, doc: dict[str, Any]) -> None:
    from scalectl.views.bench import print_bench

    failure: ScalectlError | None = None
    if doc["slo_met"] is False:
        missed = "; ".join(doc["steps"][0 if "ramp" in doc else -1]["slo_breaches"])
        failure = SloMissed(f"SLO {doc['slo']['text']} missed: {missed}")
    elif not any(s["ok"] for s in doc["steps"]):
        failure = ScalectlError(f"no request to {doc['url']} succeeded; errors: {doc['steps'][-1]['errors']}")
    if ui.json:
        if failure is not None:
            doc.update(ok=False, error=failure.message, exit_code=int(failure.exit_code))
        ui.document(doc)
    else:
        print_bench(ui, doc)
    if failure is not None:
        if ui.json:
            ui.say(f"[red]error:[/red] {escape(failure.message)}")
            exit_with(failure.exit_code)
        raise failure
