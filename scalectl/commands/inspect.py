"""Commands that only look: status (what runs now) and history (what ran before)."""

from __future__ import annotations

from scalectl.commands.common import Common, exit_with, reporting, shared_options


@shared_options(state_dir=True)
def status(common: Common) -> None:
    """What runs now: revision, traffic split, replicas, autoscaling, endpoint URL.

    Exits 6 when a target is degraded (gateway down, replicas dead, traffic split left by an
    interrupted rollout), saying what is wrong. An unfinished rollout is rolled back first.
    """
    from scalectl.errors import ExitCode
    from scalectl.events import Events

    ui = common.ui
    with reporting(ui, "status"):
        config, names = common.load()
        engine = common.engine(config)
        lives = {}
        recovered = {}
        for name in names:
            lives[name], recovered[name] = engine.status(name, Events(ui.event))
        degraded = [n for n, lv in lives.items() if lv.problems]
        if ui.json:
            ui.document(
                {
                    "command": "status",
                    "ok": not degraded,
                    "targets": {n: {**lv.to_dict(), "recovered": recovered[n]} for n, lv in lives.items()},
                    **({"exit_code": int(ExitCode.DEGRADED)} if degraded else {}),
                }
            )
        else:
            from scalectl.views.status import print_status

            print_status(ui, lives)
        if degraded:
            exit_with(ExitCode.DEGRADED)


@shared_options(state_dir=True)
def history(common: Common) -> None:
    """Revisions: number, status, who, when, what image and config digest."""
    from scalectl.views.status import print_history

    ui = common.ui
    with reporting(ui, "history"):
        config, names = common.load()
        engine = common.engine(config)
        hist = {name: engine.history(name) for name in names}
        if ui.json:
            ui.document(
                {"command": "history", "ok": True, "targets": {n: [r.to_dict() for r in h] for n, h in hist.items()}}
            )
            return
        print_history(ui, hist)
