"""Offline commands about the file itself: init, validate, schema, render. No network, no cloud SDK.

`validate` runs on every CI push: keep jinja2 and provider SDKs off its path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from scalectl.commands.common import Common, reporting, shared_options
from scalectl.errors import UsageError

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


@shared_options(target=False)
def init(
    common: Common,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter scale.yaml (a local Docker target) that validates."""
    ui, file = common.ui, common.file
    with reporting(ui, "init"):
        if file.exists() and not force:
            raise UsageError(f"{file} already exists; pass --force to overwrite it")
        file.write_text(STARTER)
        if ui.json:
            ui.document({"command": "init", "ok": True, "file": str(file)})
        ui.say(f"wrote {file}; next: `scalectl validate -f {file}`")


@shared_options()
def validate(common: Common) -> None:
    """Check the file: schema, `${VAR}`s, and each provider's capabilities. No network."""
    ui, file = common.ui, common.file
    with reporting(ui, "validate"):
        config, names = common.load()
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


@shared_options()
def render(
    common: Common,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", "-o", help="Write files to DIR/<target>/ instead of printing.")
    ] = None,
) -> None:
    """Show exactly what each provider will send or run (request bodies, gateway config). No network."""
    from scalectl.engine import release_for
    from scalectl.registry import get_provider

    ui = common.ui
    with reporting(ui, "render"):
        config, names = common.load()
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
