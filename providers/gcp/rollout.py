"""Vertex AI target: deploy, rollback and destroy against the Endpoint and its Models.

A rollout deploys the new Model next to the old one with a traffic share, steps
`trafficSplit` after each bake while the new deployed model stays healthy, and undeploys the
old one only after the new one has held 100% for `undeploy_grace`. Any failure moves traffic
back to the old deployed model and undeploys the new one.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from scalectl.errors import DeployFailed, ProviderError, ScalectlError
from scalectl.events import Events
from scalectl.metrics import RevisionMetrics, Verdict, gates_text, judge
from scalectl.provider import Plan, Release, Revision
from scalectl.rollout import bake_after, traffic_steps
from scalectl.state import actor, now_iso
from scalectl.wait import WaitTimeout

from . import requests as bodies
from .api import Vertex, VertexError


@dataclass
class Deployed:
    """One deployed model on the endpoint, tied back to its revision."""

    id: str
    model: str
    revision: int | None
    traffic: int
    available_replicas: int
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Snapshot:
    """The target as Vertex reports it: the endpoint (if any) and every scalectl Model."""

    endpoint: dict[str, Any] | None
    models: list[dict[str, Any]]

    def deployed(self) -> list[Deployed]:
        if self.endpoint is None:
            return []
        split = {k: int(v) for k, v in self.endpoint.get("trafficSplit", {}).items()}
        revision_of = {m["name"]: revision_number(m) for m in self.models}
        return [
            Deployed(
                id=d["id"],
                model=d.get("model", ""),
                revision=revision_of.get(d.get("model", "")),
                traffic=split.get(d["id"], 0),
                available_replicas=int(d.get("status", {}).get("availableReplicaCount", 0)),
                raw=d,
            )
            for d in self.endpoint.get("deployedModels", [])
        ]

    def model_for(self, revision: int) -> dict[str, Any] | None:
        return next((m for m in self.models if revision_number(m) == revision), None)


def snapshot(vertex: Vertex, release: Release) -> Snapshot:
    """The target's endpoint and Models, found by label."""
    labels = {bodies.MANAGED_BY: "scalectl", bodies.APP: release.app, bodies.TARGET: release.target_name}
    endpoint = vertex.find_endpoint(labels)
    models = vertex.list_models(labels)
    return Snapshot(endpoint, models)


def rollback(vertex: Vertex, release: Release, to: Revision, events: Events) -> Revision:
    """Traffic back to `to`'s deployed model (redeployed from its Model if needed), then clean up the rest."""
    target = bodies.target_of(release)
    deadline = time.monotonic() + target.rollout.timeout
    snap = snapshot(vertex, release)
    if snap.endpoint is None:
        raise ProviderError(f"the endpoint of target {release.target_name!r} no longer exists; deploy instead")
    endpoint = snap.endpoint["name"]
    deployed = snap.deployed()
    # only a copy with ready replicas takes traffic back; anything else is redeployed
    warm = next((d for d in deployed if d.revision == to.number and d.available_replicas > 0), None)
    current = [d for d in deployed if d is not warm]
    if warm is not None:
        events.step(f"moving 100% of traffic back to revision {to.number} (still deployed)")
        vertex.update_endpoint(bodies.update_traffic(endpoint, {warm.id: 100}))
        events.state(f"revision {to.number}", "100% traffic")
    else:
        model = snap.model_for(to.number)
        if model is None:
            raise ProviderError(f"revision {to.number}'s Vertex Model is gone; deploy that version again instead")
        events.step(f"revision {to.number} is no longer deployed: redeploying its model {model['name']}")
        body = bodies.deploy_model(
            release,
            endpoint=endpoint,
            model_resource=model["name"],
            revision=str(to.number),
            traffic_split={"0": 100},
            resources=_resources_of(model),
        )
        events.state(f"revision {to.number}", "DEPLOYING")
        operation = vertex.start_deploy(body)
        try:
            vertex.finish_deploy(operation, f"redeploying revision {to.number}", _left(deadline))
        except (VertexError, WaitTimeout) as exc:
            vertex.cancel(getattr(operation, "operation", operation).name, vertex.endpoints)
            raise DeployFailed(
                f"rollback to revision {to.number} failed: {exc.message}; "
                "traffic was not moved, the current revision still serves"
            ) from None
        events.state(f"revision {to.number}", "100% traffic")
    for d in current:  # traffic is already back; clean-up problems are warnings, not a failed rollback
        model = next((m for m in snap.models if m["name"] == d.model), None)
        try:
            if model is not None and d.revision != to.number:
                note = f"rolled back to revision {to.number} by {actor()} at {now_iso()}"
                vertex.update_model(bodies.mark_model(model, "rolled_back", note))
            _undeploy(vertex, endpoint, d, events, max(_left(deadline), 60.0))
        except ScalectlError as exc:
            events.warn(
                f"revision {to.number} serves 100%, but cleaning up deployed model {d.id} failed: {exc.message}"
            )
    return Revision(**{**to.to_dict(), "status": "active", "message": f"rolled back to revision {to.number}"})


def destroy(vertex: Vertex, release: Release, events: Events) -> list[str]:
    """Undeploy scalectl's deployed models, delete the endpoint (unless others use it) and the Models."""
    timeout = float(bodies.target_of(release).rollout.timeout)
    snap = snapshot(vertex, release)
    ours = {m["name"] for m in snap.models}
    removed: list[str] = []
    foreign = []
    if snap.endpoint is not None:
        endpoint = snap.endpoint["name"]
        deployed = snap.deployed()
        foreign = [d for d in deployed if d.model not in ours]
        if foreign and not any(d.traffic for d in foreign) and any(d.traffic for d in deployed):
            raise ProviderError(
                f"endpoint {endpoint} also has {len(foreign)} deployed model(s) scalectl did not create, "
                "holding no traffic; scalectl will not send traffic to them. Move the traffic yourself "
                "(or undeploy them), then run destroy again"
            )
        # undeploy the ones without traffic first, so Vertex never sees traffic on an undeployed model
        for d in sorted((d for d in deployed if d.model in ours), key=lambda d: d.traffic):
            _undeploy(vertex, endpoint, d, events, timeout)
            removed.append(f"deployed model {d.id} (revision {d.revision})")
        if foreign:
            events.warn(
                f"endpoint {endpoint} also serves {len(foreign)} model(s) scalectl did not deploy; the endpoint is kept"
            )
        else:
            events.step(f"deleting endpoint {endpoint}")
            vertex.delete_endpoint(endpoint, timeout)
            removed.append(f"endpoint {endpoint}")
    for model in sorted(snap.models, key=lambda m: revision_number(m) or 0):
        events.step(f"deleting model {model['name']} (revision {revision_number(model)})")
        vertex.delete_model(model["name"], timeout)
        removed.append(f"model {model['name']}")
    return removed


class Rollout:
    """One deploy: upload, deploy beside the old revision, step traffic, gate on health, clean up."""

    def __init__(self, vertex: Vertex, plan: Plan, events: Events, sleep: Callable[[float], None]) -> None:
        self.vertex = vertex
        self.plan = plan
        self.release = plan.release
        self.target = bodies.target_of(plan.release)
        self.events = events
        self.revision = plan.revision
        self.deadline = time.monotonic() + plan.timeout
        self.sleep = sleep
        self.endpoint = ""
        self.model: dict[str, Any] = {}
        self.new_id: str | None = None
        self.old: Deployed | None = None
        self.share = 0

    def run(self) -> Revision:
        snap = snapshot(self.vertex, self.release)
        try:
            self.endpoint = self._ensure_endpoint(snap)
        except ScalectlError as exc:
            raise DeployFailed(f"the endpoint could not be created: {exc.message}; nothing was deployed") from None
        deployed = snap.deployed()
        serving = [d for d in deployed if d.traffic > 0]
        self.old = max(serving, key=lambda d: d.traffic) if serving else None
        leftovers = [d for d in deployed if d is not self.old]

        try:
            self.model = self._upload()
        except ScalectlError as exc:
            now = (
                f"revision {self.old.revision} still serves {self.old.traffic}% of traffic"
                if self.old
                else "nothing serves yet"
            )
            raise DeployFailed(f"revision {self.revision.number} was not deployed: {exc.message}; {now}") from None
        steps = traffic_steps(self.target.rollout, self.old is not None)
        self._deploy(steps[0])
        for share in steps[1:]:
            self._bake(bake_after(self.target.rollout, self.share), f"bake at {self.share}%", gate=True)
            self._shift(share)
        self._bake(0, "health at 100%")
        if (self.old is not None or leftovers) and self.target.undeploy_grace:
            self._bake(self.target.undeploy_grace, "grace period before undeploying the old revision")
        for d in [*([self.old] if self.old else []), *leftovers]:
            try:
                _undeploy(self.vertex, self.endpoint, d, self.events, max(self._left(), 60.0))
            except ScalectlError as exc:  # the new revision serves; the leftover is retried next deploy
                self.events.warn(
                    f"revision {self.revision.number} serves 100%, but undeploying {d.id} failed: {exc.message}"
                )
        self._prune(snap)
        return Revision(**{**self.revision.to_dict(), "status": "active", "message": f"model {self.model['name']}"})

    def _left(self) -> float:
        return _left(self.deadline)

    def _ensure_endpoint(self, snap: Snapshot) -> str:
        target = bodies.target_of(self.release)
        if snap.endpoint is not None:
            name = str(snap.endpoint["name"])
            if bodies.logging_differs(snap.endpoint, target):
                cap = target.monitoring.capture
                what = f"{cap.percent:g}% to {cap.destination}" if cap is not None else "off"
                self.events.step(f"setting the endpoint's request-response logging: {what}")
                self.vertex.update_endpoint(bodies.update_logging(name, target))
                self.events.state("request-response logging", what)
            return name
        self.events.step(f"creating endpoint {bodies.endpoint_display_name(self.release)}")
        created = self.vertex.create_endpoint(bodies.create_endpoint(self.release), self._left())
        self.events.state("endpoint", "CREATED")
        return str(created["name"])

    def _upload(self) -> dict[str, Any]:
        r = self.revision
        info = bodies.RevisionInfo(str(r.number), r.created_at, r.created_by)
        self.events.step(f"uploading model for revision {r.number} ({self.release.model.image})")
        body = bodies.upload_model(self.release, info)
        name = self.vertex.upload_model(body, self._left())
        self.events.state(f"model r{r.number}", "UPLOADED")
        return {**body["model"], "name": name}

    def _deploy(self, share: int) -> None:
        n = self.revision.number
        split = {"0": share}
        if self.old is not None and share < 100:
            split[self.old.id] = 100 - share
        body = bodies.deploy_model(
            self.release,
            endpoint=self.endpoint,
            model_resource=self.model["name"],
            revision=str(n),
            traffic_split=split,
        )
        self.events.step(f"deploying revision {n} on {self.target.machine} with {share}% of traffic")
        self.events.state(f"revision {n}", "DEPLOYING")
        try:
            operation = self.vertex.start_deploy(body)
        except VertexError as exc:
            self._fail(f"could not be deployed: {exc.message}")
        try:
            self.new_id = self.vertex.finish_deploy(operation, f"deploying revision {n}", self._left())
        except WaitTimeout:
            self.vertex.cancel(getattr(operation, "operation", operation).name, self.vertex.endpoints)
            self._fail(f"was not ready within the {self.plan.timeout}s timeout (deploy cancelled)")
        except VertexError as exc:
            self._fail(f"failed to deploy: {exc.message}")
        self.share = share
        self.events.state(f"revision {n}", f"{share}% traffic")

    def _shift(self, share: int) -> None:
        assert self.new_id is not None
        split = {self.new_id: share}
        if self.old is not None and share < 100:
            split[self.old.id] = 100 - share
        self.events.step(f"moving revision {self.revision.number} to {share}% of traffic")
        try:
            self.vertex.update_endpoint(bodies.update_traffic(self.endpoint, split))
        except VertexError as exc:
            self._fail(f"traffic could not be moved to {share}%: {exc.message}")
        self.share = share
        self.events.state(f"revision {self.revision.number}", f"{share}% traffic")

    def _bake(self, seconds: float, what: str, gate: bool = False) -> None:
        """Watch the new deployed model for `seconds` (at least once); fail fast.

        Every look checks its replicas; a `gate` bake (a traffic step below 100%) also judges its
        figures against the one it replaces over the bake so far (`scalectl.metrics.judge`). Fewer
        than rollout.min_requests requests by the end: bake on until the rollout's timeout, then roll
        back, unless `deploy --allow-idle-bake` said no traffic will come.
        """
        began = time.time()
        end = time.monotonic() + seconds
        interval = min(15.0, max(0.2, seconds / 5))
        rollout = self.target.rollout
        if seconds:
            old = self.old.revision if self.old is not None else None
            gates = f" and gates ({gates_text(rollout, old)})" if gate else ""
            self.events.step(f"{what}: watching health{gates} for {seconds:.0f}s")
        gate = gate and self.old is not None and seconds > 0
        extended = False
        unreadable = ""
        with self.events.countdown(f"baking revision {self.revision.number} at {self.share}%") as tick:
            while True:
                problem = self._health()
                if problem:
                    self._fail(f"became unhealthy at {self.share}% of traffic ({problem})")
                verdict, figures = Verdict(None if gate else True), None
                if gate:
                    try:
                        verdict, figures = self._judge(began)
                        unreadable = ""
                    except ScalectlError as exc:
                        if not unreadable:
                            self.events.warn(
                                f"the bake cannot read revision {self.revision.number}'s figures: {exc.message}"
                            )
                        unreadable = exc.message
                    if verdict.ok is False:
                        self._fail(f"failed its bake at {self.share}% of traffic: {verdict.reason}")
                now = time.monotonic()
                tick((end if now < end else self.deadline) - now, verdict.figures)
                if now >= end:
                    requests = figures.requests if figures is not None else 0
                    if verdict.ok or (not unreadable and requests >= rollout.min_requests):
                        return
                    idle = (
                        f"its figures could not be read ({unreadable})"
                        if unreadable
                        else f"the bake saw {requests} request(s) to it, fewer than rollout.min_requests "
                        f"({rollout.min_requests})"
                    )
                    if self.plan.allow_idle_bake:
                        self.events.warn(
                            f"revision {self.revision.number}: {idle}: promoting anyway (--allow-idle-bake)"
                        )
                        return
                    if unreadable or self._left() <= 0:
                        when = "" if unreadable else " before the rollout's timeout"
                        self._fail(
                            f"was not promoted unjudged: {idle}{when} (pass --allow-idle-bake to promote anyway)"
                        )
                    if not extended:
                        extended = True
                        self.events.warn(
                            f"the bake saw {requests} of the {rollout.min_requests} requests it needs to judge "
                            f"revision {self.revision.number}: baking on until the rollout's timeout"
                        )
                elif self._left() <= 0:
                    self._fail(f"did not finish its rollout within the {self.plan.timeout}s timeout")
                self.sleep(min(interval, end - now) if now < end else min(interval, max(0.05, self._left())))

    def _health(self) -> str:
        """'' when the new deployed model has available replicas, else what is wrong."""
        try:
            endpoint = self.vertex.get_endpoint(self.endpoint)
        except VertexError as exc:
            return f"endpoint unreadable: {exc.message}"
        mine = next((d for d in endpoint.get("deployedModels", []) if d.get("id") == self.new_id), None)
        if mine is None:
            return "the deployed model disappeared from the endpoint"
        status = mine.get("status", {})
        if int(status.get("availableReplicaCount", 0)) < 1:
            return status.get("message") or "no replica passes the health check"
        return ""

    def _judge(self, since: float) -> tuple[Verdict, RevisionMetrics]:
        """The gate's verdict on the new deployed model vs the old one over [since, now]."""
        from .metrics import TRAFFIC, figures

        assert self.new_id is not None and self.old is not None
        new = Deployed(self.new_id, self.model.get("name", ""), self.revision.number, self.share, 1)
        found = figures(self.vertex, self.endpoint, [new, self.old], since, time.time(), TRAFFIC)
        return judge(self.target.rollout, found[new.id], found.get(self.old.id)), found[new.id]

    def _fail(self, what: str) -> NoReturn:
        """Put traffic back on the old deployed model, undeploy the new one, say what serves."""
        n = self.revision.number
        reason = f"revision {n} {what}"
        if not self.target.rollout.auto_rollback and self.new_id is not None:
            with contextlib.suppress(VertexError):  # labelled so the next command leaves it to `rollback`
                self.vertex.update_model(bodies.mark_model(self.model, "halted", reason))
            raise DeployFailed(
                f"{reason}; auto_rollback is off, so revision {n} keeps {self.share}% of traffic "
                f"(run `scalectl rollback -t {self.release.target_name}`)"
            )
        self.events.step(f"rolling back: {reason}")
        restored = self._restore()
        self._mark_failed(reason)
        raise DeployFailed(f"{reason}; {restored}")

    def _restore(self) -> str:
        old, n = self.old, self.revision.number
        old_name = f"revision {old.revision}" if old and old.revision else "the previous deployed model"
        if self.new_id is None:
            serving = f"{old_name} still serves 100% of traffic" if old else "nothing serves traffic yet"
            return f"{serving}; nothing was deployed"
        try:
            if self.new_id is not None and old is not None and self.share > 0:
                self.vertex.update_endpoint(bodies.update_traffic(self.endpoint, {old.id: 100}))
                self.events.state(old_name, "100% traffic")
            if self.new_id is not None:
                gone = Deployed(self.new_id, self.model.get("name", ""), n, 0 if old else self.share, 0)
                _undeploy(self.vertex, self.endpoint, gone, self.events, max(self._left(), 120.0))
        except ScalectlError as exc:
            return (
                f"restoring traffic failed too ({exc.message}); check `scalectl status -t {self.release.target_name}`"
            )
        if old is None:
            return "nothing was serving before, and the endpoint has no deployed model now"
        return f"{old_name} serves 100% of traffic again and revision {n} was undeployed"

    def _mark_failed(self, reason: str) -> None:
        """Label the Model failed, with the reason, so every machine's `history` says why."""
        if not self.model:
            return
        try:
            self.vertex.update_model(bodies.mark_model(self.model, "failed", reason))
        except VertexError as exc:
            self.events.warn(f"could not label model {self.model['name']} as failed: {exc.message}")

    def _prune(self, snap: Snapshot) -> None:
        """Keep `keep_revisions` earlier Models for rollback; delete older ones (not deployed)."""
        keep = self.target.keep_revisions
        older = sorted(
            (m for m in snap.models if (revision_number(m) or 0) < self.revision.number),
            key=lambda m: revision_number(m) or 0,
        )
        for model in older[: max(0, len(older) - keep)]:
            try:
                self.vertex.delete_model(model["name"], self._left())
                self.events.step(f"pruned model of revision {revision_number(model)} (keep_revisions={keep})")
            except ScalectlError as exc:
                self.events.warn(f"could not prune {model['name']}: {exc.message}")


# ------------------------------------------------------------ helpers


def _left(deadline: float) -> float:
    return deadline - time.monotonic()


def _undeploy(vertex: Vertex, endpoint: str, d: Deployed, events: Events, timeout: float) -> None:
    """Undeploy one deployed model; traffic it still holds is unassigned in the same call."""
    what = f"revision {d.revision}" if d.revision is not None else f"deployed model {d.id}"
    events.step(f"undeploying {what}")
    split: dict[str, int] = {}
    if d.traffic:
        endpoint_now = vertex.get_endpoint(endpoint)
        rest = {k: int(v) for k, v in endpoint_now.get("trafficSplit", {}).items() if k != d.id and int(v) > 0}
        if rest:
            total = sum(rest.values())
            split = {k: v * 100 // total for k, v in rest.items()}
            first = next(iter(split))
            split[first] += 100 - sum(split.values())
    vertex.undeploy(bodies.undeploy_model(endpoint, d.id, split), f"undeploying {what}", max(timeout, 1.0))
    events.state(what, "UNDEPLOYED")


def revision_number(model: dict[str, Any]) -> int | None:
    value = model.get("labels", {}).get(bodies.REVISION, "")
    return int(value) if value.isdigit() else None


def revision_record(model: dict[str, Any]) -> dict[str, Any]:
    """The revision record scalectl wrote into the Model's description (empty if unreadable)."""
    try:
        data = json.loads(model.get("description", ""))
    except json.JSONDecodeError:
        return {}
    return data.get("scalectl", {}) if isinstance(data, dict) else {}


def _resources_of(model: dict[str, Any]) -> dict[str, Any] | None:
    """The dedicated resources a revision was deployed with, to redeploy it the same way."""
    resources = revision_record(model).get("dedicatedResources")
    return resources if isinstance(resources, dict) else None
