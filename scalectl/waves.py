"""Deploying several targets at once: ordered waves, each wave's targets in parallel threads.

Targets are grouped by their `wave:` (1 first); a wave's targets run in at most `parallel`
threads, each under its own lease and journal lock, each rolled back on its own when it fails.
A wave is a unit: every target of a wave runs whatever its neighbours do (so the outcome does not
depend on `parallel`), and a wave with a failure stops the later waves (their targets are
reported as skipped) unless `keep_going`. SIGINT/SIGTERM reach the main thread only;
`scalectl.engine.Interrupts` carries them into every worker whose rollout is running, each rolls
its rollout back, and targets not started yet are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scalectl.errors import DeployFailed, ExitCode, Interrupted, ScalectlError
from scalectl.redact import redact

if TYPE_CHECKING:
    from scalectl.config import Config
    from scalectl.engine import Engine
    from scalectl.events import Events
    from scalectl.provider import Plan

DEFAULT_PARALLEL = 4  # deploys at once: enough to overlap cloud provisioning, few enough to read and to debug
OK_RESULTS = ("deployed", "repaired", "unchanged")


@dataclass
class Outcome:
    """What happened to one target: `result` is deployed, repaired, unchanged, failed, interrupted or skipped."""

    target: str
    wave: int
    result: str
    revision: int | None = None
    seconds: float = 0.0
    reason: str = ""  # why it failed, was skipped or interrupted (what was rolled back is said)
    exit_code: int = 0  # the exit code this target alone would give
    detail: dict[str, Any] = field(default_factory=dict)  # the per-target JSON entry `deploy` always had

    @property
    def ok(self) -> bool:
        return self.result in OK_RESULTS

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "wave": self.wave,
            "result": self.result,
            "revision": self.revision,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
            "exit_code": self.exit_code,
        }


def waves_of(config: Config, names: list[str]) -> list[tuple[int, list[str]]]:
    """The selected targets grouped by `wave`, lowest first; file order within a wave."""
    grouped: dict[int, list[str]] = {}
    for name in names:
        grouped.setdefault(config.spec.targets[name].wave, []).append(name)
    return sorted(grouped.items())


def plan_key(plan: Plan) -> tuple[Any, ...]:
    """What a confirmation agreed to: the digest and the changes (not the timestamped revision)."""
    return (plan.release.digest, plan.live.active, tuple((c.action, c.resource, c.detail) for c in plan.changes))


def confirmed(plans: dict[str, Plan]) -> Callable[[Plan], None]:
    """A `confirm` for `Engine.deploy` that accepts, under the target's lock, only the plan confirmed before."""

    def check(plan: Plan) -> None:
        before = plans.get(plan.release.target_name)
        if before is not None and plan_key(before) != plan_key(plan):
            raise DeployFailed(
                f"{plan.release.target_name} changed since the plan you confirmed (another deploy?); nothing was "
                "changed: run `scalectl deploy` again to see the new plan"
            )

    return check


def deploy_target(
    engine: Engine,
    name: str,
    wave: int,
    events: Events,
    *,
    timeout: int | None = None,
    confirm: Callable[[Plan], None] = lambda plan: None,
    allow_idle_bake: bool = False,
) -> Outcome:
    """Deploy one target and say what happened; never raises a scalectl error or an interrupt."""
    started = time.monotonic()

    def took() -> float:
        return time.monotonic() - started

    try:
        plan, revision = engine.deploy(name, events, timeout=timeout, confirm=confirm, allow_idle_bake=allow_idle_bake)
    except Interrupted as exc:
        reason = exc.message or "stopped before its rollout started; nothing was changed"
        return Outcome(
            name, wave, "interrupted", None, took(), redact(reason), exc.exit_code, {"changed": False, "error": reason}
        )
    except ScalectlError as exc:
        message = redact(exc.message)
        detail = {"changed": False, "error": message, "events": events.to_list()}
        return Outcome(name, wave, "failed", None, took(), message, int(exc.exit_code), detail)
    if revision is None:
        detail = {"changed": False, "revision": plan.live.active}
        return Outcome(name, wave, "unchanged", plan.live.active, took(), "", 0, detail)
    result = "repaired" if revision.number == plan.live.active else "deployed"
    detail = {"changed": True, "revision": revision.to_dict(), "events": events.to_list()}
    return Outcome(name, wave, result, revision.number, took(), "", 0, detail)


def run_waves(
    waves: list[tuple[int, list[str]]],
    deploy: Callable[[str, int], Outcome],
    *,
    parallel: int = DEFAULT_PARALLEL,
    keep_going: bool = False,
    interrupted: Callable[[], int | None] = lambda: None,
    on_done: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Run `deploy(target, wave)` wave by wave, at most `parallel` at once; outcomes in wave, then file order.

    `interrupted()` returns the signal number once SIGINT/SIGTERM arrived: targets not started then are
    skipped. A wave with a failure skips the later waves unless `keep_going`.
    """
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    outcomes: dict[str, Outcome] = {}
    stop = ""
    for wave, names in waves:
        if stop:
            for name in names:
                outcomes[name] = Outcome(name, wave, "skipped", reason=stop, exit_code=int(ExitCode.FAILED))
                on_done(outcomes[name])
            continue

        def one(name: str, wave: int = wave) -> Outcome:
            signum = interrupted()
            if signum is not None:
                outcome = Outcome(
                    name,
                    wave,
                    "skipped",
                    reason="interrupted before it started; nothing was changed",
                    exit_code=128 + signum,
                )
            else:
                outcome = deploy(name, wave)
            on_done(outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=min(parallel, len(names)), thread_name_prefix=f"wave{wave}") as pool:
            futures = [pool.submit(one, name) for name in names]
            wait(futures)  # the main thread stays here, where a signal reaches it (Interrupts delivers it)
        for name, future in zip(names, futures, strict=True):
            outcomes[name] = future.result()
        failed = [n for n in names if not outcomes[n].ok]
        signum = interrupted()
        if signum is not None:
            stop = "interrupted before it started; nothing was changed"
        elif failed and not keep_going:
            stop = f"an earlier wave failed (wave {wave}: {', '.join(failed)}); not started (--keep-going runs it)"
    return [outcomes[name] for _, names in waves for name in names]


def exit_code(outcomes: list[Outcome]) -> int:
    """0 when every target is deployed, repaired or unchanged; an interrupt's 130/143; the failures' common
    code (5: all held by another deploy); else 1."""
    for o in outcomes:
        if o.result == "interrupted" or o.exit_code >= 128:  # rolled back, or skipped because of the signal
            return o.exit_code
    failed = [o for o in outcomes if o.result == "failed"]
    if not failed:
        return 0 if all(o.ok for o in outcomes) else int(ExitCode.FAILED)
    codes = {o.exit_code for o in failed}
    return codes.pop() if len(codes) == 1 else int(ExitCode.FAILED)


def error_text(outcomes: list[Outcome]) -> str:
    """One line for the JSON `error` and the last line of text output: what failed, and why."""
    bad = [o for o in outcomes if o.result in ("failed", "interrupted")]
    if len(outcomes) == 1 and bad:
        o = bad[0]
        return f"interrupted: {o.reason}" if o.result == "interrupted" else o.reason
    skipped = [o.target for o in outcomes if o.result == "skipped"]
    text = "; ".join(f"{o.target}: {o.reason}" for o in bad)
    if skipped:
        text += f"; skipped: {', '.join(skipped)}"
    return f"{len(bad)} of {len(outcomes)} target(s) did not deploy: {text}"
