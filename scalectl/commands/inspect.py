"""Commands that only look: status (what runs now) and history (what ran before)."""

from __future__ import annotations

from scalectl.commands.common import Common, reporting, shared_options


@shared_options(state_dir=True)
def status(common: Common) -> None:
    """What runs now: revision, traffic split, replicas, autoscaling, endpoint URL."""
    ui = common.ui
    with reporting(ui, "status"):
        config, names = common.load()
        engine = common.engine(config)
        lives = {name: engine.observe(name) for name in names}
        if ui.json:
            ui.document({"command": "status", "ok": True, "targets": {n: lv.to_dict() for n, lv in lives.items()}})
            return
        from scalectl.views.status import print_status

        print_status(ui, lives)


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
