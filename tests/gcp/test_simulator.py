"""The simulator speaks Vertex AI's REST protocol: the high-level SDK works against it unmodified,
and it enforces the rules Vertex enforces, answering in Google's error shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from .simulator import VertexSim

LOC = "projects/acme/locations/us-central1"


def call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}/v1/{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_high_level_aiplatform_sdk_deploys_a_spot_l4_model() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    sim = VertexSim(op_seconds=0.05, deploy_seconds=0.2)
    url = sim.start()
    try:
        aiplatform.init(
            project="acme",
            location="us-central1",
            api_endpoint=url,
            api_transport="rest",
            credentials=AnonymousCredentials(),
        )
        endpoint = aiplatform.Endpoint.create(display_name="fraud", labels={"team": "risk"})
        model = aiplatform.Model.upload(
            display_name="fraud",
            serving_container_image_uri="us-docker.pkg.dev/acme/serving/fraud:v1",
            serving_container_predict_route="/invocations",
            serving_container_health_route="/ping",
            serving_container_ports=[8080],
        )
        model.deploy(
            endpoint=endpoint,
            machine_type="g2-standard-8",
            accelerator_type="NVIDIA_L4",
            accelerator_count=1,
            spot=True,
            traffic_percentage=100,
        )
        (deployed,) = aiplatform.Endpoint(endpoint.resource_name).list_models()
        assert deployed.dedicated_resources.spot is True
        assert deployed.dedicated_resources.machine_spec.accelerator_type.name == "NVIDIA_L4"
        endpoint.undeploy_all()
        endpoint.delete()
        model.delete()
        assert sim.endpoints == {} and sim.models == {}
    finally:
        sim.stop()


@pytest.fixture
def served() -> Any:
    """An endpoint with one deployed model holding 100% of traffic; yields (sim, url, endpoint, id)."""
    sim = VertexSim(op_seconds=0.0, deploy_seconds=0.0)
    url = sim.start()
    _, op = call(url, "POST", f"{LOC}/endpoints", {"displayName": "e"})
    call(url, "GET", op["name"])
    endpoint = next(iter(sim.endpoints))
    _, op = call(
        url, "POST", f"{LOC}/models:upload", {"model": {"displayName": "m", "containerSpec": {"imageUri": "i"}}}
    )
    model = call(url, "GET", op["name"])[1]["response"]["model"]
    body = {
        "deployedModel": {"model": model, "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-2"}}},
        "trafficSplit": {"0": 100},
    }
    _, op = call(url, "POST", f"{endpoint}:deployModel", body)
    deployed_id = call(url, "GET", op["name"])[1]["response"]["deployedModel"]["id"]
    yield sim, url, endpoint, deployed_id
    sim.stop()


def test_a_traffic_split_must_sum_to_100(served: Any) -> None:
    _, url, endpoint, deployed_id = served
    code, body = call(url, "PATCH", f"{endpoint}?updateMask=trafficSplit", {"trafficSplit": {deployed_id: 90}})
    assert code == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert body["error"]["message"] == "Sum of all traffic split values must be 100, got 90."


def test_a_model_with_traffic_cannot_be_undeployed_while_another_remains(served: Any) -> None:
    sim, url, endpoint, deployed_id = served
    model = sim.endpoint()["deployedModels"][0]["model"]
    body = {"deployedModel": {"model": model, "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-2"}}}}
    _, op = call(url, "POST", f"{endpoint}:deployModel", body)
    call(url, "GET", op["name"])
    code, body = call(url, "POST", f"{endpoint}:undeployModel", {"deployedModelId": deployed_id})
    assert (code, body["error"]["status"]) == (400, "FAILED_PRECONDITION")
    assert "has 100% of traffic" in body["error"]["message"]


def test_unknown_fields_are_rejected_like_vertex(served: Any) -> None:
    _, url, _, _ = served
    code, body = call(url, "POST", f"{LOC}/models:upload", {"model": {"displayName": "m", "containerPort": 8080}})
    assert code == 400
    assert body["error"]["message"].startswith("Invalid JSON payload received.")


def test_throttling_answers_429_with_error_info(served: Any) -> None:
    sim, url, endpoint, _ = served
    sim.throttle(1)
    code, body = call(url, "GET", endpoint)
    assert code == 429
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert call(url, "GET", endpoint)[0] == 200
