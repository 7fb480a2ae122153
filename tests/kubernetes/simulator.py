"""A local Kubernetes API server for tests: the official client talks to it over HTTP on 127.0.0.1.

It speaks the REST protocol for what scalectl uses: Deployments, Services, Pods (read only),
Events, HorizontalPodAutoscalers (autoscaling/v2), PodDisruptionBudgets (policy/v1) and, when
`gateway_api` is on, HTTPRoutes (gateway.networking.k8s.io/v1), and Leases
(coordination.k8s.io/v1, the deploy lease), with API discovery at /api and /apis. It behaves
like an API server where it matters to a rollout:

- create (409 AlreadyExists), get, list with equality labelSelector and fieldSelector, replace
  (409 Conflict on a stale metadata.resourceVersion), merge/strategic-merge patch, delete
  (409 Conflict when DeleteOptions.preconditions.resourceVersion is stale);
- a Deployment's pods become ready `ready_seconds` after its spec changes; an image whose name
  contains "broken" never does: its pods fail readiness, Warning events say so, and after
  `fail_seconds` the Deployment's Progressing condition turns False (ProgressDeadlineExceeded);
  an image containing "crashy" gets ready and then restarts; "oom" is OOMKilled; "missing"
  cannot be pulled; pods asking for more than `gpus_per_node` GPUs stay Pending;
- HPAs report current/desired replicas of their Deployment;
- `fail(status, count, match)` answers the next `count` requests matching `match` with that
  status (429 carries Retry-After), `delay` slows every request down;
- `requests` counts calls as "VERB kind", for benchmarks and tests;
- the service proxy, `/api/v1/namespaces/{ns}/services/{name}[:{port}]/proxy/{path}`, as the API server
  serves it: the kubeconfig's bearer token is required (401 without it), a missing Service is 404, and a
  Service given a backend with `serve(namespace, service, base_url)` has the request forwarded there (a
  local model server standing in for its pods); without one, 503 as a Service with no ready endpoints.
  Gateways (gateway.networking.k8s.io/v1) can be put in `objects` with a status for tests to read.
"""

from __future__ import annotations

import copy
import http.client
import itertools
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

_MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")  # metav1.MicroTime as clients send it
# plural -> (group/version, kind, namespaced path prefix)
RESOURCES = {
    "deployments": ("apps/v1", "Deployment"),
    "services": ("v1", "Service"),
    "pods": ("v1", "Pod"),
    "events": ("v1", "Event"),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler"),
    "poddisruptionbudgets": ("policy/v1", "PodDisruptionBudget"),
    "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    "leases": ("coordination.k8s.io/v1", "Lease"),
    "gateways": ("gateway.networking.k8s.io/v1", "Gateway"),
}
TOKEN = "test-token"  # the bearer token in the kubeconfig the simulator writes
_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/:]+)(?::[^/]+)?/proxy(/.*)?$")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
GROUPS = ["apps/v1", "autoscaling/v2", "policy/v1", "coordination.k8s.io/v1"]


@dataclass
class _Rollout:
    """When a Deployment's spec last changed, and how many pods were ready before that."""

    changed_at: float
    ready_before: int
    restarts_from: float = 0.0


class KubeSim:
    def __init__(self, ready_seconds: float = 0.2, fail_seconds: float = 0.6, gateway_api: bool = True) -> None:
        self.ready_seconds = ready_seconds
        self.fail_seconds = fail_seconds
        self.gateway_api = gateway_api
        self.gpus_per_node: int | None = None  # pods asking for more stay Pending (FailedScheduling)
        # three nodes; pods land on node-(i % 3): node-0 and node-1 are EKS spot capacity
        self.nodes = [
            {"metadata": {"name": f"node-{i}", "labels": {"eks.amazonaws.com/capacityType": kind}}}
            for i, kind in enumerate(("SPOT", "SPOT", "ON_DEMAND"))
        ]
        self.delay = 0.0
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, namespace, name) -> object
        self.rollouts: dict[tuple[str, str], _Rollout] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: Counter[str] = Counter()
        self.errors: list[str] = []  # the simulator's own failures: a test should assert it stays empty
        self._failures: list[list[Any]] = []  # [status, remaining, match]
        self._version = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self.backends: dict[tuple[str, str], str] = {}  # (namespace, Service) -> base URL its pods stand for
        self._upstream = threading.local()  # a keep-alive connection to the backend per handler thread
        self.utilization: dict[str, int] = {"cpu": 35}  # HPA currentMetrics (percent of requests), by resource

    # ------------------------------------------------------------ lifecycle

    def start(self) -> str:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real API server (every answer has a Content-Length)
            disable_nagle_algorithm = True  # headers and body are written apart: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                sim._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def kubeconfig(self, path: Path, context: str = "sim", namespace: str = "default") -> Path:
        """A kubeconfig file whose `context` points at this simulator (what KUBECONFIG names in tests)."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sim", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "test-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "sim", "user": "tester", "namespace": namespace}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    def serve(self, namespace: str, service: str, base_url: str) -> None:
        """Forward the service proxy's requests for this Service to `base_url` (its pods)."""
        self.backends[(namespace, service)] = base_url.rstrip("/")

    def fail(self, status: int, count: int = 1, match: str = "") -> None:
        """Answer the next `count` requests whose "VERB /path" contains `match` with `status`."""
        with self.lock:
            self._failures.append([status, count, match])

    def names(self, plural: str) -> list[str]:
        with self.lock:
            return sorted(name for (p, _, name) in self.objects if p == plural)

    def get(self, plural: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((plural, namespace, name))
            return self._with_status(plural, copy.deepcopy(obj)) if obj else None

    # ------------------------------------------------------------ HTTP

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            if self.delay:
                time.sleep(self.delay)
            url = urlsplit(handler.path)
            proxied = _PROXY.match(url.path)
            if proxied:
                self._proxy(handler, proxied, url.query)
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            length = int(handler.headers.get("Content-Length") or 0)
            body = json.loads(handler.rfile.read(length)) if length else None
            status, payload, headers = self._route(handler.command, url.path, query, body)
        except Exception as exc:  # a bug in the simulator: report it as a 500 and remember it
            self.errors.append(f"{handler.command} {handler.path}: {type(exc).__name__}: {exc}")
            status, payload, headers = 500, _status(500, "InternalError", str(exc)), {}
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _proxy(self, handler: BaseHTTPRequestHandler, match: re.Match[str], query: str) -> None:
        """The API server's service proxy: authenticate, find the Service, forward to its backend."""
        namespace, service, rest = match.group(1), match.group(2), match.group(3) or "/"
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        self.requests["PROXY Service"] += 1
        status, headers, data = 0, {"Content-Type": "application/json"}, b""
        if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
            status, data = 401, json.dumps(_status(401, "Unauthorized", "Unauthorized")).encode()
        elif ("services", namespace, service) not in self.objects:
            status, data = 404, json.dumps(_status(404, "NotFound", f'services "{service}" not found')).encode()
        elif (namespace, service) not in self.backends:
            message = f'no endpoints available for service "{service}"'
            status, data = 503, json.dumps(_status(503, "ServiceUnavailable", message)).encode()
        else:
            base = urlsplit(self.backends[(namespace, service)])
            upstream = getattr(self._upstream, "conn", None)
            if upstream is None:
                upstream = http.client.HTTPConnection(base.hostname or "127.0.0.1", base.port or 80, timeout=30)
                self._upstream.conn = upstream
            forward = {k: v for k, v in handler.headers.items() if k.lower() not in ("authorization", "host")}
            target = f"{base.path}{rest}" + (f"?{query}" if query else "")
            try:
                upstream.request(handler.command, target, body=body, headers=forward)
                answer = upstream.getresponse()
                status, data = answer.status, answer.read()
                headers = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
            except (OSError, http.client.HTTPException) as exc:
                upstream.close()
                self._upstream.conn = None
                status, data = (
                    503,
                    json.dumps(_status(503, "ServiceUnavailable", f"error trying to reach service: {exc}")).encode(),
                )
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(
        self, verb: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            for failure in self._failures:
                status, remaining, match = failure
                if remaining > 0 and match in f"{verb} {path}":
                    failure[1] -= 1
                    headers = {"Retry-After": "0"} if status == 429 else {}
                    reason = "TooManyRequests" if status == 429 else "InternalError"
                    return status, _status(status, reason, "injected failure"), headers
        path = path.rstrip("/") or "/"
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"]}, {}
        if path == "/apis":
            self.requests["GET discovery"] += 1
            return 200, self._groups(), {}
        if path == "/version":
            return 200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-scalectl-sim"}, {}
        if path == "/api/v1/nodes":  # cluster-scoped, read only
            self.requests["GET Node"] += 1
            items = [n for n in self.nodes if _matches(n, query.get("labelSelector", ""))]
            return 200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": items}, {}
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"]:
            gv, rest = "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return 404, _status(404, "NotFound", f"the server could not find the requested resource {path}"), {}
        if len(rest) < 3 or rest[0] != "namespaces" or rest[2] not in RESOURCES or RESOURCES[rest[2]][0] != gv:
            return 404, _status(404, "NotFound", f"the server could not find the requested resource {path}"), {}
        if gv.startswith("gateway.") and not self.gateway_api:
            return 404, _status(404, "NotFound", "the server could not find the requested resource"), {}
        namespace, plural = rest[1], rest[2]
        name = rest[3] if len(rest) > 3 else None
        self.requests[f"{verb} {RESOURCES[plural][1]}"] += 1
        with self.lock:
            return (*self._act(verb, plural, namespace, name, query, body), {})

    def _groups(self) -> dict[str, Any]:
        gvs = GROUPS + (["gateway.networking.k8s.io/v1"] if self.gateway_api else [])
        groups = []
        for gv in gvs:
            group, version = gv.split("/")
            v = {"groupVersion": gv, "version": version}
            groups.append({"name": group, "versions": [v], "preferredVersion": v})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _act(
        self, verb: str, plural: str, namespace: str, name: str | None, query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any]]:
        gv, kind = RESOURCES[plural]
        key = (plural, namespace, name or "")
        current = self.objects.get(key)
        if verb == "GET" and name is None:
            items = [
                self._with_status(plural, copy.deepcopy(o))
                for (p, ns, _), o in sorted(self.objects.items())
                if p == plural and ns == namespace and _matches(o, query.get("labelSelector", ""))
            ]
            if plural == "pods":
                items = [p for p in self._pods(namespace) if _matches(p, query.get("labelSelector", ""))]
            if plural == "events":
                items = [e for e in self.events if _field_matches(e, query.get("fieldSelector", ""))]
            return 200, {
                "kind": f"{kind}List",
                "apiVersion": gv,
                "metadata": {"resourceVersion": str(next(self._version))},
                "items": items,
            }
        if plural in ("pods", "events"):
            return 405, _status(405, "MethodNotAllowed", f"the simulator serves {plural} read-only")
        if verb == "POST":
            name = body.get("metadata", {}).get("name", "")
            key = (plural, namespace, name)
            if key in self.objects:
                return 409, _status(409, "AlreadyExists", f'{plural} "{name}" already exists')
            problem = _invalid(kind, body)
            if problem:
                return 422, _status(422, "Invalid", f'{kind} "{name}" is invalid: {problem}')
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            meta.update(
                {
                    "namespace": namespace,
                    "resourceVersion": str(next(self._version)),
                    "generation": 1,
                    "uid": f"uid-{next(self._version)}",
                }
            )
            meta["creationTimestamp"] = _now()
            if kind == "Service":
                obj["spec"]["clusterIP"] = f"10.96.0.{len(self.objects) % 250 + 1}"
            self.objects[key] = obj
            if kind == "Deployment":
                self._changed(namespace, name, 0)
            return 201, self._with_status(plural, copy.deepcopy(obj))
        if current is None:
            return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
        if verb == "GET":
            return 200, self._with_status(plural, copy.deepcopy(current))
        if verb == "DELETE":
            expected = ((body or {}).get("preconditions") or {}).get("resourceVersion")
            if expected and expected != current["metadata"]["resourceVersion"]:
                return 409, _status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {plural} "{name}": the ResourceVersion in the precondition '
                    f"({expected}) does not match the ResourceVersion in record "
                    f"({current['metadata']['resourceVersion']}). The object might have been modified",
                )
            del self.objects[key]
            self.rollouts.pop((namespace, name or ""), None)
            return 200, _status(200, "Success", "deleted")
        if verb == "PUT":
            sent = body.get("metadata", {}).get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                return 409, _status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {plural} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                )
            new = copy.deepcopy(body)
        elif verb == "PATCH":
            new = _merge(copy.deepcopy(current), body)
        else:
            return 405, _status(405, "MethodNotAllowed", verb)
        problem = _invalid(kind, new)
        if problem:
            return 422, _status(422, "Invalid", f'{kind} "{name}" is invalid: {problem}')
        meta = new.setdefault("metadata", {})
        for keep in ("uid", "creationTimestamp", "namespace"):
            meta[keep] = current["metadata"][keep]
        spec_changed = new.get("spec") != current.get("spec")
        meta["generation"] = current["metadata"]["generation"] + (1 if spec_changed else 0)
        meta["resourceVersion"] = str(next(self._version))
        new.pop("status", None)
        self.objects[key] = new
        if kind == "Deployment" and spec_changed:
            before = self._deployment_status(namespace, current)["readyReplicas"]
            self._changed(
                namespace, name or "", before if new["spec"]["template"] == current["spec"]["template"] else 0
            )
        return 200, self._with_status(plural, copy.deepcopy(new))

    # ------------------------------------------------------------ behaviour

    def _changed(self, namespace: str, name: str, ready_before: int) -> None:
        self.rollouts[(namespace, name)] = _Rollout(time.monotonic(), ready_before)
        obj = self.objects[("deployments", namespace, name)]
        image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
        if "broken" in image and obj["spec"].get("replicas", 1) > 0:
            self._event(
                namespace,
                f"{name}-7d9f8-x2k4q",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            )
        if "missing" in image and obj["spec"].get("replicas", 1) > 0:
            self._event(
                namespace,
                f"{name}-7d9f8-x2k4q",
                "Failed",
                f'Failed to pull image "{image}": rpc error: code = NotFound desc = {image}: not found',
            )
        if self._short_of_gpus(obj):
            self._event(
                namespace,
                f"{name}-7d9f8-x2k4q",
                "FailedScheduling",
                "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: "
                "3 No preemption victims found for incoming pod.",
            )
        if "oom" in image and obj["spec"].get("replicas", 1) > 0:
            self._event(
                namespace, f"{name}-7d9f8-x2k4q", "BackOff", "Back-off restarting failed container model (OOMKilled)"
            )

    def _event(self, namespace: str, pod: str, reason: str, message: str) -> None:
        self.events.append(
            {
                "metadata": {"name": f"{pod}.{next(self._version)}", "namespace": namespace},
                "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace},
                "reason": reason,
                "message": message,
                "type": "Warning",
                "count": 1,
                "lastTimestamp": _now(),
            }
        )

    def _short_of_gpus(self, obj: dict[str, Any]) -> bool:
        """Whether the Deployment's pods ask for more nvidia.com/gpu than `gpus_per_node` (None: unlimited)."""
        if self.gpus_per_node is None or obj["spec"].get("replicas", 1) == 0:
            return False
        limits = obj["spec"]["template"]["spec"]["containers"][0].get("resources", {}).get("limits", {})
        return int(limits.get("nvidia.com/gpu", 0)) > self.gpus_per_node

    def _deployment_status(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        replicas = int(obj["spec"].get("replicas", 1))
        image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
        rollout = self.rollouts.get((namespace, name), _Rollout(0.0, 0))
        elapsed = time.monotonic() - rollout.changed_at
        bad = any(word in image for word in ("broken", "oom", "missing")) or self._short_of_gpus(obj)
        ready = 0 if bad else (replicas if elapsed >= self.ready_seconds else min(rollout.ready_before, replicas))
        progressing = {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable" if ready == replicas else "ReplicaSetUpdated",
        }
        if bad and replicas > 0 and elapsed >= self.fail_seconds:
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}-7d9f8" has timed out progressing.',
            }
        return {
            "observedGeneration": obj["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": replicas - ready,
            "conditions": [progressing],
        }

    def _with_status(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        namespace = obj["metadata"].get("namespace", "default")
        if plural == "deployments":
            obj["status"] = self._deployment_status(namespace, obj)
        elif plural == "horizontalpodautoscalers":
            target = self.objects.get(("deployments", namespace, obj["spec"]["scaleTargetRef"]["name"]))
            current = int(target["spec"].get("replicas", 1)) if target else 0
            obj["status"] = {
                "currentReplicas": current,
                "desiredReplicas": max(current, obj["spec"].get("minReplicas", 1)),
                **self._hpa_metrics(obj),  # issue 15: what the HPA currently measures
            }
        return obj

    # ------------------------------------------------------------ HPA current metrics (issue 15)

    def _hpa_metrics(self, obj: dict[str, Any]) -> dict[str, Any]:
        """autoscaling/v2 `status.currentMetrics` for the Resource metrics the HPA targets."""
        current = []
        for metric in obj["spec"].get("metrics", []):
            name = metric.get("resource", {}).get("name")
            if metric.get("type") == "Resource" and name in self.utilization:
                value = self.utilization[name]
                current.append(
                    {"type": "Resource", "resource": {"name": name, "current": {"averageUtilization": value}}}
                )
        return {"currentMetrics": current} if current else {}

    def _pods(self, namespace: str) -> list[dict[str, Any]]:
        pods = []
        for (plural, ns, name), obj in sorted(self.objects.items()):
            if plural != "deployments" or ns != namespace:
                continue
            status = self._deployment_status(ns, obj)
            image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
            rollout = self.rollouts.get((ns, name), _Rollout(0.0, 0))
            restarts = int((time.monotonic() - rollout.changed_at) / self.ready_seconds) if "crashy" in image else 0
            for i in range(status["replicas"]):
                ready = i < status["readyReplicas"]
                pods.append(
                    {
                        "metadata": {
                            "name": f"{name}-7d9f8-{i:05d}",
                            "namespace": ns,
                            "labels": dict(obj["spec"]["template"]["metadata"]["labels"]),
                        },
                        "spec": {"nodeName": f"node-{i % 3}"},
                        "status": {
                            "phase": "Running" if ready or "broken" in image else "Pending",
                            "containerStatuses": [
                                {"name": "model", "ready": ready, "restartCount": restarts, "image": image}
                            ],
                        },
                    }
                )
        return pods


def _invalid(kind: str, obj: dict[str, Any]) -> str:
    """The few validation rules the API server applies that a test might trip."""
    name = obj.get("metadata", {}).get("name", "")
    if not name or len(name) > 63 or not all((c.isalnum() and c.islower()) or c.isdigit() or c == "-" for c in name):
        return (
            f"metadata.name: Invalid value: {name!r}: "
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"
        )
    if kind == "Deployment":
        selector = obj["spec"]["selector"]["matchLabels"]
        labels = obj["spec"]["template"]["metadata"]["labels"]
        if any(labels.get(k) != v for k, v in selector.items()):
            return "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
    if kind == "Lease":
        spec = obj.get("spec") or {}
        duration = spec.get("leaseDurationSeconds")
        if duration is not None and (not isinstance(duration, int) or duration <= 0):
            return "spec.leaseDurationSeconds: Invalid value: must be greater than 0"
        for field in ("acquireTime", "renewTime"):
            if spec.get(field) is not None and not _MICRO_TIME.fullmatch(str(spec[field])):
                return f"spec.{field}: Invalid value: {spec[field]!r}: not an RFC 3339 time with microseconds"
    if kind == "HTTPRoute":
        for rule in obj["spec"].get("rules", []):
            for ref in rule.get("backendRefs", []):
                if not 0 <= ref.get("weight", 1) <= 1000000:
                    return "spec.rules.backendRefs.weight: out of range"
    return ""


def _matches(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        else:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k) != v:
                return False
    return True


def _field_matches(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        k, v = term.split("=", 1)
        value: Any = obj
        for part in k.split("."):
            value = value.get(part, {}) if isinstance(value, dict) else {}
        if value != v:
            return False
    return True


def _merge(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386); lists are replaced, as strategic merge does for the fields we patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = _merge(target.get(k), v)
    return target


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
