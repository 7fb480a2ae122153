"""Live figures per revision from what the Kubernetes API itself reports.

Per revision (one Deployment each): desired and ready replicas (Deployment status, or the
HPA's desired count when one scales it), container restarts (Pod status), and the HPA's current
CPU and memory utilization (autoscaling/v2 `status.currentMetrics`, percent of the pods'
requests). Requests, latency and error rates are not part of the Kubernetes API: a Service
load-balances at L4 and keeps no per-request record, and the metrics APIs (metrics.k8s.io)
report CPU and memory only. So these figures say so in `notes`, and the rollout gates that need
them (`max_error_rate`, `max_p99`, `max_p99_ratio`) are refused for kubernetes targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scalectl.metrics import RevisionMetrics

from .requests import REVISION, owner_labels, selector

if TYPE_CHECKING:
    from scalectl.provider import Release

    from .api import Cluster
    from .rollout import KubeObserved

SOURCE = "Kubernetes API (Deployment and Pod status, HorizontalPodAutoscaler)"
NO_TRAFFIC = (
    "requests, latency and error rates: not reported by the Kubernetes API (a Service balances "
    "connections, not requests); put a mesh or ingress with request metrics in front to see them"
)


def figures(cluster: Cluster, release: Release, seen: KubeObserved, window: float) -> list[RevisionMetrics]:
    """One entry per revision that runs (or should run) pods, oldest first."""
    restarts: dict[int, int] = {}
    for pod in cluster.find("Pod", selector(owner_labels(release))):
        number = int(pod.get("metadata", {}).get("labels", {}).get(REVISION, 0) or 0)
        statuses = pod.get("status", {}).get("containerStatuses", [])
        restarts[number] = restarts.get(number, 0) + sum(int(c.get("restartCount", 0)) for c in statuses)
    out = []
    for r in seen.revisions:
        if r.replicas == 0 and r.ready == 0:
            continue
        m = RevisionMetrics(revision=r.number, window=window, source=SOURCE)
        m.replicas_desired, m.replicas_ready = r.replicas, r.ready
        hpa = seen.hpas.get(r.number)
        if hpa is not None:
            _hpa(m, hpa)
        m.notes.append(f"container restarts: {restarts.get(r.number, 0)} since its pods started")
        if hpa is None or m.cpu_percent is None:
            m.notes.append("CPU/memory: only as an HPA's current metrics, and none is reported for this revision")
        m.notes.append(NO_TRAFFIC)
        out.append(m)
    return out


def _hpa(m: RevisionMetrics, hpa: dict[str, Any]) -> None:
    """Desired replicas and Resource utilization (percent of requests) from an autoscaling/v2 HPA's status."""
    status = hpa.get("status", {})
    if status.get("desiredReplicas") is not None:
        m.replicas_desired = int(status["desiredReplicas"])
    for metric in status.get("currentMetrics") or []:
        if metric.get("type") != "Resource":
            continue
        resource = metric.get("resource", {})
        utilization = resource.get("current", {}).get("averageUtilization")
        if utilization is None:
            continue
        if resource.get("name") == "cpu":
            m.cpu_percent = float(utilization)
        elif resource.get("name") == "memory":
            m.memory_percent = float(utilization)
