"""The Kubernetes API calls scalectl makes, over the official `kubernetes` client.

Importing this module is cheap; `Cluster(...)` imports the client only when a command talks to
a cluster. Configuration is the standard one: the kubeconfig KUBECONFIG (or ~/.kube/config)
names, at the target's `context` or the current one, else the in-cluster service account.
Responses are read as plain JSON dicts (what `render` shows is what is sent). Throttling (429)
and server errors (5xx) are retried with backoff; conflicts (409) are for the caller to resolve.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from scalectl.errors import ProviderError
from scalectl.events import Events
from scalectl.wait import backoff, pause

from .schema import KubernetesTarget

GATEWAY_GROUP = "gateway.networking.k8s.io"
_RETRIES = 6
# kind -> (client API class, method suffix); HTTPRoute goes through CustomObjectsApi
KINDS: dict[str, tuple[str, str]] = {
    "Deployment": ("AppsV1Api", "namespaced_deployment"),
    "Service": ("CoreV1Api", "namespaced_service"),
    "HorizontalPodAutoscaler": ("AutoscalingV2Api", "namespaced_horizontal_pod_autoscaler"),
    "PodDisruptionBudget": ("PolicyV1Api", "namespaced_pod_disruption_budget"),
}
ROUTE = ("gateway.networking.k8s.io", "v1", "httproutes")


class KubernetesError(ProviderError):
    """The API server refused a call; `status` is the HTTP status (404, 409, ...)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotFound(KubernetesError):
    pass


class Conflict(KubernetesError):
    """409: the object exists already, or changed since it was read (resourceVersion)."""


class Cluster:
    """One target's namespace on one cluster, plus a per-call count (for benchmarks and tests)."""

    def __init__(self, target: KubernetesTarget, events: Events | None = None, sleep: Callable[[float], None] = pause):
        try:
            from kubernetes import client
        except ImportError:
            raise ProviderError(
                "the kubernetes provider needs the kubernetes client: pip install 'scalectl[kubernetes]'"
            ) from None
        self.target = target
        self.namespace = target.namespace
        self.events = events
        self.sleep = sleep
        self.api_client = _api_client(target.context)
        self.host = self.api_client.configuration.host
        self._apis: dict[str, Any] = {}
        self._client = client
        self.calls: Counter[str] = Counter()

    def api(self, name: str) -> Any:
        if name not in self._apis:
            self._apis[name] = getattr(self._client, name)(self.api_client)
        return self._apis[name]

    # ------------------------------------------------------------ plumbing

    def call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API call returning parsed JSON; 429 and 5xx are retried with backoff (Retry-After honoured)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        delay = backoff(initial=0.2, factor=2.0, maximum=8.0)
        for attempt in range(_RETRIES):
            self.calls[what] += 1
            try:
                response = method(*args, _preload_content=False, _request_timeout=30, **kwargs)
                data = response.data
                return json.loads(data) if data else {}
            except ApiException as exc:
                status = int(exc.status or 0)
                if (status == 429 or status >= 500) and attempt < _RETRIES - 1:
                    wait = _retry_after(exc) or delay(attempt)
                    if self.events is not None:
                        self.events.warn(f"the API server answered {status} to {what}; retrying in {wait:.1f}s")
                    self.sleep(wait)
                    continue
                raise _error(what, exc, self.namespace) from None
            except HTTPError as exc:  # urllib3 has already retried the connection
                raise KubernetesError(
                    f"cannot reach the Kubernetes API server at {self.host} for {what}: {exc}"
                ) from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ discovery

    def serves_gateway_api(self) -> bool:
        """Whether the cluster serves gateway.networking.k8s.io/v1 (HTTPRoute weights are possible)."""
        groups = self.call("discovery", self.api("ApisApi").get_api_versions)
        for group in groups.get("groups", []):
            if group.get("name") == GATEWAY_GROUP:
                return any(v.get("version") == "v1" for v in group.get("versions", []))
        return False

    # ------------------------------------------------------------ objects

    def _method(self, verb: str, kind: str) -> Callable[..., Any]:
        api_name, suffix = KINDS[kind]
        return getattr(self.api(api_name), f"{verb}_{suffix}")

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body["kind"]
        if kind == "HTTPRoute":
            api = self.api("CustomObjectsApi")
            return self.call(
                f"create {kind}", api.create_namespaced_custom_object, *ROUTE[:2], self.namespace, ROUTE[2], body
            )
        return self.call(f"create {kind}", self._method("create", kind), self.namespace, body)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            if kind == "HTTPRoute":
                api = self.api("CustomObjectsApi")
                return self.call(
                    f"get {kind}", api.get_namespaced_custom_object, *ROUTE[:2], self.namespace, ROUTE[2], name
                )
            return self.call(f"get {kind}", self._method("read", kind), name, self.namespace)
        except NotFound:
            return None

    def find(self, kind: str, labels: str) -> list[dict[str, Any]]:
        if kind == "HTTPRoute":
            api = self.api("CustomObjectsApi")
            found = self.call(
                f"list {kind}",
                api.list_namespaced_custom_object,
                *ROUTE[:2],
                self.namespace,
                ROUTE[2],
                label_selector=labels,
            )
        elif kind == "Pod":
            found = self.call(
                "list Pod", self.api("CoreV1Api").list_namespaced_pod, self.namespace, label_selector=labels
            )
        else:
            found = self.call(f"list {kind}", self._method("list", kind), self.namespace, label_selector=labels)
        return list(found.get("items", []))

    def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        """PUT with the body's resourceVersion: Conflict if someone changed it since it was read."""
        kind, name = body["kind"], body["metadata"]["name"]
        if kind == "HTTPRoute":
            api = self.api("CustomObjectsApi")
            return self.call(
                f"replace {kind}",
                api.replace_namespaced_custom_object,
                *ROUTE[:2],
                self.namespace,
                ROUTE[2],
                name,
                body,
            )
        return self.call(f"replace {kind}", self._method("replace", kind), name, self.namespace, body)

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A strategic-merge (merge for HTTPRoute) patch: only the fields given change."""
        if kind == "HTTPRoute":
            api = self.api("CustomObjectsApi")
            return self.call(
                f"patch {kind}", api.patch_namespaced_custom_object, *ROUTE[:2], self.namespace, ROUTE[2], name, patch
            )
        return self.call(f"patch {kind}", self._method("patch", kind), name, self.namespace, patch)

    def delete(self, kind: str, name: str) -> bool:
        """Delete (pods of a Deployment go with it, in the background); False if it was already gone."""
        try:
            if kind == "HTTPRoute":
                api = self.api("CustomObjectsApi")
                self.call(
                    f"delete {kind}", api.delete_namespaced_custom_object, *ROUTE[:2], self.namespace, ROUTE[2], name
                )
            else:
                body = {"propagationPolicy": "Background"}
                self.call(f"delete {kind}", self._method("delete", kind), name, self.namespace, body=body)
        except NotFound:
            return False
        return True

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create, or replace what exists (keeping its resourceVersion; a conflict re-reads once)."""
        for _ in range(3):
            current = self.get(body["kind"], body["metadata"]["name"])
            if current is None:
                try:
                    return self.create(body)
                except Conflict:
                    continue
            merged = {
                **body,
                "metadata": {**body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
            }
            if body["kind"] == "Service":  # clusterIP is immutable and assigned by the server
                merged["spec"] = {**body["spec"], "clusterIP": current.get("spec", {}).get("clusterIP")}
            try:
                return self.replace(merged)
            except Conflict:
                continue
        raise KubernetesError(f"{body['kind']} {body['metadata']['name']} kept changing under scalectl; try again", 409)

    def node_labels(self) -> dict[str, dict[str, str]] | None:
        """Node name -> labels; None when the account may not list nodes (a cluster-scoped right)."""
        try:
            found = self.call("list Node", self.api("CoreV1Api").list_node)
        except KubernetesError as exc:
            if exc.status == 403:
                return None
            raise
        return {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in found.get("items", [])}

    def events_for(self, prefix: str) -> list[dict[str, Any]]:
        """Warning events of pods whose names start with `prefix` (a Deployment's pods), newest last."""
        found = self.call(
            "list Event", self.api("CoreV1Api").list_namespaced_event, self.namespace, field_selector="type=Warning"
        )
        items = [
            e for e in found.get("items", []) if str(e.get("involvedObject", {}).get("name", "")).startswith(prefix)
        ]
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or ""))


def _api_client(context: str | None) -> Any:
    """Kubeconfig (KUBECONFIG or ~/.kube/config) at `context`, else the in-cluster service account."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    # the client reads KUBECONFIG once, at import; read it now (a colon-separated list is merged)
    path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        return config.new_client_from_config(config_file=path, context=context)
    except ConfigException as exc:
        kubeconfig_error = str(exc)
    except FileNotFoundError as exc:  # KUBECONFIG names a missing file
        kubeconfig_error = str(exc)
    if context is not None:
        raise ProviderError(f"kubeconfig context {context!r} is not usable: {kubeconfig_error}") from None
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except ConfigException:
        raise ProviderError(
            f"no Kubernetes cluster configured: no usable kubeconfig ({kubeconfig_error}) and not running in a "
            "cluster; set KUBECONFIG or `context:` on the target"
        ) from None
    return client.ApiClient(configuration)


def _retry_after(exc: Any) -> float | None:
    value = (exc.headers or {}).get("Retry-After") if getattr(exc, "headers", None) else None
    try:
        return min(10.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error(what: str, exc: Any, namespace: str) -> KubernetesError:
    status = int(exc.status or 0)
    try:
        message = json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError):
        message = exc.reason or str(exc)
    if status == 404:
        return NotFound(f"{what}: not found ({message})", status)
    if status == 409:
        return Conflict(f"{what}: conflict ({message})", status)
    if status == 401:
        return KubernetesError(
            f"{what}: the API server did not accept the credentials ({message}); refresh your kubeconfig", status
        )
    if status == 403:
        return KubernetesError(
            f"{what}: forbidden in namespace {namespace} ({message}); your account needs RBAC rights on "
            "deployments, services, horizontalpodautoscalers, poddisruptionbudgets, httproutes and "
            "leases (coordination.k8s.io, the deploy lease) there",
            status,
        )
    if status == 422:
        return KubernetesError(f"{what}: the API server refused the object ({message})", status)
    return KubernetesError(f"{what} failed: {status} {message}", status)
