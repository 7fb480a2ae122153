"""Kubernetes target: what the API server or the cluster would refuse, found offline.

Pure: `scalectl validate` runs these without the kubernetes client or a cluster.
"""

from __future__ import annotations

from pathlib import Path

from scalectl.config import ScaleFile
from scalectl.errors import Diagnostic

from .requests import GPU_METRIC, REQUESTS_METRIC, SPOT_NODES
from .schema import DNS_LABEL, KubernetesTarget

MAX_REVISION_SUFFIX = len("-r9999")


def check(spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
    t = spec.targets[target]
    assert isinstance(t, KubernetesTarget)
    here = ("targets", target)
    out: list[Diagnostic] = []
    name = f"{spec.name}-{target}".lower().replace("_", "-")
    if not DNS_LABEL.fullmatch(name) or len(name) + MAX_REVISION_SUFFIX > 63:
        out.append(
            Diagnostic(
                f"objects are named <name>-<target>-r<N> ({name}-r1), which must be a Kubernetes name: lowercase "
                f"letters, digits and '-', at most {63 - MAX_REVISION_SUFFIX} characters before -r<N>; "
                "shorten or rename the target",
                here,
            )
        )
    a = t.autoscaling
    if a.min == 0:
        out.append(
            Diagnostic(
                "a HorizontalPodAutoscaler cannot scale to zero: set autoscaling.min to 1 or more "
                "(scale-to-zero needs KEDA or Knative, which scalectl does not drive)",
                (*here, "autoscaling", "min"),
            )
        )
    if a.metric == "accelerator_duty_cycle":
        out.append(
            Diagnostic(
                "accelerator_duty_cycle is Vertex AI's TPU metric; on Kubernetes use cpu or memory (resource "
                f"metrics), gpu ({GPU_METRIC} from dcgm-exporter) or requests_per_replica ({REQUESTS_METRIC}), "
                "both served per pod by a custom-metrics adapter",
                (*here, "autoscaling", "metric"),
            )
        )
    if a.metric == "gpu" and not t.gpus:
        out.append(
            Diagnostic("autoscaling on metric gpu needs gpus: 1 or more per pod", (*here, "autoscaling", "metric"))
        )
    if t.spot and t.cloud is None:
        known = ", ".join(f"{c} ({k}={v})" for c, (k, v, _) in SPOT_NODES.items())
        out.append(
            Diagnostic(
                f"spot needs `cloud:` to know the spot node label and taint: {known}; without it pods could "
                "land anywhere",
                (*here, "spot"),
            )
        )
    if t.rollout.alarms:
        out.append(
            Diagnostic(
                "rollout.alarms are CloudWatch alarms (aws targets); kubernetes targets roll back on readiness, "
                "ready replicas and container restarts",
                (*here, "rollout", "alarms"),
            )
        )
    if not t.rollout.auto_rollback:
        out.append(
            Diagnostic(
                "kubernetes targets always put the previous revision back when a step fails its readiness gate or "
                "bake (a half-rolled Deployment pair has no safe resting state); remove auto_rollback: false",
                (*here, "rollout", "auto_rollback"),
            )
        )
    for key in ("max_error_rate", "max_p99", "max_p99_ratio"):
        if getattr(t.rollout, key) is not None:
            out.append(
                Diagnostic(
                    f"rollout.{key} needs request figures (errors, latency) that the Kubernetes API does not "
                    "report: a Service balances connections, not requests, and metrics.k8s.io has CPU and memory "
                    "only. Kubernetes bakes roll back on readiness, ready replicas and container restarts; remove it",
                    (*here, "rollout", key),
                )
            )
    if (t.node_instance is None) != (t.region is None) and t.hourly_cost is None:
        missing = "region" if t.region is None else "node_instance"
        out.append(
            Diagnostic(f"node_instance and region price the target together; set {missing} too", (*here, missing))
        )
    if t.node_instance is not None and t.cloud is None:
        out.append(Diagnostic("node_instance needs `cloud:` (eks, gke or aks) to be priced", (*here, "node_instance")))
    for secret_name, ref in spec.model.secrets.items():
        if secret_name in t.secrets:  # the target's Kubernetes Secret reference replaces it
            continue
        out.append(
            Diagnostic(
                f"kubernetes targets read secrets from Kubernetes Secrets: move {secret_name} to the target's "
                f"`secrets:` as {secret_name}: secret-name/key ({ref.split('://', 1)[0]}:// cannot be resolved "
                "by the cluster)",
                ("model", "secrets", secret_name),
            )
        )
    artifact = spec.model.artifact
    if artifact and not artifact.startswith("pvc://"):
        out.append(
            Diagnostic(
                f"the cluster cannot reach {artifact}: put the model files on a PersistentVolumeClaim and set "
                "model.artifact to pvc://claim-name[/sub/path] (mounted read-only at /opt/ml/model), or bake "
                "them into the image and drop artifact",
                ("model", "artifact"),
            )
        )
    elif artifact:
        claim = artifact[len("pvc://") :].partition("/")[0]
        if not DNS_LABEL.fullmatch(claim):
            out.append(Diagnostic(f"{claim!r} is not a valid PersistentVolumeClaim name", ("model", "artifact")))
    out += _capture(t, here)
    if spec.model.build:
        out.append(
            Diagnostic(
                "kubernetes targets pull `image` from a registry the cluster can reach; build and push it first "
                "(model.build is for docker targets)",
                ("model", "build"),
                severity="warning",
            )
        )
    return out


def _capture(t: KubernetesTarget, here: tuple[str, ...]) -> list[Diagnostic]:
    """Captures go to a PersistentVolumeClaim through a sidecar that needs an image with scalectl in it."""
    cap = t.monitoring.capture
    if cap is None:
        return []
    out = []
    at = (*here, "monitoring", "capture", "destination")
    if not cap.destination.startswith("pvc://"):
        out.append(
            Diagnostic(
                f"kubernetes targets capture to a PersistentVolumeClaim: set destination to pvc://claim-name[/path] "
                f"(ReadWriteMany when pods share it across nodes), not {cap.destination}",
                at,
            )
        )
    else:
        claim = cap.destination[len("pvc://") :].partition("/")[0]
        if not DNS_LABEL.fullmatch(claim):
            out.append(Diagnostic(f"{claim!r} is not a valid PersistentVolumeClaim name", at))
    if not t.capture_image:
        out.append(
            Diagnostic(
                "monitoring.capture runs `python -m scalectl.capture_proxy` as a sidecar in each pod: set "
                "capture_image to an image with scalectl installed (e.g. built FROM python:3.12-slim with "
                "`pip install scalectl`) that the cluster can pull",
                (*here, "capture_image"),
            )
        )
    return out
