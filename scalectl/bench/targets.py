"""The front door of a deployed target: the URL and headers real clients use, and who serves behind it.

Only the Docker gateway is supported so far; the cloud front doors (SageMaker InvokeEndpoint signed with
SigV4, Vertex `predict`, the Azure scoring URI and key) are refused with a message saying so, and `--url`
reaches any HTTP endpoint meanwhile.
"""

from __future__ import annotations

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
    door = {
        "aws": "SageMaker InvokeEndpoint signed with SigV4",
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
