"""`monitoring.capture` on SageMaker: DataCaptureConfig in the endpoint config, accepted by botocore's own model."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
from botocore.validate import ParamValidator

from .conftest import Project

CAPTURE = "monitoring:\n  capture: {percent: 20, destination: s3://acme-capture/fraud}\n"


def _endpoint_config(project: Project, tmp_path: Path) -> dict:
    result = project.run("render", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    return json.loads((tmp_path / "out" / "prod" / "create_endpoint_config.json").read_text())


def test_capture_renders_a_data_capture_config_botocore_accepts(project: Project, tmp_path: Path) -> None:
    project.write(extra=CAPTURE)
    body = _endpoint_config(project, tmp_path)
    assert body["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://acme-capture/fraud",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateEndpointConfig")
    report = ParamValidator().validate(body, shape.input_shape)
    assert not report.has_errors(), report.generate_report()


def test_capture_is_off_unless_asked(project: Project, tmp_path: Path) -> None:
    project.write()
    assert "DataCaptureConfig" not in _endpoint_config(project, tmp_path)


def test_a_destination_sagemaker_cannot_write_is_refused(project: Project) -> None:
    project.write(extra="monitoring:\n  capture: {percent: 12.5, destination: gs://bucket/x}\n")
    result = project.run("validate", "--output", "json")
    assert result.exit_code == 2
    found = {d["field"]: d for d in json.loads(result.stdout)["diagnostics"]}
    assert "S3 only" in found["targets.prod.monitoring.capture.destination"]["message"]
    assert found["targets.prod.monitoring.capture.destination"]["line"] == 14
    assert "whole percents" in found["targets.prod.monitoring.capture.percent"]["message"]


def test_capture_policies_cover_the_destination_prefix(project: Project, tmp_path: Path) -> None:
    """SageMaker writes captures as the execution role (s3:PutObject); `drift` lists and reads them as scalectl."""
    project.write(extra=CAPTURE)
    result = project.run("render", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out" / "prod"
    role = json.loads((out / "capture_role_policy.json").read_text())
    assert role["Statement"] == [
        {
            "Sid": "SageMakerDataCaptureWrite",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::acme-capture/fraud/*",
        }
    ]
    statements = {s["Sid"]: s for s in json.loads((out / "iam_policy.json").read_text())["Statement"]}
    listing = statements["ScalectlDriftListCaptures"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", "arn:aws:s3:::acme-capture")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["fraud/*"]}}
    assert statements["ScalectlDriftReadCaptures"]["Resource"] == "arn:aws:s3:::acme-capture/fraud/*"

    project.write()
    plain = tmp_path / "plain"
    assert project.run("render", "-o", str(plain)).exit_code == 0
    assert not (plain / "prod" / "capture_role_policy.json").exists()
    assert "s3:" not in (plain / "prod" / "iam_policy.json").read_text()
