"""Talking to AWS: clients with standard configuration and retries, error translation, waiting.

boto3 is imported inside these functions only, so `validate`, `render` and `--help` never
pay for it. Endpoints, credentials and profiles come from the standard AWS configuration
(`AWS_PROFILE`, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SAGEMAKER`, ~/.aws/config, ...).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from scalectl import __version__
from scalectl.errors import ProviderError
from scalectl.events import Events
from scalectl.wait import backoff, poll_until

# A call that never answers must end as an error or a retry, never a hang: botocore gives up on a
# connection after CONNECT_TIMEOUT and on a silent server after READ_TIMEOUT seconds, and its standard
# retry mode retries both (and throttling, and 5xx) up to AWS_MAX_ATTEMPTS times with backoff. So
# the longest a hung SageMaker call holds scalectl is about max_attempts x (READ_TIMEOUT + backoff).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0

# SageMaker endpoint states that are still moving.
MOVING = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


class AwsError(ProviderError):
    """An AWS call failed; `code` is AWS's error code (ValidationException, ...)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Clients:
    sagemaker: Any
    autoscaling: Any
    cloudwatch: Any


_CACHE: dict[tuple[str, tuple[tuple[str, str], ...]], Clients] = {}


def clients(region: str) -> Clients:
    """boto3 clients for one region, retrying throttling and 5xx with botocore's retry modes.

    Reused within a process while the region and the AWS_* environment stay the same: a deploy
    observes, then applies, and building clients costs ~0.1 s each time.
    """
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    key = (region, (*env, ("timeouts", f"{CONNECT_TIMEOUT}/{READ_TIMEOUT}")))
    if key not in _CACHE:
        _CACHE[key] = _new_clients(region)
    return _CACHE[key]


def _config() -> Any:
    from botocore.config import Config

    return Config(
        retries={
            "mode": os.environ.get("AWS_RETRY_MODE", "standard"),
            "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", "8")),
        },
        user_agent_extra=f"scalectl/{__version__}",
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


def service_client(service: str, region: str | None) -> Any:
    """One boto3 client with the same retries and agent as `clients` (region None: the AWS config's)."""
    import boto3

    with aws_errors(f"connecting to AWS {service}"):
        return boto3.session.Session(region_name=region).client(service, config=_config())


def _new_clients(region: str) -> Clients:
    import boto3

    config = _config()
    with aws_errors("connecting to AWS"):
        session = boto3.session.Session(region_name=region)
        return Clients(
            sagemaker=session.client("sagemaker", config=config),
            autoscaling=session.client("application-autoscaling", config=config),
            cloudwatch=session.client("cloudwatch", config=config),
        )


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore exceptions into ProviderErrors that say what failed and what to do."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = str(err.get("Message", exc))
        hint = ""
        if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
            hint = " (see `scalectl render` iam_policy.json for the permissions scalectl needs)"
        raise AwsError(f"{action}: {code}: {message}{hint}", code) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise AwsError(
            f"{action}: no AWS credentials found; set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run on a machine with an instance/OIDC role"
        ) from None
    except NoRegionError:
        raise AwsError(f"{action}: no AWS region; set `region` on the target") from None
    except EndpointConnectionError as exc:
        raise AwsError(f"{action}: cannot reach AWS at {exc.kwargs.get('endpoint_url', '?')}") from None
    except BotoCoreError as exc:
        raise AwsError(f"{action}: {exc}") from None


def call(method: Callable[..., Any], action: str, **params: Any) -> dict[str, Any]:
    with aws_errors(action):
        result: dict[str, Any] = method(**params)
        return result


def describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or None when there is no such endpoint."""
    try:
        return call(sm.describe_endpoint, f"describing endpoint {name}", EndpointName=name)
    except AwsError as exc:
        if exc.code == "ValidationException" and "Could not find" in exc.message:
            return None
        raise


def endpoint_state(desc: dict[str, Any] | None) -> str:
    """One line for progress: the endpoint status plus what the new fleet is doing."""
    if desc is None:
        return "Deleted"
    status = str(desc["EndpointStatus"])
    pending = desc.get("PendingDeploymentSummary") or {}
    for variant in pending.get("ProductionVariants", []):
        for vs in variant.get("VariantStatus", []):
            message = vs.get("StatusMessage")
            return f"{status} (new fleet: {vs['Status']}{': ' + message if message else ''})"
    return status


def wait_endpoint(
    sm: Any,
    name: str,
    events: Events,
    *,
    timeout: float,
    done: Callable[[dict[str, Any] | None], bool],
) -> dict[str, Any] | None:
    """Poll DescribeEndpoint adaptively (0.25 s, backing off to 5 s), reporting each transition."""

    def fetch() -> dict[str, Any] | None:
        desc = describe_endpoint(sm, name)
        events.state(f"endpoint {name}", endpoint_state(desc))
        return desc

    return poll_until(fetch, done, timeout=timeout, what=f"endpoint {name}", delay=backoff(0.25, 1.5, 5.0))


def settled(desc: dict[str, Any] | None) -> bool:
    return desc is None or desc["EndpointStatus"] not in MOVING


def tags_of(sm: Any, arn: str) -> dict[str, str]:
    out: dict[str, str] = {}
    token: str | None = None
    while True:
        params: dict[str, Any] = {"ResourceArn": arn, "MaxResults": 100}
        if token:
            params["NextToken"] = token
        page = call(sm.list_tags, f"reading tags of {arn}", **params)
        out.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        token = page.get("NextToken")
        if not token:
            return out


def list_named(method: Callable[..., Any], key: str, contains: str, action: str) -> list[dict[str, Any]]:
    """All ListEndpointConfigs / ListModels entries whose name contains `contains`."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"NameContains": contains, "MaxResults": 100}
        if token:
            params["NextToken"] = token
        page = call(method, action, **params)
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items
