"""Docker target: names, labels and the bodies scalectl sends the engine, from `templates/docker/`.

Container, network and gateway bodies, the gateway's nginx.conf and its API key map: what
`scalectl render` shows and `scalectl deploy` sends come from the same functions. No engine
calls here; only `api_key_map` reads a secret (from the environment or a file, at deploy).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalectl.errors import ProviderError
from scalectl.provider import ACTOR, DEPLOY_TIME, Release
from scalectl.redact import LOCAL_SCHEMES, resolve_local
from scalectl.render import render_json, render_text

from . import api as eng
from .schema import DockerTarget

API_KEY_VALUE = re.compile(r"[A-Za-z0-9._+/=-]{16,}")
# Requests without the right API key: per client address, before their 401 (key guessing is throttled).
UNAUTHENTICATED_RATE = 5
# What a value may hold to be written into nginx.conf (names, image references, secret references):
# nothing that ends a token, a directive or a comment line, and no `$` or quotes nginx would interpret.
_NGINX_SAFE = re.compile(r"[A-Za-z0-9._:/@+=,%~-]*")


def prefix(release: Release) -> str:
    return f"scalectl-{release.app}-{release.target_name}"


def replica_name(release: Release, revision: int | str, index: int) -> str:
    return f"{prefix(release)}-r{revision}-{index}"


def gateway_name(release: Release) -> str:
    return f"{prefix(release)}-gateway"


def base_labels(release: Release, role: str) -> dict[str, str]:
    return {
        f"{eng.LABEL}.app": release.app,
        f"{eng.LABEL}.target": release.target_name,
        f"{eng.LABEL}.role": role,
    }


def docker_target(release: Release) -> DockerTarget:
    assert isinstance(release.target, DockerTarget)
    return release.target


def gpu_ids(target: DockerTarget, index: int) -> list[str] | None:
    """GPU ids replica `index` gets when `gpus_per_replica` spreads replicas over GPUs."""
    if target.gpus_per_replica is None or target.gpus is None or target.gpus == "all":
        return None
    pool = list(range(target.gpus)) if isinstance(target.gpus, int) else list(target.gpus)
    k = target.gpus_per_replica
    return [str(g) for g in pool[index * k : (index + 1) * k]]


def device_requests(target: DockerTarget, index: int) -> list[dict[str, Any]]:
    """Docker DeviceRequests for replica `index` (what `docker run --gpus` sends)."""
    if target.gpus is None:
        return []
    request: dict[str, Any] = {"Driver": "nvidia", "Capabilities": [["gpu"]]}
    ids = gpu_ids(target, index)
    if ids is not None:
        request["DeviceIDs"] = ids
    elif target.gpus == "all":
        request["Count"] = -1
    elif isinstance(target.gpus, int):
        request["Count"] = target.gpus
    else:
        request["DeviceIDs"] = [str(g) for g in target.gpus]
    return [request]


def secret_placeholder(name: str, reference: str) -> str:
    return f"{name}=<secret {reference}, resolved at deploy>"


def artifact_mounts(release: Release) -> list[dict[str, Any]]:
    if not release.model.artifact:
        return []
    source = (release.base_dir / release.model.artifact).resolve()
    return [{"Type": "bind", "Source": str(source), "Target": "/opt/ml/model", "ReadOnly": True}]


@dataclass(frozen=True)
class Stamp:
    """Who/when/which revision, known only at deploy; `render` shows `{actor}` / `{deploy_time}`, and
    `next` for the revision, which names containers and nginx upstreams (no braces allowed there)."""

    revision: int | str = "next"
    created_at: str = DEPLOY_TIME
    created_by: str = ACTOR


def replica_body(release: Release, stamp: Stamp, index: int, env: list[str] | None = None) -> dict[str, Any]:
    """The POST /containers/create body of one replica (secret values only when `env` is given)."""
    t = docker_target(release)
    model = release.model
    if env is None:
        env = [f"{k}={v}" for k, v in model.env.items()]
        env += [secret_placeholder(k, ref) for k, ref in model.secrets.items() if k != t.api_key]
    labels = {
        **base_labels(release, "replica"),
        f"{eng.LABEL}.revision": str(stamp.revision),
        f"{eng.LABEL}.digest": release.digest,
        f"{eng.LABEL}.image": model.image,
        f"{eng.LABEL}.index": str(index),
        f"{eng.LABEL}.created_at": stamp.created_at,
        f"{eng.LABEL}.created_by": stamp.created_by,
    }
    return render_json(
        "docker/replica.json.j2",
        image=model.image,
        env=env,
        labels=labels,
        model_port=model.port,
        network=prefix(release),
        # health checks reach replicas on their published port: loopback unless the engine is remote
        publish_host="127.0.0.1" if eng.engine_host() == "127.0.0.1" else "0.0.0.0",
        mounts=artifact_mounts(release),
        device_requests=device_requests(t, index),
        name=replica_name(release, stamp.revision, index),
    )


def gateway_key(release: Release) -> str:
    """What forces the gateway container to be recreated when it changes (port, host, image)."""
    t = docker_target(release)
    return hashlib.sha256(f"{t.gateway_image}|{t.host}|{t.port}".encode()).hexdigest()[:12]


def gateway_body(release: Release) -> dict[str, Any]:
    t = docker_target(release)
    labels = {
        **base_labels(release, "gateway"),
        f"{eng.LABEL}.port": str(t.port),
        f"{eng.LABEL}.host": t.host,
        f"{eng.LABEL}.gateway_key": gateway_key(release),
    }
    return render_json(
        "docker/gateway.json.j2",
        image=t.gateway_image,
        labels=labels,
        network=prefix(release),
        host=t.host,
        port=t.port,
        conf_dir=eng.CONF_DIR,
    )


# --- request capture (monitoring.capture): a sidecar between the gateway and the replicas -----------------------

CAPTURE_PORT = 8100  # the capture sidecar listens here on the target's network (never published)
INNER_PORT = 8081  # the gateway's network-only server the sidecar hands calls back to
CAPTURE_CODE_DIR = "/opt/scalectl"  # the sidecar's copy of the stdlib-only capture modules (PYTHONPATH=/opt)
CAPTURE_DIR = "/captures"  # where the destination directory is mounted in the sidecar
# The modules `python -m scalectl.capture_proxy` needs, copied into the sidecar at deploy (stdlib only).
CAPTURE_MODULES = ("__init__.py", "errors.py", "capture.py", "capture_proxy.py")


def capture_name(release: Release) -> str:
    return f"{prefix(release)}-capture"


def capture_dir(release: Release) -> Path | None:
    """The host directory captures go to (relative to scale.yaml), or None when capture is off."""
    cap = docker_target(release).monitoring.capture
    if cap is None:
        return None
    folder = Path(cap.destination).expanduser()
    return (folder if folder.is_absolute() else release.base_dir / folder).resolve()


def capture_key(release: Release) -> str | None:
    """What forces the sidecar to be recreated when it changes (image, directory, file size, route, code)."""
    t = docker_target(release)
    folder = capture_dir(release)
    if folder is None or t.monitoring.capture is None:
        return None
    code = "".join(capture_code().values())
    text = f"{t.capture_image}|{folder}|{t.monitoring.capture.max_file_mb}|{release.model.predict}|{code}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def capture_code() -> dict[str, str]:
    """The capture modules' source, as copied into the sidecar (so the sidecar runs this scalectl's format)."""
    package = Path(__file__).resolve().parents[2] / "scalectl"
    return {name: (package / name).read_text(encoding="utf-8") for name in CAPTURE_MODULES}


def capture_user() -> str | None:
    """Write capture files as the user running scalectl (a local engine), so they can read and delete them."""
    import os

    if eng.engine_host() != "127.0.0.1" or not hasattr(os, "getuid"):
        return None
    return f"{os.getuid()}:{os.getgid()}"


def capture_body(release: Release) -> dict[str, Any] | None:
    """The POST /containers/create body of the capture sidecar, or None when capture is off.

    The gateway sends the sampled share of calls here; the sidecar writes the bodies (never a header,
    so never the API key) as JSON lines rotated by size, and hands each call back to the gateway's
    network-only server, which routes it to the revision the gateway picked.
    """
    t = docker_target(release)
    cap = t.monitoring.capture
    folder = capture_dir(release)
    if cap is None or folder is None:
        return None
    labels = {
        **base_labels(release, "capture"),
        f"{eng.LABEL}.capture_key": capture_key(release) or "",
        f"{eng.LABEL}.destination": str(folder),
    }
    return render_json(
        "docker/capture.json.j2",
        image=t.capture_image,
        labels=labels,
        network=prefix(release),
        user=capture_user(),
        cmd=[
            "python3",
            "-m",
            "scalectl.capture_proxy",
            "--upstream",
            f"http://{gateway_name(release)}:{INNER_PORT}",
            "--listen",
            f"0.0.0.0:{CAPTURE_PORT}",
            "--dir",
            CAPTURE_DIR,
            "--percent",
            "100",  # the gateway samples: only the sampled share reaches the sidecar
            "--target",
            release.target_name,
            "--route",
            release.model.predict,
            "--max-file-mb",
            str(cap.max_file_mb),
        ],
        code_dir=CAPTURE_CODE_DIR,
        port=CAPTURE_PORT,
        source=str(folder),
        mount=CAPTURE_DIR,
        name=capture_name(release),
    )


def capture_split(percent: float) -> str:
    """`monitoring.capture.percent` as an nginx split_clients share (at most two decimals)."""
    return f"{max(0.01, round(percent, 2)):g}%"  # nginx takes two decimals; never 0% for a positive percent


def network_body(release: Release) -> dict[str, Any]:
    return render_json("docker/network.json.j2", name=prefix(release), labels=base_labels(release, "network"))


@dataclass
class Upstream:
    number: int | str
    percent: int
    image: str
    servers: list[str]
    backups: list[str] = field(default_factory=list)


def nginx_safe(value: str, what: str) -> str:
    """Refuse a value nginx would parse as syntax; the schema validates each one, this is the last guard."""
    if not _NGINX_SAFE.fullmatch(value):
        raise ProviderError(f"{what} {value!r} cannot be written into the gateway's nginx.conf (unsafe characters)")
    return value


def nginx_conf(release: Release, upstreams: list[Upstream], generation: int) -> str:
    """The gateway's whole nginx.conf: one upstream per revision in traffic, split by percent."""
    t = docker_target(release)
    api_key = None
    if t.api_key:
        reference = release.model.secrets.get(t.api_key, "?")
        api_key = {"name": nginx_safe(t.api_key, "api_key"), "reference": nginx_safe(reference, "secret reference")}
    return render_text(
        "docker/nginx.conf.j2",
        app=nginx_safe(release.app, "app name"),
        target=nginx_safe(release.target_name, "target name"),
        generation=int(generation),
        upstreams=[
            {
                "number": int(u.number) if isinstance(u.number, int) else nginx_safe(u.number, "revision"),
                "percent": int(u.percent),
                "image": nginx_safe(u.image, "image"),
                "servers": [nginx_safe(s, "replica address") for s in u.servers],
                "backups": [nginx_safe(s, "replica address") for s in u.backups],
            }
            for u in upstreams
        ],
        model_port=int(release.model.port),
        rate_limit=None if t.rate_limit is None else int(t.rate_limit),
        unauthenticated_rate=UNAUTHENTICATED_RATE,
        api_key=api_key,
        capture=_capture_conf(release),
        conf_dir=eng.CONF_DIR,
        max_body="64m",
        read_timeout=120,
    )


def _capture_conf(release: Release) -> dict[str, Any] | None:
    cap = docker_target(release).monitoring.capture
    if cap is None:
        return None
    return {
        "all": cap.percent >= 100,
        "share": capture_split(cap.percent),
        "sidecar": f"{nginx_safe(capture_name(release), 'capture sidecar')}:{CAPTURE_PORT}",
        "inner_port": INNER_PORT,
    }


def resolve_secret(reference: str, base_dir: Path) -> str:
    """The value behind env://VAR or file://path; only at deploy, never logged or stored (and redacted)."""
    if reference.split("://", 1)[0] not in LOCAL_SCHEMES:
        raise ProviderError(f"docker targets resolve env:// and file:// secrets only, not {reference}")
    return resolve_local(reference, base_dir)


def api_key_map(release: Release) -> str | None:
    """The gateway's key map (holds the key's value: written into the gateway container only)."""
    t = docker_target(release)
    if not t.api_key:
        return None
    reference = release.model.secrets[t.api_key]
    value = resolve_secret(reference, release.base_dir)
    if not API_KEY_VALUE.fullmatch(value):  # it goes into nginx syntax: no quoting games
        raise ProviderError(
            f"the API key behind {reference} must be at least 16 characters of letters, digits and ._+/=- "
            "(for example `openssl rand -hex 24`)"
        )
    return f'"{api_key_pattern(value)}" 1;\n'


def api_key_pattern(value: str) -> str:
    """A case-sensitive regex matching exactly `value` (a plain map string would match in any case)."""
    return "~^" + "".join(f"[{c}]" if c in ".+" else c for c in value) + "$"


def url_of(target: DockerTarget) -> str:
    host = eng.engine_host() if target.host in ("0.0.0.0", "127.0.0.1") else target.host
    return f"http://{host}:{target.port}"
