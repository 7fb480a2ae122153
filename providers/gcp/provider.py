"""`provider: gcp`: Vertex AI endpoints, with TPU and spot, stepped traffic rollout and rollback.

One revision = one Vertex Model (labels: app, target, revision, digest; description: the
revision record) deployed to the target's Endpoint (found by label). Checks live in
`checks`, bodies in `requests`, the deploy/rollback/destroy machinery in `rollout`.

History is read back from the Models and the Endpoint, so a fresh state directory (or a
different CI runner) sees the same revisions. The Google SDK is imported only by
`providers.gcp.api.Vertex`, i.e. only by commands that talk to Vertex.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scalectl.config import ScaleFile
from scalectl.errors import Diagnostic
from scalectl.events import Events
from scalectl.metrics import RevisionMetrics
from scalectl.provider import Change, Live, Plan, Release, Revision
from scalectl.rollout import steps_text, traffic_steps
from scalectl.wait import pause

from . import checks
from . import requests as bodies
from .api import Vertex
from .machines import hardware
from .rollout import (
    Deployed,
    Rollout,
    Snapshot,
    _undeploy,
    destroy,
    revision_number,
    revision_record,
    rollback,
    snapshot,
)


class GcpProvider:
    name = "gcp"

    def __init__(self, sleep: Callable[[float], None] = pause) -> None:
        self.sleep = sleep
        self.last_calls: dict[str, int] = {}  # API calls of the last command, by method

    # ------------------------------------------------------------ offline

    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        return checks.check(spec, target)

    def render(self, release: Release) -> dict[str, str]:
        return bodies.render_preview(release)

    # ------------------------------------------------------------ reading

    def _vertex(self, release: Release, events: Events | None = None) -> Vertex:
        return Vertex(bodies.target_of(release), events, sleep=self.sleep)

    def observe(self, release: Release) -> Live:
        vertex = self._vertex(release)
        live = _live(snapshot(vertex, release), vertex)
        self.last_calls = dict(vertex.calls)
        return live

    def plan(self, release: Release, live: Live) -> list[Change]:
        target = bodies.target_of(release)
        hw = hardware(target)
        a = target.autoscaling
        active = live.active_revision
        if active is not None and active.digest == release.digest and live.traffic.get(active.number) == 100:
            return [Change("keep", f"revision {active.number}", "already serving this config with 100% of traffic")]
        changes: list[Change] = []
        if not live.exists:
            changes.append(
                Change("create", f"endpoint {bodies.endpoint_display_name(release)}", "found again by label")
            )
        elif bodies.logging_differs({"predictRequestResponseLoggingConfig": _logging(live)}, target):
            cap = target.monitoring.capture
            changes.append(
                Change(
                    "update",
                    "endpoint request-response logging",
                    f"{cap.percent:g}% to {cap.destination}" if cap is not None else "off (monitoring.capture removed)",
                )
            )
        changes.append(Change("create", "model (new revision)", f"image {release.model.image}"))
        machine = hw.machine + (f" + {hw.accelerator_count} x {hw.accelerator_type}" if hw.accelerator_type else "")
        machine += f" (TPU {hw.tpu_topology})" if hw.tpu_topology else ""
        changes.append(
            Change(
                "create",
                "deployed model (new revision)",
                f"{machine}, replicas {a.min}-{a.max} on {a.metric}{', spot' if target.spot else ''}",
            )
        )
        old = live.active
        if old is not None:
            steps = steps_text(traffic_steps(target.rollout))
            changes.append(
                Change("update", "traffic split", f"new revision {steps} (bake {target.rollout.bake}s per step)")
            )
            changes.append(
                Change("delete", f"deployed model of revision {old}", f"after {target.undeploy_grace}s at 100%")
            )
        return changes

    def metrics(self, release: Release, live: Live, window: float) -> list[RevisionMetrics]:
        """Cloud Monitoring's figures for each deployed model over the last `window` seconds."""
        from .metrics import figures

        vertex = self._vertex(release)
        try:
            snap = snapshot(vertex, release)
            if snap.endpoint is None:
                return []
            deployed = [d for d in snap.deployed() if d.revision is not None]
            until = time.time()
            found = figures(vertex, snap.endpoint["name"], deployed, until - window, until)
        finally:
            self.last_calls = dict(vertex.calls)
        return [found[d.id] for d in sorted(deployed, key=lambda d: d.revision or 0)]

    # ------------------------------------------------------------ deploy

    def apply(self, plan: Plan, events: Events) -> Revision:
        release = plan.release
        vertex = self._vertex(release, events)
        try:
            return Rollout(vertex, plan, events, self.sleep).run()
        finally:
            self.last_calls = dict(vertex.calls)

    # ------------------------------------------------------------ rollback, destroy

    def recover(self, release: Release, live: Live, events: Events) -> list[str]:
        """An interrupted rollout: 100% back on the serving revision, the unfinished deployed model removed."""
        serving = live.active_revision
        if serving is None:
            return []
        vertex = self._vertex(release, events)
        done: list[str] = []
        # an older revision an undeploy that failed left at 0%: undeployed, its history left as it is
        snap = snapshot(vertex, release)
        for d in _stale(snap.deployed(), serving.number):
            _undeploy(vertex, str((snap.endpoint or {})["name"]), d, events, float(release.target.rollout.timeout))
            done.append(f"undeployed revision {d.revision}, left deployed at 0% by an undeploy that failed")
        if not [line for line in live.unfinished + live.halted if STALE not in line]:
            return done
        rollback(vertex, release, serving, events)
        left = [n for n in live.traffic if n != serving.number]
        left += [r.number for r in live.revisions if r.status == "pending" and r.number not in left]
        models = snapshot(vertex, release).models
        for number in left:  # never served whole: failed (rollback marks what it leaves rolled_back)
            model = next((m for m in models if revision_number(m) == number), None)
            if model is not None:
                vertex.update_model(bodies.mark_model(model, "failed", "interrupted: rolled back by scalectl"))
        return [*done, f"traffic back on revision {serving.number} (100%)"] + [
            f"removed unfinished revision {n}" for n in sorted(set(left))
        ]

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        vertex = self._vertex(release, events)
        try:
            return rollback(vertex, release, to, events)
        finally:
            self.last_calls = dict(vertex.calls)

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        vertex = self._vertex(release, events)
        try:
            return destroy(vertex, release, events)
        finally:
            self.last_calls = dict(vertex.calls)


# ------------------------------------------------------------ reading


STALE = "still deployed at 0% traffic, older than the serving revision"


def _stale(deployed: list[Deployed], active: int) -> list[Deployed]:
    """Older revisions left deployed with no traffic once a rollout has finished."""
    return [d for d in deployed if d.revision is not None and d.revision < active and d.traffic == 0]


def _live(snap: Snapshot, vertex: Vertex) -> Live:
    deployed = snap.deployed()
    traffic = {d.revision: d.traffic for d in deployed if d.revision is not None and d.traffic > 0}
    # several revisions with traffic: a rollout is under way or was interrupted (a split left mid-step).
    # The newest never finished, so it is never "active": the earlier one is, and `recover` undoes the rest
    active = max(traffic) if len(traffic) == 1 else max(sorted(traffic)[:-1], default=None)
    unfinished, halted = [], []
    if len(traffic) > 1:
        split = ", ".join(f"rev {r}: {p}%" for r, p in sorted(traffic.items()))
        newest = snap.model_for(max(traffic)) or {}
        if newest.get("labels", {}).get(bodies.STATUS) == "halted":
            halted.append(f"rollout halted mid-step (auto_rollback: false): {split}; `scalectl rollback` undoes it")
        else:
            unfinished.append(f"traffic is split mid-rollout ({split}); revision {max(traffic)} never finished")
    if active is not None:
        unfinished += [
            f"revision {d.revision} is deployed at 0% traffic, newer than the serving revision {active}"
            for d in deployed
            if d.revision is not None and d.revision > active and d.traffic == 0
        ]
    if active is not None:
        unfinished += [
            f"revision {d.revision} is {STALE} (an undeploy that failed): it holds replicas"
            for d in _stale(deployed, active)
        ]
    pending = {d.revision for d in deployed if d.revision is not None and active is not None and d.revision > active}
    revisions = []
    for model in sorted(snap.models, key=lambda m: revision_number(m) or 0):
        number = revision_number(model)
        if number is None:
            continue
        record = revision_record(model)
        label = model.get("labels", {}).get(bodies.STATUS, "")
        if number == active:
            status = "active"
        elif label in ("failed", "rolled_back"):
            status = label
        elif number in pending or label == "halted":
            status = "pending"  # deployed by a rollout that has not finished
        elif number in traffic:
            status = "superseded"  # still holds part of the traffic while a newer revision rolls out
        else:
            status = "superseded"
        revisions.append(
            Revision(
                number=number,
                digest=model.get("labels", {}).get(bodies.DIGEST, ""),
                image=model.get("containerSpec", {}).get("imageUri", record.get("image", "")),
                created_at=record.get("created_at", model.get("createTime", "")),
                created_by=record.get("created_by", ""),
                status=status,  # type: ignore[arg-type]
                message=record.get(status) or model["name"],  # why it failed / was rolled back
            )
        )
    if snap.endpoint is None:
        return Live(exists=False, revisions=revisions)
    name = snap.endpoint["name"]
    return Live(
        exists=True,
        revisions=revisions,
        active=active,
        traffic=traffic,
        url=f"{vertex.base_url()}/v1/{name}:predict",
        details={
            "endpoint": name,
            "deployed_models": [_describe_deployed(d) for d in deployed],
            "request_response_logging": snap.endpoint.get("predictRequestResponseLoggingConfig") or "off",
        },
        problems=unfinished + halted,
        unfinished=unfinished,
        halted=halted,
    )


def _logging(live: Live) -> dict[str, Any]:
    """The endpoint's request-response logging as `observe` read it ({} when off)."""
    value = live.details.get("request_response_logging")
    return value if isinstance(value, dict) else {}


def _describe_deployed(d: Deployed) -> dict[str, Any]:
    res = d.raw.get("dedicatedResources", {})
    spec = res.get("machineSpec", {})
    return {
        "id": d.id,
        "revision": d.revision,
        "traffic": d.traffic,
        "machine": spec.get("machineType"),
        "accelerator": f"{spec.get('acceleratorCount', 0)} x {spec['acceleratorType']}"
        if spec.get("acceleratorType")
        else None,
        "tpu_topology": spec.get("tpuTopology"),
        "replicas": {
            "min": res.get("minReplicaCount"),
            "max": res.get("maxReplicaCount"),
            "available": d.available_replicas,
        },
        "autoscaling": res.get("autoscalingMetricSpecs", []),
        "spot": bool(res.get("spot", False)),
    }
