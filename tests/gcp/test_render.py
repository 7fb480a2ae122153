"""`scalectl render` shows exactly the bodies deploy sends; offline paths never import the Google SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scalectl.providers.gcp.provider import GcpProvider
from typer.testing import CliRunner

from scalectl.cli import app

from .helpers import scalectl, write_scale
from .simulator import VertexSim

runner = CliRunner()


def rendered(path: Path, out: Path) -> dict[str, dict]:
    result = runner.invoke(app, ["render", "-f", str(path), "-t", "prod", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return {p.name: json.loads(p.read_text()) for p in (out / "prod").iterdir()}


def test_render_writes_every_request_body_and_the_iam_roles(tmp_path: Path) -> None:
    files = rendered(write_scale(tmp_path, strategy="canary", percent=10), tmp_path / "out")
    assert sorted(files) == [
        "create_endpoint.json",
        "deploy_model.first.json",
        "deploy_model.update.json",
        "iam.json",
        "rollout.json",
        "update_traffic.json",
        "upload_model.json",
    ]
    upload = files["upload_model.json"]["model"]
    assert upload["containerSpec"]["env"] == [{"name": "LOG_LEVEL", "value": "info"}]
    assert upload["labels"]["scalectl_revision"] == "{revision}"
    assert files["deploy_model.update.json"]["trafficSplit"] == {"0": 10, "{previous_deployed_model_id}": 90}
    assert [s["new_revision_percent"] for s in files["rollout.json"]["steps"]] == [10, 100]
    assert files["update_traffic.json"] == {
        "endpoint": {
            "name": "projects/acme/locations/us-central1/endpoints/{endpoint_id}",
            "trafficSplit": {"{new_deployed_model_id}": 100},
        },
        "updateMask": "trafficSplit",
    }
    roles = [r["role"] for r in files["iam.json"]["deployer"]["roles"] + files["iam.json"]["runtime"]["roles"]]
    assert "roles/aiplatform.user" in roles and "roles/storage.objectViewer" in roles


def test_secret_references_never_values(tmp_path: Path) -> None:
    path = write_scale(tmp_path)
    ref = "gcp-sm://projects/acme/secrets/fraud-token/versions/3"
    path.write_text(path.read_text().replace("  env: {LOG_LEVEL: info}", f"  secrets: {{TOKEN: {ref}}}"))
    files = rendered(path, tmp_path / "out")
    assert files["upload_model.json"]["model"]["containerSpec"]["env"] == [
        {"name": "SCALECTL_SECRET_TOKEN", "value": ref}
    ]
    secret_role = next(r for r in files["iam.json"]["runtime"]["roles"] if r["role"].startswith("roles/secretmanager"))
    assert secret_role["on"] == [ref]


def test_spot_tpu_deploy_request_is_the_rendered_body(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    path = write_scale(tmp_path, machine="ct5lp-hightpu-4t", spot=True, metric="cpu", extra="tpu_topology: 2x2\n")
    files = rendered(path, tmp_path / "out")
    assert scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")[0] == 0

    (sent,) = sim.calls("POST", ":deployModel")
    resources = sent.body["deployedModel"]["dedicatedResources"]
    assert resources == files["deploy_model.first.json"]["deployedModel"]["dedicatedResources"]
    assert resources == {
        "machineSpec": {"machineType": "ct5lp-hightpu-4t", "tpuTopology": "2x2"},
        "minReplicaCount": 1,
        "maxReplicaCount": 3,
        # a TPU machine spec has no accelerator count: Vertex scales it on CPU only
        "autoscalingMetricSpecs": [
            {"metricName": "aiplatform.googleapis.com/prediction/online/cpu/utilization", "target": 60}
        ],
        "spot": True,
    }
    assert sent.body["trafficSplit"] == {"0": 100}
    (upload,) = sim.calls("POST", "models:upload")
    expected = files["upload_model.json"]["model"]
    got = upload.body["model"]
    assert {k: v for k, v in got.items() if k not in ("labels", "description", "displayName")} == {
        k: v for k, v in expected.items() if k not in ("labels", "description", "displayName")
    }
    assert got["labels"] == {**expected["labels"], "scalectl_revision": "1"}


def test_l4_spot_request_carries_the_gpu_and_request_count_autoscaling(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    path = write_scale(tmp_path, machine="g2-standard-24", spot=True, metric="requests_per_replica")
    assert scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")[0] == 0
    deployed = sim.endpoint()["deployedModels"][0]["dedicatedResources"]
    assert deployed["machineSpec"] == {
        "machineType": "g2-standard-24",
        "acceleratorType": "NVIDIA_L4",
        "acceleratorCount": 2,
    }
    assert deployed["spot"] is True
    assert deployed["autoscalingMetricSpecs"] == [
        {"metricName": "aiplatform.googleapis.com/prediction/online/request_count", "target": 3600},  # 60/s per replica
        # Vertex's implicit CPU and duty-cycle targets (60% by default), sent at 100% so requests decide
        {"metricName": "aiplatform.googleapis.com/prediction/online/cpu/utilization", "target": 100},
        {"metricName": "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle", "target": 100},
    ]


def test_validate_and_render_never_import_the_google_sdk(tmp_path: Path) -> None:
    path = write_scale(tmp_path, machine="ct5lp-hightpu-1t", spot=True)
    script = f"""
import sys
from typer.testing import CliRunner
from scalectl.cli import app
runner = CliRunner()
for args in (["validate", "-f", {str(path)!r}], ["render", "-f", {str(path)!r}], ["schema"], ["--help"]):
    assert runner.invoke(app, args).exit_code == 0, args
sdk = ("google.cloud.aiplatform", "google.api_core", "google.auth", "google.protobuf", "grpc")
loaded = sorted(m for m in sys.modules if m.startswith(sdk))  # (the bare `google.cloud` namespace comes from a .pth)
print(",".join(loaded))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_a_minimal_model_renders_valid_bodies(tmp_path: Path) -> None:
    path = write_scale(tmp_path, machine="n1-standard-4")
    text = (
        path.read_text()
        .replace("  artifact: gs://acme-models/fraud/v1\n", "")
        .replace("  env: {LOG_LEVEL: info}\n", "")
    )
    path.write_text(text)
    files = rendered(path, tmp_path / "out")
    model = files["upload_model.json"]["model"]
    assert "artifactUri" not in model and model["containerSpec"]["env"] == []
    resources = files["deploy_model.first.json"]["deployedModel"]["dedicatedResources"]
    assert resources["machineSpec"] == {"machineType": "n1-standard-4"}
    assert "serviceAccount" not in files["deploy_model.first.json"]["deployedModel"]
