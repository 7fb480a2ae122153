"""The front door of a deployed target: the URL and headers real clients use, and who serves behind it.

Docker (the gateway with its API key), AWS (SageMaker InvokeEndpoint, SigV4-signed), GCP (Vertex `predict`
with a Google token) and Azure (the scoring URI with the endpoint key) are supported; other providers are
refused with a message saying so, and `--url` reaches any HTTP endpoint.
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
    revision_field: str | None = None  # or this field of the JSON response
    revision_names: dict[str, str] = field(default_factory=dict)  # what the platform says -> revision shown
    tls: Any = None  # client.Tls: a CA and client certificate to use (a kubeconfig's)
    replicas: int | None = None  # replicas serving traffic now, when the platform says
    serving: dict[str, int] = field(default_factory=dict)  # revision -> percent of traffic
    containers: dict[str, str] = field(default_factory=dict)  # Docker: container name -> role, for stats


def front_door(config: Any, target: str) -> FrontDoor:
    """The front door of `target` as deployed now; refuses targets that are not deployed."""
    from scalectl.engine import release_for

    release = release_for(config, target)
    provider = release.target.provider
    if provider == "docker":
        return _docker(release)
    if provider == "aws":
        return _sagemaker(release)
    if provider == "gcp":
        return _vertex(release)
    if provider == "azure":
        return _azure(release)
    if provider == "kubernetes":
        return _kubernetes(release)
    door = f"the {provider} endpoint"
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
    gateway = live.details.get("gateway")
    replicas = [
        r for r in live.details.get("replicas", []) if str(r.get("revision")) in serving and r.get("state") == "running"
    ]
    return FrontDoor(
        url=f"{url_of(t)}{release.model.predict}",
        describe=describe,
        headers=headers,
        replicas=len(replicas) or None,
        serving=serving,
        containers={
            **{r["name"]: "replica" for r in replicas},
            **({gateway["name"]: "gateway"} if gateway else {}),
        },
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


def _vertex(release: Any) -> FrontDoor:
    """Vertex AI endpoints.predict at the endpoint's URL, with a Google access token (ADC) as the SDK would
    send it; none to a plain-http local emulator. Which deployed model answered is in the response body."""
    from scalectl.providers.gcp.api import Vertex
    from scalectl.registry import get_provider

    live = get_provider("gcp").observe(release)
    if not live.exists or not live.traffic or not live.url:
        raise ProviderError(
            f"the Vertex AI endpoint of {release.target_name} has no model with traffic: run `scalectl deploy -t "
            f"{release.target_name}` first"
        )
    credentials = Vertex(release.target).credentials
    url: str = live.url

    def sign(body: bytes) -> dict[str, str]:
        if url.startswith("http://"):
            return {}  # a local emulator: a real token is never sent over plain http
        from google.auth.transport.requests import Request

        if not credentials.valid:
            credentials.refresh(Request())
        return {"Authorization": f"Bearer {credentials.token}"}

    deployed = [d for d in live.details.get("deployed_models", []) if (d.get("traffic") or 0) > 0]
    names = {str(d["id"]): str(d["revision"]) for d in deployed if d.get("revision") is not None}
    replicas = sum(int((d.get("replicas") or {}).get("available") or 0) for d in deployed)
    return FrontDoor(
        url=url,
        describe=f"Vertex AI predict {live.details.get('endpoint')}",
        sign=sign,
        revision_field="deployedModelId",
        revision_names=names,
        replicas=replicas or None,
        serving={str(rev): pct for rev, pct in live.traffic.items() if pct > 0},
    )


def _azure(release: Any) -> FrontDoor:
    """The Azure ML scoring URI with the endpoint's key as a bearer token, as clients call it; the
    deployment that answered is in the `azureml-model-deployment` header (rev-N: revision N)."""
    from scalectl.providers.azure.provider import AzureProvider
    from scalectl.registry import get_provider

    t = release.target
    if t.auth_mode != "key":
        raise UsageError(
            f"scalectl bench -t {release.target_name}: endpoints with auth_mode {t.auth_mode} are not supported "
            "yet (key auth is); pass --url with the scoring URI and --header 'Authorization: Bearer TOKEN'"
        )
    provider = get_provider("azure")
    assert isinstance(provider, AzureProvider)
    live = provider.observe(release)
    if not live.exists or not live.traffic or not live.url:
        raise ProviderError(
            f"the Azure ML endpoint of {release.target_name} has no deployment with traffic: run `scalectl deploy "
            f"-t {release.target_name}` first"
        )
    key = provider.scoring_key(release)
    deployments = [d for d in live.details.get("deployments", []) if (d.get("traffic") or 0) > 0]
    replicas = sum(int(d.get("instance_count") or 0) for d in deployments)
    return FrontDoor(
        url=live.url,
        describe=f"Azure ML scoring URI of {live.details.get('endpoint')} (endpoint key)",
        headers={"Authorization": f"Bearer {key}"},
        revision_header="azureml-model-deployment",
        revision_names={f"rev-{n}": str(n) for n in live.traffic},
        replicas=replicas or None,
        serving={str(rev): pct for rev, pct in live.traffic.items() if pct > 0},
    )


def _kubernetes(release: Any) -> FrontDoor:
    """The Gateway's address when the target routes through one and the Gateway reports an address; else
    the Service through the API server's service proxy, authenticated with the kubeconfig's credentials
    (bearer token, refreshed as the client would, or client certificate) and trusting its CA. The proxy
    reaches a ClusterIP Service from outside the cluster with nothing exposed, at the cost of a hop through
    the API server (README: its overhead)."""
    from scalectl.bench.client import Tls
    from scalectl.providers.kubernetes.requests import k8s_target, prefix
    from scalectl.registry import get_provider

    provider: Any = get_provider("kubernetes")
    live = provider.observe(release)
    if not live.exists or not live.traffic:
        raise ProviderError(
            f"{release.app}/{release.target_name} is not serving on Kubernetes: run `scalectl deploy -t "
            f"{release.target_name}` first"
        )
    t = k8s_target(release)
    seen = live.observed
    serving = {str(rev): pct for rev, pct in live.traffic.items() if pct > 0}
    replicas = sum(r.ready for r in seen.revisions if str(r.number) in serving)
    common: dict[str, Any] = {"replicas": replicas or None, "serving": serving}
    cluster = provider.cluster(release)
    address = _gateway_address(cluster, t.gateway, t.namespace) if t.gateway else None
    if address is not None:
        return FrontDoor(
            url=f"{address}{release.model.predict}", describe=f"Gateway {t.gateway} at {address}", **common
        )
    conf = cluster.api_client.configuration
    base = conf.host.rstrip("/")
    path = f"/api/v1/namespaces/{t.namespace}/services/{prefix(release)}:http/proxy{release.model.predict}"

    def credentials(body: bytes) -> dict[str, str]:
        """The kubeconfig's auth header, read again on each re-sign (an exec plugin's token expires)."""
        return {
            str(s["key"]).title(): str(s["value"])
            for s in conf.auth_settings().values()
            if s.get("in") == "header" and s.get("value")
        }

    how = "client certificate" if conf.cert_file else "bearer token" if credentials(b"") else "no credentials"
    return FrontDoor(
        url=base + path,
        describe=f"Service {prefix(release)} in {t.namespace} via the API server's service proxy ({how})",
        sign=credentials,
        tls=Tls(conf.ssl_ca_cert, conf.cert_file, conf.key_file, bool(conf.verify_ssl)),
        **common,
    )


def _gateway_address(cluster: Any, gateway: str, namespace: str) -> str | None:
    """http(s)://address[:port] of the Gateway the route attaches to, from its status; None when it has none
    (not programmed yet, or no right to read it: the service proxy is used then)."""
    from scalectl.errors import ProviderError as Refused

    gw_namespace, _, name = gateway.rpartition("/")
    try:
        body = cluster.call(
            "read Gateway",
            cluster.api("CustomObjectsApi").get_namespaced_custom_object,
            "gateway.networking.k8s.io",
            "v1",
            gw_namespace or namespace,
            "gateways",
            name,
        )
    except Refused:
        return None
    addresses = [a.get("value") for a in (body.get("status") or {}).get("addresses") or [] if a.get("value")]
    listeners = [x for x in (body.get("spec") or {}).get("listeners") or [] if x.get("protocol") in ("HTTP", "HTTPS")]
    if not addresses or not listeners:
        return None
    listener = listeners[0]
    scheme = "https" if listener["protocol"] == "HTTPS" else "http"
    port = int(listener.get("port") or (443 if scheme == "https" else 80))
    default = port == (443 if scheme == "https" else 80)
    return f"{scheme}://{addresses[0]}{'' if default else f':{port}'}"


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
