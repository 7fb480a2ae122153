"""`monitoring.capture` on Vertex AI: request-response logging on the endpoint, accepted by the SDK's own types."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from scalectl.cli import app

from .helpers import write_scale

runner = CliRunner()


def test_capture_renders_request_response_logging_the_sdk_parses(tmp_path: Path) -> None:
    path = write_scale(
        tmp_path, extra="monitoring:\n  capture: {percent: 20, destination: bq://acme-ml.serving.fraud}\n"
    )
    result = runner.invoke(app, ["render", "-f", str(path), "-t", "prod", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    body = json.loads((tmp_path / "out" / "prod" / "create_endpoint.json").read_text())
    assert body["endpoint"]["predictRequestResponseLoggingConfig"] == {
        "enabled": True,
        "samplingRate": 0.2,
        "bigqueryDestination": {"outputUri": "bq://acme-ml.serving.fraud"},
    }
    from google.cloud.aiplatform_v1 import types

    request = types.CreateEndpointRequest.from_json(json.dumps(body))
    logging = request.endpoint.predict_request_response_logging_config
    assert logging.enabled and logging.sampling_rate == 0.2
    assert logging.bigquery_destination.output_uri == "bq://acme-ml.serving.fraud"
    # `drift` queries the table: the deployer's roles say so (and nothing BigQuery without capture)
    roles = json.loads((tmp_path / "out" / "prod" / "iam.json").read_text())["deployer"]["roles"]
    bigquery = {r["role"]: r["on"] for r in roles if r["role"].startswith("roles/bigquery")}
    assert bigquery == {"roles/bigquery.jobUser": "projects/acme-ml", "roles/bigquery.dataViewer": "acme-ml.serving"}


def test_capture_is_off_unless_asked(tmp_path: Path) -> None:
    path = write_scale(tmp_path)
    result = runner.invoke(app, ["render", "-f", str(path), "-t", "prod", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "predictRequestResponseLoggingConfig" not in (tmp_path / "out" / "prod" / "create_endpoint.json").read_text()
    assert "roles/bigquery" not in (tmp_path / "out" / "prod" / "iam.json").read_text()


def test_only_a_bigquery_table_is_accepted(tmp_path: Path) -> None:
    for destination in ("s3://bucket/x", "bq://acme-ml.serving", "gs://bucket/logs"):
        path = write_scale(tmp_path, extra=f"monitoring:\n  capture: {{percent: 5, destination: {destination}}}\n")
        result = runner.invoke(app, ["validate", "-f", str(path), "--output", "json"])
        assert result.exit_code == 2, destination
        found = {d["field"]: d["message"] for d in json.loads(result.stdout)["diagnostics"]}
        assert "BigQuery only" in found["targets.prod.monitoring.capture.destination"]


def test_capture_is_set_on_an_existing_endpoint_and_removed_again(sim, gcp, tmp_path: Path) -> None:
    """An endpoint created without capture gets it by PATCH (update_mask), and loses it when the key goes."""
    from .helpers import V2, scalectl

    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path)), "--yes", state=state)[0] == 0
    assert "predictRequestResponseLoggingConfig" not in sim.endpoint()
    capture = "monitoring:\n  capture: {percent: 20, destination: bq://acme-ml.serving.fraud}\n"
    path = write_scale(tmp_path, image=V2, extra=capture)
    code, doc, _ = scalectl("plan", "-f", str(path), state=state)
    assert {"action": "update", "resource": "endpoint request-response logging"}.items() <= next(
        c for c in doc["targets"]["prod"]["changes"] if c["resource"] == "endpoint request-response logging"
    ).items()
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 0, doc
    want = {"enabled": True, "samplingRate": 0.2, "bigqueryDestination": {"outputUri": "bq://acme-ml.serving.fraud"}}
    assert sim.endpoint()["predictRequestResponseLoggingConfig"] == want
    (patch,) = [r for r in sim.calls("PATCH") if "predictRequestResponseLoggingConfig" in r.body]
    assert patch.query["updateMask"] == ["predictRequestResponseLoggingConfig"]
    code, doc, _ = scalectl("status", "-f", str(path), state=state)
    assert doc["targets"]["prod"]["details"]["request_response_logging"] == want

    assert scalectl("deploy", "-f", str(write_scale(tmp_path)), "--yes", state=state)[0] == 0
    # enabled: false is proto3's default, so the SDK sends an empty config under the mask: logging cleared
    assert sim.logging_updates == [want, {}]
    assert not sim.endpoint()["predictRequestResponseLoggingConfig"].get("enabled")
