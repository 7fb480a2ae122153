"""Deploys against the Vertex AI simulator, through the CLI as a CI pipeline runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalectl.providers.gcp.provider import GcpProvider

from .helpers import V1, V2, scalectl, traffic_updates, write_scale
from .simulator import Load, VertexSim


def test_first_deploy_creates_endpoint_model_and_deployment(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    path = write_scale(tmp_path, image=V1, strategy="canary")
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")
    assert code == 0, doc
    assert doc["targets"]["prod"]["revision"]["number"] == 1

    endpoint = sim.endpoint()
    assert endpoint["labels"] == {"managed_by": "scalectl", "scalectl_app": "fraud", "scalectl_target": "prod"}
    (deployed,) = endpoint["deployedModels"]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}  # nothing to canary against: 100% at once
    model = sim.models[deployed["model"]]
    assert model["labels"]["scalectl_revision"] == "1"
    assert model["containerSpec"]["imageUri"] == V1
    assert model["containerSpec"]["ports"] == [{"containerPort": 8080}]
    assert (model["containerSpec"]["predictRoute"], model["containerSpec"]["healthRoute"]) == ("/invocations", "/ping")
    assert model["artifactUri"] == "gs://acme-models/fraud/v1"

    code, doc, _ = scalectl("status", "-f", str(path), state=tmp_path / "st")
    status = doc["targets"]["prod"]
    assert (code, status["active"], status["traffic"]) == (0, 1, {"1": 100})
    assert status["details"]["deployed_models"][0]["replicas"] == {"min": 1, "max": 3, "available": 1}

    # the same config again changes nothing
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")
    assert (code, doc["targets"]["prod"]["changed"]) == (0, False)


def test_linear_rollout_steps_traffic_and_undeploys_the_old_model_last(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    old_id = sim.endpoint()["deployedModels"][0]["id"]
    sim.serving["fraud"] = Load(50)  # healthy traffic for every bake to judge

    path = write_scale(tmp_path, image=V2, strategy="linear", percent=30, bake="1s", grace="1s")
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 0, doc

    (deploy,) = sim.calls("POST", ":deployModel")[1:]
    assert deploy.body["trafficSplit"] == {"0": 30, old_id: 70}
    new_id = sim.endpoint()["deployedModels"][0]["id"]
    assert traffic_updates(sim) == [{new_id: 60, old_id: 40}, {new_id: 90, old_id: 10}, {new_id: 100}]
    # the old deployed model went away only after the new one held 100% for the grace period
    undeploy = sim.calls("POST", ":undeployModel")[-1]
    assert undeploy.body["deployedModelId"] == old_id
    assert sim.requests.index(undeploy) > sim.requests.index(sim.calls("PATCH")[-1])
    assert [d["id"] for d in sim.endpoint()["deployedModels"]] == [new_id]

    events = doc["targets"]["prod"]["events"]
    steps = [e["message"] for e in events if e["kind"] == "state" and not e["message"].startswith("bake:")]
    assert steps[-4:] == [
        "revision 2: 60% traffic",
        "revision 2: 90% traffic",
        "revision 2: 100% traffic",
        "revision 1: UNDEPLOYED",
    ]


def test_a_model_that_never_gets_ready_leaves_the_old_revision_serving(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    before = sim.endpoint()["trafficSplit"]
    sim.fail_image["fraud:v2"] = "exec format error"

    code, doc, _ = scalectl(
        "deploy", "-f", str(write_scale(tmp_path, image=V2, strategy="canary")), "--yes", state=state
    )
    assert code == 1
    assert doc["error"].startswith(
        "revision 2 failed to deploy: deploying revision 2 failed: Model server never became ready"
    )
    assert doc["error"].endswith("revision 1 still serves 100% of traffic; nothing was deployed")
    assert sim.endpoint()["trafficSplit"] == before

    code, doc, _ = scalectl("history", "-f", str(write_scale(tmp_path, image=V2)), state=tmp_path / "fresh")
    assert [(r["number"], r["status"]) for r in doc["targets"]["prod"]] == [(1, "active"), (2, "failed")]
    assert doc["targets"]["prod"][1]["message"].startswith("revision 2 failed to deploy: deploying revision 2 failed")


def test_auto_rollback_when_the_canary_turns_unhealthy(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    old_id = sim.endpoint()["deployedModels"][0]["id"]
    sim.unhealthy_image["fraud:v2"] = 0.3  # passes the deploy, then fails health checks during the bake

    path = write_scale(tmp_path, image=V2, strategy="canary", percent=10, bake="3s")
    code, doc, output = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 1
    assert doc["error"] == (
        "revision 2 became unhealthy at 10% of traffic (Replicas fail the health check on /ping); "
        "revision 1 serves 100% of traffic again and revision 2 was undeployed"
    )
    endpoint = sim.endpoint()
    assert endpoint["trafficSplit"] == {old_id: 100}
    assert [d["id"] for d in endpoint["deployedModels"]] == [old_id]
    assert "deploy to prod failed" in output


def test_health_failure_during_the_grace_period_moves_traffic_back(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    old_id = sim.endpoint()["deployedModels"][0]["id"]
    sim.unhealthy_image["fraud:v2"] = 0.5

    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2, grace="3s")), "--yes", state=state)
    assert code == 1
    assert "became unhealthy at 100% of traffic" in doc["error"]
    assert sim.endpoint()["trafficSplit"] == {old_id: 100}


def test_throttling_is_retried_and_quota_errors_fail_clearly(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    sim.throttle(2, suffix=":deployModel")
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=tmp_path / "st")
    assert code == 0, doc
    warnings = [e["message"] for e in doc["targets"]["prod"]["events"] if e["kind"] == "warn"]
    assert len(warnings) == 2 and warnings[0].startswith("Vertex AI throttled DeployModel (RESOURCE_EXHAUSTED)")

    sim.quota_machine.add("a2-highgpu-1g")
    path = write_scale(tmp_path, image=V2, machine="a2-highgpu-1g")
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")
    assert code == 1
    assert len(sim.calls("POST", ":deployModel")) == 4  # 2 throttled + 1, then 1 that ran out of quota
    assert "exceed quota limits" in doc["error"] and "revision 1 still serves 100% of traffic" in doc["error"]


def test_a_deploy_that_outlives_the_timeout_is_cancelled(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    sim.deploy_seconds = 30
    code, doc, _ = scalectl(
        "deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", "--timeout", "2", state=state
    )
    assert code == 1
    assert "was not ready within the 2s timeout (deploy cancelled)" in doc["error"]
    assert sim.calls("POST", ":cancel")
    assert len(sim.endpoint()["deployedModels"]) == 1


def test_deploy_without_yes_off_a_terminal_is_bad_input(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path)), state=tmp_path / "st")
    assert code == 2 and "pass --yes" in doc["error"]
    assert not sim.calls("POST")


def test_plan_detailed_exitcode(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    path = write_scale(tmp_path, image=V1)
    code, doc, _ = scalectl("plan", "-f", str(path), "--detailed-exitcode", state=tmp_path / "st")
    assert code == 3
    actions = [(c["action"], c["resource"]) for c in doc["targets"]["prod"]["changes"]]
    assert actions[0] == ("create", "endpoint fraud-prod")
    assert not sim.calls("POST")  # plan only reads


def test_a_missing_permission_fails_before_anything_changes(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    sim.deny("models:upload", "aiplatform.models.upload")
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    assert code == 1
    assert doc["error"] == (
        "revision 2 was not deployed: Vertex AI refused UploadModel: PERMISSION_DENIED Permission "
        "'aiplatform.models.upload' denied on resource (or it may not exist); `scalectl render` lists the IAM "
        "roles scalectl needs (iam.json); revision 1 still serves 100% of traffic"
    )


def test_an_unreachable_api_is_a_clear_failure(gcp: GcpProvider, tmp_path: Path, monkeypatch: Any) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SCALECTL_GCP_API_ENDPOINT", f"http://127.0.0.1:{port}")
    gcp.sleep = lambda seconds: None
    code, doc, _ = scalectl("status", "-f", str(write_scale(tmp_path)), state=tmp_path / "st")
    assert code == 1
    assert doc["error"].startswith(f"cannot reach Vertex AI at http://127.0.0.1:{port} for ListEndpoints: ")
