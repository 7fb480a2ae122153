"""`drift` reading Vertex AI's request-response log table straight from BigQuery (a local jobs.query simulator)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from scalectl.providers.gcp.bigquery import decode_rows, log_query

from scalectl.capture import vertex_record
from tests.gcp.bigquery_sim import SCHEMA, BigQuerySim, _float_seconds

TABLE = "acme-ml.serving.fraud"
SCALE = f"""\
version: 1
name: fraud
model: {{image: "europe-docker.pkg.dev/acme-ml/serving/fraud:v1"}}
defaults:
  monitoring:
    drift: {{psi: 0.2, ks_p: 0.01}}
targets:
  prod:
    provider: gcp
    project: acme-ml
    region: europe-west4
    machine: n1-standard-4
    monitoring:
      capture: {{percent: 20, destination: bq://{TABLE}}}
"""


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry backoff's pauses, recorded instead of slept."""
    pauses: list[float] = []
    monkeypatch.setattr("scalectl.providers.gcp.bigquery.pause", pauses.append)
    return pauses


@pytest.fixture
def bq(monkeypatch: pytest.MonkeyPatch, slept: list[float]) -> Iterator[BigQuerySim]:
    server = BigQuerySim(page_rows=150, job_seconds=0.3)
    monkeypatch.setenv("SCALECTL_GCP_BIGQUERY_ENDPOINT", server.start())
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path, bq: BigQuerySim) -> Path:
    """scale.yaml, a 2000-row baseline, and logged calls: in distribution 30 h ago, `amount` shifted in the last 2 h."""
    rng = np.random.default_rng(7)
    (tmp_path / "scale.yaml").write_text(SCALE)
    rows = [(rng.normal(100, 10), rng.choice(["web", "app"])) for _ in range(2000)]
    (tmp_path / "train.csv").write_text("amount,channel\n" + "\n".join(f"{a},{c}" for a, c in rows) + "\n")
    now = datetime.now(timezone.utc)

    def instance(mean: float) -> dict[str, object]:
        return {"amount": float(rng.normal(mean, 10)), "channel": str(rng.choice(["web", "app"]))}

    for i in range(200):  # a day and more ago: like the training data, two instances per call
        request = {"instances": [instance(100), instance(100)]}
        response = {"predictions": [0.2, 0.21], "deployedModelId": "7"}
        bq.log(TABLE, now - timedelta(hours=30, seconds=i), request, response)
    for i in range(200):  # the last two hours: amount 3 sd higher
        request = {"instances": [instance(130), instance(130)]}
        bq.log(TABLE, now - timedelta(minutes=100, seconds=i), request, {"predictions": [0.6, 0.61]})
    return tmp_path


def drift(cli, folder: Path, *args: object):  # type: ignore[no-untyped-def]
    return cli("drift", "-f", folder / "scale.yaml", "--baseline", folder / "train.csv", *args)


def test_shifted_rows_drift_and_name_the_feature(cli, project: Path, bq: BigQuerySim) -> None:  # type: ignore[no-untyped-def]
    result = drift(cli, project, "--since", "3h", "--output", "json")
    assert result.exit_code == 8, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["records"] == 200 and doc["captures"] == f"bq://{TABLE}"
    assert doc["inputs"]["drifted"] == ["amount"]
    assert "drift on prod: amount" in result.stderr
    (recent, reference) = bq.queries()  # the window, then the reference window before it (no rows there)
    assert recent["query"] == (
        f"SELECT logging_time, request_payload, response_payload FROM `{TABLE}` "
        "WHERE logging_time >= @since ORDER BY logging_time"
    )
    assert recent["parameterMode"] == "NAMED" and recent["useLegacySql"] is False
    assert [p["name"] for p in recent["queryParameters"]] == ["since"]
    assert "logging_time < @until" in reference["query"]
    # 200 rows at 150 a page: the query's first answer is not complete, then two pages through getQueryResults
    pages = [q for m, path, q in bq.calls if m == "GET"]
    assert len(pages) >= 3 and any(q.get("pageToken") == "tok-150" for q in pages)
    assert all(q["location"] == "europe-west4" for q in pages)


def test_in_distribution_rows_are_no_drift(cli, project: Path, bq: BigQuerySim) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(8)
    now = datetime.now(timezone.utc)
    for i in range(300):
        instance = {"amount": float(rng.normal(100, 10)), "channel": str(rng.choice(["web", "app"]))}
        bq.log("acme-ml.serving.clean", now - timedelta(minutes=90, seconds=i), {"instances": [instance]})
    result = drift(cli, project, "--since", "3h", "--captures", "bq://acme-ml.serving.clean", "--output", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["records"] == 300 and doc["inputs"]["drifted"] == [] and doc["inputs"]["verdict"] == "ok"


def test_prediction_drift_against_an_earlier_window(cli, project: Path, bq: BigQuerySim) -> None:  # type: ignore[no-untyped-def]
    # the reference window (32 h .. 3 h ago) holds the old calls, answered 0.2; the recent ones 0.6
    result = drift(cli, project, "--since", "3h", "--reference-since", "32h", "--output", "json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 8 and doc["predictions"]["drifted"] == ["prediction"]
    earlier = bq.queries()[1]["queryParameters"]
    assert [p["name"] for p in earlier] == ["since", "until"]


def test_an_empty_window_is_nothing_to_judge(cli, project: Path, bq: BigQuerySim) -> None:  # type: ignore[no-untyped-def]
    result = drift(cli, project, "--since", "30m")
    assert result.exit_code == 1 and "no captured requests at bq://acme-ml.serving.fraud" in result.stderr
    assert "nothing to compare" in result.stderr


def test_a_caller_without_bigquery_rights_is_told_which(cli, project: Path, bq: BigQuerySim) -> None:  # type: ignore[no-untyped-def]
    bq.denied = True
    result = drift(cli, project, "--since", "3h")
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "BigQuery refused jobs.query: PERMISSION_DENIED Access Denied" in message
    assert "bigquery.jobs.create on project acme-ml" in message and "roles/bigquery.dataViewer" in message


def test_unavailable_and_throttled_calls_are_retried(cli, project: Path, bq: BigQuerySim, slept: list[float]) -> None:  # type: ignore[no-untyped-def]
    bq.fail(2, 503)
    bq.fail(1, 429)
    result = drift(cli, project, "--since", "3h", "--output", "json")
    assert result.exit_code == 8 and json.loads(result.stdout)["records"] == 200
    assert [path for _, path, _ in bq.calls[:4]] == ["/bigquery/v2/projects/acme-ml/queries"] * 4
    assert slept == [0.5, 1.0, 2.0]  # backing off, not hammering


def test_a_backend_that_stays_down_is_reported(cli, project: Path, bq: BigQuerySim, slept: list[float]) -> None:  # type: ignore[no-untyped-def]
    bq.fail(10, 503)
    result = drift(cli, project, "--since", "3h")
    message = " ".join(result.stderr.split())
    assert result.exit_code == 1 and "BigQuery refused jobs.query (after 6 tries): UNAVAILABLE" in message
    assert len(bq.calls) == 6 and slept == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_a_missing_table_and_a_bad_table_id(cli, project: Path, bq: BigQuerySim) -> None:  # type: ignore[no-untyped-def]
    missing = drift(cli, project, "--captures", "bq://acme-ml.serving.other")
    assert missing.exit_code == 1 and "Not found: Table acme-ml:serving.other" in " ".join(missing.stderr.split())
    bad = drift(cli, project, "--captures", "bq://acme-ml.serving.x`; DROP TABLE t")
    assert bad.exit_code == 2 and "expected bq://project.dataset.table" in bad.stderr
    assert len(bq.queries()) == 1  # the bad id never reached BigQuery


def test_rows_decode_from_bigquery_encoding() -> None:
    when = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert _float_seconds(when) == "1.796040000123456E9"
    assert _float_seconds(when.replace(microsecond=0)) == "1.79604E9"
    raw = {
        "f": [
            {"v": "projects/1/locations/europe-west4/endpoints/42"},
            {"v": "7"},
            {"v": "1.796040000123456E9"},
            {"v": "1001"},
            {"v": [{"v": json.dumps({"instances": [{"amount": 1.5}, {"amount": 2}]})}]},
            {"v": [{"v": json.dumps({"predictions": [0.1, 0.2]})}]},
        ]
    }
    (row,) = decode_rows({"fields": SCHEMA}, [raw])
    assert row["logging_time"] == when and row["request_id"] == Decimal(1001)
    record = vertex_record(row)
    assert record.time == when
    assert record.request == {"instances": [{"amount": 1.5}, {"amount": 2}]}
    assert record.response == {"predictions": [0.1, 0.2]}
    # each REPEATED element may also be one instance; a row logged without a response has none
    single = vertex_record({**row, "request_payload": ['{"amount": 3}', '{"amount": 4}'], "response_payload": []})
    assert single.request == {"instances": [{"amount": 3}, {"amount": 4}]} and single.response is None
    nulls = decode_rows({"fields": SCHEMA}, [{"f": [{"v": None}] * 4 + [{"v": []}, {"v": None}]}])
    assert nulls == [{**{f["name"]: None for f in SCHEMA[:4]}, "request_payload": [], "response_payload": []}]


def test_the_query_carries_values_as_parameters_only() -> None:
    since = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    body = log_query("acme-ml", "serving", "fraud", since, None)
    assert "2026" not in body["query"] and "@since" in body["query"] and "@until" not in body["query"]
    assert body["queryParameters"] == [
        {
            "name": "since",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2026-11-30 12:00:00.000000+00:00"},
        }
    ]
