"""`monitoring.capture` on Azure ML: the deployment's data collector, as azure-ai-ml itself would serialise it."""

from __future__ import annotations

import json
from pathlib import Path

CAPTURE = "    monitoring:\n      capture: {{percent: 20, destination: {destination}}}\n"


def _deployment(cli, path: Path, out: Path) -> dict:  # type: ignore[no-untyped-def]
    result = cli("render", "-f", path, "-o", out)
    assert result.exit_code == 0, result.output
    return json.loads((out / "prod" / "deployment.json").read_text())


def test_capture_renders_the_data_collector_azure_ai_ml_would_send(scale_file, cli, tmp_path: Path) -> None:
    from azure.ai.ml.entities import DataCollector, DeploymentCollection, RequestLogging

    path = scale_file(extra=CAPTURE.format(destination="azureml://datastores/workspaceblobstore"))
    collector = _deployment(cli, path, tmp_path / "out")["properties"]["dataCollector"]
    entity = DataCollector(
        collections={
            "request": DeploymentCollection(enabled="true"),
            "response": DeploymentCollection(enabled="true"),
        },
        sampling_rate=0.2,
        rolling_rate="Hour",
        request_logging=RequestLogging(capture_headers=[]),
    )
    assert collector == entity._to_rest_object().as_dict()
    assert collector["requestLogging"] == {"captureHeaders": []}  # never a header, so never the key


def test_capture_is_off_unless_asked(scale_file, cli, tmp_path: Path) -> None:
    assert "dataCollector" not in _deployment(cli, scale_file(), tmp_path / "out")["properties"]


def test_another_store_is_refused(scale_file, cli) -> None:
    path = scale_file(extra=CAPTURE.format(destination="s3://bucket/x"))
    result = cli("validate", "-f", path, "--output", "json")
    assert result.exit_code == 2
    (err,) = [d for d in json.loads(result.stdout)["diagnostics"] if d["severity"] == "error"]
    assert err["field"] == "targets.prod.monitoring.capture.destination" and "workspaceblobstore" in err["message"]
