"""Azure ML data collector captures read straight from blob storage (Azurite), in the documented layout.

Payload logging writes request and response as separate CloudEvents lines under
modelDataCollector/{endpoint}/{deployment}/{request|response}/{yyyy}/{MM}/{dd}/{HH}/{instance}.jsonl,
joined by correlationid; a payload over 4 MB is a pointer to a blob of its own (`datainblob`).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scalectl.capture import read_records, request_features
from tests.locks.conftest import ACCOUNT, azure_connection
from tests.locks.conftest import azurite_url as azurite_url  # the session's Azurite (re-used fixture)

SOURCE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


def _event(kind: str, when: datetime, data: object, correlation: str, **extra: str) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": f"{SOURCE}/onlineEndpoints/fraud-prod/deployments/rev-3",
            "type": f"azureml.inference.{kind}",
            "datacontenttype": "application/json",
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
            "path": "/score",
            "method": "POST",
            "contentrange": "bytes 0-59/*",
            "correlationid": correlation,
            "xrequestid": correlation,
            **extra,
        },
        separators=(",", ":"),
    )


@pytest.fixture
def container(azurite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from azure.storage.blob import BlobServiceClient

    connection = azure_connection(azurite_url)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    name = f"azureml-blobstore-{uuid.uuid4().hex[:8]}"
    BlobServiceClient.from_connection_string(connection).create_container(name)
    return name


def test_drift_reads_data_collector_blobs_joined_by_correlation_id(container: str, tmp_path: Path, cli) -> None:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    blobs = client.get_container_client(container)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rng = random.Random(5)
    requests: dict[str, list[str]] = {}
    responses: dict[str, list[str]] = {}
    for i in range(80):
        when = now - timedelta(minutes=i)
        hour = when.strftime("%Y/%m/%d/%H")
        cid = f"c{i}"
        row = {"amount": rng.gauss(400 if i < 40 else 100, 10), "night": i % 2}  # the newest 40 shifted
        requests.setdefault(hour, []).append(_event("request", when, {"instances": [row]}, cid))
        responses.setdefault(hour, []).append(_event("response", when, {"predictions": [0.1]}, cid))
    requests[now.strftime("%Y/%m/%d/%H")].append(
        _event("request", now, "https://acct.blob.core.windows.net/x/big", "big", datainblob="true")
    )
    old = now - timedelta(days=3)
    requests[old.strftime("%Y/%m/%d/%H")] = [_event("request", old, {"instances": [{"amount": 1}]}, "old")]
    base = "modelDataCollector/fraud-prod/rev-3"
    for folder, groups in (("request", requests), ("response", responses)):
        for hour, lines in groups.items():
            blobs.upload_blob(f"{base}/{folder}/{hour}/{uuid.uuid4()}.jsonl", "\n".join(lines) + "\n")
    blobs.upload_blob(f"{base}/request/readme.txt", "not a capture")

    uri = f"azblob://{ACCOUNT}/{container}/modelDataCollector/fraud-prod"
    records = read_records(uri, since=now - timedelta(hours=2))
    assert len(records) == 80  # the 3-day-old one outside the window, the blob pointer not fetched
    assert all(r.response == {"predictions": [0.1]} for r in records)
    assert len(request_features(records, ["amount", "night"])["amount"]) == 80

    baseline = tmp_path / "train.csv"
    baseline.write_text("amount,night\n" + "".join(f"{rng.gauss(100, 10)},{i % 2}\n" for i in range(500)))
    scale = tmp_path / "scale.yaml"
    scale.write_text("version: 1\nname: fraud\nmodel: {image: fraud:v1}\ntargets:\n  web: {provider: docker}\n")
    result = cli("drift", "-f", scale, "--baseline", baseline, "--captures", uri, "--since", "30m", "--output", "json")
    assert result.exit_code == 8, result.stdout + result.stderr
    assert json.loads(result.stdout)["inputs"]["drifted"] == ["amount"]


def test_an_azure_target_says_where_its_captures_are(tmp_path: Path, cli) -> None:
    scale = tmp_path / "scale.yaml"
    scale.write_text(
        "version: 1\nname: fraud\nmodel: {image: fraud:v1}\ntargets:\n  prod:\n    provider: azure\n"
        "    subscription: 00000000-0000-0000-0000-000000000000\n    resource_group: rg\n    workspace: ws\n"
        "    region: westeurope\n    instance: Standard_DS3_v2\n"
        "    monitoring: {capture: {percent: 10, destination: 'azureml://datastores/workspaceblobstore'}}\n"
    )
    (tmp_path / "train.csv").write_text("amount\n1\n")
    result = cli("drift", "-f", scale, "--baseline", tmp_path / "train.csv")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "--captures azblob://ACCOUNT/CONTAINER/modelDataCollector/fraud-prod" in result.stderr
