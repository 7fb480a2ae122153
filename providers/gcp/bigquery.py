"""Reading Vertex AI's request-response log table (BigQuery) for `scalectl drift`, over BigQuery's REST API.

Vertex writes one row per sampled online prediction to the table named in the endpoint's
`predictRequestResponseLoggingConfig`: `endpoint` STRING, `deployed_model_id` STRING,
`logging_time` TIMESTAMP, `request_id` NUMERIC, `request_payload` and `response_payload`
(REPEATED STRING, the request and response JSON). This module runs a parameterised
`jobs.query` (the window's bounds are query parameters, never text in the SQL; the table id is
checked against the bq:// pattern `validate` enforces and quoted with backticks), follows
`jobs.getQueryResults` until the job is done and every page is read, and decodes BigQuery's
typed `f`/`v` row encoding. Plain REST over google-auth's session, like the Cloud Monitoring
calls in api.py, so `drift` needs no google-cloud-bigquery.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from scalectl.errors import ProviderError, UsageError
from scalectl.wait import backoff, pause

from .api import HttpFailure, credentials_for, google_error, unreachable_errors
from .checks import BIGQUERY_TABLE

ENV_BIGQUERY_ENDPOINT = "SCALECTL_GCP_BIGQUERY_ENDPOINT"
COLUMNS = ("logging_time", "request_payload", "response_payload")
PAGE_ROWS = 5000  # rows per page asked for; BigQuery also caps a page at about 10 MB
_RETRIES = 6
_QUERY_DEADLINE = 300.0  # seconds a query may run before drift gives up on it
_IAM_HINT = (
    "; reading the log table needs bigquery.jobs.create on project {project} (roles/bigquery.jobUser) and "
    "roles/bigquery.dataViewer on dataset {project}.{dataset}"
)


def bigquery_endpoint() -> str:
    """BigQuery's address: SCALECTL_GCP_BIGQUERY_ENDPOINT (CI, emulators) or the public API."""
    return (os.environ.get(ENV_BIGQUERY_ENDPOINT) or "https://bigquery.googleapis.com").rstrip("/")


def parse_table(uri: str) -> tuple[str, str, str]:
    """bq://project.dataset.table -> its three parts; anything else is a usage error (exit 2)."""
    if not BIGQUERY_TABLE.fullmatch(uri):  # fullmatch: `$` alone lets a trailing newline in
        raise UsageError(f"{uri}: expected bq://project.dataset.table (Vertex AI's request-response log table)")
    project, dataset, table = uri[len("bq://") :].split(".", 2)
    return project, dataset, table


def log_query(project: str, dataset: str, table: str, since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """The jobs.query body: the window's bounds as named TIMESTAMP parameters, oldest row first."""
    where, params = [], []
    for name, op, when in (("since", ">=", since), ("until", "<", until)):
        if when is not None:
            where.append(f"logging_time {op} @{name}")
            params.append(
                {"name": name, "parameterType": {"type": "TIMESTAMP"}, "parameterValue": {"value": _timestamp(when)}}
            )
    sql = f"SELECT {', '.join(COLUMNS)} FROM `{project}.{dataset}.{table}`"
    if where:
        sql += " WHERE " + " AND ".join(where)
    body: dict[str, Any] = {
        "query": sql + " ORDER BY logging_time",
        "useLegacySql": False,
        "maxResults": PAGE_ROWS,
        "timeoutMs": 10000,
    }
    if params:
        body["parameterMode"] = "NAMED"
        body["queryParameters"] = params
    return body


def _timestamp(when: datetime) -> str:
    """A BigQuery TIMESTAMP literal for a parameter value (UTC, microseconds)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00:00"


class LogTable:
    """One bq:// request-response log table and the REST session that reads it."""

    def __init__(self, uri: str, sleep: Callable[[float], None] | None = None) -> None:
        self.uri = uri
        self.project, self.dataset, self.table = parse_table(uri)
        self.base = bigquery_endpoint()
        self.sleep = sleep or pause
        self.calls: dict[str, int] = {}
        from google.auth.transport.requests import AuthorizedSession

        self.session = AuthorizedSession(credentials_for(self.base))

    def rows(self, since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
        """Every logged row with since <= logging_time < until, decoded (oldest first)."""
        body = log_query(self.project, self.dataset, self.table, since, until)
        page = self._send("jobs.query", "POST", f"/bigquery/v2/projects/{self.project}/queries", json=body)
        job = page.get("jobReference") or {}
        deadline = time.monotonic() + _QUERY_DEADLINE
        params: dict[str, Any] = {"maxResults": PAGE_ROWS, "timeoutMs": 10000}
        if job.get("location"):
            params["location"] = job["location"]
        out: list[dict[str, Any]] = []
        while True:
            if page.get("jobComplete", False):
                out += decode_rows(page.get("schema") or {}, page.get("rows") or [])
                if not page.get("pageToken"):
                    return out
                params["pageToken"] = page["pageToken"]
            elif time.monotonic() > deadline:
                raise ProviderError(
                    f"cannot read captures at {self.uri}: the BigQuery query (job {job.get('jobId')}) "
                    f"did not finish in {_QUERY_DEADLINE:.0f}s"
                )
            if not job.get("jobId"):
                raise ProviderError(f"cannot read captures at {self.uri}: BigQuery answered without a job reference")
            path = f"/bigquery/v2/projects/{job.get('projectId') or self.project}/queries/{job['jobId']}"
            page = self._send("jobs.getQueryResults", "GET", path, params=params)  # waits up to timeoutMs

    def _send(self, what: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One REST call; 5xx, 429 and rate-limit refusals are retried with backoff, others reported."""
        delay = backoff(initial=0.5, factor=2.0, maximum=8.0)
        for attempt in range(_RETRIES):
            self.calls[what] = self.calls.get(what, 0) + 1
            try:
                response = self.session.request(method, self.base + path, timeout=60, **kwargs)
            except unreachable_errors() as exc:
                if attempt < 2:
                    self.sleep(delay(attempt))
                    continue
                raise ProviderError(
                    f"cannot read captures at {self.uri}: cannot reach BigQuery at {self.base}: {exc}"
                ) from None
            if response.status_code == 200:
                doc: dict[str, Any] = response.json()
                return doc
            status, message = google_error(HttpFailure(response))
            reason = _reason(response)
            transient = response.status_code >= 500 or response.status_code == 429
            if (transient or reason in ("rateLimitExceeded", "backendError")) and attempt < _RETRIES - 1:
                self.sleep(delay(attempt))
                continue
            hint = ""
            if status in ("PERMISSION_DENIED", "UNAUTHENTICATED") or reason == "accessDenied":
                hint = _IAM_HINT.format(project=self.project, dataset=self.dataset)
            elif status == "NOT_FOUND":
                hint = "; has the endpoint logged a request yet? Vertex creates the table with the first one"
            tried = f" (after {attempt + 1} tries)" if transient else ""
            raise ProviderError(
                f"cannot read captures at {self.uri}: BigQuery refused {what}{tried}: "
                f"{status or response.status_code} {message.rstrip('.')}{hint}"
            )
        raise AssertionError("unreachable")


def _reason(response: Any) -> str:
    """BigQuery's own reason code (errors[0].reason: accessDenied, rateLimitExceeded, backendError, ...)."""
    try:
        errors = response.json()["error"].get("errors") or []
        return str(errors[0].get("reason", "")) if errors else ""
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return ""


# --- BigQuery's row encoding ----------------------------------------------------------------------------------


def decode_rows(schema: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`{"f": [{"v": ...}, ...]}` rows -> dicts by column name, each value typed by the schema."""
    fields = schema.get("fields") or []
    return [_record(fields, row) for row in rows]


def _record(fields: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    cells = row.get("f") or []
    if len(cells) != len(fields):
        raise ProviderError(f"BigQuery row has {len(cells)} cells, its schema {len(fields)} fields")
    return {field["name"]: _value(field, cell.get("v")) for field, cell in zip(fields, cells, strict=True)}


def _value(field: dict[str, Any], raw: Any) -> Any:
    """One cell: REPEATED is a list of {"v": ...}, RECORD is {"f": [...]}, scalars are strings by type."""
    if raw is None:
        return [] if field.get("mode") == "REPEATED" else None
    if field.get("mode") == "REPEATED":
        scalar = {**field, "mode": "NULLABLE"}
        return [_value(scalar, item.get("v") if isinstance(item, dict) else item) for item in raw]
    kind = str(field.get("type", "STRING")).upper()
    if kind in ("RECORD", "STRUCT"):
        return _record(field.get("fields") or [], raw)
    if kind == "TIMESTAMP":
        return _epoch(str(raw))
    if kind in ("INTEGER", "INT64"):
        return int(raw)
    if kind in ("FLOAT", "FLOAT64"):
        return float(raw)
    if kind in ("NUMERIC", "BIGNUMERIC"):
        return Decimal(str(raw))
    if kind in ("BOOLEAN", "BOOL"):
        return str(raw).lower() == "true"
    if kind == "BYTES":
        return base64.b64decode(raw)
    return raw  # STRING, JSON (its text), DATE, DATETIME, TIME: as sent


def _epoch(text: str) -> datetime:
    """A TIMESTAMP cell: seconds since the epoch as a float string ("1.7330112001234E9"), read exactly."""
    micros = int((Decimal(text) * 1_000_000).to_integral_value())
    return _EPOCH + timedelta(microseconds=micros)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
