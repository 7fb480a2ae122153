"""`drift` reading SageMaker's capture files straight from S3 (moto, in process): base64 CSV inputs, JSON outputs."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

SCALE = """\
version: 1
name: fraud
model: {image: "fraud:v1"}
targets:
  prod:
    provider: aws
    region: us-east-1
    instance: ml.m5.large
    execution_role: arn:aws:iam::123456789012:role/sagemaker
    monitoring:
      capture: {percent: 20, destination: s3://acme-capture/fraud}
"""


def _line(when: datetime, row: list[float], score: float) -> str:
    csv_row = ",".join(str(v) for v in row)
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": base64.b64encode(csv_row.encode()).decode(),
                    "encoding": "BASE64",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": json.dumps({"predictions": [score]}),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": "x", "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def test_drift_reads_sagemaker_captures_from_s3(cli, aws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    (tmp_path / "scale.yaml").write_text(SCALE)
    rows = rng.normal([50, 0.5], [10, 0.1], size=(2000, 2))
    (tmp_path / "train.csv").write_text("amount,ratio\n" + "\n".join(f"{a},{r}" for a, r in rows) + "\n")
    aws.create_bucket(Bucket="acme-capture")
    now = datetime.now(timezone.utc)
    shifted = rng.normal([80, 0.5], [10, 0.1], size=(300, 2))
    for hour in range(3):  # SageMaker's layout: prefix/endpoint/variant/yyyy/mm/dd/hh/file.jsonl
        when = now - timedelta(minutes=20 + 60 * hour)
        chunk = shifted[hour * 100 : (hour + 1) * 100]
        key = f"fraud/fraud-prod/AllTraffic/{when:%Y/%m/%d/%H}/capture-{hour}.jsonl"
        body = "\n".join(_line(when, list(r), 0.3) for r in chunk) + "\n"
        aws.put_object(Bucket="acme-capture", Key=key, Body=body.encode())
    aws.put_object(Bucket="acme-capture", Key="fraud/notes.txt", Body=b"not a capture")

    base = ["drift", "-f", tmp_path / "scale.yaml", "--baseline", tmp_path / "train.csv"]
    result = cli(*base, "--since", "4h", "--output", "json")
    assert result.exit_code == 8, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["records"] == 300 and doc["inputs"]["drifted"] == ["amount"]
    assert doc["captures"] == "s3://acme-capture/fraud"

    short = cli(*base, "--since", "30m", "--output", "json")
    assert json.loads(short.stdout)["records"] == 100  # only the last hour's calls


def test_a_missing_bucket_is_a_clear_failure(cli, aws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "scale.yaml").write_text(SCALE)
    (tmp_path / "train.csv").write_text("amount\n1\n")
    result = cli("drift", "-f", tmp_path / "scale.yaml", "--baseline", tmp_path / "train.csv")
    assert result.exit_code == 1 and "cannot read captures at s3://acme-capture/fraud: NoSuchBucket" in result.stderr
