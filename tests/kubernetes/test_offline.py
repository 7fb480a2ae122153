"""Offline: schema and checks refuse what a cluster would, manifests pass the published OpenAPI schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from scalectl.providers.kubernetes.provider import KubernetesProvider
from scalectl.providers.kubernetes.requests import REQUESTS_METRIC
from typer.testing import CliRunner

from scalectl.checks import load_checked
from scalectl.cli import app
from scalectl.engine import release_for
from scalectl.errors import ConfigError

KUBE_VERSION = "1.31"
ROUTE_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "httproute-v1.json").read_text())["schema"]
BASE = """\
version: 1
name: fraud
model:
  image: acme/scorer:1
  artifact: pvc://models/fraud/v3
targets:
  prod:
    provider: kubernetes
{target}"""


def load(tmp_path: Path, target: str, model: str = "") -> Any:
    path = tmp_path / "scale.yaml"
    text = BASE.format(target=target)
    if model:
        text = text.replace("  artifact: pvc://models/fraud/v3\n", model)
    path.write_text(text)
    return load_checked(path)


def problems(tmp_path: Path, target: str, model: str = "") -> list[tuple[str, int, str]]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, target, model)
    return [(d.field, d.line, d.message) for d in caught.value.diagnostics if d.severity == "error"]


def validate_manifest(body: dict[str, Any]) -> None:
    """Core kinds against kubernetes-validate's schemas; HTTPRoute against Gateway API's published CRD schema."""
    if body["kind"] == "HTTPRoute":
        jsonschema.validate(body, ROUTE_SCHEMA)
    else:
        kubernetes_validate.validate(body, KUBE_VERSION, strict=True)


@pytest.mark.parametrize(
    ("target", "field", "words"),
    [
        ("    autoscaling: {min: 0, max: 2}\n", "targets.prod.autoscaling.min", "cannot scale to zero"),
        ("    resources: {memory: 2GB}\n", "targets.prod.resources.memory", "not a Kubernetes quantity"),
        ("    namespace: ML_team\n", "targets.prod.namespace", "not a valid namespace"),
        ("    spot: true\n", "targets.prod.spot", "spot needs `cloud:`"),
        ("    spot: maybe\n", "targets.prod.spot", "prefer"),
        ("    gpus: -1\n", "targets.prod.gpus", "greater than or equal to 0"),
        ("    cloud: eks\n    node_instance: g5.xlarge\n", "targets.prod.region", "set region too"),
        ("    secrets: {TOKEN: hunter2}\n", "targets.prod.secrets", "secret-name/key"),
        (
            "    autoscaling: {metric: accelerator_duty_cycle, target: 50}\n",
            "targets.prod.autoscaling.metric",
            "TPU metric",
        ),
        ("    autoscaling: {metric: gpu, target: 50}\n", "targets.prod.autoscaling.metric", "needs gpus"),
        ("    rollout: {alarms: [high-latency]}\n", "targets.prod.rollout.alarms", "CloudWatch"),
        ("    rollout: {auto_rollback: false}\n", "targets.prod.rollout.auto_rollback", "always put the previous"),
        ("    rollout: {max_error_rate: 0.01}\n", "targets.prod.rollout.max_error_rate", "does not report"),
        ("    rollout: {max_p99: 250ms}\n", "targets.prod.rollout.max_p99", "balances connections, not requests"),
        ("    rollout: {max_p99_ratio: 1.5}\n", "targets.prod.rollout.max_p99_ratio", "metrics.k8s.io has CPU"),
    ],
)
def test_checks_refuse_what_the_cluster_would_with_file_line_and_field(
    tmp_path: Path, target: str, field: str, words: str
) -> None:
    found = problems(tmp_path, target)
    assert any(f == field and line > 0 and words in message for f, line, message in found), found


def test_a_name_too_long_for_kubernetes_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scale.yaml"
    path.write_text(
        BASE.format(target="").replace("  prod:\n", "  " + "p" * 30 + ":\n").replace("name: fraud", "name: " + "f" * 30)
    )
    with pytest.raises(ConfigError) as caught:
        load_checked(path)
    assert "must be a Kubernetes name" in caught.value.message


def test_secrets_and_artifacts_the_cluster_cannot_reach_are_refused(tmp_path: Path) -> None:
    model = "  artifact: s3://acme/fraud\n  secrets: {API_TOKEN: aws-sm://fraud-token}\n"
    found = problems(tmp_path, "", model)
    fields = {f: m for f, _, m in found}
    assert "pvc://" in fields["model.artifact"]
    assert "Kubernetes Secrets" in fields["model.secrets.API_TOKEN"]


def test_every_rendered_manifest_passes_the_published_schemas(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "    cloud: gke\n    spot: true\n    gpus: 2\n    gateway: gateways/public\n"
        "    resources: {cpu: 3500m, memory: 12Gi, cpu_limit: '4', memory_limit: 14Gi}\n"
        "    secrets: {API_TOKEN: fraud-keys/api-token}\n"
        "    autoscaling: {min: 2, max: 6, metric: requests_per_replica, target: 12.5}\n",
    )
    files = KubernetesProvider().render(release_for(config, "prod"))
    assert set(files) == {
        "deployment.json",
        "service.json",
        "hpa.json",
        "pdb.json",
        "revision-service.json",
        "httproute.json",
    }
    bodies = {name: json.loads(text) for name, text in files.items()}
    for body in bodies.values():
        validate_manifest(body)
    pod = bodies["deployment.json"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["env"] == [
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "fraud-keys", "key": "api-token"}}}
    ]
    assert container["volumeMounts"] == [
        {"name": "model", "mountPath": "/opt/ml/model", "readOnly": True, "subPath": "fraud/v3"}
    ]
    assert pod["terminationGracePeriodSeconds"] == 25  # GKE spot: 30 s notice
    assert {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    required = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["nodeSelectorTerms"][0]["matchExpressions"][0]["key"] == "cloud.google.com/gke-spot"
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == [
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    ]
    metric = bodies["hpa.json"]["spec"]["metrics"][0]
    assert metric["pods"] == {
        "metric": {"name": REQUESTS_METRIC},
        "target": {"type": "AverageValue", "averageValue": "12500m"},
    }
    route = bodies["httproute.json"]["spec"]
    assert route["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "gateways"}
    ]


@pytest.mark.parametrize(
    ("cloud", "spot", "label", "grace", "tainted"),
    [
        ("eks", "true", "eks.amazonaws.com/capacityType", 110, False),
        ("aks", "prefer", "kubernetes.azure.com/scalesetpriority", 25, True),
    ],
)
def test_spot_placement_follows_each_managed_service(
    tmp_path: Path, cloud: str, spot: str, label: str, grace: int, tainted: bool
) -> None:
    config = load(tmp_path, f"    cloud: {cloud}\n    spot: {spot}\n    autoscaling: {{metric: memory, target: 80}}\n")
    files = KubernetesProvider().render(release_for(config, "prod"))
    for text in files.values():
        validate_manifest(json.loads(text))
    pod = json.loads(files["deployment.json"])["spec"]["template"]["spec"]
    affinity = pod["affinity"]["nodeAffinity"]
    if spot == "prefer":  # soft: falls back to on-demand nodes
        assert (
            affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["preference"]["matchExpressions"][0]["key"]
            == label
        )
    else:
        assert "requiredDuringSchedulingIgnoredDuringExecution" in affinity
    assert pod["terminationGracePeriodSeconds"] == grace
    assert any(t["key"] == label for t in pod["tolerations"]) is tainted
    assert "httproute.json" not in files  # no gateway: traffic by replica ratio behind the Service


def test_cost_estimate_prices_the_node_type_with_its_spot_rate(tmp_path: Path) -> None:
    path = tmp_path / "scale.yaml"
    path.write_text(
        BASE.format(target="    cloud: eks\n    node_instance: g5.xlarge\n    region: us-east-1\n    spot: true\n")
        + "traffic: {peak_rps: 10, replica_rps: 10}\n"
    )
    result = CliRunner().invoke(app, ["cost-estimate", "-f", str(path), "--output", "json"])
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.output)["targets"]["prod"]
    assert estimate["billed"] == "spot" and estimate["spot"] is not None
    assert (estimate["hardware"], estimate["region"]) == ("g5.xlarge", "us-east-1")


def test_offline_commands_never_import_the_kubernetes_client(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "kubernetes" / "scale.yaml"
    probe = (
        "import sys\nfrom scalectl.cli import app\n"
        "for args in (['validate', '-f', sys.argv[1]], ['render', '-f', sys.argv[1], '-o', sys.argv[2]],"
        " ['cost-estimate', '-f', sys.argv[1]]):\n"
        "    try:\n        app(args)\n"
        "    except SystemExit as exc:\n        assert exc.code in (0, None), (args, exc.code)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'), file=sys.__stderr__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(example), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "eks-spot" / "httproute.json").is_file()


def test_capture_is_a_sidecar_the_services_target_and_passes_the_schemas(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "    gateway: public\n    capture_image: registry.example/scalectl:0.1\n"
        "    monitoring:\n      capture: {percent: 20, destination: pvc://captures/fraud, max_file_mb: 16}\n",
    )
    bodies = {name: json.loads(text) for name, text in KubernetesProvider().render(release_for(config, "prod")).items()}
    for body in bodies.values():
        validate_manifest(body)
    pod = bodies["deployment.json"]["spec"]["template"]["spec"]
    model, sidecar = pod["containers"]
    assert model["ports"][0]["name"] == "model" and model["readinessProbe"]["httpGet"]["port"] == "model"
    assert sidecar["image"] == "registry.example/scalectl:0.1"
    assert sidecar["ports"] == [{"name": "http", "containerPort": 8100, "protocol": "TCP"}]
    args = sidecar["args"]
    assert args[args.index("--upstream") + 1] == "http://127.0.0.1:8080"
    assert args[args.index("--percent") + 1] == "20" and args[args.index("--max-file-mb") + 1] == "16"
    assert args[args.index("--dir") + 1] == "/captures/$(POD_NAME)"  # a folder per pod on a shared claim
    assert sidecar["volumeMounts"] == [{"name": "captures", "mountPath": "/captures", "subPath": "fraud"}]
    assert {"name": "captures", "persistentVolumeClaim": {"claimName": "captures"}} in pod["volumes"]
    assert [e["name"] for e in sidecar["env"]] == ["POD_NAME"]  # no secret reaches the sidecar
    for name in ("service.json", "revision-service.json"):
        assert bodies[name]["spec"]["ports"][0]["targetPort"] == "http"
    plain = load(tmp_path, "    gateway: public\n")
    plain_files = KubernetesProvider().render(release_for(plain, "prod"))
    assert json.loads(plain_files["service.json"])["spec"]["ports"][0]["targetPort"] == 8080
    assert len(json.loads(plain_files["deployment.json"])["spec"]["template"]["spec"]["containers"]) == 1


@pytest.mark.parametrize(
    ("capture", "field", "words"),
    [
        ("capture_image: x/y:1\n    monitoring: {capture: {percent: 5, destination: /data}}", "destination", "pvc://"),
        ("monitoring: {capture: {percent: 5, destination: pvc://c/p}}", "capture_image", "scalectl installed"),
    ],
)
def test_capture_needs_a_claim_and_an_image_with_scalectl(tmp_path: Path, capture: str, field: str, words: str) -> None:
    found = problems(tmp_path, f"    {capture}\n")
    assert any(f.endswith(field) and words in m for f, _, m in found), found
