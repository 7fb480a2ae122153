"""The capture format: writing sampled, size-rotated JSON lines, and reading them (and SageMaker's) back as features."""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalectl.capture import (
    CaptureWriter,
    load_table,
    prediction_features,
    read_records,
    request_features,
)
from scalectl.errors import UsageError

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def test_writer_samples_rotates_and_keeps_bodies_only(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, "web", percent=20, max_bytes=2000, rng=random.Random(3))
    body = json.dumps({"instances": [{"amount": 12.5, "night": 1}]}).encode()
    written = sum(writer.write(body, b'{"predictions": [0.1]}', 200, T0 + timedelta(seconds=i)) for i in range(1000))
    writer.close()
    assert 150 < written < 250  # 20% of 1000, within sampling noise
    files = sorted(tmp_path.glob("requests-*.jsonl"))
    assert len(files) > 3 and all(f.stat().st_size <= 2000 for f in files)
    line = json.loads(files[0].read_text().splitlines()[0])
    assert set(line) == {"v", "time", "target", "status", "request", "response"}
    records = read_records(tmp_path)
    assert len(records) == written
    assert request_features(records, ["amount", "night"])["amount"][:2] == [12.5, 12.5]


def test_writer_keeps_non_json_bodies_as_text(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, "web", percent=100)
    writer.write(b"1,2,3", b"\xff\xfe", 200, T0)
    writer.close()
    record = read_records(tmp_path)[0]
    assert record.request == {"text": "1,2,3"} and record.response == {"base64": base64.b64encode(b"\xff\xfe").decode()}


def _sagemaker_line(when: datetime, data: str, encoding: str, content_type: str, output: str) -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": output,
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": "e1", "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
    )


def test_reads_sagemaker_capture_json_csv_and_base64(tmp_path: Path) -> None:
    folder = tmp_path / "web" / "AllTraffic" / "2026" / "11" / "30" / "12"
    folder.mkdir(parents=True)
    lines = [
        _sagemaker_line(T0, "1.5,0,7", "CSV", "text/csv", '{"predictions": [0.2]}'),
        _sagemaker_line(T0, base64.b64encode(b"2.5,1,9").decode(), "BASE64", "text/csv", "[0.4]"),
        _sagemaker_line(T0, json.dumps({"instances": [[3.5, 0, 11]]}), "JSON", "application/json", "[0.6]"),
    ]
    (folder / "capture.jsonl").write_text("\n".join(lines) + "\n")
    records = read_records(tmp_path)
    features = request_features(records, ["amount", "night", "distance"])
    assert features == {"amount": [1.5, 2.5, 3.5], "night": [0, 1, 0], "distance": [7, 9, 11]}
    assert prediction_features(records) == {"prediction": [0.2, 0.4, 0.6]}


def test_window_and_a_bad_line_named_by_file_and_line(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, "web", percent=100)
    for hours in (30, 2, 1):
        writer.write(b'{"a": 1}', b'{"predictions": [{"p": 0.1, "label": "ok"}]}', 200, T0 - timedelta(hours=hours))
    writer.close()
    assert len(read_records(tmp_path, since=T0 - timedelta(hours=24))) == 2
    assert len(read_records(tmp_path, until=T0 - timedelta(hours=24))) == 1
    assert prediction_features(read_records(tmp_path))["label"] == ["ok"] * 3
    bad = tmp_path / "requests-bad.jsonl"
    bad.write_text('{"time": "2026-11-30T00:00:00Z"}\nnot json\n')
    with pytest.raises(UsageError, match=r"requests-bad\.jsonl:2: not a capture record"):
        read_records(tmp_path)


def test_baselines_csv_jsonl_parquet_agree(tmp_path: Path) -> None:
    rows = [{"amount": 1.5, "night": 0, "kind": "card"}, {"amount": 2.0, "night": 1, "kind": "wire"}]
    (tmp_path / "b.csv").write_text("amount,night,kind\n1.5,0,card\n2.0,1,wire\n")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "b.parquet")
    tables = [load_table(tmp_path / f"b.{ext}") for ext in ("csv", "jsonl", "parquet")]
    assert tables[0] == tables[1] == tables[2] == {"amount": [1.5, 2.0], "night": [0, 1], "kind": ["card", "wire"]}


def test_bad_baselines_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "short.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(UsageError, match=r"short\.csv:3: 1 cells, the header has 2"):
        load_table(tmp_path / "short.csv")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(UsageError, match=r"unsupported file type \.xlsx"):
        load_table(tmp_path / "x.xlsx")
    (tmp_path / "bad.parquet").write_text("nope")
    with pytest.raises(UsageError, match="not a readable Parquet file"):
        load_table(tmp_path / "bad.parquet")
    with pytest.raises(UsageError, match="no such file"):
        load_table(tmp_path / "missing.csv")
