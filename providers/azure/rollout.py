"""Azure ML target: deploy, rollback and destroy against a managed online endpoint.

A deploy brings the new deployment (`rev-N`) up at 0% traffic, then moves the endpoint's
traffic per the rollout strategy with a bake after each step (and after an optional mirror
step); any failure puts traffic back on the previous deployment and deletes the new one. A
rollback recreates a deleted deployment from the bodies its environment version retained.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scalectl.errors import DeployFailed, ProviderError
from scalectl.events import Events
from scalectl.metrics import Verdict, gates_text, judge
from scalectl.provider import Plan, Release, Revision
from scalectl.rollout import traffic_steps
from scalectl.wait import WaitTimeout, backoff, pause

from . import metrics
from .history import OUTCOME, Observed, properties_of, trim
from .requests import (
    TAG,
    Bodies,
    Identity,
    autoscale_name,
    deployment_name,
    endpoint_name,
    environment_name,
    revision_of,
)

if TYPE_CHECKING:
    from .api import Arm
    from .schema import AzureTarget

_BAKE_DELAY = backoff(initial=0.25, factor=1.6, maximum=10.0)


class _RolloutFailed(Exception):
    """Internal: a step of the rollout failed; `apply` turns it into DeployFailed after rolling back."""


def deploy(arm: Arm, plan: Plan, obs: Observed, events: Events) -> Revision:
    """Endpoint, environment version, deployment at 0%, autoscale, then traffic per the strategy; undo on failure."""
    release, rev = plan.release, plan.revision
    t: AzureTarget = release.target  # type: ignore[assignment]
    b = Bodies(release, Identity.of(rev))
    deadline = time.monotonic() + plan.timeout
    old = obs.active
    outcomes = obs.outcomes

    if obs.endpoint is None:
        events.step(f"creating endpoint {b.endpoint}")
        arm.put_endpoint(b.endpoint, b.endpoint_body({}, {}, outcomes))
        if _wait_endpoint(arm, b.endpoint, events, deadline) != "Succeeded":
            raise DeployFailed(f"endpoint {b.endpoint} could not be created; nothing was deployed")
    elif properties_of(obs.endpoint).get("provisioningState") in ("Creating", "Updating"):
        events.step(f"waiting for endpoint {b.endpoint} to finish its current operation")
        _wait_endpoint(arm, b.endpoint, events, deadline)
    events.step(f"registering environment {b.environment}:{rev.number} ({release.model.image})")
    arm.put_environment(b.environment, str(rev.number), b.environment_body())

    autoscaled = False
    traffic: dict[str, int] = dict(obs.traffic)
    try:
        events.step(f"creating deployment {b.deployment}: {t.autoscaling.min} x {t.instance}, 0% traffic")
        arm.put_deployment(b.endpoint, b.deployment, b.deployment_body())
        _wait_deployment(arm, b.endpoint, b.deployment, events, deadline)
        scale = b.autoscale_body()
        if scale is not None:
            events.step(f"autoscale setting {b.autoscale}: {t.autoscaling.min}-{t.autoscaling.max} instances")
            arm.put_autoscale(b.autoscale, scale)
            autoscaled = True
        _shift(arm, b, old, traffic, outcomes, events, deadline, plan.allow_idle_bake)
    except (_RolloutFailed, WaitTimeout, ProviderError, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt):
            reason = "interrupted"  # Ctrl-C or a cancelled CI job: put the old revision back first
        elif isinstance(exc, WaitTimeout | ProviderError):
            reason = exc.message
        else:
            reason = str(exc)
        if isinstance(exc, WaitTimeout):
            reason = f"{reason} (timeout {plan.timeout}s)"
        # a signal is not a verdict on the revision: traffic goes back even with auto_rollback off
        interrupted = isinstance(exc, KeyboardInterrupt)
        failure = _abort(
            arm, b, old, traffic, outcomes, autoscaled, reason, t.rollout.auto_rollback or interrupted, events
        )
        if interrupted:
            exc.message = failure.message  # type: ignore[union-attr]  # the CLI exits 130/143 saying this
            raise exc from None
        raise failure from None

    _retire(arm, b, obs, events)
    return Revision(**{**rev.to_dict(), "status": "active"})


def _shift(
    arm: Arm,
    b: Bodies,
    old: str | None,
    current: dict[str, int],
    outcomes: dict[str, str],
    events: Events,
    deadline: float,
    allow_idle: bool = False,
) -> None:
    """Move traffic per the strategy, baking after each step; `current` follows every accepted split.

    A bake below 100% also judges the new deployment's figures against the old one's (the gate)."""
    t = b.target
    r = t.rollout
    new = b.deployment
    if old is None:
        events.step(f"traffic: {new} 100%")
        _set_traffic(arm, b, {new: 100}, {}, outcomes, events, deadline, current)
        return
    if t.mirror:
        events.step(f"mirroring {t.mirror}% of traffic to {new} (responses discarded)")
        _set_traffic(arm, b, {old: 100}, {new: t.mirror}, outcomes, events, deadline, current)
        _bake(arm, b, r.bake, events, deadline)
    for pct in traffic_steps(r):
        split = {new: pct, old: 100 - pct} if pct < 100 else {new: 100}
        events.step(f"traffic: {new} {pct}%" + (f", {old} {100 - pct}%" if pct < 100 else ""))
        _set_traffic(arm, b, split, {}, outcomes, events, deadline, current)
        gate = _Gate(old, pct, allow_idle) if pct < 100 else None
        _bake(arm, b, r.bake, events, deadline, gate)


def _set_traffic(
    arm: Arm,
    b: Bodies,
    traffic: dict[str, int],
    mirror: dict[str, int],
    outcomes: dict[str, str],
    events: Events,
    deadline: float,
    current: dict[str, int] | None = None,
) -> None:
    """PUT the endpoint with this split and wait; `current` is updated once Azure accepted it."""
    arm.put_endpoint(b.endpoint, b.endpoint_body(traffic, mirror, outcomes))
    if current is not None:
        current.clear()
        current.update(traffic)
    if _wait_endpoint(arm, b.endpoint, events, deadline) != "Succeeded":
        raise _RolloutFailed(f"endpoint {b.endpoint} failed to apply traffic {traffic}")


@dataclass(frozen=True)
class _Gate:
    """What a bake judges: the new deployment against `old` at `percent` of traffic."""

    old: str
    percent: int
    allow_idle: bool


def _bake(arm: Arm, b: Bodies, seconds: int, events: Events, deadline: float, gate: _Gate | None = None) -> None:
    """Watch the new deployment for `seconds`; a failed probe (state Failed) ends the bake early.

    With a `gate`, every look also judges its Azure Monitor figures over the bake so far against
    the deployment it replaces (`scalectl.metrics.judge`). Fewer than rollout.min_requests requests
    by the end: bake on until the rollout's timeout, then fail, unless `deploy --allow-idle-bake`.
    """
    if seconds <= 0:
        return
    if time.monotonic() + seconds > deadline:
        raise _RolloutFailed(f"the {seconds}s bake would run past the rollout timeout")
    r = b.target.rollout
    n = int(b.identity.number)
    gates = f" and gates ({gates_text(r, revision_of(gate.old) if gate else None)})" if gate else ""
    events.step(f"baking {seconds}s: watching health{gates}")
    began, end = time.time(), time.monotonic() + seconds
    extended, unreadable, attempt = False, "", 0
    with events.countdown(f"baking revision {n}") as tick:
        while True:
            dep = arm.get_deployment(b.endpoint, b.deployment)
            found = "Gone" if dep is None else str(properties_of(dep).get("provisioningState"))
            if found != "Succeeded":
                events.state(b.deployment, found)
                logs = arm.deployment_logs(b.endpoint, b.deployment)
                raise _RolloutFailed(f"deployment {b.deployment} became {found} during the bake" + _tail(logs))
            verdict, requests = Verdict(True), 0
            if gate is not None:
                verdict = Verdict(None)
                try:
                    figures = metrics.figures(
                        arm,
                        b.endpoint,
                        {b.deployment: n, gate.old: revision_of(gate.old) or 0},
                        began,
                        time.time(),
                        resources=False,
                    )
                    verdict = judge(r, figures[b.deployment], figures.get(gate.old))
                    requests = figures[b.deployment].requests
                    unreadable = ""
                except ProviderError as exc:
                    if not unreadable:
                        events.warn(f"the bake cannot read revision {n}'s figures: {exc.message}")
                    unreadable = exc.message
                if verdict.ok is False:
                    raise _RolloutFailed(f"its bake at {gate.percent}% of traffic failed: {verdict.reason}")
            now = time.monotonic()
            tick((end if now < end else deadline) - now, verdict.figures)
            if now >= end:
                if gate is None or verdict.ok or (not unreadable and requests >= r.min_requests):
                    return
                idle = (
                    f"its figures could not be read ({unreadable})"
                    if unreadable
                    else f"the bake saw {requests} request(s) to it, fewer than rollout.min_requests ({r.min_requests})"
                )
                if gate.allow_idle:
                    events.warn(f"revision {n}: {idle}: promoting anyway (--allow-idle-bake)")
                    return
                if unreadable or now >= deadline:
                    when = "" if unreadable else " before the rollout's timeout"
                    raise _RolloutFailed(
                        f"not promoted unjudged: {idle}{when} (pass --allow-idle-bake to promote anyway)"
                    )
                if not extended:
                    extended = True
                    events.warn(
                        f"the bake saw {requests} of the {r.min_requests} requests it needs to judge revision {n}: "
                        "baking on until the rollout's timeout"
                    )
            limit = end if now < end else deadline
            pause(max(0.05, min(_BAKE_DELAY(attempt), limit - now)))
            attempt += 1


def _wait_endpoint(arm: Arm, name: str, events: Events, deadline: float) -> str:
    return arm.wait_state(f"endpoint {name}", lambda: arm.get_endpoint(name), events, deadline=deadline)


def _wait_deployment(arm: Arm, endpoint: str, name: str, events: Events, deadline: float) -> None:
    state = arm.wait_state(f"deployment {name}", lambda: arm.get_deployment(endpoint, name), events, deadline=deadline)
    if state != "Succeeded":
        logs = arm.deployment_logs(endpoint, name)
        raise _RolloutFailed(f"deployment {name} ended {state}" + _tail(logs))


def _abort(
    arm: Arm,
    b: Bodies,
    old: str | None,
    traffic: dict[str, int],
    outcomes: dict[str, str],
    autoscaled: bool,
    reason: str,
    auto_rollback: bool,
    events: Events,
) -> DeployFailed:
    """Put traffic back on `old`, delete the new deployment, and say so."""
    n = b.identity.number
    outcomes = trim({**outcomes, f"{OUTCOME}{n}": f"failed: {reason}"[:256]})
    if not auto_rollback:
        split = ", ".join(f"{d} {p}%" for d, p in traffic.items()) or "none"
        # record the outcome on the endpoint, traffic unchanged: the next command sees a halted rollout
        with contextlib.suppress(ProviderError, WaitTimeout, _RolloutFailed):
            _set_traffic(arm, b, dict(traffic), {}, outcomes, events, time.monotonic() + 120)
        return DeployFailed(
            f"revision {n} failed: {reason}. auto_rollback is off, so traffic is left as is ({split}); "
            f"run `scalectl rollback` to go back"
        )
    events.step("rolling back: " + (f"traffic to {old}" if old else f"removing {b.deployment}"))
    cleanup = time.monotonic() + 600
    try:
        _wait_endpoint(arm, b.endpoint, events, cleanup)
        _set_traffic(arm, b, {old: 100} if old else {}, {}, outcomes, events, cleanup)
        if autoscaled:
            arm.delete_autoscale(b.autoscale)
        arm.delete_deployment(b.endpoint, b.deployment)
        events.state(f"deployment {b.deployment}", "Deleting")
    except (ProviderError, WaitTimeout, _RolloutFailed) as exc:
        detail = exc.message if isinstance(exc, ProviderError | WaitTimeout) else str(exc)
        return DeployFailed(
            f"revision {n} failed: {reason}. Rolling back also failed: {detail}. "
            f"Check `scalectl status`; the endpoint may still send traffic to {b.deployment}"
        )
    serving = f"revision {revision_of(old)} ({old}) still serves 100% of traffic" if old else "nothing serves yet"
    return DeployFailed(f"revision {n} failed: {reason}. Rolled back: {serving}; {b.deployment} is being deleted")


def _retire(arm: Arm, b: Bodies, obs: Observed, events: Events) -> None:
    """Delete deployments (and their autoscale settings) beyond keep_revisions previous ones."""
    keep = b.target.keep_revisions
    previous = sorted(
        (n for d in obs.deployments if (n := revision_of(d)) is not None and d != b.deployment),
        reverse=True,
    )
    for n in previous[keep:]:
        dep = deployment_name(n)
        events.step(f"retiring {dep} (keep_revisions: {keep})")
        if dep in obs.autoscale:
            arm.delete_autoscale(autoscale_name(b.endpoint, dep))
        arm.delete_deployment(b.endpoint, dep)


def rollback(arm: Arm, release: Release, obs: Observed, to: Revision, events: Events) -> Revision:
    """Traffic back to `to`'s deployment, recreating it from its retained bodies when it is gone."""
    b = Bodies(release, Identity.of(to))
    deadline = time.monotonic() + release.target.rollout.timeout
    outcomes = dict(obs.outcomes)
    if obs.active and obs.active != b.deployment:
        outcomes[f"{OUTCOME}{revision_of(obs.active)}"] = "rolled_back"
    outcomes.pop(f"{OUTCOME}{to.number}", None)

    existing = obs.deployments.get(b.deployment)
    if existing is None or properties_of(existing).get("provisioningState") != "Succeeded":
        _recreate(arm, b, obs, to, events, deadline)
    events.step(f"traffic: {b.deployment} 100%")
    try:
        _set_traffic(arm, b, {b.deployment: 100}, {}, trim(outcomes), events, deadline)
    except _RolloutFailed as exc:
        raise ProviderError(f"rollback to revision {to.number} failed: {exc}") from None
    return Revision(**{**to.to_dict(), "status": "active"})


def _recreate(arm: Arm, b: Bodies, obs: Observed, to: Revision, events: Events, deadline: float) -> None:
    """The deployment is gone: bring it back from the bodies its environment version retained."""
    env = obs.environments.get(to.number) or arm.get_environment(b.environment, str(to.number))
    retained = properties_of(env or {}).get("properties") or {}
    if not retained.get(f"{TAG}.deployment"):
        raise ProviderError(
            f"revision {to.number} can no longer be recreated: its deployment and its environment version "
            f"{b.environment}:{to.number} are gone; deploy that configuration again instead"
        )
    events.step(f"recreating {b.deployment} from its retained configuration")
    arm.put_deployment(b.endpoint, b.deployment, json.loads(retained[f"{TAG}.deployment"]))
    try:
        _wait_deployment(arm, b.endpoint, b.deployment, events, deadline)
    except (_RolloutFailed, WaitTimeout) as exc:
        raise ProviderError(f"rollback to revision {to.number} failed: {exc}; traffic was not changed") from None
    scale = json.loads(retained.get(f"{TAG}.autoscale") or "null")
    if scale:
        arm.put_autoscale(scale["properties"]["name"], scale)


def destroy(arm: Arm, release: Release, obs: Observed, events: Events) -> list[str]:
    """Autoscale settings, the endpoint (with its deployments) and the revisions' environment versions."""
    name = endpoint_name(release)
    removed: list[str] = []
    for dep, setting in obs.autoscale.items():
        arm.delete_autoscale(str(setting.get("name") or autoscale_name(name, dep)))
        removed.append(f"autoscale setting {setting.get('name')}")
    if obs.endpoint is not None:
        events.step(f"deleting endpoint {name} and its {len(obs.deployments)} deployment(s)")
        arm.delete_endpoint(name)
        arm.wait_state(f"endpoint {name}", lambda: arm.get_endpoint(name), events, deadline=time.monotonic() + 1800)
        removed += [f"deployment {d}" for d in obs.deployments]
        removed.append(f"endpoint {name}")
    env = environment_name(name)
    for number in sorted(obs.environments):
        arm.delete_environment(env, str(number))
    if obs.environments:
        removed.append(f"environment {env} ({len(obs.environments)} versions)")
    return removed


def _tail(logs: str) -> str:
    lines = [line for line in logs.strip().splitlines() if line.strip()]
    return f"; container log: {' | '.join(lines[-2:])}" if lines else ""
