"""Commands that change a platform: plan (reads only), deploy, rollback, destroy, unlock."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scalectl.commands.common import Common, exit_with, reporting, shared_options
from scalectl.errors import ExitCode, ScalectlError, UsageError
from scalectl.ui import escape


@shared_options(state_dir=True)
def plan(
    common: Common,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 3 when there are changes (0 when none).")
    ] = False,
) -> None:
    """Desired vs live: what deploy would change. Changes nothing."""
    from scalectl.views.plan import plan_doc, print_plan

    ui = common.ui
    with reporting(ui, "plan"):
        config, names = common.load()
        engine = common.engine(config)
        plans = {name: engine.plan(name) for name in names}
        if ui.json:
            ui.document({"command": "plan", "ok": True, "targets": {n: plan_doc(p) for n, p in plans.items()}})
        else:
            for p in plans.values():
                print_plan(ui, p)
        changed = [n for n, p in plans.items() if p.has_changes]
        ui.say(
            f"{len(changed)} of {len(plans)} target(s) would change" + (f": {', '.join(changed)}" if changed else "")
        )
        if detailed_exitcode and changed:
            exit_with(ExitCode.CHANGES)


@shared_options(yes=True, timeout=True, state_dir=True)
def deploy(
    common: Common,
    allow_idle_bake: Annotated[
        bool,
        typer.Option(
            "--allow-idle-bake",
            help="Promote after a bake that saw fewer than rollout.min_requests requests (default: roll back).",
        ),
    ] = False,
) -> None:
    """Plan, confirm, roll out, wait healthy, and record the revision. A failed rollout leaves the old one serving.

    Repairs drift (gateway down, replicas dead, traffic left split) even when the config is unchanged;
    SIGINT/SIGTERM during a rollout rolls it back before exiting (130/143).
    """
    from scalectl.events import Events
    from scalectl.views.plan import print_plan

    ui = common.ui
    results: dict[str, Any] = {}
    with reporting(ui, "deploy"):
        config, names = common.load()
        engine = common.engine(config)
        for name in names:

            def confirm(plan: Any, name: str = name) -> None:
                if not ui.json:
                    print_plan(ui, plan)
                common.confirm(f"Deploy revision {plan.revision.number} to {name}?")

            events = Events(ui.event)
            try:
                plan, revision = engine.deploy(
                    name, events, timeout=common.timeout, confirm=confirm, allow_idle_bake=allow_idle_bake
                )
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
                ui.say(f"[red]deploy to {name} failed:[/red] {escape(exc.message)}")
                exit_with(exc.exit_code)
            if revision is None:
                results[name] = {"changed": False, "revision": plan.live.active}
                ui.say(f"{name}: already up to date (revision {plan.live.active})")
                continue
            results[name] = {"changed": True, "revision": revision.to_dict(), "events": events.to_list()}
            took = events.items[-1].at if events.items else 0.0
            what = "repaired, serving again" if revision.number == plan.live.active else "is live"
            ui.say(f"[green]{name}: revision {revision.number} {what}[/green] ({took:.1f}s)")
        if ui.json:
            ui.document({"command": "deploy", "ok": True, "targets": results})


@shared_options(yes=True, state_dir=True)
def rollback(
    common: Common,
    to: Annotated[int | None, typer.Option("--to", help="Revision number; default: the previous good one.")] = None,
) -> None:
    """Go back to the previous good revision (or --to N), fast: the platform's own switch, not a redeploy."""
    from scalectl.events import Events

    ui = common.ui
    with reporting(ui, "rollback"):
        config, names = common.load(check_providers=False)
        if to is not None and len(names) != 1:
            raise UsageError("--to needs exactly one --target")
        engine = common.engine(config)
        results: dict[str, Any] = {}
        for name in names:
            common.confirm(f"Roll back {name}?")
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


@shared_options(yes=True, state_dir=True)
def destroy(common: Common) -> None:
    """Tear down what scalectl created for the target(s), and nothing else."""
    from scalectl.events import Events

    ui = common.ui
    with reporting(ui, "destroy"):
        config, names = common.load(check_providers=False)
        engine = common.engine(config)
        common.confirm(f"Destroy {', '.join(names)}? This removes the endpoint(s)")
        results = {}
        for name in names:
            removed = engine.destroy(name, Events(ui.event))
            results[name] = removed
            ui.say(f"{name}: removed {len(removed)} resource(s)" + (f": {', '.join(removed)}" if removed else ""))
        if ui.json:
            ui.document({"command": "destroy", "ok": True, "targets": results})


@shared_options(state_dir=True)
def unlock(
    common: Common,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Also remove the shared lease (on the engine or the `lock:` store), whoever holds it."
        ),
    ] = False,
) -> None:
    """Remove a stale deploy lock: the local journal's, and with --force the shared lease other machines respect."""
    from scalectl import lease
    from scalectl.engine import release_for

    ui = common.ui
    with reporting(ui, "unlock"):
        config, names = common.load(check_providers=False)
        engine = common.engine(config)
        removed = [n for n in names if engine.journal.unlock(config.spec.name, n)]
        broken: dict[str, str] = {}
        held: dict[str, str] = {}
        for name in names:
            release = release_for(config, name)
            if force:
                store, _ = lease.store_for(release)
                holder = store.force_release() if store is not None else None
                if store is not None and holder is not None:
                    broken[name] = f"{holder.describe()} (lease at {store.where})"
            else:
                found = lease.peek(release)
                if found is not None and not found[1].expired():
                    held[name] = lease.locked_message(name, *found)
        if ui.json:
            ui.document({"command": "unlock", "ok": True, "unlocked": removed, "leases_removed": broken})
        ui.say(f"unlocked: {', '.join(removed) or 'nothing was locked'} (local journal)")
        for name, who in broken.items():
            ui.say(f"{name}: removed the shared lease held by {escape(who)}")
        if force and not broken:
            ui.say("no shared lease was held")
        for message in held.values():
            ui.say(f"[yellow]still held:[/yellow] {escape(message)}")
