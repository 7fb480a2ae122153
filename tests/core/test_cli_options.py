"""Every command's flags, in --help order, with their env vars: the shared-options layer must not move them."""

from __future__ import annotations

from typing import Any

import typer.main

from scalectl.cli import app

TAIL = ["--output SCALECTL_OUTPUT", "--no-color SCALECTL_NO_COLOR"]
HEAD = ["--file,-f SCALECTL_FILE", "--target,-t SCALECTL_TARGET"]
STATE = "--state-dir SCALECTL_STATE_DIR"
YES = "--yes,-y SCALECTL_YES"

EXPECTED = {
    "init": ["--file,-f SCALECTL_FILE", "--force", *TAIL],
    "validate": [*HEAD, *TAIL],
    "schema": ["--out,-o"],
    "render": [*HEAD, "--out-dir,-o", *TAIL],
    "plan": [*HEAD, "--detailed-exitcode", STATE, *TAIL],
    "deploy": [
        *HEAD,
        "--allow-idle-bake",
        "--parallel SCALECTL_PARALLEL",
        "--keep-going",
        YES,
        "--timeout SCALECTL_TIMEOUT",
        STATE,
        *TAIL,
    ],
    "status": [*HEAD, "--window", STATE, *TAIL],
    "top": [*HEAD, "--window", "--interval", "--once", STATE, *TAIL],
    "history": [*HEAD, STATE, *TAIL],
    "rollback": [*HEAD, "--to", YES, STATE, *TAIL],
    "destroy": [*HEAD, YES, STATE, *TAIL],
    "unlock": [*HEAD, "--force", STATE, *TAIL],
    "cost-estimate": [
        *HEAD,
        "--compare",
        "--budget SCALECTL_BUDGET",
        "--total-budget SCALECTL_TOTAL_BUDGET",
        "--baseline SCALECTL_BASELINE",
        "--format SCALECTL_COST_FORMAT",
        *TAIL,
    ],
    "bench": [
        *HEAD,
        "--url",
        "--rate SCALECTL_BENCH_RATE",
        "--concurrency",
        "--duration SCALECTL_BENCH_DURATION",
        "--max-rate",
        "--max-requests",
        "--request-timeout",
        "--workers",
        "--connections",
        "--requests",
        "--header",
        "--slo SCALECTL_BENCH_SLO",
        "--ramp",
        "--ramp-factor",
        "--replicas",
        "--save",
        "--report",
        *TAIL,
    ],
    "drift": [
        *HEAD,
        "--baseline",
        "--since",
        "--captures",
        "--reference",
        "--reference-since",
        "--psi",
        "--ks-p",
        "--chi2-p",
        "--format",
        "--report",
        *TAIL,
    ],
    "catalog show": ["type_", *TAIL],
    "catalog refresh": ["--provider,-p", *TAIL],
}


def _flags(command: Any) -> list[str]:
    out = []
    for p in command.params:
        name = ",".join(p.opts) if p.opts and p.opts[0].startswith("-") else str(p.name)
        envvar = getattr(p, "envvar", None)
        out.append(f"{name} {envvar}" if envvar else name)
    return out


def test_commands_keep_their_flags_in_order() -> None:
    root: Any = typer.main.get_command(app)
    found: dict[str, list[str]] = {}
    for name, command in root.commands.items():
        for sub, subcommand in getattr(command, "commands", {name: command}).items():
            key = name if sub == name else f"{name} {sub}"
            found[key] = _flags(subcommand)
    assert list(found) == list(EXPECTED)
    assert found == EXPECTED


def test_shared_defaults() -> None:
    root: Any = typer.main.get_command(app)
    deploy = root.commands["deploy"]
    defaults = {p.name: p.default for p in deploy.params}
    assert str(defaults["file"]) == "scale.yaml"
    assert defaults["target"] is None and defaults["yes"] is False and defaults["state_dir"] is None
    assert defaults["output"].value == "text" and defaults["no_color"] is False
