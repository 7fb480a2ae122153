"""Captured requests: the JSON-lines format scalectl writes for Docker and Kubernetes, and reading it back.

One line per sampled call, never headers or the API key (the writer is given bodies only):

    {"v": 1, "time": "2026-11-30T12:00:00.123Z", "target": "web", "status": 200,
     "request": {"instances": [...]}, "response": {"predictions": [...]}}

Files are `requests-<UTC time>.jsonl` in the capture directory; a new one starts when the
current one reaches the size limit. The reader also takes SageMaker's data-capture lines
(`captureData.endpointInput/endpointOutput`, JSON, CSV or base64), local or under s3://, and Azure ML
data collector payload logs (CloudEvents lines), local or under azblob://account/container/prefix, and
Vertex AI's request-response log table, bq://project.dataset.table (queried over BigQuery's REST API).
Baselines (training data) are read from CSV, JSON lines or Parquet (pyarrow, the `drift` extra).
Standard library only, apart from pyarrow for Parquet.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import random
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scalectl.errors import ProviderError, UsageError

FORMAT_VERSION = 1
FILE_PREFIX = "requests-"


@dataclass(frozen=True)
class Record:
    """One captured call: when, what was asked, what was answered (parsed JSON where it was JSON)."""

    time: datetime
    request: Any
    response: Any


def utc_stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> datetime:
    """ISO 8601 with `Z` or an offset; a naive time is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# --- writing (the Docker/Kubernetes capture sidecar uses this) -------------------------------------------------


class CaptureWriter:
    """Appends sampled calls to JSON-lines files in `directory`, starting a new file past `max_bytes`.

    Takes bodies only: whatever calls it cannot pass a header or a key by mistake.
    """

    def __init__(
        self, directory: Path, target: str, percent: float, max_bytes: int = 64 << 20, rng: random.Random | None = None
    ) -> None:
        self.directory = directory
        self.target = target
        self.percent = percent
        self.max_bytes = max_bytes
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._file: io.TextIOWrapper | None = None
        self._size = 0
        directory.mkdir(parents=True, exist_ok=True)

    def sampled(self) -> bool:
        return self.percent >= 100 or self._rng.random() * 100 < self.percent

    def write(self, request_body: bytes, response_body: bytes, status: int, when: datetime | None = None) -> bool:
        """Record one call if it falls in the sample; True when written."""
        if not self.sampled():
            return False
        when = when or datetime.now(timezone.utc)
        line = json.dumps(
            {
                "v": FORMAT_VERSION,
                "time": utc_stamp(when),
                "target": self.target,
                "status": status,
                "request": _body(request_body),
                "response": _body(response_body),
            },
            separators=(",", ":"),
        )
        data = line + "\n"
        with self._lock:
            if self._file is None or self._size + len(data) > self.max_bytes:
                self._rotate(when)
            assert self._file is not None
            self._file.write(data)
            self._file.flush()
            self._size += len(data.encode())
        return True

    def _rotate(self, when: datetime) -> None:
        if self._file is not None:
            self._file.close()
        stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{FILE_PREFIX}{stamp}.jsonl"
        n = 1
        while path.exists():
            path = self.directory / f"{FILE_PREFIX}{stamp}-{n}.jsonl"
            n += 1
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open across writes
        self._size = 0

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _body(raw: bytes) -> Any:
    """Parsed JSON when the body is JSON, else its text (binary as base64)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        try:
            return {"text": raw.decode()}
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode()}


# --- reading ---------------------------------------------------------------------------------------------------


def capture_files(path: Path) -> list[Path]:
    """A file, or every `*.jsonl` under a directory (SageMaker writes nested yyyy/mm/dd/hh folders)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"no captured requests at {path}: not a file or directory")
    return sorted(p for p in path.rglob("*.jsonl") if p.is_file())


def is_capture(path: Path) -> bool:
    """A capture directory, or a JSON-lines file whose first record is a capture (not a table row)."""
    if path.is_dir():
        return True
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    with open(path, encoding="utf-8") as fh:
        first = next((line for line in fh if line.strip()), "")
    try:
        doc = json.loads(first)
    except ValueError:
        return False
    return isinstance(doc, dict) and (
        "captureData" in doc or {"time", "request"} <= set(doc) or str(doc.get("type", "")).startswith("azureml.")
    )


def read_records(
    source: Path | str, since: datetime | None = None, until: datetime | None = None, region: str | None = None
) -> list[Record]:
    """Captured calls with since <= time < until from a local file or directory, an s3:// or azblob:// prefix,
    or a bq:// request-response log table (the window is the query's filter there).

    A malformed line is a UsageError naming the file (or object) and line.
    """
    out: list[Record] = []
    azure = AzureEvents()
    if isinstance(source, str) and source.startswith("s3://"):
        for name, text in _s3_objects(source, since, region):
            _parse(name, text.splitlines(), since, until, out, azure)
    elif isinstance(source, str) and source.startswith("bq://"):
        from scalectl.providers.gcp.bigquery import LogTable

        return [vertex_record(row) for row in LogTable(source).rows(since, until)]
    elif isinstance(source, str) and source.startswith("azblob://"):
        for name, text in _blob_objects(source, since):
            _parse(name, text.splitlines(), since, until, out, azure)
    else:
        for file in capture_files(Path(source)):
            with open(file, encoding="utf-8") as fh:
                _parse(str(file), fh, since, until, out, azure)
    out += azure.records(since, until)
    return out


def _parse(
    name: str,
    lines: Iterable[str],
    since: datetime | None,
    until: datetime | None,
    out: list[Record],
    azure: AzureEvents,
) -> None:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            if azure.take(doc):
                continue
            record = _record(doc)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"{name}:{number}: not a capture record ({exc})") from None
        if (since is None or record.time >= since) and (until is None or record.time < until):
            out.append(record)


class AzureEvents:
    """Azure ML data collector payload logging: request and response are separate CloudEvents lines
    (`type` azureml.inference.request / .response, in the `request/` and `response/` collections),
    joined here by `correlationid`. A payload over 4 MB is stored in a blob of its own
    (`datainblob`): counted in `skipped`, not fetched.
    """

    def __init__(self) -> None:
        self.requests: dict[str, tuple[datetime, Any]] = {}
        self.responses: dict[str, Any] = {}
        self.skipped = 0

    def take(self, doc: Any) -> bool:
        """True when `doc` is a data collector event (kept for joining), False for any other record."""
        if not isinstance(doc, dict):
            return False
        kind = doc.get("type", "")
        if doc.get("specversion") is None or kind not in ("azureml.inference.request", "azureml.inference.response"):
            return False
        if str(doc.get("datainblob", "")).lower() == "true":
            self.skipped += 1
            return True
        key = str(doc.get("correlationid") or doc.get("xrequestid") or doc["id"])
        if kind == "azureml.inference.request":
            self.requests[key] = (parse_time(doc["time"]), doc.get("data"))
        else:
            self.responses[key] = doc.get("data")
        return True

    def records(self, since: datetime | None, until: datetime | None) -> list[Record]:
        return [
            Record(when, body, self.responses.get(key))
            for key, (when, body) in self.requests.items()
            if (since is None or when >= since) and (until is None or when < until)
        ]


def _blob_objects(uri: str, since: datetime | None) -> Iterator[tuple[str, str]]:
    """Data collector files under azblob://account/container/prefix, skipping those last written before `since`.

    Credentials as for azblob:// lock stores: AZURE_STORAGE_CONNECTION_STRING when set (Azurite, an
    account key), else the standard Azure credential chain against https://<account>.blob.core.windows.net.
    """
    import os

    try:
        from azure.core.exceptions import AzureError, HttpResponseError
        from azure.storage.blob import BlobServiceClient
    except ImportError:
        raise UsageError("reading azblob:// captures needs azure-storage-blob: pip install 'scalectl[azure]'") from None
    account, _, rest = uri[len("azblob://") :].partition("/")
    container, _, prefix = rest.partition("/")
    if not account or not container:
        raise UsageError(f"{uri}: expected azblob://account/container[/path]")
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection:
        service = BlobServiceClient.from_connection_string(connection)
    else:
        from scalectl.providers.azure.api import default_credential

        service = BlobServiceClient(f"https://{account}.blob.core.windows.net", credential=default_credential())
    client = service.get_container_client(container)
    try:
        for blob in client.list_blobs(name_starts_with=prefix):
            if not blob.name.endswith(".jsonl") or (since is not None and blob.last_modified < since):
                continue
            text = client.download_blob(blob.name).readall().decode("utf-8")
            yield f"azblob://{account}/{container}/{blob.name}", text
    except HttpResponseError as exc:
        raise ProviderError(f"cannot read captures at {uri}: {exc.reason or exc.status_code}") from None
    except AzureError as exc:
        raise ProviderError(f"cannot read captures at {uri}: {str(exc).splitlines()[0]}") from None


def _s3_objects(uri: str, since: datetime | None, region: str | None) -> Iterator[tuple[str, str]]:
    """SageMaker capture objects under an s3:// prefix, skipping those last written before `since`.

    An object is written after the calls it holds, so one older than `since` holds none of the window.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = uri[len("s3://") :].partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""  # the folder, not its namesakes (fraud-old/)
    s3 = boto3.client("s3", region_name=region)
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith(".jsonl") or (since is not None and obj["LastModified"] < since):
                    continue
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                yield f"s3://{bucket}/{obj['Key']}", body.decode("utf-8")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ProviderError(f"cannot read captures at {uri}: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise ProviderError(f"cannot read captures at {uri}: {exc}") from None


def _record(doc: dict[str, Any]) -> Record:
    if "captureData" in doc:  # SageMaker data capture
        data = doc["captureData"]
        when = parse_time(doc["eventMetadata"]["inferenceTime"])
        return Record(
            when, _sagemaker_payload(data.get("endpointInput")), _sagemaker_payload(data.get("endpointOutput"))
        )
    return Record(parse_time(doc["time"]), doc.get("request"), doc.get("response"))


def vertex_record(row: dict[str, Any]) -> Record:
    """A row of Vertex AI's request-response log table (decoded from BigQuery) as one captured call.

    `request_payload` / `response_payload` are REPEATED STRING: each element is JSON, either the whole
    body (`{"instances": [...]}`, `{"predictions": [...]}`) or one instance / prediction; all of a row's
    instances become the call's request, its predictions the response, so every instance is a feature row.
    """
    instances = [item for text in row.get("request_payload") or [] for item in unwrap(_json(text), REQUEST_KEYS)]
    outputs = [item for text in row.get("response_payload") or [] for item in unwrap(_json(text), RESPONSE_KEYS)]
    when = row["logging_time"]
    if not isinstance(when, datetime):
        raise ProviderError(f"a request-response log row has no logging_time ({when!r})")
    return Record(when, {"instances": instances}, {"predictions": outputs} if row.get("response_payload") else None)


def _json(text: Any) -> Any:
    """A payload element: parsed JSON, or its text when it is not JSON."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def _sagemaker_payload(part: dict[str, Any] | None) -> Any:
    if not part:
        return None
    raw = part.get("data", "")
    encoding = part.get("encoding", "JSON")
    text = base64.b64decode(raw).decode() if encoding == "BASE64" else raw
    content_type = part.get("observedContentType", "")
    if encoding == "CSV" or "csv" in content_type:
        return [[_cell(c) for c in row] for row in csv.reader(io.StringIO(text)) if row]
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def _cell(text: str) -> Any:
    """A CSV cell as a number when it reads as one, else the string."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text if text != "" else None


# --- features --------------------------------------------------------------------------------------------------


REQUEST_KEYS = ("instances", "inputs", "data", "dataframe_records")
RESPONSE_KEYS = ("predictions", "outputs", "output", "prediction", "result")


def unwrap(body: Any, keys: tuple[str, ...]) -> list[Any]:
    """The rows a body carries: the list under the first of `keys` it has, a bare list, or the body as one row.

    Requests: {"instances": [...]}, {"inputs": ...}, {"data": ...}; responses: {"predictions": [...]}, ...
    """
    if isinstance(body, dict):
        for key in keys:
            if key in body:
                inner = body[key]
                return inner if isinstance(inner, list) else [inner]
        return [body]
    if isinstance(body, list):
        return body
    return [] if body is None else [body]


def columns_of(rows: Iterable[Any], columns: list[str], name: str = "") -> dict[str, list[Any]]:
    """Rows as columns: objects by key; lists by position onto `columns` (the baseline's order); a scalar as `name`."""
    out: dict[str, list[Any]] = {c: [] for c in columns}
    for row in rows:
        if isinstance(row, dict):
            for key, value in row.items():
                out.setdefault(str(key), []).append(_scalar(value))
        elif isinstance(row, list):
            if columns:
                for key, value in zip(columns, row, strict=False):
                    out[key].append(_scalar(value))
            else:
                for i, value in enumerate(row):
                    out.setdefault(f"{name}[{i}]", []).append(_scalar(value))
        elif row is not None:
            out.setdefault(name or "value", []).append(_scalar(row))
    return out


def _scalar(value: Any) -> Any:
    """Nested values are compared as their JSON text (a category), never silently dropped."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def request_features(records: Iterable[Record], columns: list[str]) -> dict[str, list[Any]]:
    return columns_of((row for r in records for row in unwrap(r.request, REQUEST_KEYS)), columns)


def prediction_features(records: Iterable[Record]) -> dict[str, list[Any]]:
    return columns_of((row for r in records for row in unwrap(r.response, RESPONSE_KEYS)), [], "prediction")


# --- baselines -------------------------------------------------------------------------------------------------


def load_table(path: Path, what: str = "--baseline") -> dict[str, list[Any]]:
    """A CSV, JSON-lines or Parquet file as columns in file order (CSV cells that read as numbers are numbers)."""
    if not path.is_file():
        raise UsageError(f"{what} {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise UsageError(f"{what} {path}: empty file (expected a header row)")
            cols: dict[str, list[Any]] = {h: [] for h in header}
            for number, row in enumerate(reader, 2):
                if len(row) != len(header):
                    raise UsageError(f"{what} {path}:{number}: {len(row)} cells, the header has {len(header)}")
                for h, cell in zip(header, row, strict=True):
                    cols[h].append(_cell(cell))
            return cols
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except ValueError as exc:
                        raise UsageError(f"{what} {path}:{number}: not JSON ({exc})") from None
                    if not isinstance(row, dict):
                        raise UsageError(f"{what} {path}:{number}: expected a JSON object per line")
                    rows.append(row)
        header = list(dict.fromkeys(k for row in rows for k in row))
        return {h: [_scalar(row.get(h)) for row in rows] for h in header}
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{what} {path}: not a readable Parquet file ({exc})") from None
        return {name: [_scalar(v) for v in table.column(name).to_pylist()] for name in table.column_names}
    raise UsageError(f"{what} {path}: unsupported file type {suffix or '(none)'}; use .csv, .jsonl or .parquet")
