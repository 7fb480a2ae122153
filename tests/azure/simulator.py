# ruff: noqa: E501  (Azure error messages are quoted whole)
"""A small Azure Resource Manager simulator for the calls scalectl makes.

It speaks ARM's wire protocol over real HTTP on 127.0.0.1, so azure-ai-ml's ARM client and
azure-mgmt-monitor run unmodified against it:

- managed online endpoints and deployments are long-running operations: PUT answers
  201/200 with an `Azure-AsyncOperation` header and `provisioningState: Creating|Updating`,
  which turns into `Succeeded` (or `Failed`) after a delay; DELETE answers 202 with `Location`;
- deployments whose image is listed in `failing_images` fail their readiness probe;
- the endpoint traffic rules Azure enforces: values sum to 100 (or 0), traffic and mirror
  traffic only to existing, succeeded deployments, mirror at most 50% and only to a
  deployment without live traffic, no deleting a deployment that takes traffic, one
  operation on an endpoint at a time;
- managed deployments accept only `scaleSettings.scaleType: Default`;
- throttling on demand (429 with Retry-After), and Azure's `{"error": {...}}` shape;
- environment versions and Azure Monitor autoscale settings (synchronous).
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.served import Load

WS = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)"
AS = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Insights/autoscalesettings"
DEPLOYMENT_METRICS = {
    "CpuUtilizationPercentage",
    "CpuMemoryUtilizationPercentage",
    "GpuUtilizationPercentage",
    "GpuMemoryUtilization",
    "DiskUtilization",
    "DeploymentCapacity",
}
ENDPOINT_METRICS = {"RequestsPerMinute", "RequestLatency", "ConnectionsActive", "NetworkBytes"}
METRICS = re.compile(r"(?P<rid>/subscriptions/.+)/providers/Microsoft\.Insights/metrics", re.IGNORECASE)


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


@dataclass
class Operation:
    """One long-running operation: the resource's state flips to `final` at `done_at`."""

    id: str
    started: float
    done_at: float
    final: str  # Succeeded | Failed | Gone
    error: dict[str, str] | None = None

    def status(self, now: float) -> str:
        if now < self.done_at:
            return "InProgress"
        return "Failed" if self.final == "Failed" else "Succeeded"


@dataclass
class Resource:
    body: dict[str, Any]
    op: Operation | None = None
    busy_state: str = "Succeeded"  # Creating | Updating | Deleting while `op` runs

    def state(self, now: float) -> str:
        if self.op is None:
            return "Succeeded"
        if now < self.op.done_at:
            return self.busy_state
        return "Failed" if self.op.final == "Failed" else "Succeeded"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0


@dataclass
class ArmSimulator:
    """State plus knobs; `start()` serves it on 127.0.0.1."""

    location: str = "eastus"
    deploy_seconds: float = 0.3  # how long a deployment takes to provision
    endpoint_seconds: float = 0.1  # endpoint create/traffic update
    delete_seconds: float = 0.15
    failing_images: set[str] = field(default_factory=set)
    crash_after_traffic: set[str] = field(default_factory=set)  # images whose probe fails once they take traffic
    quota: dict[str, int] = field(default_factory=dict)  # instance type -> instances the subscription may run
    calls: list[Call] = field(default_factory=list)
    endpoints: dict[str, Resource] = field(default_factory=dict)
    deployments: dict[tuple[str, str], Resource] = field(default_factory=dict)
    environments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    autoscale: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    gone: dict[tuple[str, ...], float] = field(default_factory=dict)  # deleting resources -> when they vanish
    scoring_base: str | None = None  # set to `url` to serve scoring here: scoringUri becomes {base}/score/{name}
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # endpoint -> (primary, secondary) key
    # Azure Monitor metrics (issue 15): image substring -> injected load, requests really scored, creation times
    serving: dict[str, Load] = field(default_factory=dict)
    served: list[tuple[float, str, str, int, float]] = field(default_factory=list)  # wall, endpoint, dep, status, ms
    created_wall: dict[tuple[str, str], float] = field(default_factory=dict)
    _throttle: int = 0
    _hangs: list[tuple[str, str, float]] = field(default_factory=list)  # (method, path suffix, seconds)
    _failing: list[list[Any]] = field(default_factory=list)  # [method, path suffix, HTTP status, requests let through]
    hung: int = 0  # requests held without an answer
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle

    def start(self) -> str:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seconds = sim._hung(self.command, self.path)
                if seconds is not None:  # no answer: the client's read timeout decides
                    sim._stopping.wait(seconds)
                    self.close_connection = True
                    return
                if self.path.startswith("/score/"):  # the endpoint's scoring URI (data plane)
                    status, body, headers = sim.score(self.path.split("/")[2], self.headers.get("Authorization"), raw)
                else:
                    status, body, headers = sim.handle(
                        self.command, self.path, raw, self.headers.get("Authorization"), self
                    )
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-ms-request-id", str(uuid.uuid4()))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def throttle(self, n: int) -> None:
        """The next `n` requests get 429 Too Many Requests with Retry-After."""
        self._throttle = n

    def fail(self, method: str, suffix: str, n: int = 1, status: int = 503, skip: int = 0) -> None:
        """After `skip` more of them, the next `n` `method` requests to paths ending in `suffix` get
        `status` (503: retried by azure-core; 500 is not)."""
        with self._lock:
            self._failing += [[method, suffix, status, skip] for _ in range(n)]

    def hang(self, method: str, suffix: str, n: int = 1, seconds: float = 30.0) -> None:
        """The next `n` `method` requests to paths ending in `suffix` get no answer for `seconds`."""
        with self._lock:
            self._hangs += [(method, suffix, seconds)] * n

    def _hung(self, method: str, raw_path: str) -> float | None:
        path = urlsplit(raw_path).path
        with self._lock:
            for i, (m, suffix, seconds) in enumerate(self._hangs):
                if m == method and path.endswith(suffix):
                    del self._hangs[i]
                    self.hung += 1
                    return seconds
        return None

    # -- measurements

    def provisioning_seconds(self, since: float = 0.0) -> float:
        """Length of the union of all long-running operations' intervals after `since`."""
        spans = sorted((max(o.started, since), o.done_at) for o in self.operations.values() if o.done_at > since)
        total, end = 0.0, 0.0
        for start, stop in spans:
            if stop <= end:
                continue
            total += stop - max(start, end)
            end = stop
        return total

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("PUT", "POST", "PATCH", "DELETE") and "getLogs" not in c.path]

    def sent(self, method: str, suffix: str) -> list[Any]:
        """Bodies of requests `method` to paths ending in `suffix`, oldest first."""
        return [c.body for c in self.calls if c.method == method and c.path.endswith(suffix)]

    def wait_deleted(self, endpoint: str, deployment: str, timeout: float = 5.0) -> bool:
        """True once a deleting deployment has disappeared."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                self._reap(time.monotonic())
                if (endpoint, deployment) not in self.deployments:
                    return True
            time.sleep(0.05)
        return False

    def traffic(self, endpoint: str) -> dict[str, int]:
        return dict(self.endpoints[endpoint].body["properties"]["traffic"])

    # -- dispatch

    def handle(
        self, method: str, raw_path: str, raw: bytes, auth: str | None, handler: Any
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        body = json.loads(raw) if raw else None
        call = Call(method, path, query, body)
        with self._lock:
            self.calls.append(call)
            try:
                matching = [f for f in self._failing if f[0] == method and path.endswith(f[1])]
                if matching and matching[0][3] > 0:
                    for f in matching:
                        f[3] -= 1
                elif matching:
                    self._failing.remove(matching[0])
                    code = "ServiceUnavailable" if matching[0][2] == 503 else "InternalServerError"
                    raise ArmError(matching[0][2], code, "The service is temporarily unable to process the request.")
                if self._throttle > 0:
                    self._throttle -= 1
                    raise ArmError(
                        429,
                        "TooManyRequests",
                        "The request is being throttled as the limit has been reached for operation type - Write.",
                        {"Retry-After": "1"},
                    )
                if not auth or not auth.startswith("Bearer "):
                    raise ArmError(
                        401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
                    )
                if "api-version" not in query:
                    raise ArmError(
                        400,
                        "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all requests.",
                    )
                host = f"http://{handler.headers.get('Host')}"
                if METRICS.fullmatch(path) and method == "GET":
                    status, out, headers = self._metrics(path, query)
                else:
                    status, out, headers = self.route(method, path, body, host)
            except ArmError as exc:
                status, out, headers = exc.status, _error(exc.code, exc.message), exc.headers
            call.status = status
            return status, out, headers

    def route(self, method: str, path: str, body: Any, host: str) -> tuple[int, Any, dict[str, str]]:
        now = time.monotonic()
        self._reap(now)
        m = re.fullmatch(
            r"/subscriptions/[^/]+/providers/Microsoft\.MachineLearningServices/locations/[^/]+/(?P<kind>mfeOperationsStatus|mfeOperationResults)/(?P<id>[^/]+)",
            path,
            re.IGNORECASE,
        )
        if m and method == "GET":
            op = self.operations.get(m.group("id"))
            if op is None:
                raise ArmError(404, "NotFound", "operation not found")
            status = op.status(now)
            # Location protocol (mfeOperationResults): 202 until done, then 200 or the error
            if m.group("kind").lower() == "mfeoperationresults":
                if status == "InProgress":
                    return 202, None, {"Location": f"{host}{path}?api-version=2025-12-01", "Retry-After": "1"}
                if status == "Failed":
                    raise ArmError(
                        400, op.error["code"] if op.error else "Failed", op.error["message"] if op.error else "failed"
                    )
                return 200, None, {}
            out: dict[str, Any] = {"id": path, "name": op.id, "status": status, "startTime": _iso(op.started)}
            if status == "Failed":
                out["error"] = op.error
            return 200, out, ({"Retry-After": "1"} if status == "InProgress" else {})
        m = re.fullmatch(WS + r"/onlineEndpoints/(?P<ep>[^/]+)/listKeys", path, re.IGNORECASE)
        if m and method == "POST":
            if m.group("ep") not in self.endpoints:
                raise _not_found("onlineEndpoints", m.group("ep"))
            primary, secondary = self._keys(m.group("ep"))
            return 200, {"primaryKey": primary, "secondaryKey": secondary}, {}
        m = re.fullmatch(WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)/getLogs", path, re.IGNORECASE)
        if m and method == "POST":
            return 200, {"content": self._logs(m.group("ep"), m.group("dep"))}, {}
        m = re.fullmatch(WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments(?:/(?P<dep>[^/]+))?", path, re.IGNORECASE)
        if m:
            return self._deployments(method, m, body, host, now)
        m = re.fullmatch(WS + r"/onlineEndpoints/(?P<ep>[^/]+)", path, re.IGNORECASE)
        if m:
            return self._endpoint(method, m, body, host, now)
        m = re.fullmatch(WS + r"/environments/(?P<name>[^/]+)/versions(?:/(?P<ver>[^/]+))?", path, re.IGNORECASE)
        if m:
            return self._environments(method, m, body, path)
        m = re.fullmatch(AS + r"(?:/(?P<name>[^/]+))?", path, re.IGNORECASE)
        if m:
            return self._autoscale(method, m, body, path)
        raise ArmError(
            404, "NoRegisteredProviderFound" if method != "GET" else "ResourceNotFound", f"no route for {method} {path}"
        )

    # -- scoring (data plane)

    def _keys(self, endpoint: str) -> tuple[str, str]:
        if endpoint not in self.keys:
            self.keys[endpoint] = (uuid.uuid4().hex + uuid.uuid4().hex, uuid.uuid4().hex + uuid.uuid4().hex)
        return self.keys[endpoint]

    def score(self, endpoint: str, auth: str | None, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """POST to the scoring URI: the key as a bearer token, a deployment picked by the traffic split
        answers, named in `azureml-model-deployment` as Azure does."""
        with self._lock:
            now = time.monotonic()
            ep = self.endpoints.get(endpoint)
            if ep is None or ep.state(now) != "Succeeded":
                return 404, {"message": f"endpoint {endpoint} is not serving"}, {}
            if auth is None or auth.removeprefix("Bearer ") not in self._keys(endpoint):
                return 401, {"message": "Invalid authentication token"}, {}
            split = {d: p for d, p in (ep.body["properties"].get("traffic") or {}).items() if p > 0}
            if not split:
                return 424, {"message": "no deployment receives traffic"}, {}
            (chosen,) = random.choices(list(split), weights=list(split.values()))
            dep = self.deployments.get((endpoint, chosen))
            if dep is None or dep.state(now) != "Succeeded" or self._image(dep) in self.failing_images:
                self.served.append((time.time(), endpoint, chosen, 502, 1.0))
                return 502, {"message": f"deployment {chosen} failed to answer"}, {"azureml-model-deployment": chosen}
        try:
            rows = json.loads(raw or b"{}").get("instances", [])
        except (ValueError, AttributeError):
            return 400, {"message": "the request body is not a JSON object"}, {"azureml-model-deployment": chosen}
        with self._lock:
            self.served.append((time.time(), endpoint, chosen, 200, 1.0))
        return 200, [0.5 for _ in rows], {"azureml-model-deployment": chosen}

    # -- endpoints

    def _endpoint(
        self, method: str, m: re.Match[str], body: Any, host: str, now: float
    ) -> tuple[int, Any, dict[str, str]]:
        name = m.group("ep")
        ep = self.endpoints.get(name)
        rid = m.group(0)
        if method == "GET":
            if ep is None:
                raise _not_found("onlineEndpoints", name)
            return 200, self._view(ep, rid, name, now), {}
        if method == "PUT":
            if ep is not None and ep.state(now) in ("Creating", "Updating", "Deleting"):
                raise ArmError(
                    409,
                    "Conflict",
                    f"Endpoint {name} has an operation in progress ({ep.state(now)}); retry when it finishes.",
                )
            props = (body or {}).get("properties") or {}
            if not body or "location" not in body:
                raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
            if props.get("authMode") not in ("Key", "AMLToken", "AADToken"):
                raise ArmError(400, "BadArgument", "authMode must be Key, AMLToken or AADToken.")
            self._check_traffic(name, props.get("traffic") or {}, props.get("mirrorTraffic") or {}, now)
            created = ep is None
            op = self._operation(now, self.endpoint_seconds, "Succeeded")
            stored = json.loads(json.dumps(body))
            stored["properties"].setdefault("traffic", {})
            stored["properties"].setdefault("mirrorTraffic", {})
            self.endpoints[name] = Resource(stored, op, "Creating" if created else "Updating")
            headers = {"Azure-AsyncOperation": self._op_url(host, m, op)}
            return (201 if created else 200), self._view(self.endpoints[name], rid, name, now), headers
        if method == "DELETE":
            if ep is None:
                return 204, None, {}
            op = self._operation(now, self.delete_seconds, "Gone")
            ep.op, ep.busy_state = op, "Deleting"
            self.gone[("endpoint", name)] = op.done_at
            for key in [k for k in self.deployments if k[0] == name]:
                self.deployments[key].op, self.deployments[key].busy_state = op, "Deleting"
                self.gone[("deployment", *key)] = op.done_at
            return 202, None, {"Location": self._op_url(host, m, op, results=True), "Retry-After": "1"}
        raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _check_traffic(self, endpoint: str, traffic: dict[str, Any], mirror: dict[str, Any], now: float) -> None:
        for name, pct in {**traffic, **mirror}.items():
            dep = self.deployments.get((endpoint, name))
            if dep is None or ("deployment", endpoint, name) in self.gone:
                raise ArmError(
                    400,
                    "BadArgument",
                    f"Traffic can only be set for existing deployments; deployment '{name}' was not found under endpoint '{endpoint}'.",
                )
            if dep.state(now) != "Succeeded":
                raise ArmError(
                    400,
                    "BadArgument",
                    f"Deployment '{name}' is in state {dep.state(now)}; traffic can only go to a succeeded deployment.",
                )
            if not isinstance(pct, int) or not 0 <= pct <= 100:
                raise ArmError(400, "BadArgument", f"Traffic for '{name}' must be an integer between 0 and 100.")
        total = sum(traffic.values())
        if traffic and total not in (0, 100):
            raise ArmError(400, "BadArgument", f"Traffic values must sum to 100 (or 0); got {total}.")
        for name, pct in mirror.items():
            if pct > 50:
                raise ArmError(400, "BadArgument", f"Mirror traffic for '{name}' cannot exceed 50%.")
            if traffic.get(name, 0) > 0:
                raise ArmError(
                    400,
                    "BadArgument",
                    f"Deployment '{name}' takes live traffic; mirror traffic can only go to a deployment with 0% live traffic.",
                )
        if sum(mirror.values()) > 50:
            raise ArmError(400, "BadArgument", "Mirror traffic across deployments cannot exceed 50%.")

    # -- deployments

    def _deployments(
        self, method: str, m: re.Match[str], body: Any, host: str, now: float
    ) -> tuple[int, Any, dict[str, str]]:
        ep_name, name = m.group("ep"), m.group("dep")
        ep = self.endpoints.get(ep_name)
        if ep is None or ("endpoint", ep_name) in self.gone:
            raise _not_found("onlineEndpoints", ep_name)
        base = m.group(0) if name is None else m.group(0).rsplit("/", 1)[0]
        if name is None:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here")
            value = [self._view(d, f"{base}/{k[1]}", k[1], now) for k, d in self.deployments.items() if k[0] == ep_name]
            return 200, {"value": value}, {}
        dep = self.deployments.get((ep_name, name))
        rid = f"{base}/{name}"
        if method == "GET":
            if dep is None:
                raise _not_found("deployments", name)
            return 200, self._view(dep, rid, name, now), {}
        if method == "PUT":
            return self._put_deployment(ep_name, name, dep, body, host, m, rid, now)
        if method == "DELETE":
            if dep is None:
                return 204, None, {}
            live = (ep.body["properties"].get("traffic") or {}).get(name, 0)
            mirrored = (ep.body["properties"].get("mirrorTraffic") or {}).get(name, 0)
            if live or mirrored:
                raise ArmError(
                    400,
                    "BadArgument",
                    f"Deployment '{name}' takes {live or mirrored}% of traffic; set its traffic to 0 before deleting it.",
                )
            op = self._operation(now, self.delete_seconds, "Gone")
            dep.op, dep.busy_state = op, "Deleting"
            self.gone[("deployment", ep_name, name)] = op.done_at
            return 202, None, {"Location": self._op_url(host, m, op, results=True), "Retry-After": "1"}
        raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _put_deployment(
        self,
        ep_name: str,
        name: str,
        dep: Resource | None,
        body: Any,
        host: str,
        m: re.Match[str],
        rid: str,
        now: float,
    ) -> tuple[int, Any, dict[str, str]]:
        if dep is not None and dep.state(now) in ("Creating", "Updating", "Deleting"):
            raise ArmError(409, "Conflict", f"Deployment {name} has an operation in progress.")
        props = (body or {}).get("properties") or {}
        if props.get("endpointComputeType") != "Managed":
            raise ArmError(400, "BadArgument", "endpointComputeType must be Managed for a managed online endpoint.")
        scale = (props.get("scaleSettings") or {}).get("scaleType", "Default")
        if scale != "Default":
            raise ArmError(
                400,
                "BadArgument",
                f"Scale type {scale} is not supported for managed online deployments; only Default is. Use Azure Monitor autoscale.",
            )
        if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{0,30}[a-zA-Z0-9]", name):
            raise ArmError(400, "BadArgument", f"Deployment name '{name}' is not valid.")
        env_id = props.get("environmentId") or ""
        em = re.search(r"/environments/([^/]+)/versions/([^/]+)$", env_id)
        env = self.environments.get((em.group(1), em.group(2))) if em else None
        if env is None:
            raise ArmError(400, "UserError", f"Environment {env_id} not found; register it before deploying.")
        capacity = (body.get("sku") or {}).get("capacity")
        if not isinstance(capacity, int) or capacity < 1:
            raise ArmError(
                400, "BadArgument", "sku.capacity (instance count) must be at least 1 for a managed online deployment."
            )
        sku = props.get("instanceType", "")
        if sku in self.quota:
            used = sum(
                (d.body.get("sku") or {}).get("capacity", 0)
                for k, d in self.deployments.items()
                if d.body["properties"].get("instanceType") == sku and k != (ep_name, name)
            )
            if used + capacity > self.quota[sku]:
                raise ArmError(
                    400,
                    "BadArgument",
                    f"Not enough quota available for {sku} in SubscriptionId {m.group('sub')}. Current usage/limit: "
                    f"{used}/{self.quota[sku]}. Additional needed: {capacity}. Please request a quota increase.",
                )
        image = env["properties"]["image"]
        fails = image in self.failing_images
        op = self._operation(now, self.deploy_seconds, "Failed" if fails else "Succeeded")
        if fails:
            op.error = {
                "code": "ResourceNotReady",
                "message": f"User container has crashed or terminated: readiness probe failed for {image}. "
                "Please see troubleshooting guide https://aka.ms/oe-tsg#error-resourcenotready",
            }
        stored = json.loads(json.dumps(body))
        self.created_wall[(ep_name, name)] = time.time() + self.deploy_seconds  # serves once provisioned
        self.deployments[(ep_name, name)] = Resource(stored, op, "Creating" if dep is None else "Updating")
        self.gone.pop(("deployment", ep_name, name), None)
        headers = {"Azure-AsyncOperation": self._op_url(host, m, op)}
        return (201 if dep is None else 200), self._view(self.deployments[(ep_name, name)], rid, name, now), headers

    def _logs(self, ep_name: str, name: str) -> str:
        dep = self.deployments.get((ep_name, name))
        if dep is None:
            raise _not_found("deployments", name)
        image = self._image(dep)
        if image in self.failing_images or image in self.crash_after_traffic:
            return (
                "Booting worker with pid: 7\n"
                'Traceback (most recent call last):\n  File "/app/serve.py", line 12, in load\n'
                "FileNotFoundError: /opt/ml/model/weights.bin\n"
                "Readiness probe failed: HTTP probe failed with statuscode: 503"
            )
        return "Listening at: http://0.0.0.0:8080"

    def _image(self, dep: Resource) -> str:
        em = re.search(r"/environments/([^/]+)/versions/([^/]+)$", dep.body["properties"]["environmentId"])
        env = self.environments.get((em.group(1), em.group(2))) if em else None
        return env["properties"]["image"] if env else ""

    # -- environments

    def _environments(self, method: str, m: re.Match[str], body: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        name, ver = m.group("name"), m.group("ver")
        if ver is None:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here")
            value = [{**e, "id": f"{path}/{k[1]}", "name": k[1]} for k, e in self.environments.items() if k[0] == name]
            return 200, {"value": value}, {}
        key = (name, ver)
        if method == "GET":
            if key not in self.environments:
                raise _not_found("environments", f"{name}:{ver}")
            return 200, {**self.environments[key], "id": path, "name": ver}, {}
        if method == "PUT":
            props = (body or {}).get("properties") or {}
            if not props.get("image"):
                raise ArmError(400, "UserError", "An environment needs an image or a build context.")
            existing = self.environments.get(key)
            if existing is not None and existing["properties"]["image"] != props["image"]:
                raise ArmError(
                    409,
                    "UserError",
                    f"Environment {name}:{ver} already exists with a different image; versions are immutable.",
                )
            stored = json.loads(json.dumps(body))
            stored["properties"]["provisioningState"] = "Succeeded"
            self.environments[key] = stored
            return (200 if existing else 201), {**stored, "id": path, "name": ver}, {}
        if method == "DELETE":
            return (200 if self.environments.pop(key, None) else 204), None, {}
        raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here")

    # -- autoscale settings

    def _autoscale(self, method: str, m: re.Match[str], body: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        name = m.group("name")
        if name is None:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here")
            return 200, {"value": [{**b, "id": f"{path}/{n}", "name": n} for n, b in self.autoscale.items()]}, {}
        if method == "GET":
            if name not in self.autoscale:
                raise _not_found("autoscalesettings", name)
            return 200, {**self.autoscale[name], "id": path, "name": name}, {}
        if method == "PUT":
            self._check_autoscale(body or {})
            existed = name in self.autoscale
            self.autoscale[name] = json.loads(json.dumps(body))
            return (200 if existed else 201), {**self.autoscale[name], "id": path, "name": name}, {}
        if method == "DELETE":
            return (200 if self.autoscale.pop(name, None) else 204), None, {}
        raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _check_autoscale(self, body: dict[str, Any]) -> None:
        props = body.get("properties") or {}
        target = props.get("targetResourceUri", "")
        tm = re.search(r"/onlineEndpoints/([^/]+)/deployments/([^/]+)$", target)
        if not tm or (tm.group(1), tm.group(2)) not in self.deployments:
            raise ArmError(400, "TargetResourceNotFound", f"The target resource id '{target}' was not found.")
        for profile in props.get("profiles") or []:
            cap = profile["capacity"]
            lo, hi, default = int(cap["minimum"]), int(cap["maximum"]), int(cap["default"])
            if not lo <= default <= hi:
                raise ArmError(400, "BadRequest", "The default capacity must be between the minimum and maximum.")
            for rule in profile.get("rules") or []:
                trig, action = rule["metricTrigger"], rule["scaleAction"]
                known = DEPLOYMENT_METRICS if trig["metricResourceUri"] == target else ENDPOINT_METRICS
                if trig["metricName"] not in known:
                    raise ArmError(
                        400,
                        "BadRequest",
                        f"Metric {trig['metricName']} is not supported for {trig['metricResourceUri']}.",
                    )
                if action["cooldown"] in ("PT0S",) or re.fullmatch(r"PT\d+S", action["cooldown"]):
                    raise ArmError(400, "BadRequest", "The cooldown must be between 1 minute and 1 week.")

    # -- Azure Monitor metrics (issue 15) ------------------------------------------------------------
    # GET {resource}/providers/Microsoft.Insights/metrics in the real response shape: one entry per
    # metric name with `timeseries` (one per value of each dimension the $filter splits by with
    # `eq '*'`, or pinned with `eq 'x'`) of one-minute `data` points {timeStamp, average}. Endpoint
    # traffic comes from `serving` (a steady load per image from provisioning on) plus the scoring
    # calls answered; deployment resource figures per instance from the same load.

    def _metrics(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        rid = METRICS.fullmatch(path).group("rid")  # type: ignore[union-attr]
        m = re.fullmatch(WS + r"/onlineEndpoints/(?P<ep>[^/]+)(?:/deployments/(?P<dep>[^/]+))?", rid, re.IGNORECASE)
        if m is None or m.group("ep") not in self.endpoints:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{rid}' was not found.")
        ep, dep = m.group("ep"), m.group("dep")
        if dep is not None and (ep, dep) not in self.deployments:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{rid}' was not found.")
        names = [n for n in query.get("metricnames", [""])[0].split(",") if n]
        valid = DEPLOYMENT_METRICS | {"GpuMemoryUtilizationPercentage"} if dep else ENDPOINT_METRICS | set(_LATENCY)
        kind = "workspaces/onlineEndpoints" + ("/deployments" if dep else "")
        for name in names:
            if name not in valid:
                raise ArmError(
                    400,
                    "BadRequest",
                    f"Failed to find metric configuration for provider: Microsoft.MachineLearningServices, resource Type: {kind}, metric: {name}, Valid metrics: {', '.join(sorted(valid))}",
                )
        if query.get("interval", ["PT1M"])[0] != "PT1M":
            raise ArmError(400, "BadRequest", "Only the PT1M time grain is simulated.")
        try:
            start, end = (_wall(t) for t in query["timespan"][0].split("/"))
        except (KeyError, ValueError):
            raise ArmError(400, "BadRequest", "timespan must be an ISO 8601 interval start/end.") from None
        split = dict(re.findall(r"(\w+) eq '([^']*)'", query.get("$filter", [""])[0]))
        value = [
            {
                "id": f"{rid}/providers/Microsoft.Insights/metrics/{name}",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": name, "localizedValue": name},
                "displayDescription": "",
                "unit": "Count"
                if name in ("RequestsPerMinute", "DeploymentCapacity")
                else "Milliseconds"
                if "Latency" in name
                else "Percent",
                "timeseries": self._deployment_series(ep, dep, name, end)
                if dep
                else self._endpoint_series(ep, name, start, end, split),
                "errorCode": "Success",
            }
            for name in names
        ]
        body = {
            "cost": 0,
            "timespan": query["timespan"][0],
            "interval": "PT1M",
            "value": value,
            "namespace": f"Microsoft.MachineLearningServices/{kind}",
            "resourceregion": self.location,
        }
        return 200, body, {}

    def _load(self, ep: str, dep: str) -> Load | None:
        res = self.deployments.get((ep, dep))
        image = self._image(res) if res is not None else ""
        return self.serving.get(max((p for p in self.serving if p in image), key=len, default=""))

    def _samples(self, ep: str, start: float, end: float) -> list[tuple[float, str, int, float]]:
        """(wall, deployment, status, ms) of every request the endpoint served in [start, end)."""
        out = [(w, d, code, ms) for w, e, d, code, ms in self.served if e == ep and start <= w < end]
        for (e, dep), created in self.created_wall.items():
            load = self._load(e, dep) if e == ep else None
            if load is None:
                continue
            for second in range(max(math.ceil(start), math.ceil(created)), math.ceil(min(end, time.time()))):
                for code, ms in load.requests(second - math.ceil(created)):
                    out.append((float(second), dep, int(code), ms))
        return out

    def _endpoint_series(
        self, ep: str, name: str, start: float, end: float, split: dict[str, str]
    ) -> list[dict[str, Any]]:
        groups: dict[tuple[tuple[str, str], ...], dict[int, list[tuple[int, float]]]] = {}
        for wall, dep, code, ms in self._samples(ep, start, end):
            dims = {"deployment": dep, "statusCode": str(code), "statusCodeClass": f"{str(code)[0]}xx"}
            if any(k in dims and v != "*" and dims[k] != v for k, v in split.items()):
                continue
            key = tuple((k, dims[k]) for k in split if k in dims and (name == "RequestsPerMinute" or k == "deployment"))
            groups.setdefault(key, {}).setdefault(int(wall // 60 * 60), []).append((code, ms))
        series = []
        for key, minutes in sorted(groups.items()):
            data = []
            for minute, served in sorted(minutes.items()):
                latencies = sorted(ms for _, ms in served)
                if name == "RequestsPerMinute":
                    average = float(len(served))
                elif name == "RequestLatency":
                    average = sum(latencies) / len(latencies)
                elif name in _LATENCY:
                    average = latencies[max(0, math.ceil(_LATENCY[name] * len(latencies)) - 1)]  # nearest rank
                else:
                    continue
                data.append({"timeStamp": _minute(minute), "average": average})
            series.append(
                {
                    "metadatavalues": [{"name": {"value": k, "localizedValue": k}, "value": v} for k, v in key],
                    "data": data,
                }
            )
        return series

    def _deployment_series(self, ep: str, dep: str, name: str, end: float) -> list[dict[str, Any]]:
        load = self._load(ep, dep) or Load(0)
        capacity = int((self.deployments[(ep, dep)].body.get("sku") or {}).get("capacity", 1))
        value = {
            "CpuUtilizationPercentage": load.cpu * 100,
            "CpuMemoryUtilizationPercentage": load.memory * 100,
            "GpuUtilizationPercentage": None if load.duty_cycle is None else load.duty_cycle * 100,
            "DeploymentCapacity": 1.0,
        }.get(name)
        if value is None:
            return []
        minute = _minute(int(min(end, time.time()) // 60 * 60))
        return [
            {
                "metadatavalues": [
                    {"name": {"value": "instanceId", "localizedValue": "instanceId"}, "value": f"i-{i}"}
                ],
                "data": [{"timeStamp": minute, "average": value}],
            }
            for i in range(capacity)
        ]

    # -- helpers

    def _operation(self, now: float, seconds: float, final: str) -> Operation:
        op = Operation(uuid.uuid4().hex, now, now + seconds, final)
        self.operations[op.id] = op
        return op

    def _op_url(self, host: str, m: re.Match[str], op: Operation, results: bool = False) -> str:
        kind = "mfeOperationResults" if results else "mfeOperationsStatus"
        return f"{host}/subscriptions/{m.group('sub')}/providers/Microsoft.MachineLearningServices/locations/{self.location}/{kind}/{op.id}?api-version=2025-12-01"

    def _view(self, res: Resource, rid: str, name: str, now: float) -> dict[str, Any]:
        out = json.loads(json.dumps(res.body))
        out["id"], out["name"] = rid, name
        props = out.setdefault("properties", {})
        props["provisioningState"] = res.state(now)
        if "/deployments/" in rid:
            out["type"] = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
            props.setdefault("scaleSettings", {"scaleType": "Default"})
            ep = self.endpoints.get(rid.split("/onlineEndpoints/")[1].split("/")[0])
            crashes = ep is not None and self._image(res) in self.crash_after_traffic
            if crashes and (ep.body["properties"].get("traffic") or {}).get(name, 0) > 0:
                props["provisioningState"] = "Failed"
        else:
            out["type"] = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
            region = out.get("location", self.location)
            props["scoringUri"] = (
                f"{self.scoring_base}/score/{name}"
                if self.scoring_base
                else f"https://{name}.{region}.inference.ml.azure.com/score"
            )
            props["swaggerUri"] = f"https://{name}.{region}.inference.ml.azure.com/swagger.json"
        return out

    def _reap(self, now: float) -> None:
        for key, at in list(self.gone.items()):
            if now >= at:
                del self.gone[key]
                if key[0] == "endpoint":
                    self.endpoints.pop(key[1], None)
                else:
                    self.deployments.pop((key[1], key[2]), None)
                    ep = self.endpoints.get(key[1])
                    if ep is not None:
                        ep.body["properties"].get("traffic", {}).pop(key[2], None)


def _iso(monotonic: float) -> str:
    wall = time.time() - (time.monotonic() - monotonic)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


_LATENCY = {
    "RequestLatency_P50": 0.5,
    "RequestLatency_P90": 0.9,
    "RequestLatency_P95": 0.95,
    "RequestLatency_P99": 0.99,
}


def _minute(wall: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def _wall(text: str) -> float:
    """ISO 8601 (Z or +00:00, optional fraction) -> seconds since the epoch."""
    import calendar

    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|\+00:00)?", text.strip())
    if m is None:
        raise ValueError(text)
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": [], "additionalInfo": []}}


def _not_found(kind: str, name: str) -> ArmError:
    return ArmError(
        404, "ResourceNotFound" if kind != "deployments" else "NotFound", f"The {kind} resource '{name}' was not found."
    )
