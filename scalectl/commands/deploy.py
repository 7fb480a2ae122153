"""Commands that change a platform: plan (reads only), deploy, rollback, destroy, unlock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from scalectl.commands.common import Common, exit_with, reporting, shared_options
from scalectl.errors import ExitCode, UsageError
from scalectl.ui import escape


@shared_options(state_dir=True)
def plan(
    common: Common,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 3 when there are changes (0 when none).")
    ] = False,
) -> None:
    """Desired vs live: what deploy would change. Changes nothing."""
    from scalectl.bench.saved import capacity
    from scalectl.views.deploy import order_text
    from scalectl.views.plan import plan_doc, print_plan
    from scalectl.waves import waves_of

    ui = common.ui
    with reporting(ui, "plan"):
        config, names = common.load()
        engine = common.engine(config)
        order = waves_of(config, names)
        plans = {name: engine.plan(name) for wave, wave_names in order for name in wave_names}
        capacities = {name: capacity(config, name) for name in plans}  # bench's saved figure, as cost-estimate
        if ui.json:
            ui.document(
                {
                    "command": "plan",
                    "ok": True,
                    "waves": [{"wave": wave, "targets": wave_names} for wave, wave_names in order],
                    "targets": {n: plan_doc(p, capacities[n]) for n, p in plans.items()},
                }
            )
        else:
            for name, p in plans.items():
                print_plan(ui, p, capacities[name])
        if len(names) > 1:
            ui.say(f"deploy order: {escape(order_text(order))}")
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
    parallel: Annotated[
        int,
        typer.Option(
            "--parallel",
            envvar="SCALECTL_PARALLEL",
            min=1,
            max=64,
            help="Targets of one wave deployed at once (waves: each target's `wave:`, 1 first).",
        ),
    ] = 4,
    keep_going: Annotated[
        bool,
        typer.Option("--keep-going", help="Run later waves even when a target of an earlier wave failed."),
    ] = False,
) -> None:
    """Plan, confirm, roll out, wait healthy, and record the revision. A failed rollout leaves the old one serving.

    Several targets deploy in waves (`wave:` per target, 1 first), each wave's targets in parallel
    (--parallel); a failed wave stops later ones unless --keep-going. Exit 0 when every target is
    deployed or unchanged, 1 when any failed or was skipped (5 when all failures are held by another deploy).
    Repairs drift (gateway down, replicas dead, traffic left split) even when the config is unchanged;
    SIGINT/SIGTERM during rollouts rolls every running one back before exiting (130/143).
    """
    from scalectl.engine import Interrupts
    from scalectl.events import Events
    from scalectl.views.deploy import order_text, print_summary
    from scalectl.views.plan import print_plan
    from scalectl.waves import confirmed, deploy_target, error_text, exit_code, run_waves, waves_of

    ui = common.ui
    with reporting(ui, "deploy"):
        config, names = common.load()
        engine = common.engine(config)
        order = waves_of(config, names)
        width = max(len(n) for n in names) if len(names) > 1 else 0

        def confirm_one(plan: Any) -> None:
            if not ui.json:
                print_plan(ui, plan)
            common.confirm(f"Deploy revision {plan.revision.number} to {plan.release.target_name}?")

        confirm: Callable[[Any], None] = confirm_one
        if len(names) > 1:
            confirm = lambda plan: None  # noqa: E731  (--yes: nothing to ask)
            ui.say(f"deploy order: {escape(order_text(order))} (at most {parallel} at once)")
            if not common.yes:  # one question for all, in the main thread; each worker checks its plan still holds
                plans = {name: engine.plan(name, common.timeout) for name in names}
                changing = [n for n, p in plans.items() if p.has_changes]
                if not ui.json:
                    for p in plans.values():
                        print_plan(ui, p)
                if changing:
                    common.confirm(f"Deploy {', '.join(changing)}?")
                confirm = confirmed(plans)

        def one(name: str, wave: int) -> Any:
            events = Events(lambda event: ui.event(event, name if width else "", width))

            def confirm_here(plan: Any) -> None:
                if width:  # several targets: the plan as this target's progress lines, not a table mid-stream
                    for c in plan.changes:
                        if c.action != "keep":
                            events.step(f"plan: {c.action} {c.resource}" + (f" ({c.detail})" if c.detail else ""))
                confirm(plan)

            return deploy_target(
                engine,
                name,
                wave,
                events,
                timeout=common.timeout,
                confirm=confirm_here,
                allow_idle_bake=allow_idle_bake,
            )

        def said(o: Any) -> None:
            who = f"{o.target}: " if width else ""
            if o.result in ("deployed", "repaired"):
                what = "repaired, serving again" if o.result == "repaired" else "is live"
                ui.say(f"[green]{escape(o.target)}: revision {o.revision} {what}[/green] ({o.seconds:.1f}s)")
            elif o.result == "unchanged":
                ui.say(f"{escape(o.target)}: already up to date (revision {o.revision})")
            elif o.result == "failed":
                ui.say(f"[red]deploy to {escape(o.target)} failed:[/red] {escape(o.reason)}")
            elif o.result == "interrupted":
                ui.say(f"[red]{escape(who)}interrupted:[/red] {escape(o.reason)}")
            elif width:
                ui.say(f"[yellow]{escape(o.target)}: skipped, {escape(o.reason)}[/yellow]")

        if len(names) == 1:  # in the main thread, where the signal arrives (engine.interruptible)
            outcomes = [one(names[0], order[0][0])]
            said(outcomes[0])
        else:
            hub = Interrupts()
            with hub.delivering():
                outcomes = run_waves(
                    order, one, parallel=parallel, keep_going=keep_going, interrupted=lambda: hub.signum, on_done=said
                )
            print_summary(ui, outcomes)
        code = exit_code(outcomes)
        if ui.json:
            doc: dict[str, Any] = {"command": "deploy", "ok": code == 0}
            if code:
                doc["error"] = error_text(outcomes)
            doc["targets"] = {o.target: o.detail for o in outcomes if o.detail}
            doc["results"] = [o.to_dict() for o in outcomes]
            if code:
                doc["exit_code"] = code
            ui.document(doc)
        if code:
            if len(names) > 1:
                ui.say(f"[red]{escape(error_text(outcomes))}[/red]")
            exit_with(code)


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
