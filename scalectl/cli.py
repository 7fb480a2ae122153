"""The `scalectl` command line: the Typer app, with each command group in scalectl/commands/.

Nothing here imports a cloud SDK; providers import theirs when a command talks to them.
A command's module is imported, and its flags built, only when that command runs (or when
`scalectl --help` lists it): `scalectl validate` pays for validate alone, `--version` for none.
What a command needs (pydantic config, the engine, Rich tables) is imported inside its body.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from scalectl import __version__

# name -> "module:attribute" (a command function or a Typer sub-app), in the order `--help` lists them
COMMANDS = {
    "init": "scalectl.commands.config:init",
    "validate": "scalectl.commands.config:validate",
    "schema": "scalectl.commands.config:schema",
    "render": "scalectl.commands.config:render",
    "plan": "scalectl.commands.deploy:plan",
    "deploy": "scalectl.commands.deploy:deploy",
    "status": "scalectl.commands.inspect:status",
    "top": "scalectl.commands.inspect:top",
    "history": "scalectl.commands.inspect:history",
    "rollback": "scalectl.commands.deploy:rollback",
    "destroy": "scalectl.commands.deploy:destroy",
    "unlock": "scalectl.commands.deploy:unlock",
    "cost-estimate": "scalectl.commands.cost:cost_estimate",
    "bench": "scalectl.commands.bench:bench",
    "drift": "scalectl.commands.drift:drift",
    "catalog": "scalectl.commands.catalog:catalog_app",
}


class _PlainFlags:
    """Help lists a flag bare: Typer prints every option's type, so `--version <bool>` read as
    if the flag took a value. An empty metavar hides it; click never prints a flag's metavar."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class PlainFlagsCommand(_PlainFlags, TyperCommand):
    pass


class PlainFlagsGroup(_PlainFlags, TyperGroup):
    pass


class LazyCommands(Mapping[str, Any]):
    """`COMMANDS` as click commands, each imported and built on first lookup."""

    def __init__(self, references: dict[str, str]) -> None:
        self._references = references
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            module, _, attribute = self._references[name].partition(":")
            found = getattr(importlib.import_module(module), attribute)
            if isinstance(found, typer.Typer):
                sub_app = found
            else:  # a command function: a one-command Typer builds it exactly as `app.command()` would
                sub_app = typer.Typer(add_completion=False)
                sub_app.command(name, cls=PlainFlagsCommand)(found)
            self._built[name] = typer.main.get_command(sub_app)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._references)

    def __len__(self) -> int:
        return len(self._references)


class LazyGroup(PlainFlagsGroup):
    """The root group: its commands come from `COMMANDS`, built when looked up."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(COMMANDS)  # type: ignore[assignment]

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)  # names only: listing must not import every command


app = typer.Typer(
    name="scalectl",
    cls=LazyGroup,
    help="One scale.yaml -> an autoscaled, safely updatable model endpoint on SageMaker, Vertex AI, "
    "Azure ML or local Docker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def main() -> None:
    # pydantic looks for plugins by reading every installed package's metadata on the first model
    # it builds: tens of milliseconds per run for plugins a CLI's own models never use.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app()


def _version(value: bool) -> None:
    if value:
        print(f"scalectl {__version__}")
        raise typer.Exit()


class LogFormat(str, Enum):
    text = "text"
    json = "json"


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar="SCALECTL_LOG_FORMAT",
            help="json: one JSON object per event (command, target, revision, step, elapsed) on stderr, "
            "or in --log-file.",
        ),
    ] = LogFormat.text,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", envvar="SCALECTL_LOG_FILE", help="Append the structured log to this file."),
    ] = None,
) -> None:
    """One scale.yaml -> a model endpoint that scales, costs what you expect, and rolls back in seconds."""
    from scalectl import log

    try:
        log.configure(log_format.value, log_file)
    except OSError as exc:
        raise typer.BadParameter(f"cannot append to {log_file}: {exc.strerror}", param_hint="--log-file") from None
