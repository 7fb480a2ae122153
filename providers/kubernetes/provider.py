"""`provider: kubernetes`: per-revision Deployments behind one Service on the kubeconfig's cluster.

The Provider wiring: offline checks in `checks`, manifests in `requests`, the work on the
cluster in `rollout`. The kubernetes client is imported (through `api.Cluster`) only by the
methods that talk to a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from scalectl.errors import Diagnostic
from scalectl.metrics import RevisionMetrics
from scalectl.provider import Change, Live, Plan, Release, Revision
from scalectl.rollout import steps_text, traffic_steps

from . import checks, rollout
from .requests import (
    GPU_METRIC,
    REQUESTS_METRIC,
    SPOT_NODES,
    Routing,
    Stamp,
    hpa_metric,
    k8s_target,
    manifests,
    prefix,
    replicas_for,
)

if TYPE_CHECKING:
    from scalectl.config import ScaleFile
    from scalectl.events import Events

    from .api import Cluster


class KubernetesProvider:
    """Provider for `provider: kubernetes` targets; `calls` counts API calls of the last cluster used."""

    name = "kubernetes"

    def __init__(self) -> None:
        self.last: Cluster | None = None

    def cluster(self, release: Release, events: Events | None = None) -> Cluster:
        from .api import Cluster

        self.last = Cluster(k8s_target(release), events)
        return self.last

    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        return checks.check(spec, target, base_dir)

    def render(self, release: Release) -> dict[str, str]:
        t = k8s_target(release)
        routing: Routing = "gateway" if t.gateway is not None else "replicas"
        return {name: json.dumps(body, indent=2) + "\n" for name, body in manifests(release, Stamp(), routing).items()}

    def observe(self, release: Release) -> Live:
        cluster = self.cluster(release)
        routing = rollout.routing_for(cluster, release)
        seen = rollout.snapshot(cluster, release, routing)
        if not seen.revisions and not seen.has_service:
            return Live(exists=False, observed=seen)
        t = k8s_target(release)
        nodes = rollout.capacity_types(cluster, release)
        details: dict[str, object] = {
            "namespace": t.namespace,
            "context": t.context or "(current)",
            "routing": "HTTPRoute weights" if routing == "gateway" else "replica ratio behind the Service",
            "service": f"{prefix(release)}.{t.namespace}.svc",
            "placement": _capacity(t),
            "revisions": [
                {
                    "revision": r.number,
                    "status": r.status,
                    "ready": f"{r.ready}/{r.replicas}",
                    "image": r.image,
                    "autoscaler": _hpa_text(seen.hpas.get(r.number)),
                    "nodes": nodes.get(r.number, "no pods"),
                    **_problems(cluster, r),
                }
                for r in seen.revisions
            ],
        }
        traffic = seen.traffic()
        left = [
            f"revision {r.number} was left by an interrupted rollout ({r.replicas} pod(s), "
            f"{traffic.get(r.number, 0)}% of traffic)"
            for r in rollout.unfinished(seen)
        ]
        return Live(
            exists=True,
            revisions=[r.as_revision() for r in seen.revisions],
            active=seen.active(),
            traffic=traffic,
            problems=list(left),
            unfinished=left,
            url=f"http://{prefix(release)}.{t.namespace}.svc.cluster.local",
            details=details,
            observed=seen,
        )

    def metrics(self, release: Release, live: Live, window: float) -> list[RevisionMetrics]:
        """Replicas, restarts and HPA utilization per revision; the cluster reports no request figures."""
        from .metrics import figures

        cluster = self.cluster(release)
        if live.observed is not None:
            seen = live.observed_as(rollout.KubeObserved)
        else:
            seen = rollout.snapshot(cluster, release, rollout.routing_for(cluster, release))
        return figures(cluster, release, seen, window)

    def plan(self, release: Release, live: Live) -> list[Change]:
        t = k8s_target(release)
        seen = live.observed_as(rollout.KubeObserved)
        active = live.active_revision
        if active is not None and active.digest == release.digest and live.traffic == {active.number: 100}:
            # the engine never overrides a plan: "nothing to do" is the provider's to say
            return [Change("keep", f"revision {active.number}", "already serving this config with 100% of traffic")]
        changes: list[Change] = []
        if not seen.has_service:
            changes.append(Change("create", f"Service {prefix(release)}", f"port 80 -> {release.model.port}"))
        if not seen.has_pdb:
            changes.append(Change("create", f"PodDisruptionBudget {prefix(release)}", "maxUnavailable 1"))
        gpus = f", {t.gpus} nvidia.com/gpu" if t.gpus else ""
        changes.append(
            Change(
                "create",
                f"Deployment {prefix(release)}-r<next revision>",
                f"{replicas_for(t)} pod(s) of {release.model.image}, cpu {t.resources.cpu}, memory "
                f"{t.resources.memory}{gpus}, {_capacity(t)}",
            )
        )
        cap = t.monitoring.capture
        if cap is not None:
            changes.append(
                Change(
                    "create",
                    "capture sidecar in each pod",
                    f"{cap.percent:g}% of calls to {cap.destination} (a folder per pod), files rotated at "
                    f"{cap.max_file_mb} MB ({t.capture_image}); the Services target it",
                )
            )
        steps = traffic_steps(t.rollout, live.active is not None)
        how = steps_text(steps) + (f", baking {t.rollout.bake}s per step" if len(steps) > 1 else "")
        if seen.routing == "gateway":
            changes.append(Change("update", f"HTTPRoute {prefix(release)}", f"traffic by HTTPRoute weights: {how}"))
        else:
            why = "" if t.gateway is None else " (the cluster does not serve Gateway API)"
            changes.append(Change("update", f"Service {prefix(release)}", f"traffic by replica ratio{why}: {how}"))
        metric = hpa_metric(t)
        what = metric.get("resource", metric.get("pods", {}).get("metric", {})).get("name")
        adapter = " (a custom-metrics adapter must serve it per pod)" if what in (REQUESTS_METRIC, GPU_METRIC) else ""
        changes.append(
            Change(
                "create", "HorizontalPodAutoscaler", f"{t.autoscaling.min}-{t.autoscaling.max} pods on {what}{adapter}"
            )
        )
        if live.active is not None:
            keep = "stays warm at weight 0" if seen.routing == "gateway" else "is scaled to 0 (kept for rollback)"
            changes.append(Change("keep", f"revision {live.active}", keep))
        return changes

    def apply(self, plan: Plan, events: Events) -> Revision:
        return rollout.deploy(self.cluster(plan.release, events), plan, events)

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        seen = live.observed_as(rollout.KubeObserved)
        return rollout.rollback(self.cluster(release, events), release, seen, live.active, to, events)

    def recover(self, release: Release, live: Live, events: Events) -> list[str]:
        seen = live.observed_as(rollout.KubeObserved)
        return rollout.recover(self.cluster(release, events), release, seen, events)

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        seen = live.observed_as(rollout.KubeObserved)
        return rollout.destroy(self.cluster(release, events), release, seen.routing, events)


def _capacity(t: object) -> str:
    from .schema import KubernetesTarget

    assert isinstance(t, KubernetesTarget)
    if not t.spot or t.cloud is None:
        return "on-demand nodes"
    key, value, _ = SPOT_NODES[t.cloud]
    return f"spot nodes ({key}={value}{', preferred' if t.spot == 'prefer' else ''})"


def _problems(cluster: Cluster, r: rollout.RevisionSeen) -> dict[str, list[str]]:
    """Why a revision is not (or no longer) serving, in plain words: its pods' warning events."""
    if r.status == "failed":
        return {"problems": [r.message or "failed"]}
    if r.ready < r.replicas or r.stalled:
        return {"problems": rollout.failing_events(cluster, r.name) or [r.stalled or f"{r.ready}/{r.replicas} ready"]}
    return {}


def _hpa_text(h: dict[str, object] | None) -> str:
    if h is None:
        return "none"
    spec = h.get("spec", {})
    status = h.get("status", {})
    assert isinstance(spec, dict) and isinstance(status, dict)
    return (
        f"{status.get('currentReplicas', '?')} now, wants {status.get('desiredReplicas', '?')} "
        f"({spec.get('minReplicas')}-{spec.get('maxReplicas')})"
    )
