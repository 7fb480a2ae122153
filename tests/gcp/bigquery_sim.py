"""A local BigQuery (v2 REST) for `drift` tests: jobs.query and jobs.getQueryResults over HTTP on 127.0.0.1.

It holds request-response log tables in the shape Vertex AI writes (endpoint, deployed_model_id,
logging_time TIMESTAMP, request_id NUMERIC, request_payload / response_payload REPEATED STRING) and
answers like BigQuery where it matters to a reader:

- only GoogleSQL (`useLegacySql: false`); the query must be `SELECT cols FROM \\`p.d.t\\` [WHERE
  logging_time >= @a [AND logging_time < @b]] [ORDER BY logging_time]`, every @name a supplied
  TIMESTAMP parameter (parameterMode NAMED), and the WHERE is evaluated on the rows;
- a job takes `job_seconds` to finish: jobs.query answers `jobComplete: false` until then, and
  getQueryResults waits up to its `timeoutMs` (BigQuery's long poll);
- results come `page_rows` at a time with an opaque `pageToken`, `totalRows` as a string, rows in the
  typed `f`/`v` encoding (TIMESTAMP as float seconds in scientific notation, REPEATED as lists of {"v"});
- `fail(n, code)` answers the next n calls with a 5xx/429; `deny()` refuses the query as BigQuery
  does for a caller without bigquery.jobs.create; an unknown table is 404 notFound;
- errors use Google's JSON shape with BigQuery's `errors[].reason`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SCHEMA = [
    {"name": "endpoint", "type": "STRING", "mode": "NULLABLE"},
    {"name": "deployed_model_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "logging_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "request_id", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "request_payload", "type": "STRING", "mode": "REPEATED"},
    {"name": "response_payload", "type": "STRING", "mode": "REPEATED"},
]
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}
_STATUS.update({500: "INTERNAL", 503: "UNAVAILABLE"})
_REASON = {400: "invalidQuery", 403: "accessDenied", 404: "notFound", 429: "rateLimitExceeded"}
_REASON.update({500: "backendError", 503: "backendError"})
_QUERY = re.compile(
    r"^SELECT (?P<cols>[a-z_]+(?:, [a-z_]+)*) FROM `(?P<table>[a-z0-9-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_-]+)`"
    r"(?: WHERE (?P<where>.+?))?(?: ORDER BY logging_time)?$"
)
_CONDITION = re.compile(r"^logging_time (?P<op>>=|<) @(?P<param>[A-Za-z_][A-Za-z0-9_]*)$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2}| UTC)?$")


class BqError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        reason = _REASON.get(self.code, "internalError")
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": reason}],
                "status": _STATUS.get(self.code, "UNKNOWN"),
            }
        }


@dataclass
class Job:
    project: str
    job_id: str
    rows: list[dict[str, Any]]
    columns: list[str]
    done_at: float


@dataclass
class BigQuerySim:
    page_rows: int = 100
    job_seconds: float = 0.0
    location: str = "europe-west4"
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "p.d.t" -> rows (python values)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (method, path, body or query)
    denied: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._failures: list[int] = []
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ control

    def start(self) -> str:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                code, doc = sim.handle(self.command, self.path, raw)
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fail(self, n: int, code: int = 503) -> None:
        """The next n calls answer `code` (503 backendError, 429 rateLimitExceeded, ...)."""
        self._failures += [code] * n

    def log(
        self,
        table: str,
        when: datetime,
        request: dict[str, Any],
        response: dict[str, Any] | None = None,
        endpoint: str = "projects/1/locations/europe-west4/endpoints/42",
    ) -> None:
        """Append a row as Vertex writes it: the request and response bodies as JSON text."""
        rows = self.tables.setdefault(table, [])
        rows.append(
            {
                "endpoint": endpoint,
                "deployed_model_id": "7",
                "logging_time": when.astimezone(timezone.utc),
                "request_id": Decimal(len(rows) + 1000),
                "request_payload": [json.dumps(request)],
                "response_payload": [json.dumps(response)] if response is not None else [],
            }
        )

    def queries(self) -> list[dict[str, Any]]:
        return [body for method, path, body in self.calls if method == "POST" and path.endswith("/queries")]

    # ------------------------------------------------------------ HTTP

    def handle(self, method: str, url: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return 400, BqError(400, "Invalid JSON payload received.").body()
        with self._lock:
            self.calls.append((method, parts.path, body if method == "POST" else query))
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure, BqError(
                failure, "Error encountered during execution. Retrying may solve the problem."
            ).body()
        try:
            m = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/queries", parts.path)
            if method == "POST" and m:
                return 200, self._query(m.group(1), body)
            m = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/queries/([^/]+)", parts.path)
            if method == "GET" and m:
                return 200, self._results(m.group(1), m.group(2), query)
            raise BqError(404, f"Not found: {method} {parts.path}")
        except BqError as exc:
            return exc.code, exc.body()

    def _query(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.denied:
            raise BqError(
                403,
                f"Access Denied: Project {project}: User does not have bigquery.jobs.create permission "
                f"in project {project}.",
            )
        if body.get("useLegacySql", True):
            raise BqError(400, "scalectl's simulator speaks GoogleSQL only: set useLegacySql to false")
        m = _QUERY.match(str(body.get("query", "")))
        if not m:
            raise BqError(400, f"Syntax error: unexpected query {body.get('query')!r}")
        table = m.group("table")
        if table not in self.tables:
            p, d, t = table.split(".")
            raise BqError(404, f"Not found: Table {p}:{d}.{t} was not found in location {self.location}")
        columns = m.group("cols").split(", ")
        known = {f["name"] for f in SCHEMA}
        for col in columns:
            if col not in known:
                raise BqError(400, f"Unrecognized name: {col} at [1:8]")
        params = self._parameters(body)
        conditions: list[tuple[str, datetime]] = []
        for clause in (m.group("where") or "").split(" AND ") if m.group("where") else []:
            cond = _CONDITION.match(clause)
            if not cond:
                raise BqError(400, f"Syntax error: unsupported condition {clause!r}")
            if cond.group("param") not in params:
                raise BqError(400, f"Query parameter '{cond.group('param')}' not found at [1:1]")
            conditions.append((cond.group("op"), params[cond.group("param")]))
        rows = [
            row
            for row in self.tables[table]
            if all(row["logging_time"] >= v if op == ">=" else row["logging_time"] < v for op, v in conditions)
        ]
        rows.sort(key=lambda r: r["logging_time"])
        job = Job(project, f"job_sim{next(self._ids)}", rows, columns, time.monotonic() + self.job_seconds)
        with self._lock:
            self._jobs[job.job_id] = job
        page = self._page(job, 0, int(body.get("maxResults") or 10**9))
        page["kind"] = "bigquery#queryResponse"
        return page

    @staticmethod
    def _parameters(body: dict[str, Any]) -> dict[str, datetime]:
        out: dict[str, datetime] = {}
        params = body.get("queryParameters") or []
        if params and body.get("parameterMode") != "NAMED":
            raise BqError(400, "Named query parameters need parameterMode NAMED")
        for param in params:
            kind = param.get("parameterType", {}).get("type")
            value = str(param.get("parameterValue", {}).get("value", ""))
            if kind != "TIMESTAMP" or not _TIMESTAMP.match(value):
                raise BqError(400, f"Invalid TIMESTAMP parameter {param.get('name')}: {value!r}")
            parsed = datetime.fromisoformat(value.replace(" UTC", "+00:00").replace("Z", "+00:00"))
            out[param["name"]] = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        return out

    def _results(self, project: str, job_id: str, query: dict[str, str]) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None or job.project != project:
            raise BqError(404, f"Not found: Job {project}:{self.location}.{job_id}")
        if query.get("location") != self.location:
            raise BqError(404, f"Not found: Job {project}:{job_id} (location {query.get('location')!r})")
        wait = min(float(query.get("timeoutMs", 10000)) / 1000, job.done_at - time.monotonic())
        if wait > 0:
            time.sleep(wait)
        token = query.get("pageToken")
        start = int(token.removeprefix("tok-")) if token else 0
        page = self._page(job, start, int(query.get("maxResults") or 10**9))
        page["kind"] = "bigquery#getQueryResultsResponse"
        return page

    def _page(self, job: Job, start: int, max_results: int) -> dict[str, Any]:
        ref = {"projectId": job.project, "jobId": job.job_id, "location": self.location}
        if time.monotonic() < job.done_at:
            return {"jobReference": ref, "jobComplete": False}
        size = min(self.page_rows, max_results)
        chunk = job.rows[start : start + size]
        fields = [f for name in job.columns for f in SCHEMA if f["name"] == name]
        out: dict[str, Any] = {
            "jobReference": ref,
            "jobComplete": True,
            "schema": {"fields": fields},
            "totalRows": str(len(job.rows)),
            "totalBytesProcessed": str(sum(len(json.dumps(r, default=str)) for r in job.rows)),
            "cacheHit": False,
        }
        if chunk:
            out["rows"] = [{"f": [{"v": _encode(f, row[f["name"]])} for f in fields]} for row in chunk]
        if start + size < len(job.rows):
            out["pageToken"] = f"tok-{start + size}"
        return out


def _encode(field: dict[str, Any], value: Any) -> Any:
    """BigQuery's JSON row encoding: every scalar a string, REPEATED a list of {"v": ...}."""
    if field.get("mode") == "REPEATED":
        return [{"v": _encode({**field, "mode": "NULLABLE"}, v)} for v in value]
    if value is None:
        return None
    if field["type"] == "TIMESTAMP":
        return _float_seconds(value)
    return str(value)


def _float_seconds(when: datetime) -> str:
    """A TIMESTAMP as BigQuery sends it: epoch seconds in Java's double notation, e.g. "1.7330112001234E9"."""
    micros = (when - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    seconds = Decimal(micros) / Decimal(1_000_000)
    digits = format(seconds, "f").replace(".", "")
    exponent = len(str(int(seconds))) - 1
    mantissa = digits[0] + "." + (digits[1:].rstrip("0") or "0")
    return f"{mantissa}E{exponent}"
