"""A local Vertex AI (v1 REST) for tests: the real SDK talks to it over HTTP on 127.0.0.1.

It covers the calls scalectl makes (models: upload, get, list, patch labels, delete;
endpoints: create, get, list, patch traffic, deployModel, undeployModel, delete; operations:
get, cancel) and behaves like Vertex where it matters to a rollout:

- long-running operations finish after a delay (deploys take `deploy_seconds`);
- request bodies are parsed into the v1 protos, so an unknown field is a 400 as on Vertex;
- traffic splits must sum to 100 and name deployed models; a deployed model that still has
  traffic cannot be undeployed (unless it is the last one or the call reassigns its traffic);
- a model whose image matches `fail_image` never becomes ready (the deploy operation
  fails); one matching `unhealthy_image` deploys, then its replicas fail health checks;
- `throttle(n)` answers the next n calls with 429 RESOURCE_EXHAUSTED / RATE_LIMIT_EXCEEDED,
  `quota_machine` makes deploys on that machine fail with a quota error;
- errors use Google's JSON shape: {"error": {"code", "message", "status", "details"}}.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from google.cloud.aiplatform_v1 import types
from google.protobuf import json_format

from tests.served import Load

_V1 = "type.googleapis.com/google.cloud.aiplatform.v1."
_HTTP = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
}
_CODES = {"CANCELLED": 1, "INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9}


class SimError(Exception):
    def __init__(self, status: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": _HTTP.get(self.status, 500),
                "message": self.message,
                "status": self.status,
                "details": self.details,
            }
        }


@dataclass
class Operation:
    name: str
    started: float
    done_at: float
    complete: Callable[[], dict[str, Any]]  # runs once when due; returns the response (with @type)
    done: bool = False
    response: dict[str, Any] | None = None
    error: SimError | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "done": self.done}
        if self.error is not None:
            out["error"] = {"code": _CODES.get(self.error.status, 13), "message": self.error.message}
        elif self.response is not None:
            out["response"] = self.response
        return out


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any]


@dataclass
class VertexSim:
    op_seconds: float = 0.05  # uploads, endpoint create/delete, undeploys
    deploy_seconds: float = 0.4  # a deployed model's provisioning time
    fail_image: dict[str, str] = field(default_factory=dict)  # image substring -> why it never gets ready
    unhealthy_image: dict[str, float] = field(default_factory=dict)  # image substring -> seconds healthy
    quota_machine: set[str] = field(default_factory=set)
    # image substring -> what its deployed models serve, as Cloud Monitoring reports it (see Load)
    serving: dict[str, Load] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.logging_updates: list[dict[str, Any]] = []  # request-response logging PATCHes, as sent
        self.operations: dict[str, Operation] = {}
        self.requests: list[Request] = []
        self._ids = itertools.count(1000)
        self._throttle = 0
        self._throttle_suffix = ""
        self._denied: dict[str, str] = {}
        self._hangs: list[tuple[str, str, float]] = []  # (method, path suffix, seconds)
        self._failing: list[tuple[str, str, str]] = []  # (method, path suffix, canonical status)
        self.hung = 0  # requests held without an answer
        self._stopping = threading.Event()
        self.server: ThreadingHTTPServer | None = None
        self.served: list[tuple[float, str, str, float]] = []  # (wall time, deployed model, code, ms) of :predict

    # ------------------------------------------------------------ control

    def start(self) -> str:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seconds = sim._hung(self.command, self.path)
                if seconds is not None:  # no answer: the client's timeout decides
                    sim._stopping.wait(seconds)
                    self.close_connection = True
                    return
                status, payload = sim.handle(self.command, self.path, raw)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self._stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def throttle(self, n: int, suffix: str = "") -> None:
        """Answer the next `n` calls (whose path ends with `suffix`) with 429 RATE_LIMIT_EXCEEDED."""
        self._throttle = n
        self._throttle_suffix = suffix

    def fail(self, method: str, suffix: str, n: int = 1, status: str = "UNAVAILABLE") -> None:
        """The next `n` `method` calls to paths ending in `suffix` fail with `status` (503 UNAVAILABLE
        by default, which clients retry; INTERNAL is a 500 they do not)."""
        with self.lock:
            self._failing += [(method, suffix, status)] * n

    def hang(self, method: str, suffix: str, n: int = 1, seconds: float = 30.0) -> None:
        """The next `n` `method` calls to paths ending in `suffix` get no answer for `seconds`."""
        with self.lock:
            self._hangs += [(method, suffix, seconds)] * n

    def _hung(self, method: str, url: str) -> float | None:
        path = urlsplit(url).path
        with self.lock:
            for i, (m, suffix, seconds) in enumerate(self._hangs):
                if m == method and path.endswith(suffix):
                    del self._hangs[i]
                    self.hung += 1
                    return seconds
        return None

    def deny(self, suffix: str, permission: str) -> None:
        """Answer calls whose path ends with `suffix` with 403 PERMISSION_DENIED (a missing IAM role)."""
        self._denied[suffix] = permission

    def calls(self, method: str | None = None, suffix: str = "") -> list[Request]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.endswith(suffix)]

    def provisioning_seconds(self) -> float:
        """Time Vertex itself spent on operations (what scalectl cannot make faster)."""
        return sum(op.done_at - op.started for op in self.operations.values() if op.done)

    def endpoint(self) -> dict[str, Any]:
        (ep,) = self.endpoints.values()
        return self._endpoint_json(ep)

    def break_health(self, image_part: str) -> None:
        """Make replicas of deployed models whose image contains `image_part` fail health checks now."""
        with self.lock:
            for ep in self.endpoints.values():
                for dm in ep["deployedModels"]:
                    if image_part in self.models[dm["model"]]["containerSpec"]["imageUri"]:
                        dm["_unhealthy_at"] = time.monotonic()

    # ------------------------------------------------------------ HTTP

    def handle(self, method: str, url: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        body = json.loads(raw) if raw else {}
        with self.lock:
            self.requests.append(Request(method, parts.path, query, body))
            self._tick()
            try:
                for i, (m, suffix, status) in enumerate(self._failing):
                    if m == method and parts.path.endswith(suffix):
                        del self._failing[i]
                        raise SimError(
                            status,
                            "The service is currently unavailable."
                            if status == "UNAVAILABLE"
                            else "Internal error encountered.",
                        )
                if self._throttle > 0 and parts.path.endswith(self._throttle_suffix):
                    self._throttle -= 1
                    raise SimError(
                        "RESOURCE_EXHAUSTED",
                        "Rate limit exceeded for aiplatform.googleapis.com (requests per minute per region).",
                        [
                            {
                                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": "RATE_LIMIT_EXCEEDED",
                                "domain": "googleapis.com",
                                "metadata": {"service": "aiplatform.googleapis.com"},
                            }
                        ],
                    )
                for suffix, permission in self._denied.items():
                    if parts.path.endswith(suffix):
                        raise SimError(
                            "PERMISSION_DENIED", f"Permission '{permission}' denied on resource (or it may not exist)."
                        )
                if parts.path.startswith("/v3/"):
                    return 200, self._time_series(parts.path, query)
                path = re.sub(r"^/(v1|ui)/", "", unquote(parts.path))  # the SDK uses /ui/ for operations
                return 200, self._route(method, path, query, body)
            except SimError as exc:
                return _HTTP.get(exc.status, 500), exc.body()

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        loc = r"projects/[^/]+/locations/[^/]+"
        routes: list[tuple[str, str, Callable[..., dict[str, Any]]]] = [
            ("POST", rf"({loc})/models:upload", self._upload_model),
            ("GET", rf"({loc})/models", self._list_models),
            ("GET", rf"({loc}/models/[^/:]+)", self._get_model),
            ("PATCH", rf"({loc}/models/[^/:]+)", self._patch_model),
            ("DELETE", rf"({loc}/models/[^/:]+)", self._delete_model),
            ("POST", rf"({loc})/endpoints", self._create_endpoint),
            ("GET", rf"({loc})/endpoints", self._list_endpoints),
            ("GET", rf"({loc}/endpoints/[^/:]+)", self._get_endpoint),
            ("PATCH", rf"({loc}/endpoints/[^/:]+)", self._patch_endpoint),
            ("DELETE", rf"({loc}/endpoints/[^/:]+)", self._delete_endpoint),
            ("POST", rf"({loc}/endpoints/[^/:]+):deployModel", self._deploy),
            ("POST", rf"({loc}/endpoints/[^/:]+):predict", self._predict),
            ("POST", rf"({loc}/endpoints/[^/:]+):undeployModel", self._undeploy),
            ("GET", rf"({loc}/.+/operations/[^/:]+)", self._get_operation),
            ("POST", rf"({loc}/.+/operations/[^/:]+):cancel", self._cancel_operation),
        ]
        for verb, pattern, fn in routes:
            m = re.fullmatch(pattern, path)
            if m and verb == method:
                return fn(m.group(1), query, body)
        raise SimError("NOT_FOUND", f"The requested URL /v1/{path} was not found on this server.")

    # ------------------------------------------------------------ helpers

    def _tick(self) -> None:
        now = time.monotonic()
        for op in list(self.operations.values()):
            if not op.done and now >= op.done_at:
                try:
                    op.response = op.complete()
                except SimError as exc:
                    op.error = exc
                op.done = True

    def _operation(self, resource: str, seconds: float, complete: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        now = time.monotonic()
        op = Operation(f"{resource}/operations/{next(self._ids)}", now, now + seconds, complete)
        self.operations[op.name] = op
        return op.to_json()

    def _id(self) -> str:
        return str(next(self._ids))

    @staticmethod
    def _parse(message_type: Any, body: dict[str, Any]) -> dict[str, Any]:
        """Validate like Vertex: the body must parse into the v1 request message."""
        try:
            pb = json_format.ParseDict(body, message_type.pb()(), ignore_unknown_fields=False)
        except json_format.ParseError as exc:
            raise SimError("INVALID_ARGUMENT", f"Invalid JSON payload received. {exc}") from None
        return json_format.MessageToDict(pb)

    def _model(self, name: str) -> dict[str, Any]:
        name = name.split("@", 1)[0]  # `models/123@1` names version 1 (the only one here)
        if name not in self.models:
            raise SimError("NOT_FOUND", f'The Model does not exist: "{name}".')
        return self.models[name]

    def _ep(self, name: str) -> dict[str, Any]:
        if name not in self.endpoints:
            raise SimError("NOT_FOUND", f'The Endpoint does not exist: "{name}".')
        return self.endpoints[name]

    @staticmethod
    def _matches(resource: dict[str, Any], query: dict[str, list[str]]) -> bool:
        text = query.get("filter", [""])[0]
        wanted = dict(re.findall(r'labels\.([a-z0-9_-]+)\s*=\s*"?([^"\s]*)"?', text))
        labels = resource.get("labels", {})
        return all(labels.get(k) == v for k, v in wanted.items())

    def _endpoint_json(self, ep: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in ep.items() if k != "deployedModels"}
        now = time.monotonic()
        out["deployedModels"] = []
        for dm in ep["deployedModels"]:
            public = {k: v for k, v in dm.items() if not k.startswith("_")}
            healthy = now < dm["_unhealthy_at"]
            replicas = int(dm["dedicatedResources"].get("minReplicaCount", 1))
            public["status"] = {
                "availableReplicaCount": replicas if healthy else 0,
                "message": "" if healthy else f"Replicas fail the health check on {dm['_health']}",
            }
            out["deployedModels"].append(public)
        return out

    @staticmethod
    def _check_split(split: dict[str, int], ids: set[str]) -> None:
        unknown = sorted(set(split) - ids)
        if unknown:
            raise SimError("INVALID_ARGUMENT", f"Traffic split refers to unknown deployed model(s): {unknown}")
        if split and sum(split.values()) != 100:
            raise SimError(
                "INVALID_ARGUMENT", f"Sum of all traffic split values must be 100, got {sum(split.values())}."
            )

    # ------------------------------------------------------------ models

    def _upload_model(self, parent: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        request = self._parse(types.UploadModelRequest, body)
        model = request["model"]
        name = f"{parent}/models/{self._id()}"

        def complete() -> dict[str, Any]:
            stamp = _now()
            self.models[name] = {
                **model,
                "name": name,
                "versionId": "1",
                "createTime": stamp,
                "updateTime": stamp,
                "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
            }
            return {"@type": _V1 + "UploadModelResponse", "model": name, "modelVersionId": "1"}

        return self._operation(name, self.op_seconds, complete)

    def _list_models(self, parent: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        found = [m for n, m in self.models.items() if n.startswith(parent + "/") and self._matches(m, query)]
        return {"models": found}

    def _get_model(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        return self._model(name)

    def _patch_model(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        model = self._model(name)
        patch = self._parse(types.Model, body)
        fields = query.get("updateMask", [""])[0].split(",")
        if not fields or not set(fields) <= {"labels", "description", "displayName"}:
            raise SimError("INVALID_ARGUMENT", f"Unsupported update mask: {fields!r}")
        for name_ in fields:
            model[name_] = patch.get(name_, {} if name_ == "labels" else "")
        model["updateTime"] = _now()
        return model

    def _delete_model(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        self._model(name)
        where = [e for e, ep in self.endpoints.items() if any(d["model"] == name for d in ep["deployedModels"])]
        if where:
            raise SimError(
                "FAILED_PRECONDITION",
                f"The Model {name} is deployed or being deployed at the following Endpoint(s): {', '.join(where)}.",
            )

        def complete() -> dict[str, Any]:
            self.models.pop(name, None)
            return {"@type": "type.googleapis.com/google.protobuf.Empty"}

        return self._operation(name, self.op_seconds, complete)

    # ------------------------------------------------------------ endpoints

    def _create_endpoint(self, parent: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._parse(types.Endpoint, body)
        name = f"{parent}/endpoints/{self._id()}"

        def complete() -> dict[str, Any]:
            stamp = _now()
            self.endpoints[name] = {
                **endpoint,
                "name": name,
                "createTime": stamp,
                "updateTime": stamp,
                "deployedModels": [],
                "trafficSplit": {},
            }
            return {"@type": _V1 + "Endpoint", **self._endpoint_json(self.endpoints[name])}

        return self._operation(name, self.op_seconds, complete)

    def _list_endpoints(self, parent: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        found = [self._endpoint_json(e) for n, e in self.endpoints.items() if n.startswith(parent + "/")]
        return {"endpoints": [e for e in found if self._matches(e, query)]}

    def _predict(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        """endpoints.predict: a deployed model picked by the traffic split answers, and says which it was."""
        ep = self._ep(name)
        split = {k: v for k, v in ep.get("trafficSplit", {}).items() if v > 0}
        if not split:
            raise SimError("FAILED_PRECONDITION", f"Endpoint {name} does not have any deployed model with traffic.")
        if not isinstance(body.get("instances"), list):
            raise SimError("INVALID_ARGUMENT", 'Invalid JSON payload: "instances" must be a list.')
        (chosen,) = random.choices(list(split), weights=list(split.values()))
        dm = next(d for d in ep["deployedModels"] if d["id"] == chosen)
        if time.monotonic() >= dm["_unhealthy_at"]:
            self.served.append((time.time(), chosen, "503", 1.0))  # Cloud Monitoring counts it
            raise SimError("UNAVAILABLE", "The model is not ready to serve: its replicas fail health checks.")
        self.served.append((time.time(), chosen, "200", 1.0))
        return {
            "predictions": [0.5 for _ in body["instances"]],
            "deployedModelId": chosen,
            "model": dm["model"],
            "modelVersionId": "1",
        }

    def _get_endpoint(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        return self._endpoint_json(self._ep(name))

    def _patch_endpoint(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        ep = self._ep(name)
        patch = self._parse(types.Endpoint, body)
        mask = query.get("updateMask", [""])[0]
        if mask == "predictRequestResponseLoggingConfig":
            config = patch.get("predictRequestResponseLoggingConfig", {})
            uri = config.get("bigqueryDestination", {}).get("outputUri", "")
            if config.get("enabled") and not uri.startswith("bq://"):
                raise SimError("INVALID_ARGUMENT", "BigQuery destination output_uri must start with bq://")
            ep["predictRequestResponseLoggingConfig"] = config
            ep["updateTime"] = _now()
            self.logging_updates.append(config)
            return self._endpoint_json(ep)
        if mask != "trafficSplit":
            raise SimError("INVALID_ARGUMENT", f"Unsupported update mask: {mask!r}")
        split = {k: int(v) for k, v in patch.get("trafficSplit", {}).items()}
        self._check_split(split, {d["id"] for d in ep["deployedModels"]})
        ep["trafficSplit"] = split
        ep["updateTime"] = _now()
        return self._endpoint_json(ep)

    def _delete_endpoint(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        ep = self._ep(name)
        if ep["deployedModels"]:
            raise SimError("FAILED_PRECONDITION", f"Endpoint {name} has deployed models; undeploy them first.")

        def complete() -> dict[str, Any]:
            self.endpoints.pop(name, None)
            return {"@type": "type.googleapis.com/google.protobuf.Empty"}

        return self._operation(name, self.op_seconds, complete)

    def _deploy(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        ep = self._ep(name)
        request = self._parse(types.DeployModelRequest, body)
        dm = request["deployedModel"]
        model = self._model(dm.get("model", ""))
        if "DEDICATED_RESOURCES" not in model["supportedDeploymentResourcesTypes"] or "dedicatedResources" not in dm:
            raise SimError("INVALID_ARGUMENT", "This Model requires dedicatedResources.")
        split = {k: int(v) for k, v in request.get("trafficSplit", {}).items()}
        self._check_split(split, {d["id"] for d in ep["deployedModels"]} | {"0"})
        machine = dm["dedicatedResources"]["machineSpec"]["machineType"]
        image = model["containerSpec"]["imageUri"]
        new_id = self._id()

        def complete() -> dict[str, Any]:
            if machine in self.quota_machine:
                raise SimError(
                    "RESOURCE_EXHAUSTED",
                    f"The following quota metrics exceed quota limits: aiplatform.googleapis.com/"
                    f"custom_model_serving_{machine.split('-')[0]}_cpus",
                )
            for part, why in self.fail_image.items():
                if part in image:
                    raise SimError(
                        "INVALID_ARGUMENT",
                        f"Model server never became ready. Please validate that your model file or container "
                        f"configuration are valid. ({why})",
                    )
            healthy_for = next((s for p, s in self.unhealthy_image.items() if p in image), None)
            deployed = {
                **dm,
                "id": new_id,
                "createTime": _now(),
                "_deployed_wall": time.time(),
                "_health": model["containerSpec"].get("healthRoute", "/"),
                "_unhealthy_at": time.monotonic() + healthy_for if healthy_for is not None else float("inf"),
            }
            ep["deployedModels"].append(deployed)
            if split:
                ep["trafficSplit"] = {(new_id if k == "0" else k): v for k, v in split.items()}
            public = {k: v for k, v in deployed.items() if not k.startswith("_")}
            return {"@type": _V1 + "DeployModelResponse", "deployedModel": public}

        return self._operation(name, self.deploy_seconds, complete)

    def _undeploy(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        ep = self._ep(name)
        request = self._parse(types.UndeployModelRequest, body)
        dm_id = request.get("deployedModelId", "")
        if not any(d["id"] == dm_id for d in ep["deployedModels"]):
            raise SimError("NOT_FOUND", f"Deployed model {dm_id} not found on Endpoint {name}.")
        split = {k: int(v) for k, v in request.get("trafficSplit", {}).items()}
        last = len(ep["deployedModels"]) == 1
        has_traffic = ep["trafficSplit"].get(dm_id, 0) > 0
        if has_traffic and not last and (not split or split.get(dm_id, 0) != 0):
            raise SimError(
                "FAILED_PRECONDITION",
                f"Model {dm_id} has {ep['trafficSplit'][dm_id]}% of traffic; move its traffic before undeploying it.",
            )
        if split:
            self._check_split(split, {d["id"] for d in ep["deployedModels"] if d["id"] != dm_id})

        def complete() -> dict[str, Any]:
            ep["deployedModels"] = [d for d in ep["deployedModels"] if d["id"] != dm_id]
            if split:
                ep["trafficSplit"] = split
            else:
                ep["trafficSplit"] = {k: v for k, v in ep["trafficSplit"].items() if k != dm_id and v}
            return {"@type": _V1 + "UndeployModelResponse"}

        return self._operation(name, self.op_seconds, complete)

    # ------------------------------------------------------------ Cloud Monitoring (metrics; issue 15)
    # monitoring v3 `projects.timeSeries.list` for the Vertex prediction metrics scalectl reads, in the
    # real API's shape: DELTA series (response_count INT64, prediction_latencies DISTRIBUTION with
    # exponential bucketOptions and bucketCounts) with one point per second, newest first; GAUGE
    # series (replicas, target_replicas, cpu/utilization, accelerator/duty_cycle) with one point now.
    # Figures come from `serving` (a steady load per image, from the moment a model is deployed)
    # plus the :predict calls the simulator answered.

    def _time_series(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        if not re.fullmatch(r"/v3/projects/[^/]+/timeSeries", path):
            raise SimError("NOT_FOUND", f"The requested URL {path} was not found on this server.")
        for key in ("interval.startTime", "interval.endTime"):
            if key not in query:
                raise SimError("INVALID_ARGUMENT", f"Field {key} is required.")
        text = query.get("filter", [""])[0]
        kind = re.search(r'metric\.type\s*=\s*"([^"]+)"', text)
        if kind is None:
            raise SimError("INVALID_ARGUMENT", "Field filter had an invalid value: a metric.type is required.")
        metric = kind.group(1)
        wanted = dict(re.findall(r'(?:resource|metric)\.labels\.([a-z_]+)\s*=\s*"([^"]*)"', text))
        start, end = (_wall(query[k][0]) for k in ("interval.startTime", "interval.endTime"))
        series: list[dict[str, Any]] = []
        for name, ep in self.endpoints.items():
            endpoint_id = name.rsplit("/", 1)[-1]
            if wanted.get("endpoint_id") not in (None, endpoint_id):
                continue
            resource = {
                "type": "aiplatform.googleapis.com/Endpoint",
                "labels": {
                    "resource_container": name.split("/")[1],
                    "location": name.split("/")[3],
                    "endpoint_id": endpoint_id,
                },
            }
            for dm in ep["deployedModels"]:
                if wanted.get("deployed_model_id") not in (None, dm["id"]):
                    continue
                for labels, kind_, value_type, points in self._series_of(metric, dm, start, end):
                    series.append(
                        {
                            "metric": {"type": metric, "labels": {"deployed_model_id": dm["id"], **labels}},
                            "resource": resource,
                            "metricKind": kind_,
                            "valueType": value_type,
                            "points": points,
                        }
                    )
        return {"timeSeries": series} if series else {}

    def _load_of(self, dm: dict[str, Any]) -> Load | None:
        image = self.models[dm["model"]]["containerSpec"]["imageUri"]
        return self.serving.get(max((p for p in self.serving if p in image), key=len, default=""))

    def _requests_of(self, dm: dict[str, Any], start: float, end: float) -> dict[int, list[tuple[str, float]]]:
        """(code, latency ms) of every request the deployed model served in [start, end), by whole second."""
        out: dict[int, list[tuple[str, float]]] = {}
        load = self._load_of(dm)
        if load is not None:
            first = max(math.ceil(start), math.ceil(dm["_deployed_wall"]))
            for second in range(first, math.ceil(min(end, time.time()))):
                out[second] = load.requests(second - math.ceil(dm["_deployed_wall"]))
        for wall, dm_id, code, ms in self.served:
            if dm_id == dm["id"] and start <= wall < end:
                out.setdefault(int(wall), []).append((code, ms))
        return out

    def _series_of(
        self, metric: str, dm: dict[str, Any], start: float, end: float
    ) -> list[tuple[dict[str, str], str, str, list[dict[str, Any]]]]:
        prefix = "aiplatform.googleapis.com/prediction/online/"
        load = self._load_of(dm) or Load(0)
        now = time.time()
        gauge = {"interval": {"endTime": _rfc3339(now)}}
        healthy = time.monotonic() < dm["_unhealthy_at"]
        replicas = int(dm["dedicatedResources"].get("minReplicaCount", 1))
        if metric == prefix + "response_count":
            by_code: dict[str, list[dict[str, Any]]] = {}
            for second, served in sorted(self._requests_of(dm, start, end).items(), reverse=True):
                counts: dict[str, int] = {}
                for code, _ in served:
                    counts[code] = counts.get(code, 0) + 1
                for code, n in counts.items():
                    by_code.setdefault(code, []).append(
                        {"interval": _interval(second), "value": {"int64Value": str(n)}}
                    )
            return [({"response_code": code}, "DELTA", "INT64", pts) for code, pts in sorted(by_code.items())]
        if metric == prefix + "prediction_latencies":
            total, overhead = [], []
            for second, served in sorted(self._requests_of(dm, start, end).items(), reverse=True):
                total.append(
                    {
                        "interval": _interval(second),
                        "value": {"distributionValue": _distribution([ms for _, ms in served])},
                    }
                )
                overhead.append(
                    {
                        "interval": _interval(second),
                        "value": {"distributionValue": _distribution([min(ms, 1.0) for _, ms in served])},
                    }
                )
            if not total:
                return []
            return [
                ({"latency_type": "total"}, "DELTA", "DISTRIBUTION", total),
                ({"latency_type": "overhead"}, "DELTA", "DISTRIBUTION", overhead),
            ]
        if metric == prefix + "replicas":
            return [({}, "GAUGE", "INT64", [{**gauge, "value": {"int64Value": str(replicas if healthy else 0)}}])]
        if metric == prefix + "target_replicas":
            return [({}, "GAUGE", "INT64", [{**gauge, "value": {"int64Value": str(replicas)}}])]
        if metric == prefix + "cpu/utilization":
            return [
                ({"replica_id": f"r{i}"}, "GAUGE", "DOUBLE", [{**gauge, "value": {"doubleValue": load.cpu}}])
                for i in range(replicas)
            ]
        if metric == prefix + "accelerator/duty_cycle":
            spec = dm["dedicatedResources"]["machineSpec"]
            if not spec.get("acceleratorType") or load.duty_cycle is None:
                return []
            return [
                (
                    {"accelerator_type": spec["acceleratorType"]},
                    "GAUGE",
                    "DOUBLE",
                    [{**gauge, "value": {"doubleValue": load.duty_cycle}}],
                )
            ]
        return []

    # ------------------------------------------------------------ Cloud Monitoring ends here

    # ------------------------------------------------------------ operations

    def _get_operation(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        if name not in self.operations:
            raise SimError("NOT_FOUND", f"Operation {name} not found.")
        return self.operations[name].to_json()

    def _cancel_operation(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        op = self.operations.get(name)
        if op is None:
            raise SimError("NOT_FOUND", f"Operation {name} not found.")
        if not op.done:
            op.done = True
            op.error = SimError("CANCELLED", "Operation was cancelled.")
        return {}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


# ------------------------------------------------------------ Cloud Monitoring helpers (issue 15)

BUCKETS = {"exponentialBuckets": {"numFiniteBuckets": 40, "growthFactor": 1.25, "scale": 1.0}}


def _distribution(values: list[float]) -> dict[str, Any]:
    """A Cloud Monitoring Distribution of `values` (ms) over BUCKETS: underflow, 40 finite, overflow."""
    o = BUCKETS["exponentialBuckets"]
    counts = [0] * (int(o["numFiniteBuckets"]) + 2)
    for v in values:
        i = 0 if v < o["scale"] else min(int(math.log(v / o["scale"], o["growthFactor"])) + 1, len(counts) - 1)
        counts[i] += 1
    while counts and counts[-1] == 0:
        counts.pop()  # trailing zero buckets are omitted, as Cloud Monitoring does
    mean = sum(values) / len(values) if values else 0.0
    return {
        "count": str(len(values)),
        "mean": mean,
        "sumOfSquaredDeviation": sum((v - mean) ** 2 for v in values),
        "bucketOptions": BUCKETS,
        "bucketCounts": [str(c) for c in counts],
    }


def _rfc3339(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 1e6):06d}Z"


def _interval(second: int) -> dict[str, str]:
    return {"startTime": _rfc3339(second), "endTime": _rfc3339(second + 1)}


def _wall(text: str) -> float:
    """RFC 3339 (with or without fractional seconds) -> seconds since the epoch."""
    import calendar

    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", text)
    if m is None:
        raise SimError("INVALID_ARGUMENT", f"Invalid timestamp {text!r}.")
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)
