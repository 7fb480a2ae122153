"""The Vertex AI calls scalectl makes, over the official GAPIC clients (REST transport).

Importing this module is cheap; `Vertex(...)` imports `google.cloud.aiplatform_v1` (the
SDK's generated clients, ~0.7 s) only when a command really talks to Vertex. Every request
is a rendered body parsed into the SDK's request message, so what is sent is what
`scalectl render` shows. Long-running operations are polled with adaptive backoff;
throttling (429 RATE_LIMIT_EXCEEDED) is retried, quota and other refusals are not.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from scalectl.errors import ProviderError
from scalectl.events import Events
from scalectl.wait import backoff, pause, poll_until

from .schema import GcpTarget

ENV_API_ENDPOINT = "SCALECTL_GCP_API_ENDPOINT"
ENV_MONITORING_ENDPOINT = "SCALECTL_GCP_MONITORING_ENDPOINT"
_RETRIES = 6
# Seconds one call may take before it is given up on (the REST transport's read timeout): a call
# that never answers is retried twice like a dropped connection, then is a clear error.
CALL_TIMEOUT = 60.0
_AUTH_HINT = "; run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
_QUOTA_HINT = "; ask for more quota (IAM & Admin > Quotas) or pick another region or machine"


class VertexError(ProviderError):
    """Vertex AI refused a call; `status` is Google's canonical code name (NOT_FOUND, ...)."""

    def __init__(self, message: str, status: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class OperationFailed(VertexError):
    """A long-running operation finished with an error."""


def api_endpoint(target: GcpTarget) -> str:
    """Env override (CI, emulators), then the target's field, then the regional endpoint."""
    return os.environ.get(ENV_API_ENDPOINT) or target.api_endpoint or f"{target.region}-aiplatform.googleapis.com"


def monitoring_endpoint() -> str:
    """Cloud Monitoring's address: SCALECTL_GCP_MONITORING_ENDPOINT (CI, emulators) or the public API."""
    return (os.environ.get(ENV_MONITORING_ENDPOINT) or "https://monitoring.googleapis.com").rstrip("/")


def credentials_for(endpoint: str) -> Any:
    """Standard Google auth (ADC); anonymous only for a plain-http local emulator, so a real
    token is never sent over plain http."""
    if endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError as exc:
        raise ProviderError(
            "no Google credentials found: run `gcloud auth application-default login`, or set "
            f"GOOGLE_APPLICATION_CREDENTIALS to a service-account key file ({exc})"
        ) from None
    return credentials


class Vertex:
    """One target's Vertex AI clients plus a per-method call count (for benchmarks and tests)."""

    def __init__(self, target: GcpTarget, events: Events | None = None, sleep: Callable[[float], None] = pause):
        try:
            from google.api_core.client_options import ClientOptions
            from google.cloud.aiplatform_v1 import EndpointServiceClient, ModelServiceClient
        except ImportError:
            raise ProviderError("the gcp provider needs google-cloud-aiplatform: pip install 'scalectl[gcp]'") from None

        self.target = target
        self.events = events
        self.sleep = sleep
        self.host = api_endpoint(target)
        options = ClientOptions(api_endpoint=self.host)
        credentials = credentials_for(self.host)
        self.credentials = credentials
        self.models = ModelServiceClient(transport="rest", client_options=options, credentials=credentials)
        self.endpoints = EndpointServiceClient(transport="rest", client_options=options, credentials=credentials)
        self.calls: Counter[str] = Counter()

    @property
    def parent(self) -> str:
        return f"projects/{self.target.project}/locations/{self.target.region}"

    def base_url(self) -> str:
        return self.host if "://" in self.host else f"https://{self.host}"

    # ------------------------------------------------------------ plumbing

    def call(self, what: str, method: Callable[..., Any], request: Any) -> Any:
        """One API call; throttling is retried with backoff, anything else becomes a VertexError."""
        from google.api_core import exceptions as gexc

        delay = backoff(initial=0.5, factor=2.0, maximum=8.0)
        for attempt in range(_RETRIES):
            self.calls[what] += 1
            try:
                return method(request=request, retry=None, timeout=CALL_TIMEOUT)
            except unreachable_errors() as exc:
                if attempt < 2:  # a dropped connection gets two more tries; a wrong host fails fast after that
                    self.sleep(delay(attempt))
                    continue
                if type(exc).__name__ == "RefreshError":
                    raise VertexError(f"Google credentials could not be refreshed ({exc}){_AUTH_HINT}") from None
                raise VertexError(
                    f"cannot reach Vertex AI at {self.base_url()} for {what}: {exc}", "UNAVAILABLE"
                ) from None
            except gexc.GoogleAPICallError as exc:
                status, message = google_error(exc)
                reason = getattr(exc, "reason", None) or ""
                if _retryable(status, message, reason) and attempt < _RETRIES - 1:
                    wait = delay(attempt)
                    if self.events is not None:
                        self.events.warn(f"Vertex AI throttled {what} ({status}); retrying in {wait:.1f}s")
                    self.sleep(wait)
                    continue
                raise VertexError(_describe(what, status, message), status, reason) from None
        raise AssertionError("unreachable")

    def wait(self, what: str, operation: Any, *, timeout: float, client: Any) -> Any:
        """Poll a long-running operation until done; raise OperationFailed with Google's message."""
        op = getattr(operation, "operation", operation)  # a client's Operation future wraps the raw one
        name = op.name
        if not op.done:
            op = poll_until(
                lambda: self.call("GetOperation", client.get_operation, {"name": name}),
                lambda o: bool(o.done),
                timeout=max(timeout, 0.1),
                what=what,
                delay=backoff(initial=0.2, factor=1.25, maximum=10.0),  # at most ~25% late
                sleep=self.sleep,
            )
        if op.HasField("error"):
            status = _code_name(op.error.code)
            hint = _QUOTA_HINT if status == "RESOURCE_EXHAUSTED" else ""
            raise OperationFailed(f"{what} failed: {op.error.message}{hint}", status)
        return op

    def cancel(self, operation_name: str, client: Any) -> None:
        """Best effort: stop an operation we no longer wait for (a deploy that would move traffic later)."""
        with contextlib.suppress(VertexError):
            self.call("CancelOperation", client.cancel_operation, {"name": operation_name})

    # ------------------------------------------------------------ metrics

    def list_time_series(self, metric_filter: str, since: str, until: str) -> list[dict[str, Any]]:
        """Every series matching `metric_filter` in [since, until] (RFC 3339), from Cloud Monitoring's REST
        `projects.timeSeries.list`, raw points (no aligner: the caller sums or merges them). google-auth's
        session and the Vertex clients' credentials; SCALECTL_GCP_MONITORING_ENDPOINT overrides the host."""
        from google.auth.transport.requests import AuthorizedSession

        base = monitoring_endpoint()
        credentials = self.credentials if base.startswith("https://") else credentials_for(base)
        session = AuthorizedSession(credentials)
        params: dict[str, str] = {"filter": metric_filter, "interval.startTime": since, "interval.endTime": until}
        series: list[dict[str, Any]] = []
        delay = backoff(initial=0.5, factor=2.0, maximum=8.0)
        attempt = 0
        while True:
            self.calls["ListTimeSeries"] += 1
            try:
                response = session.get(
                    f"{base}/v3/projects/{self.target.project}/timeSeries", params=params, timeout=30
                )
            except unreachable_errors() as exc:
                raise VertexError(f"cannot reach Cloud Monitoring at {base}: {exc}", "UNAVAILABLE") from None
            if response.status_code != 200:
                status, message = google_error(HttpFailure(response))
                if _retryable(status, message, "") and attempt < _RETRIES - 1:
                    self.sleep(delay(attempt))
                    attempt += 1
                    continue
                raise VertexError(_describe("ListTimeSeries (Cloud Monitoring)", status, message), status)
            page = response.json()
            series += page.get("timeSeries", [])
            if not page.get("nextPageToken"):
                return series
            params["pageToken"] = page["nextPageToken"]

    # ------------------------------------------------------------ models

    def upload_model(self, body: dict[str, Any], timeout: float) -> str:
        from google.cloud.aiplatform_v1 import types

        request = _parse(types.UploadModelRequest, body)
        operation = self.call("UploadModel", self.models.upload_model, request)
        done = self.wait("uploading the model", operation, timeout=timeout, client=self.models)
        response = types.UploadModelResponse.pb()()
        done.response.Unpack(response)
        return str(response.model)

    def list_models(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        from google.cloud.aiplatform_v1 import types

        request = types.ListModelsRequest(parent=self.parent, filter=label_filter(labels))
        return self._list("ListModels", self.models.list_models, request, "models")

    def update_model(self, body: dict[str, Any]) -> None:
        from google.cloud.aiplatform_v1 import types

        self.call("UpdateModel", self.models.update_model, _parse(types.UpdateModelRequest, body))

    def delete_model(self, name: str, timeout: float) -> None:
        from google.cloud.aiplatform_v1 import types

        operation = self.call("DeleteModel", self.models.delete_model, types.DeleteModelRequest(name=name))
        self.wait(f"deleting {name}", operation, timeout=timeout, client=self.models)

    # ------------------------------------------------------------ endpoints

    def find_endpoint(self, labels: dict[str, str]) -> dict[str, Any] | None:
        from google.cloud.aiplatform_v1 import types

        request = types.ListEndpointsRequest(parent=self.parent, filter=label_filter(labels))
        found = self._list("ListEndpoints", self.endpoints.list_endpoints, request, "endpoints")
        return found[0] if found else None

    def get_endpoint(self, name: str) -> dict[str, Any]:
        from google.cloud.aiplatform_v1 import types

        response = self.call("GetEndpoint", self.endpoints.get_endpoint, types.GetEndpointRequest(name=name))
        return _to_dict(response)

    def create_endpoint(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        from google.cloud.aiplatform_v1 import types

        request = _parse(types.CreateEndpointRequest, body)
        operation = self.call("CreateEndpoint", self.endpoints.create_endpoint, request)
        done = self.wait("creating the endpoint", operation, timeout=timeout, client=self.endpoints)
        endpoint = types.Endpoint.pb()()
        done.response.Unpack(endpoint)
        return _to_dict(endpoint)

    def start_deploy(self, body: dict[str, Any]) -> Any:
        """Send DeployModel; returns the operation (the caller waits, so it can cancel on timeout)."""
        from google.cloud.aiplatform_v1 import types

        return self.call("DeployModel", self.endpoints.deploy_model, _parse(types.DeployModelRequest, body))

    def finish_deploy(self, operation: Any, what: str, timeout: float) -> str:
        """Wait for a DeployModel operation; returns the new deployed model's id."""
        from google.cloud.aiplatform_v1 import types

        done = self.wait(what, operation, timeout=timeout, client=self.endpoints)
        response = types.DeployModelResponse.pb()()
        done.response.Unpack(response)
        return str(response.deployed_model.id)

    def update_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        """UpdateEndpoint (PATCH with the body's updateMask): the traffic split, or request-response logging."""
        from google.cloud.aiplatform_v1 import types

        request = _parse(types.UpdateEndpointRequest, body)
        return _to_dict(self.call("UpdateEndpoint", self.endpoints.update_endpoint, request))

    def undeploy(self, body: dict[str, Any], what: str, timeout: float) -> None:
        from google.cloud.aiplatform_v1 import types

        request = _parse(types.UndeployModelRequest, body)
        operation = self.call("UndeployModel", self.endpoints.undeploy_model, request)
        self.wait(what, operation, timeout=timeout, client=self.endpoints)

    def delete_endpoint(self, name: str, timeout: float) -> None:
        from google.cloud.aiplatform_v1 import types

        request = types.DeleteEndpointRequest(name=name)
        operation = self.call("DeleteEndpoint", self.endpoints.delete_endpoint, request)
        self.wait(f"deleting {name}", operation, timeout=timeout, client=self.endpoints)

    def _list(self, what: str, method: Callable[..., Any], request: Any, field: str) -> list[dict[str, Any]]:
        """Every page of a List call, as plain dicts."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.call(what, method, request)
            items += [_to_dict(m) for m in getattr(page, field)]
            if not page.next_page_token:
                return items
            request.page_token = page.next_page_token


def unreachable_errors() -> tuple[type[Exception], ...]:
    """Network and token-refresh failures: they are not Google API errors, but the user must see them."""
    import requests
    from google.auth.exceptions import RefreshError, TransportError

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout, TransportError, RefreshError)


class HttpFailure:
    """Just enough of an api_core exception for `google_error` to read a plain HTTP error."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.code = response.status_code
        self.message = response.text[:300]


def label_filter(labels: dict[str, str]) -> str:
    """Vertex list filter: `labels.k="v" AND ...`."""
    return " AND ".join(f'labels.{k}="{v}"' for k, v in sorted(labels.items()))


def _parse(message_type: Any, body: dict[str, Any]) -> Any:
    """A rendered JSON body -> the SDK's request message; unknown fields are an error, not dropped."""
    from google.protobuf import json_format

    message = message_type()
    json_format.ParseDict(body, message_type.pb(message), ignore_unknown_fields=False)
    return message


def _to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    pb = message if not hasattr(type(message), "pb") else type(message).pb(message)
    return json_format.MessageToDict(pb)


def google_error(exc: Any) -> tuple[str, str]:
    """(status, message) from Google's error JSON, without the SDK's "POST <url>:" prefix."""
    response = getattr(exc, "response", None)
    try:
        error = response.json()["error"] if response is not None else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        error = {}
    status = error.get("status") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not status:
        grpc_status = getattr(exc, "grpc_status_code", None)
        status = grpc_status.name if grpc_status is not None else _HTTP_STATUS.get(getattr(exc, "code", 0), "")
    return str(status), str(message or getattr(exc, "message", exc))


_HTTP_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
_HTTP_STATUS.update({409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"})


def _retryable(status: str, message: str, reason: str) -> bool:
    """Rate limits and brief unavailability pass; a quota that is simply too small does not."""
    if status == "UNAVAILABLE":
        return True
    if status == "RESOURCE_EXHAUSTED":
        return reason == "RATE_LIMIT_EXCEEDED" or "quota" not in message.lower()
    return False


def _describe(what: str, status: str, message: str) -> str:
    hint = ""
    if status == "RESOURCE_EXHAUSTED":
        hint = _QUOTA_HINT
    elif status == "PERMISSION_DENIED":
        hint = "; `scalectl render` lists the IAM roles scalectl needs (iam.json)"
    elif status == "UNAUTHENTICATED":
        hint = _AUTH_HINT
    return f"Vertex AI refused {what}: {status} {message.rstrip('.')}{hint}"


def _code_name(code: int) -> str:
    names = {1: "CANCELLED", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 8: "RESOURCE_EXHAUSTED"}
    names.update({9: "FAILED_PRECONDITION", 13: "INTERNAL", 14: "UNAVAILABLE"})
    return names.get(code, str(code))
