"""The `scalectl` command line: parse flags, call the engine, print.

Nothing here imports a cloud SDK; providers import theirs when a command talks to them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from scalectl import __version__
from scalectl.errors import ConfigError, ExitCode, ScalectlError, UsageError
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
    typer.Option("--target", "-t", envvar="SCALECTL_TARGET", metavar="NAME", help="Target name (repeatable); default: all targets."),
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
    from scalectl.config import load_config

    config = load_config(file, targets=targets, check_providers=check_providers)
    return config, config.select(targets)


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
    from scalectl.provider import get_provider

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
            for key, value in live.details.items():
                ui.say(f"  {key}: {_escape(json.dumps(value) if not isinstance(value, str) else value)}")


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
            table = Table(title=name)
            for col in ("rev", "status", "created", "by", "digest", "image", "message"):
                table.add_column(col)
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
