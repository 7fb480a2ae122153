"""`scalectl catalog show|refresh`: the price catalog cost-estimate uses."""

from __future__ import annotations

from typing import Annotated

import typer

from scalectl.cli import PlainFlagsCommand, PlainFlagsGroup
from scalectl.commands.common import Common, reporting, shared_options
from scalectl.errors import UsageError

catalog_app = typer.Typer(
    name="catalog",
    cls=PlainFlagsGroup,
    help="The price catalog cost-estimate uses: show what is known, refresh it.",
    no_args_is_help=True,
    add_completion=False,
)


@catalog_app.command("show", cls=PlainFlagsCommand)
@shared_options(file=False, target=False)
def catalog_show(
    common: Common,
    type_: Annotated[
        str, typer.Argument(metavar="TYPE", help="Instance/machine type, GPU name or Vertex TPU machine.")
    ],
) -> None:
    """Every catalog row for TYPE, per region: on-demand, spot, source and date."""
    from scalectl.catalog import load_catalog

    ui = common.ui
    with reporting(ui, "catalog show"):
        catalog = load_catalog()
        rows = catalog.show(type_)
        if not rows:
            from scalectl import registry

            near = sorted({n for p in registry.platforms() for n in catalog.near(p, type_)})
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
        from scalectl.views.catalog import print_catalog_rows

        print_catalog_rows(ui, type_, catalog, rows)


@catalog_app.command("refresh", cls=PlainFlagsCommand)
@shared_options(file=False, target=False)
def catalog_refresh(
    common: Common,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider", "-p", help="Refresh only this provider (repeatable); default: every one with a price API."
        ),
    ] = None,
) -> None:
    """Update the user-level catalog copy from the providers' public price APIs (needs network)."""
    from scalectl.catalog import refreshable
    from scalectl.catalog_refresh import refresh

    ui = common.ui
    with reporting(ui, "catalog refresh"):
        known = refreshable()
        unknown = [p for p in provider or [] if p not in known]
        if unknown:
            raise UsageError(f"--provider {unknown[0]!r}: prices can be refreshed for {', '.join(known)}")
        wanted = list(dict.fromkeys(provider)) if provider else known
        result = refresh(wanted, say=None if ui.json else ui.say)
        if ui.json:
            ui.document({"command": "catalog refresh", "ok": True, **result})
            return
        for name, info in result["providers"].items():
            ui.say(f"{name}: {info['updated']} row(s) updated, {info['kept']} kept from before")
        ui.say(f"wrote {result['path']}")
