"""Commands that only look: status (what runs now), top (its live figures, refreshed), history (what ran before)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scalectl.commands.common import Common, exit_with, reporting, shared_options

WindowOpt = Annotated[
    str, typer.Option("--window", metavar="DURATION", help="Live figures over this much recent time (30s, 5m).")
]


def seconds(value: str, flag: str, least: int = 1) -> int:
    """A duration flag (`30s`, `5m`, `90`) in seconds, or a usage error (exit 2) naming the flag."""
    from scalectl.errors import UsageError
    from scalectl.schema import parse_duration

    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if parsed < least:
        raise UsageError(f"{flag} must be at least {least}s, got {value!r}")
    return parsed


@shared_options(state_dir=True)
def status(common: Common, window: WindowOpt = "5m") -> None:
    """What runs now: revision, traffic split, replicas, autoscaling, endpoint URL, and live figures.

    Live figures per serving revision over --window (requests/s, P50/P95/P99, 4xx and 5xx shares,
    ready replicas, CPU/memory where the platform reports them). Exits 6 when a target is degraded
    (gateway down, replicas dead, traffic split left by an interrupted rollout), saying what is
    wrong. An unfinished rollout is rolled back first.
    """
    from scalectl.errors import ExitCode
    from scalectl.events import Events
    from scalectl.views.metrics import figures_doc

    ui = common.ui
    with reporting(ui, "status"):
        span = seconds(window, "--window")
        config, names = common.load()
        engine = common.engine(config)
        lives = {}
        recovered = {}
        figures = {}
        for name in names:
            lives[name], recovered[name] = engine.status(name, Events(ui.event))
            figures[name] = engine.metrics(name, lives[name], span)
        degraded = [n for n, lv in lives.items() if lv.problems]
        if ui.json:
            ui.document(
                {
                    "command": "status",
                    "ok": not degraded,
                    "window": span,
                    "targets": {
                        n: {**lv.to_dict(), "recovered": recovered[n], "metrics": figures_doc(figures[n])}
                        for n, lv in lives.items()
                    },
                    **({"exit_code": int(ExitCode.DEGRADED)} if degraded else {}),
                }
            )
        else:
            from scalectl.views.status import print_status

            print_status(ui, lives, figures)
        if degraded:
            exit_with(ExitCode.DEGRADED)


@shared_options(state_dir=True)
def top(
    common: Common,
    window: WindowOpt = "1m",
    interval: Annotated[
        str, typer.Option("--interval", metavar="DURATION", help="Seconds between two refreshes (2s).")
    ] = "2s",
    once: Annotated[bool, typer.Option("--once", help="Print the figures once and exit (no terminal needed).")] = False,
) -> None:
    """Live figures per serving revision, refreshed in place until Ctrl-C (which exits 0).

    The same figures as `status` (requests/s, P50/P95/P99, 4xx/5xx, replicas, CPU/memory). Needs
    a terminal unless --once or --output json (both print one reading and exit). Changes nothing:
    an unfinished rollout is shown, not rolled back.
    """
    import time

    from scalectl.errors import UsageError
    from scalectl.views.metrics import figures_doc

    ui = common.ui
    with reporting(ui, "top"):
        span = seconds(window, "--window")
        every = seconds(interval, "--interval")
        config, names = common.load()
        engine = common.engine(config)
        lacking = [n for n in names if engine.metrics_capable(n) is False]
        if lacking:
            providers = sorted({config.spec.targets[n].provider for n in lacking})
            raise UsageError(
                f"target(s) {', '.join(lacking)}: the {', '.join(providers)} provider does not report live figures "
                "(it does not implement scalectl.metrics.Metrics); `status` shows what it reports"
            )
        if not (once or ui.json) and not ui.err.is_terminal:
            raise UsageError("top refreshes a terminal; without one pass --once (a table) or --output json")

        def reading() -> dict[str, tuple[Any, Any]]:
            out = {}
            for name in names:
                live = engine.observe(name)
                out[name] = (live, engine.metrics(name, live, span))
            return out

        if ui.json:
            now = reading()
            ui.document(
                {
                    "command": "top",
                    "ok": True,
                    "window": span,
                    "targets": {
                        n: {"active": lv.active, "traffic": lv.to_dict()["traffic"], "metrics": figures_doc(m)}
                        for n, (lv, m) in now.items()
                    },
                }
            )
            return
        from scalectl.views.metrics import top_view

        if once:
            ui.err.print(top_view(reading(), span))
            return
        from rich.live import Live

        try:
            with Live(console=ui.err, auto_refresh=False, transient=False) as screen:
                while True:
                    began = time.monotonic()
                    screen.update(top_view(reading(), span, every), refresh=True)
                    time.sleep(max(0.1, every - (time.monotonic() - began)))
        except KeyboardInterrupt:
            ui.say("[dim]stopped[/dim]")


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
