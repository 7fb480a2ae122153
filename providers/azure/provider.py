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

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalectl.errors import Diagnostic, ProviderError
from scalectl.events import Events
from scalectl.metrics import RevisionMetrics
from scalectl.provider import REVISION, Change, Live, Plan, Release, Revision
from scalectl.render import pretty

from . import rollout
from .checks import check
from .history import OUTCOME, Observed, autoscale_summary, deployment_summary, properties_of, read_revisions, to_int
from .requests import PLACEHOLDER, TAG, Bodies, deployment_name, endpoint_name, environment_name, revision_of

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from scalectl.config import ScaleFile

    from .api import Arm
    from .schema import AzureTarget


class AzureProvider:
    """Azure ML managed online endpoints, through azure-ai-ml's ARM client and azure-mgmt-monitor."""

    name = "azure"

    def __init__(self, credential: TokenCredential | None = None) -> None:
        self.credential = credential  # None: DefaultAzureCredential, built on first use
        self._arms: dict[tuple[str, str, str], Arm] = {}

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

    def scoring_key(self, release: Release) -> str:
        """The endpoint's primary key, for `scalectl bench` to call the scoring URI as clients do."""
        keys = self._arm(release).endpoint_keys(endpoint_name(release))
        key = keys.get("primaryKey") or keys.get("primary_key")
        if not key:
            raise ProviderError(f"Azure returned no scoring key for endpoint {endpoint_name(release)}")
        return str(key)

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
        return obs

    def observe(self, release: Release) -> Live:
        obs = self._read(release)
        traffic = {n: p for d, p in obs.traffic.items() if (n := revision_of(d)) is not None and p > 0}
        unfinished, halted, serving = interrupted(obs, traffic)
        live = Live(exists=obs.endpoint is not None, revisions=read_revisions(obs, serving), observed=obs)
        if obs.endpoint is None:
            return live
        live.unfinished, live.halted, live.problems = unfinished, halted, unfinished + halted
        active = obs.active
        live.active = serving if serving is not None else (revision_of(active) if active else None)
        live.traffic = traffic
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
        new = deployment_name(REVISION)
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
            deployed = live.observed_as(Observed).deployments
            kept = [x for x in live.revisions if x.number != live.active and f"rev-{x.number}" in deployed]
            for old in kept[: max(0, len(kept) + 1 - t.keep_revisions)]:
                changes.append(Change("delete", f"deployment rev-{old.number}", f"keep_revisions: {t.keep_revisions}"))
        return changes

    def metrics(self, release: Release, live: Live, window: float) -> list[RevisionMetrics]:
        """Azure Monitor's figures for each deployment over the last `window` seconds."""
        from .metrics import figures

        obs = live.observed_as(Observed) if live.observed is not None else self._read(release)
        if obs.endpoint is None:
            return []
        numbered = {name: n for name in obs.deployments if (n := revision_of(name)) is not None}
        desired = {
            name: int(c)
            for name, d in obs.deployments.items()
            if isinstance(c := (d.get("sku") or {}).get("capacity"), int)
        }
        until = time.time()
        found = figures(self._arm(release), endpoint_name(release), numbered, until - window, until, desired)
        return [found[name] for name in sorted(numbered, key=lambda name: numbered[name])]

    # ---------------------------------------------------------------- changing Azure

    def apply(self, plan: Plan, events: Events) -> Revision:
        return rollout.deploy(self._arm(plan.release), plan, plan.live.observed_as(Observed), events)

    def recover(self, release: Release, live: Live, events: Events) -> list[str]:
        """An interrupted (or halted) rollout: 100% back on the serving revision, the newer deployments deleted."""
        serving = live.active_revision
        if serving is None:
            return []
        arm = self._arm(release)
        obs = live.observed_as(Observed)
        done = []
        if live.traffic != {serving.number: 100} or any(v > 0 for v in obs.mirror.values()):
            rollout.rollback(arm, release, obs, serving, events)
            done.append(f"traffic back on revision {serving.number} (100%)")
        for name in sorted(obs.deployments):
            number = revision_of(name)
            if number is not None and number > serving.number:
                events.step(f"deleting deployment {name} (unfinished rollout)")
                arm.delete_deployment(endpoint_name(release), name)
                done.append(f"removed unfinished revision {number}")
        return done

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        return rollout.rollback(self._arm(release), release, live.observed_as(Observed), to, events)

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        return rollout.destroy(self._arm(release), release, live.observed_as(Observed), events)


# ---------------------------------------------------------------- helpers


def _ensure_ours(release: Release, endpoint: dict[str, Any]) -> None:
    tags = endpoint.get("tags") or {}
    if tags.get(f"{TAG}.app") != release.app or tags.get(f"{TAG}.target") != release.target_name:
        raise ProviderError(
            f"endpoint {endpoint.get('name')} exists but was not created by scalectl for {release.app}/"
            f"{release.target_name}; scalectl will not touch it. Set `endpoint_name` to a new name"
        )


def _describe(strategy: str, percent: int) -> str:
    return {
        "canary": f"canary {percent}% then 100%",
        "linear": f"linear steps of {percent}%",
        "all_at_once": "all at once",
    }[strategy]


def interrupted(obs: Observed, traffic: dict[int, int]) -> tuple[list[str], list[str], int | None]:
    """(unfinished, halted, serving) for a split left mid-rollout or a newer deployment left at 0%.

    The newest revision with traffic never finished, so it is never the serving one. A split whose
    newest revision has a failed outcome was left on purpose (auto_rollback: false): halted.
    """
    unfinished: list[str] = []
    halted: list[str] = []
    serving: int | None = None
    if len(traffic) > 1:
        newest = max(traffic)
        serving = max(n for n in traffic if n != newest)
        split = ", ".join(f"rev-{n}: {p}%" for n, p in sorted(traffic.items()))
        if obs.outcomes.get(f"{OUTCOME}{newest}", "").startswith("failed"):
            halted.append(f"rollout halted mid-step (auto_rollback: false): {split}; `scalectl rollback` undoes it")
        else:
            unfinished.append(f"traffic is split mid-rollout ({split}); revision {newest} never finished")
    top = serving if serving is not None else (max(traffic, key=lambda n: traffic[n]) if traffic else None)
    if top is not None:
        for name in sorted(obs.deployments):
            number = revision_of(name)
            failed = obs.outcomes.get(f"{OUTCOME}{number}", "").startswith("failed")
            going = properties_of(obs.deployments[name]).get("provisioningState") == "Deleting"
            if number is not None and number > top and number not in traffic and not failed and not going:
                unfinished.append(f"deployment {name} was left at 0% by an interrupted rollout")
    return unfinished, halted, serving
