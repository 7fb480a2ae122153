"""Release -> Kubernetes manifests (pure; rendered from templates/kubernetes/).

Every object carries the labels `scalectl.io/app` and `scalectl.io/target`, which is how
observe, rollback and destroy find what scalectl created; a revision's Deployment also carries
its number, digest and status as labels and the rest of its history as annotations, so a
machine with no local state reads the same history from the cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from scalectl.provider import ACTOR, DEPLOY_TIME, Release, Revision
from scalectl.render import render_json

from .schema import KubernetesTarget

LABEL = "scalectl.io"
APP, TARGET, REVISION, DIGEST, STATUS = (f"{LABEL}/{k}" for k in ("app", "target", "revision", "digest", "status"))
# annotations: history that is not a valid label value
IMAGE, CREATED_AT, CREATED_BY, MESSAGE, REPLICAS = (
    f"{LABEL}/{k}" for k in ("image", "created-at", "created-by", "message", "replicas")
)
GPU_RESOURCE = "nvidia.com/gpu"
# the custom metric an adapter (prometheus-adapter, KEDA) must serve per pod for `requests_per_replica`
REQUESTS_METRIC = "scalectl_requests_per_second"
# dcgm-exporter's GPU utilisation gauge, served per pod by prometheus-adapter for `metric: gpu`
GPU_METRIC = "DCGM_FI_DEV_GPU_UTIL"

# Each managed service's spot node label and taint, and the interruption notice pods must fit in.
SPOT_NODES: dict[str, tuple[str, str, bool]] = {
    "eks": ("eks.amazonaws.com/capacityType", "SPOT", False),  # managed node groups do not taint spot nodes
    "gke": ("cloud.google.com/gke-spot", "true", True),
    "aks": ("kubernetes.azure.com/scalesetpriority", "spot", True),
}
# terminationGracePeriodSeconds: inside the notice (2 min on AWS, 30 s on GCP and Azure), leaving the
# node time to drain; GKE gives ordinary pods 25 of its 30 s.
GRACE = {"eks": 110, "gke": 25, "aks": 25}
DEFAULT_GRACE = 30

Routing = Literal["gateway", "replicas"]


@dataclass(frozen=True)
class Stamp:
    """Which revision and who/when: known at deploy; `render` shows revision 1 (names must stay valid
    DNS labels, which `{revision}` is not) and the `{actor}` / `{deploy_time}` placeholders."""

    revision: int = 1
    created_at: str = DEPLOY_TIME
    created_by: str = ACTOR
    status: str = "pending"

    @classmethod
    def of(cls, revision: Revision) -> Stamp:
        return cls(revision.number, revision.created_at, revision.created_by, revision.status)


def k8s_target(release: Release) -> KubernetesTarget:
    t = release.target
    assert isinstance(t, KubernetesTarget), f"not a kubernetes target: {t!r}"
    return t


def prefix(release: Release) -> str:
    """`<app>-<target>`: the stable Service, PDB and HTTPRoute name; revisions add `-r<N>`."""
    return f"{release.app}-{release.target_name}".lower().replace("_", "-")


def revision_name(release: Release, number: int) -> str:
    return f"{prefix(release)}-r{number}"


def owner_labels(release: Release) -> dict[str, str]:
    """What identifies this app's and target's objects (selectors for list and destroy)."""
    return {APP: release.app, TARGET: release.target_name.lower().replace("_", "-")}


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def pod_labels(release: Release, number: int) -> dict[str, str]:
    return {**owner_labels(release), REVISION: str(number), "app.kubernetes.io/name": release.app}


def replicas_for(t: KubernetesTarget) -> int:
    """Replicas a revision starts with: the autoscaler's floor."""
    return max(1, t.autoscaling.min)


def deployment(release: Release, stamp: Stamp, replicas: int | None = None) -> dict[str, Any]:
    t = k8s_target(release)
    model = release.model
    number = stamp.revision
    labels = {**pod_labels(release, number), DIGEST: release.digest, STATUS: stamp.status}
    annotations = {
        IMAGE: model.image,
        CREATED_AT: stamp.created_at,
        CREATED_BY: stamp.created_by,
        MESSAGE: "",
        REPLICAS: str(replicas_for(t)),
    }
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in model.env.items()]
    env += [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": ref.partition("/")[0], "key": ref.partition("/")[2]}}}
        for k, ref in t.secrets.items()
    ]
    mounts, volumes = _artifact(model.artifact)
    sidecar, capture_volumes = capture_sidecar(release)
    return render_json(
        "kubernetes/deployment.json.j2",
        name=revision_name(release, number),
        namespace=t.namespace,
        labels=labels,
        annotations=annotations,
        replicas=replicas_for(t) if replicas is None else replicas,
        progress_deadline=max(1, t.startup_timeout),
        selector=pod_labels(release, number),
        pod_labels=pod_labels(release, number),
        grace=GRACE.get(t.cloud or "", DEFAULT_GRACE) if t.spot else DEFAULT_GRACE,
        spread=_spread(release, number),
        affinity=_affinity(t),
        tolerations=_tolerations(t),
        image=model.image,
        port=model.port,
        env=env,
        resources=_resources(t),
        health=model.health,
        liveness_delay=min(300, max(30, t.startup_timeout // 2)),
        mounts=mounts,
        model_port_name="model" if sidecar else "http",
        volumes=volumes + capture_volumes,
        sidecars=[sidecar] if sidecar else [],
    )


CAPTURE_PORT = 8100  # the capture sidecar's port in each pod; the Services target it when capture is on
CAPTURE_MOUNT = "/captures"


def capture_sidecar(release: Release) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """monitoring.capture: a `capture` container in front of the model in each pod, and its volume.

    The Services send traffic to the sidecar, which forwards every call to the model on localhost and
    writes a sampled share of predict calls (bodies only, never headers or the API key) as JSON lines,
    rotated by size, to `pvc://claim/path` under a folder per pod (pods sharing a ReadWriteMany claim
    never write the same file).
    """
    t = k8s_target(release)
    cap = t.monitoring.capture
    if cap is None or not cap.destination.startswith("pvc://"):
        return None, []
    claim, _, sub = cap.destination[len("pvc://") :].partition("/")
    mount: dict[str, Any] = {"name": "captures", "mountPath": CAPTURE_MOUNT}
    if sub.strip("/"):
        mount["subPath"] = sub.strip("/")
    container = {
        "name": "capture",
        "image": t.capture_image or "",
        "command": ["python", "-m", "scalectl.capture_proxy"],
        "args": [
            "--upstream",
            f"http://127.0.0.1:{release.model.port}",
            "--listen",
            f"0.0.0.0:{CAPTURE_PORT}",
            "--dir",
            f"{CAPTURE_MOUNT}/$(POD_NAME)",
            "--percent",
            f"{cap.percent:g}",
            "--target",
            release.target_name,
            "--route",
            release.model.predict,
            "--max-file-mb",
            str(cap.max_file_mb),
        ],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"name": "http", "containerPort": CAPTURE_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5},
        "volumeMounts": [mount],
    }
    volume = {"name": "captures", "persistentVolumeClaim": {"claimName": claim}}
    return container, [volume]


def service_port(release: Release) -> int | str:
    """What the Services send traffic to: the port named `http` when capture is on, else the model's port.

    With capture on, `http` is the sidecar's port and the model's is named `model`; a pod of an
    earlier revision without the sidecar still names its model port `http`, so the Service reaches
    every pod during a rollout that turns capture on.
    """
    return "http" if capture_sidecar(release)[0] is not None else release.model.port


def _resources(t: KubernetesTarget) -> dict[str, Any]:
    r = t.resources
    requests: dict[str, str] = {"cpu": r.cpu, "memory": r.memory}
    limits: dict[str, str] = {"memory": r.memory_limit or r.memory}
    if r.cpu_limit:
        limits["cpu"] = r.cpu_limit
    if t.gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(t.gpus)  # extended resources: request == limit
    return {"requests": requests, "limits": limits}


def _artifact(artifact: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`pvc://claim[/sub/path]` -> a read-only PersistentVolumeClaim at /opt/ml/model (checks refuse the rest)."""
    if not artifact or not artifact.startswith("pvc://"):
        return [], []
    claim, _, sub = artifact[len("pvc://") :].partition("/")
    mount: dict[str, Any] = {"name": "model", "mountPath": "/opt/ml/model", "readOnly": True}
    if sub:
        mount["subPath"] = sub
    return [mount], [{"name": "model", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}]


def _spread(release: Release, number: int) -> list[dict[str, Any]]:
    """Spread a revision's pods over nodes and zones, best effort (one spot reclaim takes few of them)."""
    match = {"matchLabels": pod_labels(release, number)}
    return [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": match}
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def _affinity(t: KubernetesTarget) -> dict[str, Any]:
    if not t.spot or t.cloud is None:
        return {}
    key, value, _ = SPOT_NODES[t.cloud]
    term = {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}
    if t.spot == "prefer":
        rule: dict[str, Any] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": term}]
        }
    else:
        rule = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    return {"nodeAffinity": rule}


def _tolerations(t: KubernetesTarget) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if t.gpus:  # GPU node pools are commonly tainted nvidia.com/gpu (GKE and AKS do it themselves)
        out.append({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"})
    if t.spot and t.cloud is not None:
        key, value, tainted = SPOT_NODES[t.cloud]
        if tainted:
            out.append({"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"})
    return out


def stable_service(release: Release) -> dict[str, Any]:
    """The one Service clients use: every revision's pods (the replica ratio is the traffic split)."""
    t = k8s_target(release)
    return render_json(
        "kubernetes/service.json.j2",
        name=prefix(release),
        namespace=t.namespace,
        labels=owner_labels(release),
        selector=owner_labels(release),
        port=service_port(release),
    )


def revision_service(release: Release, number: int) -> dict[str, Any]:
    """One revision's pods, for HTTPRoute weights."""
    t = k8s_target(release)
    return render_json(
        "kubernetes/service.json.j2",
        name=revision_name(release, number),
        namespace=t.namespace,
        labels={**owner_labels(release), REVISION: str(number)},
        selector=pod_labels(release, number),
        port=service_port(release),
    )


def hpa(release: Release, number: int) -> dict[str, Any]:
    t = k8s_target(release)
    a = t.autoscaling
    return render_json(
        "kubernetes/hpa.json.j2",
        name=revision_name(release, number),
        namespace=t.namespace,
        labels={**owner_labels(release), REVISION: str(number)},
        deployment=revision_name(release, number),
        min=max(1, a.min),
        max=a.max,
        metric=hpa_metric(t),
        scale_up_window=min(3600, a.scale_out_cooldown),
        scale_down_window=min(3600, a.scale_in_cooldown),
    )


def hpa_metric(t: KubernetesTarget) -> dict[str, Any]:
    """cpu/memory: Resource utilisation; requests_per_replica and gpu: Pods metrics an adapter serves."""
    a = t.autoscaling
    if a.metric in ("cpu", "memory"):
        target = {"type": "Utilization", "averageUtilization": int(a.target)}
        return {"type": "Resource", "resource": {"name": a.metric, "target": target}}
    name = GPU_METRIC if a.metric == "gpu" else REQUESTS_METRIC
    value = str(int(a.target)) if float(a.target).is_integer() else f"{math.ceil(a.target * 1000)}m"
    return {
        "type": "Pods",
        "pods": {"metric": {"name": name}, "target": {"type": "AverageValue", "averageValue": value}},
    }


def pdb(release: Release) -> dict[str, Any]:
    t = k8s_target(release)
    return render_json(
        "kubernetes/pdb.json.j2",
        name=prefix(release),
        namespace=t.namespace,
        labels=owner_labels(release),
        selector=owner_labels(release),
    )


def gateway_ref(t: KubernetesTarget) -> dict[str, Any]:
    assert t.gateway is not None
    namespace, _, name = t.gateway.rpartition("/")
    ref: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}
    if namespace:
        ref["namespace"] = namespace
    return ref


def httproute(release: Release, weights: dict[int, int]) -> dict[str, Any]:
    """The route splitting traffic over per-revision Services by weight (percent)."""
    t = k8s_target(release)
    backends = [
        {"group": "", "kind": "Service", "name": revision_name(release, n), "port": 80, "weight": w}
        for n, w in sorted(weights.items())
    ]
    return render_json(
        "kubernetes/httproute.json.j2",
        name=prefix(release),
        namespace=t.namespace,
        labels=owner_labels(release),
        parent=gateway_ref(t),
        backends=backends,
    )


def split_replicas(total: int, percent: int) -> tuple[int, int]:
    """(new, old) replicas giving the new revision about `percent` of a shared Service's traffic."""
    if percent >= 100:
        return total, 0
    new = max(1, round(total * percent / 100))
    return new, max(1, total - new)


def manifests(release: Release, stamp: Stamp, routing: Routing) -> dict[str, dict[str, Any]]:
    """Everything one revision's deploy sends, by file name (what `render` writes)."""
    files = {
        "deployment.json": deployment(release, stamp),
        "service.json": stable_service(release),
        "hpa.json": hpa(release, stamp.revision),
        "pdb.json": pdb(release),
    }
    if routing == "gateway":
        files["revision-service.json"] = revision_service(release, stamp.revision)
        files["httproute.json"] = httproute(release, {stamp.revision: 100})
    return files
