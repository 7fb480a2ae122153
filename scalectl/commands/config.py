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

RENDER_SEPARATOR = "==> {} <=="


@shared_options(target=False)
def init(
    common: Common,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter that deploys as is: scale.yaml, a model server in ./server, scale.schema.json."""
    from scalectl.starter import write_starter

    ui, file = common.ui, common.file
    with reporting(ui, "init"):
        written = write_starter(file, force)
        if ui.json:
            ui.document({"command": "init", "ok": True, "file": str(file), "files": [str(p) for p in written]})
        for path in written:
            ui.say(f"wrote {path}")
        ui.say(f"next: `scalectl validate -f {file}`, then `scalectl deploy -f {file} --yes`")


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
    """Show exactly what each provider will send or run (request bodies, gateway config). No network.

    Without -o, stdout is one stream: each file after a line `==> TARGET/FILE <==`.
    """
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
            # One stream on stdout: each file after a `==> TARGET/FILE <==` line (head/tail's
            # convention), so `render > all.txt` keeps the names and a script can split it.
            for name, files in rendered.items():
                for fname, text in files.items():
                    sys.stdout.write(f"{RENDER_SEPARATOR.format(f'{name}/{fname}')}\n")
                    sys.stdout.write(text if text.endswith("\n") else text + "\n")
