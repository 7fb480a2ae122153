"""`provider: azure`: Azure ML managed online endpoints.

One endpoint per target, created once; one deployment per revision (`rev-N`), brought up at
0% traffic, then the endpoint's traffic moves per the rollout strategy with a bake after each
step. Autoscaling is an Azure Monitor autoscale setting on the deployment. History lives in
Azure: each revision registers an environment version (the image, plus the retained
deployment and autoscale bodies, tagged with the revision's identity), deployments carry the
same tags, and outcomes (failed, rolled back) are tags on the endpoint. Any machine can
therefore list history and roll back, even to a revision whose deployment was deleted.

The SDKs are imported in `api`, which only commands that talk to Azure load.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalectl.errors import DeployFailed, Diagnostic, ProviderError
from scalectl.events import Events
from scalectl.provider import Change, Live, Plan, Release, Revision
from scalectl.render import pretty
from scalectl.wait import WaitTimeout, backoff, poll_until

from .history import (
    OUTCOME,
    Observed,
    autoscale_summary,
    deployment_summary,
    properties_of,
    read_revisions,
    to_int,
    trim,
)
from .requests import (
    PLACEHOLDER,
    TAG,
    Bodies,
    Identity,
    autoscale_name,
    check,
    deployment_name,
    endpoint_name,
    environment_name,
    revision_of,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from scalectl.config import ScaleFile

    from .api import Arm
    from .schema import AzureTarget


class _RolloutFailed(Exception):
    """Internal: a step of the rollout failed; `apply` turns it into DeployFailed after rolling back."""


class AzureProvider:
    """Azure ML managed online endpoints, through azure-ai-ml's ARM client and azure-mgmt-monitor."""

    name = "azure"

    def __init__(self, credential: TokenCredential | None = None) -> None:
        self.credential = credential  # None: DefaultAzureCredential, built on first use
        self._arms: dict[tuple[str, str, str], Arm] = {}
        self._observed: dict[str, Observed] = {}

    # ---------------------------------------------------------------- offline

    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        t: AzureTarget = spec.targets[target]  # type: ignore[assignment]
        return check(t, spec.model, spec.name, target)

    def render(self, release: Release) -> dict[str, str]:
        """The bodies deploy sends (revision number and deployer filled in at deploy time)."""
        b = Bodies(release, PLACEHOLDER)
        files = {
            "endpoint.json": pretty(b.endpoint_body({b.deployment: 100}, {}, {})),
            "environment.json": pretty(b.environment_body()),
            "deployment.json": pretty(b.deployment_body()),
        }
        scale = b.autoscale_body()
        if scale is not None:
            files["autoscale.json"] = pretty(scale)
        files["rbac-role.json"] = pretty(b.rbac_role())
        return files

    # ---------------------------------------------------------------- reading Azure

    def _arm(self, release: Release) -> Arm:
        from .api import Arm

        t: AzureTarget = release.target  # type: ignore[assignment]
        key = (t.subscription, t.resource_group, t.workspace)
        if key not in self._arms:
            self._arms[key] = Arm(t, self.credential)
        return self._arms[key]

    def _read(self, release: Release) -> Observed:
        arm = self._arm(release)
        name = endpoint_name(release)
        obs = Observed(endpoint=arm.get_endpoint(name))
        for env in arm.list_environments(environment_name(name)):
            number = to_int(properties_of(env).get("tags", {}).get(f"{TAG}.revision"))
            if number is not None:
                obs.environments[number] = env
        if obs.endpoint is not None:
            _ensure_ours(release, obs.endpoint)
            obs.deployments = {str(d.get("name")): d for d in arm.list_deployments(name)}
            for setting in arm.list_autoscale():
                tags = setting.get("tags") or {}
                if tags.get(f"{TAG}.app") == release.app and tags.get(f"{TAG}.target") == release.target_name:
                    dep = deployment_name(tags.get(f"{TAG}.revision", "?"))
                    obs.autoscale[dep] = setting
        self._observed[name] = obs
        return obs

    def observe(self, release: Release) -> Live:
        obs = self._read(release)
        revisions = read_revisions(obs)
        live = Live(exists=obs.endpoint is not None, revisions=revisions)
        if obs.endpoint is None:
            return live
        active = obs.active
        live.active = revision_of(active) if active else None
        live.traffic = {n: p for d, p in obs.traffic.items() if (n := revision_of(d)) is not None and p > 0}
        live.url = properties_of(obs.endpoint).get("scoringUri")
        live.details = {
            "endpoint": endpoint_name(release),
            "state": properties_of(obs.endpoint).get("provisioningState"),
            "auth_mode": properties_of(obs.endpoint).get("authMode"),
            "mirror": {d: p for d, p in obs.mirror.items() if p > 0},
            "deployments": [deployment_summary(d, obs.traffic) for d in obs.deployments.values()],
            "autoscale": {d: autoscale_summary(s) for d, s in obs.autoscale.items()},
        }
        return live

    def plan(self, release: Release, live: Live) -> list[Change]:
        t: AzureTarget = release.target  # type: ignore[assignment]
        name = endpoint_name(release)
        active = live.active_revision
        if active is not None and active.digest == release.digest:
            return [Change("keep", f"deployment rev-{active.number}", "already running this config")]
        new = "rev-<next>"
        changes = [
            Change("keep", f"endpoint {name}", "exists")
            if live.exists
            else Change("create", f"endpoint {name}", f"{t.auth_mode} auth, in {t.workspace}"),
            Change("create", "environment version", release.model.image),
            Change("create", f"deployment {new}", f"{t.autoscaling.min} x {t.instance}"),
        ]
        a = t.autoscaling
        if a.max > a.min:
            changes.append(
                Change("create", f"autoscale setting for {new}", f"{a.min}-{a.max} instances on {a.metric} {a.target}")
            )
        if live.active is None:
            changes.append(Change("update", "traffic", f"{new}: 100%"))
        else:
            r = t.rollout
            mirror = f"mirror {t.mirror}%, then " if t.mirror else ""
            changes.append(
                Change("update", "traffic", f"rev-{live.active} -> {new}: {mirror}{_describe(r.strategy, r.percent)}")
            )
            kept = [x for x in live.revisions if x.number != live.active and f"rev-{x.number}" in _names(live)]
            for old in kept[: max(0, len(kept) + 1 - t.keep_revisions)]:
                changes.append(Change("delete", f"deployment rev-{old.number}", f"keep_revisions: {t.keep_revisions}"))
        return changes

    # ---------------------------------------------------------------- deploy

    def apply(self, plan: Plan, events: Events) -> Revision:
        release, rev = plan.release, plan.revision
        t: AzureTarget = release.target  # type: ignore[assignment]
        arm = self._arm(release)
        b = Bodies(release, Identity.of(rev))
        obs = self._observed.get(b.endpoint) or self._read(release)
        deadline = time.monotonic() + plan.timeout
        old = obs.active
        outcomes = obs.outcomes

        if obs.endpoint is None:
            events.step(f"creating endpoint {b.endpoint}")
            arm.put_endpoint(b.endpoint, b.endpoint_body({}, {}, outcomes))
            if self._wait_endpoint(arm, b.endpoint, events, deadline) != "Succeeded":
                raise DeployFailed(f"endpoint {b.endpoint} could not be created; nothing was deployed")
        elif properties_of(obs.endpoint).get("provisioningState") in ("Creating", "Updating"):
            events.step(f"waiting for endpoint {b.endpoint} to finish its current operation")
            self._wait_endpoint(arm, b.endpoint, events, deadline)
        events.step(f"registering environment {b.environment}:{rev.number} ({release.model.image})")
        arm.put_environment(b.environment, str(rev.number), b.environment_body())

        autoscaled = False
        traffic: dict[str, int] = dict(obs.traffic)
        try:
            events.step(f"creating deployment {b.deployment}: {t.autoscaling.min} x {t.instance}, 0% traffic")
            arm.put_deployment(b.endpoint, b.deployment, b.deployment_body())
            self._wait_deployment(arm, b.endpoint, b.deployment, events, deadline)
            scale = b.autoscale_body()
            if scale is not None:
                events.step(f"autoscale setting {b.autoscale}: {t.autoscaling.min}-{t.autoscaling.max} instances")
                arm.put_autoscale(b.autoscale, scale)
                autoscaled = True
            self._shift(arm, b, old, traffic, outcomes, events, deadline)
        except (_RolloutFailed, WaitTimeout, ProviderError, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt):
                reason = "interrupted"  # Ctrl-C or a cancelled CI job: put the old revision back first
            elif isinstance(exc, WaitTimeout | ProviderError):
                reason = exc.message
            else:
                reason = str(exc)
            if isinstance(exc, WaitTimeout):
                reason = f"{reason} (timeout {plan.timeout}s)"
            raise self._abort(
                arm, b, old, traffic, outcomes, autoscaled, reason, t.rollout.auto_rollback, events
            ) from None

        self._retire(arm, release, b, obs, events)
        return Revision(**{**rev.to_dict(), "status": "active"})

    def _shift(
        self,
        arm: Arm,
        b: Bodies,
        old: str | None,
        current: dict[str, int],
        outcomes: dict[str, str],
        events: Events,
        deadline: float,
    ) -> None:
        """Move traffic per the strategy, baking after each step; `current` follows every accepted split."""
        t = b.target
        r = t.rollout
        new = b.deployment
        if old is None:
            events.step(f"traffic: {new} 100%")
            self._set_traffic(arm, b, {new: 100}, {}, outcomes, events, deadline, current)
            return
        if t.mirror:
            events.step(f"mirroring {t.mirror}% of traffic to {new} (responses discarded)")
            self._set_traffic(arm, b, {old: 100}, {new: t.mirror}, outcomes, events, deadline, current)
            self._bake(arm, b, r.bake, events, deadline)
        for pct in _steps(r.strategy, r.percent):
            split = {new: pct, old: 100 - pct} if pct < 100 else {new: 100}
            events.step(f"traffic: {new} {pct}%" + (f", {old} {100 - pct}%" if pct < 100 else ""))
            self._set_traffic(arm, b, split, {}, outcomes, events, deadline, current)
            self._bake(arm, b, r.bake, events, deadline)

    def _set_traffic(
        self,
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
        if self._wait_endpoint(arm, b.endpoint, events, deadline) != "Succeeded":
            raise _RolloutFailed(f"endpoint {b.endpoint} failed to apply traffic {traffic}")

    def _bake(self, arm: Arm, b: Bodies, seconds: int, events: Events, deadline: float) -> None:
        """Watch the new deployment for `seconds`; a failed probe (state Failed) ends the bake early."""
        if seconds <= 0:
            return
        if time.monotonic() + seconds > deadline:
            raise _RolloutFailed(f"the {seconds}s bake would run past the rollout timeout")
        events.step(f"baking {seconds}s")

        def state() -> str:
            dep = arm.get_deployment(b.endpoint, b.deployment)
            return "Gone" if dep is None else str(properties_of(dep).get("provisioningState"))

        try:
            found = poll_until(state, lambda s: s != "Succeeded", timeout=seconds, what="bake", delay=_BAKE_DELAY)
        except WaitTimeout:
            return  # healthy for the whole bake
        events.state(b.deployment, found)
        logs = arm.deployment_logs(b.endpoint, b.deployment)
        raise _RolloutFailed(f"deployment {b.deployment} became {found} during the bake" + _tail(logs))

    def _wait_endpoint(self, arm: Arm, name: str, events: Events, deadline: float) -> str:
        return arm.wait_state(f"endpoint {name}", lambda: arm.get_endpoint(name), events, deadline=deadline)

    def _wait_deployment(self, arm: Arm, endpoint: str, name: str, events: Events, deadline: float) -> None:
        state = arm.wait_state(
            f"deployment {name}", lambda: arm.get_deployment(endpoint, name), events, deadline=deadline
        )
        if state != "Succeeded":
            logs = arm.deployment_logs(endpoint, name)
            raise _RolloutFailed(f"deployment {name} ended {state}" + _tail(logs))

    def _abort(
        self,
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
            return DeployFailed(
                f"revision {n} failed: {reason}. auto_rollback is off, so traffic is left as is ({split}); "
                f"run `scalectl rollback` to go back"
            )
        events.step("rolling back: " + (f"traffic to {old}" if old else f"removing {b.deployment}"))
        cleanup = time.monotonic() + 600
        try:
            self._wait_endpoint(arm, b.endpoint, events, cleanup)
            self._set_traffic(arm, b, {old: 100} if old else {}, {}, outcomes, events, cleanup)
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

    def _retire(self, arm: Arm, release: Release, b: Bodies, obs: Observed, events: Events) -> None:
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

    # ---------------------------------------------------------------- rollback, destroy

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        arm = self._arm(release)
        name = endpoint_name(release)
        obs = self._observed.get(name) or self._read(release)
        b = Bodies(release, Identity.of(to))
        deadline = time.monotonic() + release.target.rollout.timeout
        outcomes = dict(obs.outcomes)
        if obs.active and obs.active != b.deployment:
            outcomes[f"{OUTCOME}{revision_of(obs.active)}"] = "rolled_back"
        outcomes.pop(f"{OUTCOME}{to.number}", None)

        existing = obs.deployments.get(b.deployment)
        if existing is None or properties_of(existing).get("provisioningState") != "Succeeded":
            self._recreate(arm, b, obs, to, events, deadline)
        events.step(f"traffic: {b.deployment} 100%")
        try:
            self._set_traffic(arm, b, {b.deployment: 100}, {}, trim(outcomes), events, deadline)
        except _RolloutFailed as exc:
            raise ProviderError(f"rollback to revision {to.number} failed: {exc}") from None
        return Revision(**{**to.to_dict(), "status": "active"})

    def _recreate(self, arm: Arm, b: Bodies, obs: Observed, to: Revision, events: Events, deadline: float) -> None:
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
            self._wait_deployment(arm, b.endpoint, b.deployment, events, deadline)
        except (_RolloutFailed, WaitTimeout) as exc:
            raise ProviderError(f"rollback to revision {to.number} failed: {exc}; traffic was not changed") from None
        scale = json.loads(retained.get(f"{TAG}.autoscale") or "null")
        if scale:
            arm.put_autoscale(scale["properties"]["name"], scale)

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        """Autoscale settings, the endpoint (with its deployments) and the revisions' environment versions."""
        arm = self._arm(release)
        name = endpoint_name(release)
        obs = self._observed.get(name) or self._read(release)
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
        self._observed.pop(name, None)
        return removed


_BAKE_DELAY = backoff(initial=0.25, factor=1.6, maximum=10.0)


# ---------------------------------------------------------------- helpers


def _ensure_ours(release: Release, endpoint: dict[str, Any]) -> None:
    tags = endpoint.get("tags") or {}
    if tags.get(f"{TAG}.app") != release.app or tags.get(f"{TAG}.target") != release.target_name:
        raise ProviderError(
            f"endpoint {endpoint.get('name')} exists but was not created by scalectl for {release.app}/"
            f"{release.target_name}; scalectl will not touch it. Set `endpoint_name` to a new name"
        )


def _names(live: Live) -> set[str]:
    return {d["name"] for d in live.details.get("deployments", [])}


def _steps(strategy: str, percent: int) -> list[int]:
    if strategy == "canary":
        return [percent, 100]
    if strategy == "linear":
        return [*range(percent, 100, percent), 100]
    return [100]


def _describe(strategy: str, percent: int) -> str:
    return {
        "canary": f"canary {percent}% then 100%",
        "linear": f"linear steps of {percent}%",
        "all_at_once": "all at once",
    }[strategy]


def _tail(logs: str) -> str:
    lines = [line for line in logs.strip().splitlines() if line.strip()]
    return f"; container log: {' | '.join(lines[-2:])}" if lines else ""
