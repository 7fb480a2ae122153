"""The front door of a deployed target: the URL and headers real clients use, and who serves behind it.

Docker (the gateway with its API key) and AWS (SageMaker InvokeEndpoint, SigV4-signed) are supported;
Vertex `predict` and the Azure scoring URI are refused with a message saying so, and `--url` reaches any
HTTP endpoint meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalectl.errors import ProviderError, UsageError

EXAMPLE_FILE = "bench.jsonl"  # next to scale.yaml: the target's example request bodies, one JSON per line


@dataclass
class FrontDoor:
    """Where to send load. `headers` may hold a secret value: it is sent, never printed or stored."""

    url: str
    describe: str  # for people: what the URL is, and where the key came from (never the key)
    headers: dict[str, str] = field(default_factory=dict)
    sign: Callable[[bytes], dict[str, str]] | None = None  # per-body auth headers (SigV4); secret, never shown
    revision_header: str = "x-scalectl-revision"  # the response header that names what served a request
    replicas: int | None = None  # replicas serving traffic now, when the platform says
    serving: dict[str, int] = field(default_factory=dict)  # revision -> percent of traffic
    containers: list[str] = field(default_factory=list)  # Docker: replica container names, for stats


def front_door(config: Any, target: str) -> FrontDoor:
    """The front door of `target` as deployed now; refuses targets that are not deployed."""
    from scalectl.engine import release_for

    release = release_for(config, target)
    provider = release.target.provider
    if provider == "docker":
        return _docker(release)
    if provider == "aws":
        return _sagemaker(release)
    door = {
        "gcp": "Vertex AI predict with Google credentials",
        "azure": "the Azure ML scoring URI with its key",
    }.get(provider, f"the {provider} endpoint")
    raise UsageError(
        f"scalectl bench -t {target}: benching through {door} is not supported yet; "
        "pass --url with an HTTP endpoint (and --header for its credentials) instead"
    )


def _docker(release: Any) -> FrontDoor:
    from scalectl.providers.docker.requests import docker_target, resolve_secret, url_of
    from scalectl.registry import get_provider

    t = docker_target(release)
    live = get_provider("docker").observe(release)
    if not live.exists or not live.traffic:
        raise ProviderError(
            f"{release.app}/{release.target_name} is not serving on Docker: run `scalectl deploy -t "
            f"{release.target_name}` first"
        )
    headers: dict[str, str] = {}
    describe = f"Docker gateway {url_of(t)}{release.model.predict}"
    if t.api_key:
        reference = release.model.secrets[t.api_key]
        headers["X-Api-Key"] = resolve_secret(reference, release.base_dir)
        describe += f" (X-Api-Key from {reference})"
    serving = {str(rev): pct for rev, pct in live.traffic.items() if pct > 0}
    replicas = [
        r for r in live.details.get("replicas", []) if str(r.get("revision")) in serving and r.get("state") == "running"
    ]
    return FrontDoor(
        url=f"{url_of(t)}{release.model.predict}",
        describe=describe,
        headers=headers,
        replicas=len(replicas) or None,
        serving=serving,
        containers=[r["name"] for r in replicas],
    )


def _sagemaker(release: Any) -> FrontDoor:
    """SageMaker InvokeEndpoint: the runtime URL boto3 would use (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME and
    friends respected), each body signed with SigV4 from the standard credential chain."""
    from urllib.parse import quote

    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from scalectl.registry import get_provider

    region = release.target.region
    live = get_provider("aws").observe(release)
    endpoint = live.details.get("endpoint", release.target_name)
    status = live.details.get("status")
    if status not in ("InService", "Updating"):
        raise ProviderError(
            f"SageMaker endpoint {endpoint} is {status or 'absent'}, not serving: run `scalectl deploy -t "
            f"{release.target_name}` first"
        )
    session = boto3.session.Session(region_name=region)
    credentials = session.get_credentials()
    if credentials is None:
        raise ProviderError("no AWS credentials found (environment, profile or instance role) to sign requests")
    base = session.client("sagemaker-runtime").meta.endpoint_url.rstrip("/")
    url = f"{base}/endpoints/{quote(endpoint)}/invocations"

    def sign(body: bytes) -> dict[str, str]:
        request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "sagemaker", region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower().startswith(("authorization", "x-amz-"))}

    variants = live.details.get("variants") or {}
    serving = {name: v for name, v in variants.items() if (v.get("weight") or 0) > 0}
    replicas = sum(int(v.get("current_instances") or 0) for v in serving.values())
    total = sum(float(v["weight"]) for v in serving.values()) or 1.0
    return FrontDoor(
        url=url,
        describe=f"SageMaker InvokeEndpoint {endpoint} ({region}), SigV4-signed",
        sign=sign,
        revision_header="x-amzn-invoked-production-variant",
        replicas=replicas or None,
        serving={name: round(float(v["weight"]) / total * 100) for name, v in serving.items()},
    )


def load_bodies(path: Path) -> tuple[bytes, ...]:
    """Request bodies from a JSON-lines file; a bad line is reported with its number."""
    import json

    from scalectl.errors import ConfigError, Diagnostic

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"--requests {path}: cannot read it ({exc.strerror})") from None
    bodies = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ConfigError(
                [Diagnostic(f"not JSON: {exc}", file=str(path), line=number, column=getattr(exc, "colno", 1))]
            ) from None
        bodies.append(json.dumps(value, separators=(",", ":")).encode())
    if not bodies:
        raise UsageError(f"--requests {path}: no request bodies in it (one JSON document per line)")
    return tuple(bodies)
