"""Azure ML target, online half: the ARM calls scalectl makes, through the Azure SDKs.

azure-ai-ml (~1.6 s to import) and azure-mgmt-monitor are imported here, inside `Arm`, and
`Arm` is built only by commands that talk to Azure. Bodies go to azure-ai-ml's ARM client
as the rendered dicts; long-running operations are started with `polling=False` and waited
for with `scalectl.wait.poll_until`, so waiting is adaptive, reports every state change, and
nothing is printed to stdout (azure-ai-ml's own poller prints progress dots there).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from scalectl.errors import ProviderError
from scalectl.events import Events
from scalectl.wait import backoff, poll_until

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from .schema import AzureTarget

ARM_ENDPOINT_ENV = "SCALECTL_AZURE_ARM_ENDPOINT"
DEFAULT_ARM = "https://management.azure.com"
T = TypeVar("T")
# Poll fast at first (a traffic switch takes seconds), growing by 30% so the lag after a state
# change stays under a third of the time waited, capped at 5 s (deployments take minutes).
DELAY = backoff(initial=0.25, factor=1.3, maximum=5.0)


def arm_endpoint() -> str:
    """ARM's address: public Azure unless SCALECTL_AZURE_ARM_ENDPOINT points elsewhere (tests, private clouds)."""
    return os.environ.get(ARM_ENDPOINT_ENV, DEFAULT_ARM).rstrip("/")


def default_credential() -> TokenCredential:
    """Standard Azure auth: environment, workload identity, managed identity, az login, ..."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


CONNECT_TIMEOUT = 10.0  # seconds to connect to Resource Manager
READ_TIMEOUT = 60.0  # seconds one answer may take; a silent call is retried (idempotent ones), then an error


class Arm:
    """The calls the provider makes, as small functions returning plain dicts."""

    def __init__(self, target: AzureTarget, credential: TokenCredential | None = None) -> None:
        try:
            from azure.ai.ml._restclient.arm_ml_service import MachineLearningServicesMgmtClient
            from azure.mgmt.monitor import MonitorManagementClient
        except ModuleNotFoundError as exc:
            raise ProviderError(
                f"the azure target needs the Azure SDKs ({exc.name} is missing): pip install 'scalectl[azure]'"
            ) from None

        self.t = target
        base = arm_endpoint()
        cred = credential or default_credential()
        # azure-core refuses bearer tokens over plain http unless told otherwise per call
        self.opts: dict[str, Any] = {} if base.startswith("https") else {"enforce_https": False}
        # azure-core waits 300 s for a connection and 300 s for each read by default, and retries up to
        # 10 times: a Resource Manager that stops answering would hold scalectl for most of an hour
        self.ml = MachineLearningServicesMgmtClient(
            cred, target.subscription, base_url=base, connection_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT
        )
        self.monitor = MonitorManagementClient(
            cred, target.subscription, base_url=base, connection_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT
        )
        self.rg = target.resource_group
        self.ws = target.workspace

    # -- error handling

    def _call(self, what: str, fn: Callable[..., T], *args: Any, missing: Any = ..., **kwargs: Any) -> T:
        """Run one SDK call; Azure's error JSON becomes a ProviderError saying what was refused.

        A 404 returns `missing` when one is given. Throttling (429 with Retry-After) and 5xx are
        retried by the SDK's own retry policy before anything reaches here."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            return fn(*args, **kwargs, **self.opts)
        except ResourceNotFoundError as exc:
            if missing is not ...:
                return missing
            raise ProviderError(f"Azure could not find what it needs to {what}: {_arm_error(exc)}") from None
        except ClientAuthenticationError as exc:
            raise ProviderError(
                f"Azure authentication failed while trying to {what}: {_short(exc)}; sign in with `az login` or set "
                "AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET (DefaultAzureCredential)"
            ) from None
        except HttpResponseError as exc:
            raise ProviderError(f"Azure refused to {what}: {_arm_error(exc)}") from None
        except ServiceRequestError as exc:
            raise ProviderError(f"could not reach Azure Resource Manager to {what}: {_short(exc)}") from None
        except ServiceResponseError as exc:  # a read timeout (retried first) or a dropped answer
            raise ProviderError(
                f"Azure Resource Manager did not answer in time to {what} ({_short(exc)}); it may or may not have "
                "taken effect: run the command again, it reads what is there first"
            ) from None

    def _find(self, what: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        """GET that answers None when the resource is not there (404)."""
        found = self._call(what, fn, *args, missing=None)
        return None if found is None else _plain(found)

    def _list(self, what: str, fn: Callable[..., Any], *args: Any) -> list[dict[str, Any]]:
        """A paged list, read to the end (pages are fetched while iterating, so errors surface here);
        a list under a parent that does not exist yet is empty."""
        return self._call(what, lambda *a, **kw: [_plain(x) for x in fn(*a, **kw)], *args, missing=[])

    # -- endpoint

    def endpoint_keys(self, name: str) -> dict[str, Any]:
        """The endpoint's scoring keys (secret: for `bench` to send, never to print)."""
        return _plain(
            self._call(f"read the keys of endpoint {name}", self.ml.online_endpoints.list_keys, self.rg, self.ws, name)
        )

    def get_endpoint(self, name: str) -> dict[str, Any] | None:
        return self._find(f"read endpoint {name}", self.ml.online_endpoints.get, self.rg, self.ws, name)

    def put_endpoint(self, name: str, body: dict[str, Any]) -> None:
        self._call(
            f"update endpoint {name}",
            self.ml.online_endpoints.begin_create_or_update,
            self.rg,
            self.ws,
            name,
            body,
            polling=False,
        )

    def delete_endpoint(self, name: str) -> None:
        self._call(
            f"delete endpoint {name}", self.ml.online_endpoints.begin_delete, self.rg, self.ws, name, polling=False
        )

    # -- deployments

    def list_deployments(self, endpoint: str) -> list[dict[str, Any]]:
        return self._list(
            f"list deployments of {endpoint}", self.ml.online_deployments.list, self.rg, self.ws, endpoint
        )

    def get_deployment(self, endpoint: str, name: str) -> dict[str, Any] | None:
        return self._find(f"read deployment {name}", self.ml.online_deployments.get, self.rg, self.ws, endpoint, name)

    def put_deployment(self, endpoint: str, name: str, body: dict[str, Any]) -> None:
        self._call(
            f"create deployment {name}",
            self.ml.online_deployments.begin_create_or_update,
            self.rg,
            self.ws,
            endpoint,
            name,
            body,
            polling=False,
        )

    def delete_deployment(self, endpoint: str, name: str) -> None:
        self._call(
            f"delete deployment {name}",
            self.ml.online_deployments.begin_delete,
            self.rg,
            self.ws,
            endpoint,
            name,
            polling=False,
        )

    def deployment_logs(self, endpoint: str, name: str, lines: int = 20) -> str:
        """The container's last lines: why a deployment failed, in the user's words of choice."""
        try:
            result = self._call(
                f"read logs of {name}",
                self.ml.online_deployments.get_logs,
                self.rg,
                self.ws,
                endpoint,
                name,
                {"containerType": "InferenceServer", "tail": lines},
            )
        except ProviderError:
            return ""
        return str(_plain(result).get("content") or "")

    # -- environment versions (one per revision: the image, and the retained bodies)

    def put_environment(self, name: str, version: str, body: dict[str, Any]) -> None:
        self._call(
            f"register environment {name}:{version}",
            self.ml.environment_versions.create_or_update,
            self.rg,
            self.ws,
            name,
            version,
            body,
        )

    def list_environments(self, name: str) -> list[dict[str, Any]]:
        return self._list(f"list environment {name}", self.ml.environment_versions.list, self.rg, self.ws, name)

    def get_environment(self, name: str, version: str) -> dict[str, Any] | None:
        return self._find(
            f"read environment {name}:{version}", self.ml.environment_versions.get, self.rg, self.ws, name, version
        )

    def delete_environment(self, name: str, version: str) -> None:
        self._call(
            f"delete environment {name}:{version}",
            self.ml.environment_versions.delete,
            self.rg,
            self.ws,
            name,
            version,
        )

    # -- autoscale settings (Azure Monitor)

    def put_autoscale(self, name: str, body: dict[str, Any]) -> None:
        raw = io.BytesIO(json.dumps(body).encode())  # exactly the rendered body, no model round-trip
        self._call(
            f"create autoscale setting {name}",
            self.monitor.autoscale_settings.create_or_update,
            self.rg,
            name,
            raw,
            content_type="application/json",
        )

    def list_autoscale(self) -> list[dict[str, Any]]:
        return self._list("list autoscale settings", self.monitor.autoscale_settings.list_by_resource_group, self.rg)

    def delete_autoscale(self, name: str) -> None:
        self._call(f"delete autoscale setting {name}", self.monitor.autoscale_settings.delete, self.rg, name)

    # -- Azure Monitor metrics (azure-mgmt-monitor's metrics operations: the Microsoft.Insights/metrics API)

    def resource_id(self, endpoint: str, deployment: str | None = None) -> str:
        """ARM id of an online endpoint (or one of its deployments), as Azure Monitor names resources."""
        rid = (
            f"/subscriptions/{self.t.subscription}/resourceGroups/{self.rg}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{self.ws}/onlineEndpoints/{endpoint}"
        )
        return f"{rid}/deployments/{deployment}" if deployment else rid

    def metrics(
        self, resource: str, names: list[str], timespan: str, filter: str | None = None
    ) -> list[dict[str, Any]]:
        """One `metrics.list` call: `names` at one-minute grain, Average (the aggregation these metrics
        support), split by the dimensions `filter` names with `eq '*'`; the wire shape's `value` list."""
        result = self._call(
            f"read Azure Monitor metrics {', '.join(names)} of {resource.rsplit('/', 1)[-1]}",
            self.monitor.metrics.list,
            resource.lstrip("/"),
            timespan=timespan,
            interval="PT1M",
            metricnames=",".join(names),
            aggregation="Average",
            filter=filter,
        )
        return list(_plain(result).get("value") or [])

    # -- waiting

    def wait_state(
        self,
        resource: str,
        fetch: Callable[[], dict[str, Any] | None],
        events: Events,
        *,
        deadline: float,
        until: tuple[str, ...] = ("Succeeded", "Failed", "Canceled"),
    ) -> str:
        """Poll `fetch` until its provisioningState is one of `until` ("Gone" when it disappears)."""

        def state() -> str:
            found = fetch()
            value = "Gone" if found is None else str(_props(found).get("provisioningState") or "Unknown")
            events.state(resource, value)
            return value

        return poll_until(
            state,
            lambda s: s in until or s == "Gone",
            timeout=max(0.0, deadline - time.monotonic()),
            what=f"{resource} to finish",
            delay=DELAY,
        )


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource.get("properties")
    return props if isinstance(props, dict) else {}


def _plain(value: Any) -> dict[str, Any]:
    """SDK models (azure-ai-ml's are mappings, azure-mgmt-monitor's are msrest models) -> plain dicts."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if hasattr(value, "serialize") and not hasattr(value, "keys"):  # msrest model: its wire (REST) shape
        return dict(value.serialize(keep_readonly=True))
    if hasattr(value, "keys"):
        return json.loads(json.dumps(value, default=_default))
    return {}


def _default(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if hasattr(value, "keys"):
        return dict(value)
    return str(value)


def _arm_error(exc: Any) -> str:
    """Azure's `{"error": {"code", "message"}}`, as one line."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code or message:
        return f"{code}: {message}" if code else str(message)
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
