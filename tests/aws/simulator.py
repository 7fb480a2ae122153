"""A local SageMaker: the JSON 1.1 wire protocol (X-Amz-Target dispatch) for the calls scalectl makes,
with SageMaker's asynchronous endpoint life cycle.

- CreateEndpoint: Creating -> InService after `provision_seconds`, or -> Failed with the ping
  health-check FailureReason when the image is in `broken_images`.
- UpdateEndpoint with DeploymentConfig: Updating while the new fleet is Creating, then blue/green
  traffic steps (ALL_AT_ONCE / CANARY / LINEAR, each ActivatingTraffic then Baking for
  WaitIntervalInSeconds x `time_scale`) or rolling batches; RollingBack -> InService on the old
  config when the new fleet fails its health check or an AutoRollbackConfiguration alarm is in
  ALARM (read from CloudWatch through `alarm_source`). RetainAllVariantProperties keeps the count.
- Refuses what SageMaker refuses (ValidationException with SageMaker's messages), including an
  instance-type change on a variant Application Auto Scaling manages (`autoscaled`).
- `throttle(op, n)` / `fail(op, n)` answer the next n calls with ThrottlingException / 500;
  `hang(op, n, seconds, applied)` holds the next n calls without an answer (the call may take
  effect or not, as when a response is lost), then drops the connection.
- Failed updates as SageMaker reports them: an image in `rollback_fails` leaves the endpoint
  UpdateRollbackFailed (serving a mix; UpdateEndpoint is still accepted, as SageMaker documents),
  an image in `update_fails` leaves it Failed (only DeleteEndpoint is accepted).
- `calls` counts every request by operation.

State advances lazily, on each request, from wall-clock time, so there is no background thread.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session

_INSTANCE_TYPES = set(
    botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType").enum
)


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


@dataclass
class Endpoint:
    name: str
    arn: str
    config: str
    status: str = "Creating"
    variants: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)
    pending: dict[str, Any] | None = None
    last_deployment: dict[str, Any] | None = None
    steps: deque[tuple[float, Callable[[], None]]] = field(default_factory=deque)
    watch: list[str] = field(default_factory=list)  # alarms that roll the current update back
    deadline: float | None = None
    history: list[str] = field(default_factory=list)  # every status it went through
    shares: list[int] = field(default_factory=list)  # traffic % on the new fleet, step by step
    transitions: list[tuple[str, float]] = field(default_factory=list)  # (status, when it became so)
    reported: list[tuple[str, float]] = field(default_factory=list)  # (status, first DescribeEndpoint showing it)


class SageMakerSimulator:
    def __init__(self, region: str = "us-east-1", account: str = "123456789012") -> None:
        self.region, self.account = region, account
        self.lock = threading.RLock()
        self.models: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.calls: Counter[str] = Counter()
        self.errors: list[str] = []  # unexpected exceptions inside the simulator (tests assert none)
        self.provision_seconds = 0.3  # D: time for a fleet to come up
        self.rollback_seconds = 0.1
        self.delete_seconds = 0.1
        self.time_scale = 0.1  # WaitIntervalInSeconds / TerminationWaitInSeconds are multiplied by this
        self.broken_images: set[str] = set()
        self.rollback_fails: set[str] = set()  # images whose failed update cannot be rolled back
        self.update_fails: set[str] = set()  # images whose update leaves the endpoint Failed
        self._hangs: dict[str, deque[tuple[float, bool]]] = {}
        self.hung: Counter[str] = Counter()  # calls held without an answer, by operation
        self._stopping = threading.Event()
        self.alarm_source: Callable[[list[str]], list[str]] | None = None
        self.autoscaled: Callable[[str], bool] | None = None
        self._faults: dict[str, deque[ApiError]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tokens = itertools.count(1)
        self._due: float | None = None

    # ------------------------------------------------------------------ test controls

    def throttle(self, operation: str, times: int = 1) -> None:
        """The next `times` calls of `operation` get AWS's ThrottlingException."""
        self._faults.setdefault(operation, deque()).extend(
            ApiError("ThrottlingException", "Rate exceeded") for _ in range(times)
        )

    def fail(self, operation: str, times: int = 1) -> None:
        """The next `times` calls of `operation` get a 500 InternalFailure."""
        self._faults.setdefault(operation, deque()).extend(
            ApiError("InternalFailure", "An internal error occurred", 500) for _ in range(times)
        )

    def hang(self, operation: str, times: int = 1, seconds: float = 30.0, applied: bool = False) -> None:
        """The next `times` calls of `operation` get no answer for `seconds`, then the connection drops.

        `applied`: the call takes effect first (the answer is what got lost), so a retry meets its result.
        """
        self._hangs.setdefault(operation, deque()).extend((seconds, applied) for _ in range(times))

    def _hung(self, operation: str) -> tuple[float, bool] | None:
        with self.lock:
            waiting = self._hangs.get(operation)
            if not waiting:
                return None
            self.hung[operation] += 1
            return waiting.popleft()

    def refuse(self, operation: str, message: str, times: int = 1) -> None:
        """The next `times` calls of `operation` get a ValidationException with `message`."""
        self._faults.setdefault(operation, deque()).extend(validation(message) for _ in range(times))

    def set_instance_count(self, endpoint: str, variant: str, count: int) -> None:
        """What Application Auto Scaling does when it scales the variant."""
        with self.lock:
            for v in self.endpoints[endpoint].variants:
                if v["VariantName"] == variant:
                    v["CurrentInstanceCount"] = v["DesiredInstanceCount"] = count

    def advance(self) -> None:
        """Apply every state change that is due now (requests do this by themselves)."""
        with self.lock:
            self._advance_all()

    def detection_latency(self, endpoint: str, status: str = "InService") -> float:
        """Seconds between the endpoint's last change to `status` and the first DescribeEndpoint showing it."""
        with self.lock:
            ep = self.endpoints[endpoint]
            became = [t for s, t in ep.transitions if s == status][-1]
            seen = next(t for s, t in ep.reported if s == status and t >= became)
            return seen - became

    def statuses(self, endpoint: str) -> list[str]:
        with self.lock:
            return list(self.endpoints[endpoint].history)

    # ------------------------------------------------------------------ server

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SageMakerSimulator:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b"{}"
                if self.path.startswith("/endpoints/"):  # the runtime: InvokeEndpoint
                    status, answer, variant = sim.invoke(self.command, self.path, dict(self.headers), body)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    if variant:
                        self.send_header("X-Amzn-Invoked-Production-Variant", variant)
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                target = self.headers.get("X-Amz-Target", "")
                hung = sim._hung(target.partition(".")[2])
                if hung is not None:
                    seconds, applied = hung
                    if applied:
                        sim.handle(target, body)
                    sim._stopping.wait(seconds)
                    self.close_connection = True  # no answer: the client's read timeout decides
                    return
                status, payload = sim.handle(target, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(self, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        prefix, _, operation = target.partition(".")
        if prefix != "SageMaker":
            return 400, {"__type": "UnknownOperationException", "message": f"unknown target {target}"}
        with self.lock:
            self.calls[operation] += 1
            faults = self._faults.get(operation)
            try:
                if faults:
                    raise faults.popleft()
                handler = getattr(self, f"op_{operation}", None)
                if handler is None:
                    raise ApiError("UnknownOperationException", f"{operation} is not simulated")
                self._advance_all()
                return 200, handler(json.loads(body or b"{}"))
            except ApiError as exc:
                return exc.status, {"__type": exc.code, "message": exc.message}
            except Exception as exc:  # a simulator bug: answer like AWS does, and keep it visible
                self.errors.append(repr(exc))
                traceback.print_exc()
                return 500, {"__type": "InternalFailure", "message": repr(exc)}

    # ------------------------------------------------------------------ runtime

    def invoke(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str | None]:
        """sagemaker-runtime InvokeEndpoint: checks the SigV4 signature like AWS (same canonical request,
        the secret of the access key, a date within 5 minutes), then answers from a variant chosen by weight."""
        self.calls["InvokeEndpoint"] += 1
        problem = _check_sigv4(method, path, headers, body, self.region)
        if problem:
            return 403, json.dumps({"message": problem}).encode(), None
        name = path.split("/")[2]
        with self.lock:
            self._advance_all()
            ep = self.endpoints.get(name)
            if ep is None or ep.status not in ("InService", "Updating", "UpdateRollbackFailed"):
                why = "not found" if ep is None else f"in status {ep.status}"
                message = f"Endpoint {name} of account {self.account} {why}."
                return 400, json.dumps({"ErrorCode": "ValidationError", "Message": message}).encode(), None
            weights = [(v["VariantName"], float(v.get("CurrentWeight") or 0)) for v in ep.variants]
        if not any(w > 0 for _, w in weights):
            weights = [(n, 1.0) for n, _ in weights]
        (variant,) = random.choices([n for n, _ in weights], weights=[w for _, w in weights])
        try:
            instances = json.loads(body).get("instances", [])
        except (ValueError, AttributeError):
            return 400, json.dumps({"ErrorCode": "ModelError", "Message": "body is not a JSON object"}).encode(), None
        return 200, json.dumps({"predictions": [0.5 for _ in instances], "variant": variant}).encode(), variant

    # ------------------------------------------------------------------ helpers

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"

    def _advance_all(self) -> None:
        now = time.time()
        for ep in list(self.endpoints.values()):
            self._advance(ep, now)

    def _advance(self, ep: Endpoint, now: float) -> None:
        self._check_alarms(ep)
        while ep.steps and ep.steps[0][0] <= now:
            due, action = ep.steps.popleft()
            self._due = due  # a transition happens when it was due, however late a request notices it
            action()
            self._due = None
            self._check_alarms(ep)  # SageMaker watches the alarms at every step, however short
        if ep.status == "Updating" and ep.deadline is not None and now > ep.deadline:
            self._roll_back(ep, "Deployment exceeded MaximumExecutionTimeoutInSeconds and was rolled back")

    def _check_alarms(self, ep: Endpoint) -> None:
        watching = ep.status == "Updating" and ep.watch and (ep.pending or {}).get("_fleet_up")
        if watching and self.alarm_source is not None:
            firing = self.alarm_source(ep.watch)
            if firing:
                self._roll_back(ep, f"Deployment rolled back: CloudWatch alarm(s) {', '.join(firing)} in ALARM state")

    def _set_status(self, ep: Endpoint, status: str) -> None:
        ep.status = status
        ep.modified = self._due or time.time()
        if not ep.history or ep.history[-1] != status:
            ep.history.append(status)
            ep.transitions.append((status, ep.modified))

    def _fleet(self, config_name: str, counts: dict[str, int] | None = None) -> list[dict[str, Any]]:
        config = self.configs[config_name]
        fleet = []
        for pv in config["ProductionVariants"]:
            count = (counts or {}).get(pv["VariantName"], pv.get("InitialInstanceCount", 1))
            image = self.models[pv["ModelName"]]["PrimaryContainer"]["Image"]
            fleet.append(
                {
                    "VariantName": pv["VariantName"],
                    "DeployedImages": [
                        {"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": time.time()}
                    ],
                    "CurrentWeight": pv.get("InitialVariantWeight", 1.0),
                    "DesiredWeight": pv.get("InitialVariantWeight", 1.0),
                    "CurrentInstanceCount": count,
                    "DesiredInstanceCount": count,
                }
            )
        return fleet

    def _broken(self, config_name: str) -> str | None:
        for pv in self.configs[config_name]["ProductionVariants"]:
            model = self.models.get(pv["ModelName"])
            if model is None:
                return f"Could not find model {pv['ModelName']}."
            if model["PrimaryContainer"]["Image"] in self.broken_images:
                return (
                    f"The primary container for production variant {pv['VariantName']} did not pass the ping "
                    "health check. Please check CloudWatch logs for this endpoint."
                )
        return None

    def _roll_back(self, ep: Endpoint, reason: str) -> None:
        ep.steps.clear()
        ep.watch = []
        ep.deadline = None
        self._set_status(ep, "RollingBack")
        ep.failure = reason
        for v in ep.variants:
            v["CurrentWeight"] = v["DesiredWeight"]
        for pv in (ep.pending or {}).get("ProductionVariants", []):
            pv["VariantStatus"] = [
                {"Status": "Deleting", "StatusMessage": "removing the new fleet", "StartTime": time.time()}
            ]

        stuck = self._images((ep.pending or {}).get("EndpointConfigName")) & self.rollback_fails

        def done() -> None:
            if stuck:  # both fleets keep part of the endpoint: SageMaker's UpdateRollbackFailed
                ep.failure = f"{reason} Rollback failed: the old fleet could not be restored."
                self._set_status(ep, "UpdateRollbackFailed")
                return
            ep.pending = None
            self._set_status(ep, "InService")

        ep.steps.append((time.time() + self.rollback_seconds, done))

    def _images(self, config_name: str | None) -> set[str]:
        config = self.configs.get(config_name or "")
        if config is None:
            return set()
        models = (self.models.get(pv["ModelName"]) for pv in config["ProductionVariants"])
        return {m["PrimaryContainer"]["Image"] for m in models if m}

    def _config(self, name: str) -> dict[str, Any]:
        if name not in self.configs:
            raise validation(f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".')
        return self.configs[name]

    def _endpoint(self, name: str) -> Endpoint:
        if name not in self.endpoints:
            raise validation(f'Could not find endpoint "{self.arn("endpoint", name)}".')
        return self.endpoints[name]

    def _page(self, items: list[dict[str, Any]], req: dict[str, Any], key: str) -> dict[str, Any]:
        contains = req.get("NameContains", "")
        name_key = "EndpointConfigName" if key == "EndpointConfigs" else "ModelName"
        items = [i for i in items if contains in i[name_key]]
        items.sort(key=lambda i: i["CreationTime"], reverse=req.get("SortOrder", "Descending") == "Descending")
        start = int(req.get("NextToken") or 0)
        size = int(req.get("MaxResults") or 10)
        out: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return out

    # ------------------------------------------------------------------ operations

    def op_CreateModel(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["ModelName"]
        if name in self.models:
            raise validation(f'Cannot create already existing model "{self.arn("model", name)}".')
        if not req.get("PrimaryContainer", {}).get("Image"):
            raise validation("PrimaryContainer.Image is required")
        arn = self.arn("model", name)
        self.models[name] = {**req, "ModelArn": arn, "CreationTime": time.time()}
        self.tags[arn] = {t["Key"]: t["Value"] for t in req.get("Tags", [])}
        return {"ModelArn": arn}

    def op_DescribeModel(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["ModelName"]
        if name not in self.models:
            raise validation(f'Could not find model "{self.arn("model", name)}".')
        return {k: v for k, v in self.models[name].items() if k != "Tags"}

    def op_DeleteModel(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["ModelName"]
        if name not in self.models:
            raise validation(f'Could not find model "{self.arn("model", name)}".')
        model = self.models.pop(name)
        self.tags.pop(model["ModelArn"], None)
        return {}

    def op_ListModels(self, req: dict[str, Any]) -> dict[str, Any]:
        items = [
            {"ModelName": m["ModelName"], "ModelArn": m["ModelArn"], "CreationTime": m["CreationTime"]}
            for m in self.models.values()
        ]
        return self._page(items, req, "Models")

    def op_CreateEndpointConfig(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["EndpointConfigName"]
        if name in self.configs:
            raise validation(
                f'Cannot create already existing endpoint configuration "{self.arn("endpoint-config", name)}".'
            )
        for i, pv in enumerate(req["ProductionVariants"], 1):
            if pv.get("InstanceType") not in _INSTANCE_TYPES:
                raise validation(
                    f"1 validation error detected: Value '{pv.get('InstanceType')}' at "
                    f"'productionVariants.{i}.member.instanceType' failed to satisfy constraint: "
                    "Member must satisfy enum value set"
                )
            if pv.get("ModelName") not in self.models:
                raise validation(f'Could not find model "{self.arn("model", str(pv.get("ModelName")))}".')
        arn = self.arn("endpoint-config", name)
        self.configs[name] = {**req, "EndpointConfigArn": arn, "CreationTime": time.time() + next(self._tokens) * 1e-6}
        self.tags[arn] = {t["Key"]: t["Value"] for t in req.get("Tags", [])}
        return {"EndpointConfigArn": arn}

    def op_DescribeEndpointConfig(self, req: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in self._config(req["EndpointConfigName"]).items() if k != "Tags"}

    def op_DeleteEndpointConfig(self, req: dict[str, Any]) -> dict[str, Any]:
        config = self._config(req["EndpointConfigName"])
        del self.configs[req["EndpointConfigName"]]
        self.tags.pop(config["EndpointConfigArn"], None)
        return {}

    def op_ListEndpointConfigs(self, req: dict[str, Any]) -> dict[str, Any]:
        items = [
            {
                "EndpointConfigName": c["EndpointConfigName"],
                "EndpointConfigArn": c["EndpointConfigArn"],
                "CreationTime": c["CreationTime"],
            }
            for c in self.configs.values()
        ]
        return self._page(items, req, "EndpointConfigs")

    def op_CreateEndpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["EndpointName"]
        if name in self.endpoints:
            raise validation(f'Cannot create already existing endpoint "{self.arn("endpoint", name)}".')
        self._config(req["EndpointConfigName"])
        arn = self.arn("endpoint", name)
        ep = Endpoint(name=name, arn=arn, config=req["EndpointConfigName"])
        self._set_status(ep, "Creating")
        self.endpoints[name] = ep
        self.tags[arn] = {t["Key"]: t["Value"] for t in req.get("Tags", [])}

        def up() -> None:
            broken = self._broken(ep.config)
            if broken:
                ep.failure = broken
                self._set_status(ep, "Failed")
            else:
                ep.variants = self._fleet(ep.config)
                self._set_status(ep, "InService")

        ep.steps.append((time.time() + self.provision_seconds, up))
        return {"EndpointArn": arn}

    def op_DescribeEndpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        ep = self._endpoint(req["EndpointName"])
        if len(ep.reported) < len(ep.transitions) and ep.transitions[-1][0] == ep.status:
            ep.reported.append((ep.status, time.time()))
        out: dict[str, Any] = {
            "EndpointName": ep.name,
            "EndpointArn": ep.arn,
            "EndpointConfigName": ep.config,
            "EndpointStatus": ep.status,
            "CreationTime": ep.created,
            "LastModifiedTime": ep.modified,
        }
        if ep.variants:
            out["ProductionVariants"] = ep.variants
        if ep.failure:
            out["FailureReason"] = ep.failure
        if ep.pending:
            out["PendingDeploymentSummary"] = {k: v for k, v in ep.pending.items() if not k.startswith("_")}
        if ep.last_deployment:
            out["LastDeploymentConfig"] = ep.last_deployment
        return out

    def op_DeleteEndpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        ep = self._endpoint(req["EndpointName"])
        if ep.status in ("Creating", "Updating", "RollingBack"):
            raise validation(f'Cannot delete endpoint "{ep.arn}" while it is {ep.status}.')
        ep.steps.clear()
        self._set_status(ep, "Deleting")

        def gone() -> None:
            self.endpoints.pop(ep.name, None)
            self.tags.pop(ep.arn, None)

        ep.steps.append((time.time() + self.delete_seconds, gone))
        return {}

    def op_UpdateEndpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        ep = self._endpoint(req["EndpointName"])
        if ep.status == "Failed":
            raise validation(f'Cannot update endpoint "{ep.arn}" in status Failed; delete it and create it again.')
        if ep.status not in ("InService", "UpdateRollbackFailed"):
            raise validation(f'Cannot update in-progress endpoint "{ep.arn}".')
        new = req["EndpointConfigName"]
        config = self._config(new)
        old = self.configs[ep.config]
        old_types = {pv["VariantName"]: pv["InstanceType"] for pv in old["ProductionVariants"]}
        new_types = {pv["VariantName"]: pv["InstanceType"] for pv in config["ProductionVariants"]}
        if self.autoscaled is not None:
            for variant, itype in old_types.items():
                rid = f"endpoint/{ep.name}/variant/{variant}"
                if new_types.get(variant) != itype and self.autoscaled(rid):
                    raise validation(
                        f"The variant {variant} of endpoint {ep.name} is registered with Application Auto Scaling; "
                        "deregister it before changing its instance type or removing it."
                    )
        deployment = req.get("DeploymentConfig") or {}
        if deployment and set(old_types) != set(new_types):
            raise validation(
                "The new endpoint configuration must have the same variant names as the current one "
                "to use a DeploymentConfig."
            )
        routing = deployment.get("BlueGreenUpdatePolicy", {}).get("TrafficRoutingConfiguration", {})
        for key, low, high in (("CanarySize", 1, 50), ("LinearStepSize", 10, 50)):
            size = routing.get(key)
            if size and size["Type"] == "CAPACITY_PERCENT" and not low <= size["Value"] <= high:
                raise validation(f"{key} must be between {low}% and {high}% of the variant's capacity.")
        current = {v["VariantName"]: v["DesiredInstanceCount"] for v in ep.variants}
        counts = current if req.get("RetainAllVariantProperties") else None
        green = self._fleet(new, {k: v for k, v in (counts or {}).items() if k in new_types})
        ep.failure = None
        ep.pending = {
            "EndpointConfigName": new,
            "StartTime": time.time(),
            "ProductionVariants": [
                {
                    "VariantName": v["VariantName"],
                    "DesiredInstanceCount": v["DesiredInstanceCount"],
                    "InstanceType": new_types[v["VariantName"]],
                    "VariantStatus": [
                        {"Status": "Creating", "StatusMessage": "launching the new fleet", "StartTime": time.time()}
                    ],
                }
                for v in green
            ],
        }
        alarms = [a["AlarmName"] for a in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
        ep.watch = alarms
        self._set_status(ep, "Updating")
        blue_green = deployment.get("BlueGreenUpdatePolicy")
        rolling = deployment.get("RollingUpdatePolicy")
        policy = blue_green or rolling or {}
        if policy.get("MaximumExecutionTimeoutInSeconds"):
            ep.deadline = time.time() + policy["MaximumExecutionTimeoutInSeconds"] * self.time_scale
        t = time.time()

        ep.shares = []

        def status(state: str, message: str, share: int | None = None) -> Callable[[], None]:
            def act() -> None:
                if share is not None:
                    ep.shares.append(share)
                for pv in ep.pending["ProductionVariants"] if ep.pending else []:
                    pv["VariantStatus"] = [{"Status": state, "StatusMessage": message, "StartTime": time.time()}]

            return act

        def fleet_up() -> None:
            if self._images(new) & self.update_fails:
                ep.steps.clear()
                ep.watch, ep.deadline = [], None
                ep.failure = "Failed to update endpoint: unable to provision the requested ML compute capacity."
                self._set_status(ep, "Failed")
                return
            broken = self._broken(new)
            if broken:
                self._roll_back(ep, f"Deployment failed: new fleet did not become healthy. {broken}")
                return
            assert ep.pending is not None
            ep.pending["_fleet_up"] = True

        if rolling:
            size = rolling["MaximumBatchSize"]["Value"]
            total = max(sum(v["DesiredInstanceCount"] for v in green), 1)
            batches = (
                math.ceil(total / size)
                if rolling["MaximumBatchSize"]["Type"] == "INSTANCE_COUNT"
                else math.ceil(100 / size)
            )
            wait = rolling["WaitIntervalInSeconds"] * self.time_scale
            per_batch = self.provision_seconds / batches
            for i in range(batches):
                t += per_batch
                ep.steps.append((t, fleet_up if i == 0 else status("Creating", f"batch {i + 1} of {batches}")))
                ep.steps.append(
                    (
                        t,
                        status(
                            "Baking", f"batch {i + 1} of {batches} replaced; baking {rolling['WaitIntervalInSeconds']}s"
                        ),
                    )
                )
                t += wait
        else:
            routing = (blue_green or {}).get(
                "TrafficRoutingConfiguration", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
            )
            wait = routing["WaitIntervalInSeconds"] * self.time_scale
            if routing["Type"] == "CANARY":
                shares = [routing["CanarySize"]["Value"], 100]
            elif routing["Type"] == "LINEAR":
                step = routing["LinearStepSize"]["Value"]
                shares = [*range(step, 100, step), 100]
            else:
                shares = [100]
            t += self.provision_seconds
            ep.steps.append((t, fleet_up))
            for share in shares:
                ep.steps.append(
                    (t, status("ActivatingTraffic", f"shifting {share}% of traffic to the new fleet", share))
                )
                t += 0.02
                ep.steps.append(
                    (t, status("Baking", f"baking {routing['WaitIntervalInSeconds']}s with {share}% on the new fleet"))
                )
                t += wait
            t += (blue_green or {}).get("TerminationWaitInSeconds", 0) * self.time_scale

        def finish() -> None:
            ep.config = new
            ep.variants = green
            ep.pending = None
            ep.watch = []
            ep.deadline = None
            ep.last_deployment = deployment or None
            self._set_status(ep, "InService")

        ep.steps.append((t, finish))
        return {"EndpointArn": ep.arn}

    def op_ListTags(self, req: dict[str, Any]) -> dict[str, Any]:
        arn = req["ResourceArn"]
        if arn not in self.tags:
            raise validation(f"Resource {arn} does not exist.")
        return {"Tags": [{"Key": k, "Value": v} for k, v in self.tags[arn].items()]}

    def op_AddTags(self, req: dict[str, Any]) -> dict[str, Any]:
        arn = req["ResourceArn"]
        if arn not in self.tags:
            raise validation(f"Resource {arn} does not exist.")
        self.tags[arn].update({t["Key"]: t["Value"] for t in req["Tags"]})
        return {"Tags": req["Tags"]}


SECRETS = {"testing": "testing"}  # access key id -> secret, as the tests' environment sets them


def _check_sigv4(method: str, path: str, headers: dict[str, str], body: bytes, region: str) -> str | None:
    """Why a request's SigV4 signature is not valid, or None: recomputed with botocore's own signer."""
    import datetime

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lower = {k.lower(): v for k, v in headers.items()}
    m = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
        r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
        lower.get("authorization", ""),
    )
    if not m:
        return "Missing Authentication Token"
    key, _day, signed_region, service, signed, signature = m.groups()
    if key not in SECRETS:
        return "The security token included in the request is invalid."
    if (signed_region, service) != (region, "sagemaker"):
        return f"Credential should be scoped to a valid region and service sagemaker, not {signed_region}/{service}"
    stamp = lower.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "X-Amz-Date is missing or malformed"
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 300:
        return "Signature expired"
    names = signed.split(";")
    request = AWSRequest(
        method=method,
        url=f"http://{lower.get('host', '')}{path}",
        data=body,
        headers={n: lower[n] for n in names if n in lower},
    )
    request.context["timestamp"] = stamp
    auth = SigV4Auth(Credentials(key, SECRETS[key]), "sagemaker", region)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if expected != signature:
        return "The request signature we calculated does not match the signature you provided."
    return None
