"""The `scalectl` command line: the Typer app, with each command group in scalectl/commands/.

Nothing here imports a cloud SDK; providers import theirs when a command talks to them.
Command modules import only light modules at the top, so `--help` and `--version` stay fast;
what a command needs (pydantic config, the engine, Rich tables) is imported when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from scalectl import __version__
from scalectl.commands import catalog, config, cost, deploy, inspect

app = typer.Typer(
    name="scalectl",
    help="One scale.yaml -> an autoscaled, safely updatable model endpoint on SageMaker, Vertex AI, "
    "Azure ML or local Docker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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


# registration order is the order `scalectl --help` lists them
app.command()(config.init)
app.command()(config.validate)
app.command()(config.schema)
app.command()(config.render)
app.command()(deploy.plan)
app.command()(deploy.deploy)
app.command()(inspect.status)
app.command()(inspect.history)
app.command()(deploy.rollback)
app.command()(deploy.destroy)
app.command()(deploy.unlock)
app.command("cost-estimate")(cost.cost_estimate)
app.add_typer(catalog.catalog_app, name="catalog")
