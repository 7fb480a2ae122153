"""The `scalectl` command line: parse flags, call the engine, print.

Nothing here imports a cloud SDK; providers import theirs when a command talks to them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from scalectl import __version__
from scalectl.errors import ConfigError, ExitCode, OverBudget, ScalectlError, UsageError
from scalectl.ui import OutputFormat, Ui, config_error_doc

app = typer.Typer(
    name="scalectl",
    help="One scale.yaml -> an autoscaled, safely updatable model endpoint on SageMaker, Vertex AI, "
    "Azure ML or local Docker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

FileOpt = Annotated[
    Path, typer.Option("--file", "-f", envvar="SCALECTL_FILE", help="The scale file.", show_default=True)
]
TargetsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        envvar="SCALECTL_TARGET",
        metavar="NAME",
        help="Target name (repeatable); default: all targets.",
    ),
]
OutputOpt = Annotated[
    OutputFormat,
    typer.Option("--output", envvar="SCALECTL_OUTPUT", help="text for people, json for CI (one document on stdout)."),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", envvar="SCALECTL_NO_COLOR", help="Plain text, no colors.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", envvar="SCALECTL_YES", help="Do not ask for confirmation.")]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", envvar="SCALECTL_STATE_DIR", help="Local journal and locks; default: .scalectl next to the file."
    ),
]
TimeoutOpt = Annotated[
    int | None,
    typer.Option("--timeout", envvar="SCALECTL_TIMEOUT", help="Seconds a rollout may take (default: rollout.timeout)."),
]


def main() -> None:
    app()


def _version(value: bool) -> None:
    if value:
        print(f"scalectl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """One scale.yaml -> a model endpoint that scales, costs what you expect, and rolls back in seconds."""


@contextmanager
def _reporting(ui: Ui, command: str) -> Iterator[None]:
    """Turn scalectl errors into a message and the documented exit code; never a traceback for user errors."""
    try:
        yield
    except ConfigError as exc:
        if ui.json:
            ui.document({"command": command, **config_error_doc(exc)})
        ui.diagnostics(list(exc.diagnostics))
        n = len([d for d in exc.diagnostics if d.severity == "error"])
        ui.say(f"[red]{n} error{'s' if n != 1 else ''}[/red]; nothing was changed.")
        _exit(exc.exit_code)
    except ScalectlError as exc:
        if ui.json:
            ui.document({"command": command, "ok": False, "error": exc.message, "exit_code": int(exc.exit_code)})
        ui.say(f"[red]error:[/red] {_escape(exc.message)}")
        _exit(exc.exit_code)
    except KeyboardInterrupt:
        ui.say("[red]interrupted[/red]")
        _exit(130)
    except (typer.Exit, SystemExit):
        raise
    except ModuleNotFoundError as exc:
        from scalectl.registry import sdk_extra

        extra = sdk_extra((exc.name or "").split(".")[0])
        if extra is None or os.environ.get("SCALECTL_DEBUG"):
            raise
        message = f"this command needs the {exc.name} package: pip install 'scalectl[{extra}]'; nothing was changed"
        if ui.json:
            ui.document({"command": command, "ok": False, "error": message, "exit_code": int(ExitCode.FAILED)})
        ui.say(f"[red]error:[/red] {_escape(message)}")
        _exit(ExitCode.FAILED)
    except Exception as exc:
        if os.environ.get("SCALECTL_DEBUG"):
            raise
        if ui.json:
            ui.document({"command": command, "ok": False, "error": f"internal error: {exc!r}", "exit_code": 1})
        ui.say(f"[red]internal error:[/red] {_escape(repr(exc))} (set SCALECTL_DEBUG=1 for a traceback)")
        _exit(ExitCode.FAILED)


def _exit(code: int) -> NoReturn:
    raise typer.Exit(int(code))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _load(file: Path, targets: list[str] | None, check_providers: bool = True) -> tuple[Any, list[str]]:
    from scalectl.checks import check_config
    from scalectl.config import load_config

    config = load_config(file)
    names = config.select(targets)
    return (check_config(config, names) if check_providers else config), names


def _engine(config: Any, state_dir: Path | None) -> Any:
    from scalectl.engine import Engine

    return Engine(config, state_dir or config.path.resolve().parent / ".scalectl")


def _confirm(ui: Ui, yes: bool, question: str) -> None:
    """Ask on a terminal; without one, --yes is required (CI must say what it means)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} needs confirmation: pass --yes (or set SCALECTL_YES=1) when not on a terminal")
    if not typer.confirm(question, default=False, err=True):
        ui.say("aborted; nothing was changed")
        _exit(ExitCode.FAILED)


# ---------------------------------------------------------------- offline commands


STARTER = """\
# scale.yaml: one file, every target. `scalectl validate` checks it; `scalectl schema` gives editors the schema.
# yaml-language-server: $schema=./scale.schema.json
version: 1
name: my-model
model:
  image: my-model:${GIT_SHA:-latest}   # ${VAR} and ${VAR:-default} come from the environment
  # build: ./server                    # docker targets: build the image from this folder first
  port: 8080                           # the container serves HTTP here
  health: /ping                        # GET -> 200 when ready
  predict: /invocations                # POST -> prediction
  env: {LOG_LEVEL: info}
  # secrets: {API_TOKEN: env://API_TOKEN}   # references only, never values
defaults:                              # inherited by every target; a target's own keys win
  autoscaling: {min: 1, max: 4, metric: requests_per_replica, target: 50}
  rollout: {strategy: canary, percent: 10, bake: 30s, auto_rollback: true}
targets:
  local:
    provider: docker
    replicas: 2
    port: 8000                         # the gateway's stable port on this machine
  # prod-aws:   {provider: aws, region: us-east-1, instance: ml.g5.xlarge,
  #              execution_role: arn:aws:iam::123456789012:role/sagemaker-exec}
  # prod-gcp:   {provider: gcp, project: acme, region: us-central1, machine: g2-standard-8,
  #              accelerator: {type: NVIDIA_L4, count: 1}, spot: true}
  # prod-azure: {provider: azure, subscription: 00000000-0000-0000-0000-000000000000,
  #              resource_group: ml, workspace: prod, instance: Standard_NC4as_T4_v3}
traffic:                               # for `scalectl cost-estimate`
  peak_rps: 120
  offpeak_rps: 10
  peak_hours_per_day: 10
  replica_rps: 40
"""


@app.command()
def init(
    file: FileOpt = Path("scale.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Write a commented starter scale.yaml (a local Docker target) that validates."""
    ui = Ui(output, no_color)
    with _reporting(ui, "init"):
        if file.exists() and not force:
            raise UsageError(f"{file} already exists; pass --force to overwrite it")
        file.write_text(STARTER)
        if ui.json:
            ui.document({"command": "init", "ok": True, "file": str(file)})
        ui.say(f"wrote {file}; next: `scalectl validate -f {file}`")


@app.command()
def validate(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Check the file: schema, `${VAR}`s, and each provider's capabilities. No network."""
    ui = Ui(output, no_color)
    with _reporting(ui, "validate"):
        config, names = _load(file, target)
        if config.warnings:
            ui.diagnostics(list(config.warnings))
        if ui.json:
            ui.document(
                {
                    "command": "validate",
                    "ok": True,
                    "file": str(file),
                    "targets": {n: config.spec.targets[n].provider for n in names},
                    "diagnostics": [d.to_dict() for d in config.warnings],
                }
            )
        listed = ", ".join(f"{n} ({config.spec.targets[n].provider})" for n in names)
        ui.say(f"[green]ok[/green] {file}: {len(names)} target{'s' if len(names) != 1 else ''} valid: {listed}")


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to a file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of scale.yaml (for editors' yaml-language-server)."""
    from scalectl.config import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out:
        out.write_text(text)
    else:
        sys.stdout.write(text)


@app.command()
def render(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", "-o", help="Write files to DIR/<target>/ instead of printing.")
    ] = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Show exactly what each provider will send or run (request bodies, gateway config). No network."""
    from scalectl.engine import release_for
    from scalectl.registry import get_provider

    ui = Ui(output, no_color)
    with _reporting(ui, "render"):
        config, names = _load(file, target)
        rendered: dict[str, dict[str, str]] = {}
        for name in names:
            release = release_for(config, name)
            rendered[name] = get_provider(release.target.provider).render(release)
        if out_dir is not None:
            written = []
            for name, files in rendered.items():
                for fname, text in files.items():
                    path = out_dir / name / fname
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
                    written.append(str(path))
            if ui.json:
                ui.document({"command": "render", "ok": True, "files": written})
            for w in written:
                ui.say(f"wrote {w}")
        elif ui.json:
            ui.document({"command": "render", "ok": True, "targets": rendered})
        else:
            for name, files in rendered.items():
                for fname, text in files.items():
                    ui.say(f"[bold]# {name}/{fname}[/bold]")
                    sys.stdout.write(text if text.endswith("\n") else text + "\n")


# ---------------------------------------------------------------- commands that talk to a platform


def _print_plan(ui: Ui, plan: Any) -> None:
    from rich.table import Table

    table = Table(title=f"{plan.release.target_name} ({plan.release.target.provider}): revision {plan.revision.number}")
    table.add_column("action")
    table.add_column("resource")
    table.add_column("detail")
    colors = {"create": "green", "update": "yellow", "delete": "red", "keep": "dim"}
    for c in plan.changes:
        table.add_row(f"[{colors[c.action]}]{c.action}[/]", _escape(c.resource), _escape(c.detail))
    ui.err.print(table)


def _plan_doc(plan: Any) -> dict[str, Any]:
    return {
        "provider": plan.release.target.provider,
        "digest": plan.release.digest,
        "revision": plan.revision.number,
        "active": plan.live.active,
        "has_changes": plan.has_changes,
        "changes": [{"action": c.action, "resource": c.resource, "detail": c.detail} for c in plan.changes],
    }


@app.command()
def plan(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 3 when there are changes (0 when none).")
    ] = False,
    state_dir: StateOpt = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Desired vs live: what deploy would change. Changes nothing."""
    ui = Ui(output, no_color)
    with _reporting(ui, "plan"):
        config, names = _load(file, target)
        engine = _engine(config, state_dir)
        plans = {name: engine.plan(name) for name in names}
        if ui.json:
            ui.document({"command": "plan", "ok": True, "targets": {n: _plan_doc(p) for n, p in plans.items()}})
        else:
            for p in plans.values():
                _print_plan(ui, p)
        changed = [n for n, p in plans.items() if p.has_changes]
        ui.say(
            f"{len(changed)} of {len(plans)} target(s) would change" + (f": {', '.join(changed)}" if changed else "")
        )
        if detailed_exitcode and changed:
            _exit(ExitCode.CHANGES)


@app.command()
def deploy(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = None,
    state_dir: StateOpt = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Plan, confirm, roll out, wait healthy, and record the revision. A failed rollout leaves the old one serving."""
    from scalectl.events import Events

    ui = Ui(output, no_color)
    results: dict[str, Any] = {}
    with _reporting(ui, "deploy"):
        config, names = _load(file, target)
        engine = _engine(config, state_dir)
        for name in names:

            def confirm(plan: Any, name: str = name) -> None:
                if not ui.json:
                    _print_plan(ui, plan)
                _confirm(ui, yes, f"Deploy revision {plan.revision.number} to {name}?")

            events = Events(ui.event)
            try:
                plan, revision = engine.deploy(name, events, timeout=timeout, confirm=confirm)
            except ScalectlError as exc:
                if isinstance(exc, UsageError):
                    raise
                results[name] = {"changed": False, "error": exc.message, "events": events.to_list()}
                if ui.json:
                    ui.document(
                        {
                            "command": "deploy",
                            "ok": False,
                            "error": exc.message,
                            "targets": results,
                            "exit_code": int(exc.exit_code),
                        }
                    )
                ui.say(f"[red]deploy to {name} failed:[/red] {_escape(exc.message)}")
                _exit(exc.exit_code)
            if revision is None:
                results[name] = {"changed": False, "revision": plan.live.active}
                ui.say(f"{name}: already up to date (revision {plan.live.active})")
                continue
            results[name] = {"changed": True, "revision": revision.to_dict(), "events": events.to_list()}
            took = events.items[-1].at if events.items else 0.0
            ui.say(f"[green]{name}: revision {revision.number} is live[/green] ({took:.1f}s)")
        if ui.json:
            ui.document({"command": "deploy", "ok": True, "targets": results})


@app.command()
def status(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    state_dir: StateOpt = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """What runs now: revision, traffic split, replicas, autoscaling, endpoint URL."""
    ui = Ui(output, no_color)
    with _reporting(ui, "status"):
        config, names = _load(file, target)
        engine = _engine(config, state_dir)
        lives = {name: engine.observe(name) for name in names}
        if ui.json:
            ui.document({"command": "status", "ok": True, "targets": {n: lv.to_dict() for n, lv in lives.items()}})
            return
        for name, live in lives.items():
            if not live.exists:
                ui.say(f"[bold]{name}[/bold]: not deployed")
                continue
            split = ", ".join(f"rev {r}: {p}%" for r, p in sorted(live.traffic.items())) or "-"
            ui.say(f"[bold]{name}[/bold]: revision {live.active} | traffic {split} | url {live.url or '-'}")
            ui.details(live.details)


@app.command()
def history(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    state_dir: StateOpt = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Revisions: number, status, who, when, what image and config digest."""
    from rich.table import Table

    ui = Ui(output, no_color)
    with _reporting(ui, "history"):
        config, names = _load(file, target)
        engine = _engine(config, state_dir)
        hist = {name: engine.history(name) for name in names}
        if ui.json:
            ui.document(
                {"command": "history", "ok": True, "targets": {n: [r.to_dict() for r in h] for n, h in hist.items()}}
            )
            return
        for name, revisions in hist.items():
            table = Table(title=name, title_justify="left")
            for col in ("rev", "status", "created", "by", "digest", "image"):
                table.add_column(col, no_wrap=True)
            table.add_column("message")
            for r in revisions:
                table.add_row(
                    str(r.number),
                    r.status,
                    r.created_at,
                    _escape(r.created_by),
                    r.digest,
                    _escape(r.image),
                    _escape(r.message),
                )
            ui.err.print(table)


@app.command()
def rollback(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    to: Annotated[int | None, typer.Option("--to", help="Revision number; default: the previous good one.")] = None,
    yes: YesOpt = False,
    state_dir: StateOpt = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Go back to the previous good revision (or --to N), fast: the platform's own switch, not a redeploy."""
    from scalectl.events import Events

    ui = Ui(output, no_color)
    with _reporting(ui, "rollback"):
        config, names = _load(file, target, check_providers=False)
        if to is not None and len(names) != 1:
            raise UsageError("--to needs exactly one --target")
        engine = _engine(config, state_dir)
        results: dict[str, Any] = {}
        for name in names:
            _confirm(ui, yes, f"Roll back {name}?")
            events = Events(ui.event)
            revision, previous = engine.rollback(name, to, events)
            results[name] = {
                "revision": revision.to_dict(),
                "from": previous.number if previous else None,
                "seconds": round(events.items[-1].at, 3) if events.items else 0.0,
                "events": events.to_list(),
            }
            ui.say(
                f"[green]{name}: revision {revision.number} is serving again[/green]"
                + (f" (was {previous.number})" if previous else "")
            )
        if ui.json:
            ui.document({"command": "rollback", "ok": True, "targets": results})


@app.command()
def destroy(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    yes: YesOpt = False,
    state_dir: StateOpt = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Tear down what scalectl created for the target(s), and nothing else."""
    from scalectl.events import Events

    ui = Ui(output, no_color)
    with _reporting(ui, "destroy"):
        config, names = _load(file, target, check_providers=False)
        engine = _engine(config, state_dir)
        _confirm(ui, yes, f"Destroy {', '.join(names)}? This removes the endpoint(s)")
        results = {}
        for name in names:
            removed = engine.destroy(name, Events(ui.event))
            results[name] = removed
            ui.say(f"{name}: removed {len(removed)} resource(s)" + (f": {', '.join(removed)}" if removed else ""))
        if ui.json:
            ui.document({"command": "destroy", "ok": True, "targets": results})


@app.command()
def unlock(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    state_dir: StateOpt = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Remove a stale deploy lock (left by a killed process) from the local journal."""
    ui = Ui(output, no_color)
    with _reporting(ui, "unlock"):
        config, names = _load(file, target, check_providers=False)
        engine = _engine(config, state_dir)
        removed = [n for n in names if engine.journal.unlock(config.spec.name, n)]
        if ui.json:
            ui.document({"command": "unlock", "ok": True, "unlocked": removed})
        ui.say(f"unlocked: {', '.join(removed) or 'nothing was locked'}")


# ---------------------------------------------------------------- cost-estimate and the price catalog
# (kept in one block for merging; the model is scalectl/cost.py, prices scalectl/catalog.py)


class CostFormat(str, Enum):
    text = "text"
    markdown = "markdown"


class CatalogProvider(str, Enum):
    aws = "aws"
    gcp = "gcp"
    azure = "azure"


@app.command("cost-estimate")
def cost_estimate(
    file: FileOpt = Path("scale.yaml"),
    target: TargetsOpt = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Also price the workload on every provider's nearest equivalent hardware.")
    ] = False,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget", envvar="SCALECTL_BUDGET", min=0, help="Exit 4 when a target's expected USD/month is above this."
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
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Monthly cost under each target's autoscaling policy: min, expected (traffic profile), max; on-demand vs spot."""
    ui = Ui(output, no_color)
    with _reporting(ui, "cost-estimate"):
        from scalectl import cost
        from scalectl.catalog import load_catalog

        config, names = _load(file, target, check_providers=False)
        catalog = load_catalog()
        estimates = _estimate_all(config, names, catalog)
        comparisons = {e.target: _compare(catalog, config, e) for e in estimates} if compare else {}
        base = _baseline_figures(baseline, file, names, catalog) if baseline else None
        current = {e.target: e.expected for e in estimates}
        deltas = cost.delta(current, base) if base is not None else None
        over = [e for e in estimates if budget is not None and e.expected is not None and e.expected > budget]
        unpriced = [e.target for e in estimates if not e.priced]
        doc = _cost_doc(config, file, catalog, estimates, comparisons, deltas, baseline, budget, over)
        markdown = _cost_markdown(config, catalog, estimates, comparisons, deltas, baseline, budget, over)
        failure: ScalectlError | None = None
        if over:
            named = ", ".join(f"{e.target} (${e.expected:,.2f})" for e in over)
            failure = OverBudget(f"over budget ${budget:,.2f}/month: {named}")
        elif budget is not None and unpriced:
            failure = ScalectlError(f"cannot check the budget: no usable price for {', '.join(unpriced)}")
        if ui.json:
            if fmt == CostFormat.markdown:
                doc["markdown"] = markdown
            if failure is not None:
                doc.update(ok=False, error=failure.message, exit_code=int(failure.exit_code))
            ui.document(doc)
        elif fmt == CostFormat.markdown:
            sys.stdout.write(markdown)
        else:
            _print_costs(ui, config, catalog, estimates, comparisons, deltas, baseline)
        if failure is not None:
            if ui.json:
                ui.say(f"[red]error:[/red] {_escape(failure.message)}")
                _exit(failure.exit_code)
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


def _traffic(config: Any) -> Any:
    from scalectl.cost import TrafficProfile

    t = config.spec.traffic
    return TrafficProfile(t.peak_rps, t.offpeak_rps, t.peak_hours_per_day, t.replica_rps) if t else None


def _estimate_target(config: Any, name: str, catalog: Any) -> Any:
    from scalectl import cost
    from scalectl.catalog import SERVICES, rate_for

    tgt = config.spec.targets[name]
    rate, _hw, type_, region = rate_for(catalog, tgt)
    notes: list[str] = []
    if tgt.provider == "docker":
        usage = cost.usage(tgt.replicas, tgt.replicas, _traffic(config))
        usage = cost.Usage(**{**usage.to_dict(), "expected_hours": usage.max_hours, "note": ""})
        notes.append(f"docker runs a fixed {tgt.replicas} replica(s); autoscaling does not apply")
    else:
        usage = cost.usage(tgt.autoscaling.min, tgt.autoscaling.max, _traffic(config))
    _service, offers_spot, no_spot = SERVICES[tgt.provider]
    if not offers_spot:
        rate = cost.Rate(**{**rate.to_dict(), "spot": None, "spot_note": rate.spot_note or no_spot})
    if rate.problem:
        notes.append(f"no usable price: {rate.problem}")
    if rate.basis == "estimate":
        notes.append("rate is an estimate, not a list price")
    return cost.estimate(name, tgt.provider, type_, region, usage, rate, tgt.spot, tuple(notes))


def _compare(catalog: Any, config: Any, current: Any) -> list[dict[str, Any]]:
    """The same usage on each provider's nearest equivalent hardware, cheapest first."""
    from scalectl import cost
    from scalectl.catalog import SERVICES, nearest, rate_for

    _rate, hw, _type, _region = rate_for(catalog, config.spec.targets[current.target])
    if not hw.accelerator or current.on_demand is None:
        return []

    def entry(provider: str, type_: str, region: str, hardware: str, rate: Any, is_current: bool) -> dict[str, Any]:
        est = cost.estimate(current.target, provider, type_, region, current.usage, rate, False)
        return {
            "provider": provider,
            "type": type_,
            "region": region,
            "hardware": hardware,
            "rate": rate.to_dict(),
            "on_demand": est.on_demand.to_dict() if est.on_demand else None,
            "spot": est.spot.to_dict() if est.spot else None,
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
    mine = rows[[r["current"] for r in rows].index(True)]["monthly"]  # on-demand, like the others
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


def _cost_doc(
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
    from scalectl import cost

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


def _per_hour(value: float | None) -> str:
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


def _catalog_line(catalog: Any) -> str:
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


def _print_costs(
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

    from scalectl import cost

    title = f"{config.spec.name}: USD/month (730 h), {_catalog_line(catalog)}"
    if ui.err.width < 100:  # a narrow terminal: one block per target reads better than a folded table
        ui.say(f"[bold]{_escape(title)}[/bold]")
        for e in estimates:
            od = e.on_demand
            rate = _per_hour(e.rate.on_demand) + "/h" if e.rate.on_demand is not None else "[red]unpriced[/red]"
            rate += " (estimate)" if e.rate.basis == "estimate" else ""
            ui.say(f"[bold]{e.target}[/bold]  {e.provider} {e.region}  {_escape(e.hardware)}  {rate}")
            spot = e.spot.expected if e.spot and e.spot.expected is not None else (e.spot.max if e.spot else None)
            ui.say(
                f"  replicas {_replicas(e.usage).replace(chr(10), ' ')}  min {_usd(od.min if od else None)}  "
                f"expected {_usd(od.expected if od else None)}  max {_usd(od.max if od else None)}  "
                f"spot {_usd(spot) if spot is not None else 'n/a'}"
            )
    else:
        table = Table(title=_escape(title), box=box.SIMPLE_HEAD)
        for col in ("target", "type / region", "$/h", "replicas", "min", "expected", "max", "spot exp."):
            left = col in ("target", "type / region", "replicas")
            table.add_column(col, justify="left" if left else "right", overflow="fold")
        for e in estimates:
            od = e.on_demand
            spot = e.spot.expected if e.spot and e.spot.expected is not None else (e.spot.max if e.spot else None)
            table.add_row(
                f"{e.target}\n[dim]{e.provider}[/dim]",
                f"{_escape(e.hardware)}\n[dim]{e.region}[/dim]",
                _per_hour(e.rate.on_demand) if e.rate.on_demand is not None else "[red]unpriced[/red]",
                _replicas(e.usage),
                _whole(od.min if od else None),
                _whole(od.expected if od else None),
                _whole(od.max if od else None),
                _whole(spot),
            )
        ui.err.print(table)
    for e in estimates:
        dated = f" ({e.rate.date})" if e.rate.date else ""
        ui.say(f"[bold]{e.target}[/bold] ({e.rate.basis} rate): {_escape(e.rate.source)}{dated}")
        if e.rate.parts:
            ui.say(f"  = {_escape(' + '.join(e.rate.parts))}")
        if e.spot is None and e.rate.spot_note:
            ui.say(f"  spot: {_escape(e.rate.spot_note)}")
        if e.billed == "spot":
            ui.say("  billed at the spot rate (spot: true)")
        for note in e.notes:
            ui.say(f"  [yellow]{_escape(note)}[/yellow]")
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
                    f"  {r['provider']:<5} {_escape(r['type'])} {r['region']}  {_escape(r['hardware'])}  "
                    f"{_per_hour(r['rate']['on_demand'])}/h{est}  {_usd(r['monthly'])}/mo  {saves}"
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
                f"{_escape(r['type'])}\n[dim]{r['region']}[/dim]",
                _escape(r["hardware"]),
                _per_hour(r["rate"]["on_demand"]) + (" est." if r["rate"]["basis"] == "estimate" else ""),
                _whole(r["monthly"]),
                _whole(spot["expected"] if spot and spot["expected"] is not None else (spot or {}).get("max")),
                "-" if r["current"] else _whole(r["saves"]),
            )
        ui.err.print(t)
    if deltas is not None:
        total = sum((d["delta"] or 0.0) for d in deltas.values())
        ui.say(f"vs baseline {_escape(str(baseline))}: [bold]{_signed(total)}[/bold]/month")
        for name, d in deltas.items():
            ui.say(f"  {name}: {_usd(d['before'])} -> {_usd(d['after'])} ({_signed(d['delta'])}, {d['status']})")


def _cost_markdown(
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
    from scalectl import cost

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### scalectl cost-estimate: `{config.spec.name}`", ""]
    head = ["target", "provider", "type", "region", "rate $/h", "min/mo", "expected/mo", "max/mo", "spot/mo"]
    if deltas is not None:
        head.append("delta/mo")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in estimates:
        od = e.on_demand
        rate = _per_hour(e.rate.on_demand) + (" (estimate)" if e.rate.basis == "estimate" else "")
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
    lines += ["", f"<sub>730 h/month; {_catalog_line(catalog)}.</sub>", ""]
    return "\n".join(lines)


catalog_app = typer.Typer(
    help="The price catalog cost-estimate uses: show what is known, refresh it.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("show")
def catalog_show(
    type_: Annotated[
        str, typer.Argument(metavar="TYPE", help="Instance/machine type, GPU name or Vertex TPU machine.")
    ],
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Every catalog row for TYPE, per region: on-demand, spot, source and date."""
    from rich.table import Table

    from scalectl.catalog import load_catalog

    ui = Ui(output, no_color)
    with _reporting(ui, "catalog show"):
        catalog = load_catalog()
        rows = catalog.show(type_)
        if not rows:
            near = sorted({n for p in ("aws", "gcp", "azure") for n in catalog.near(p, type_)})
            raise UsageError(
                f"{type_!r} is not in the price catalog" + (f"; nearest known: {', '.join(near)}" if near else "")
            )
        if ui.json:
            ui.document(
                {
                    "command": "catalog show",
                    "ok": True,
                    "catalog": {"origin": catalog.origin, "date": catalog.date},
                    "rows": [r.to_dict() for r in rows],
                }
            )
            return
        from rich import box

        table = Table(title=f"{type_}: {_catalog_line(catalog)}", box=box.SIMPLE_HEAD)
        several = len({r.type or r.kind for r in rows}) > 1  # e.g. ml.* with its EC2 base, or a GPU name
        for col in ("provider", "type", "region", "accelerator", "$/h", "spot $/h", "src"):
            if col != "type" or several:
                table.add_column(col, no_wrap=col != "type", overflow="fold")
        sources: list[str] = []
        for r in rows:
            source = f"{r.source} ({r.date})"
            if source not in sources:
                sources.append(source)
            price = _per_hour(r.usable_price) if r.price_status == "ok" else f"[red]{r.price_status}[/red]"
            spot = _per_hour(r.usable_spot) if r.usable_spot is not None else r.spot_status
            accel = f"{r.accelerator_count}x {r.accelerator}" if r.accelerator else "-"
            cells = [r.provider, r.type or r.kind, r.region, accel, price, spot, f"[{sources.index(source) + 1}]"]
            table.add_row(*(cells if several else cells[:1] + cells[2:]))
        ui.err.print(table)
        for i, source in enumerate(sources, 1):
            ui.say(f"  [{i}] {_escape(source)}")
        if type_.startswith("ml.") and not any(r.kind == "hosting" for r in rows):
            ui.say("no SageMaker list price known: cost-estimate uses the EC2 rate above times an estimate ratio")


@catalog_app.command("refresh")
def catalog_refresh(
    provider: Annotated[
        list[CatalogProvider] | None,
        typer.Option("--provider", "-p", help="Refresh only this provider (repeatable); default: all three."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
    no_color: NoColorOpt = False,
) -> None:
    """Update the user-level catalog copy from the providers' public price APIs (needs network)."""
    from scalectl.catalog_refresh import refresh

    ui = Ui(output, no_color)
    with _reporting(ui, "catalog refresh"):
        wanted = [p.value for p in provider] if provider else ["aws", "gcp", "azure"]
        result = refresh(wanted, say=None if ui.json else ui.say)
        if ui.json:
            ui.document({"command": "catalog refresh", "ok": True, **result})
            return
        for name, info in result["providers"].items():
            ui.say(f"{name}: {info['updated']} row(s) updated, {info['kept']} kept from before")
        ui.say(f"wrote {result['path']}")
