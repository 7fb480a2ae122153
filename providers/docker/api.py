"""Talking to the Docker engine: connection, containers by label, health, and the gateway's files.

Only the methods here import the `docker` SDK, so `validate`, `render` and `--help` never pay for
it. Every engine failure the user can act on becomes a ProviderError that says what to do.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalectl.errors import ProviderError
from scalectl.redact import redact

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

LABEL = "io.scalectl"  # every label scalectl sets starts with this
CONF_DIR = "/etc/nginx/scalectl"  # inside the gateway container: nginx.conf, state.json, api_key.map


def connect() -> DockerClient:
    """A client for the engine DOCKER_HOST names (default: the local socket), or a clear error."""
    try:
        import docker
        from docker.errors import DockerException
    except ModuleNotFoundError:
        raise ProviderError(
            "the Docker SDK is not installed: pip install 'scalectl[docker]' (it brings the `docker` package)"
        ) from None
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except DockerException as exc:
        raise ProviderError(
            f"no Docker engine reachable at {where}: {_short(exc)}. Start it (`sudo systemctl start docker`, "
            "or `sudo dockerd &`), or point DOCKER_HOST at a running engine"
        ) from None
    return client


def engine_host() -> str:
    """The address published ports are reached on: the engine's host when DOCKER_HOST is remote."""
    where = os.environ.get("DOCKER_HOST", "")
    if where.startswith(("tcp://", "ssh://", "http://", "https://")):
        host = urllib.parse.urlparse(where).hostname
        if host:
            return host
    return "127.0.0.1"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def api_error(exc: BaseException) -> str:
    """The engine's own words from an APIError, without the SDK's URL noise."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or _short(exc))


def labelled(client: DockerClient, app: str, target: str, **extra: str) -> list[Container]:
    """Containers scalectl made for this target (running or not), found by label, oldest first."""
    filters = [f"{LABEL}.app={app}", f"{LABEL}.target={target}"] + [f"{LABEL}.{k}={v}" for k, v in extra.items()]
    # ignore_removed: one removed between the listing and its inspect (a concurrent command) is not an error
    found = client.containers.list(all=True, filters={"label": filters}, ignore_removed=True)
    return sorted(found, key=lambda c: c.attrs.get("Created", ""))


def promoted(client: DockerClient, app: str, target: str) -> dict[int, float]:
    """Revision -> when it was last promoted, from the marker volumes `mark_promoted` leaves."""
    filters = [f"{LABEL}.app={app}", f"{LABEL}.target={target}", f"{LABEL}.role=promoted"]
    out: dict[int, float] = {}
    for volume in client.volumes.list(filters={"label": filters}):
        labels = volume.attrs.get("Labels") or {}
        try:
            out[int(labels[f"{LABEL}.revision"])] = float(labels[f"{LABEL}.promoted_at"])
        except (KeyError, ValueError):
            continue
    return out


def mark_promoted(client: DockerClient, name: str, labels: dict[str, str]) -> None:
    """A named volume saying a revision was promoted (labels cannot change: made anew each time).

    It outlives a removed gateway and state holder, and `docker container prune` too, so history
    rebuilt from labels never takes an unbaked canary for the revision that served."""
    from docker.errors import APIError

    remove_volume(client, name)
    try:
        client.volumes.create(name=name, labels=labels)
    except APIError as exc:
        raise ProviderError(f"the engine refused to create volume {name}: {api_error(exc)}") from None


def remove_volume(client: DockerClient, name: str) -> bool:
    from docker.errors import APIError, NotFound

    try:
        client.volumes.get(name).remove(force=True)
    except NotFound:
        return False
    except APIError as exc:
        raise ProviderError(f"could not remove volume {name}: {api_error(exc)}") from None
    return True


def create_container(client: DockerClient, name: str, body: dict[str, Any]) -> Container:
    """POST /containers/create with exactly `body` (the rendered template), as the SDK itself does."""
    from docker.errors import APIError

    api = client.api
    try:
        response = api._post_json(api._url("/containers/create"), data=body, params={"name": name})
        created = api._result(response, True)
    except APIError as exc:
        raise ProviderError(f"the engine refused to create container {name}: {api_error(exc)}") from None
    return client.containers.get(created["Id"])


def start(container: Container, port_hint: str) -> None:
    """Start a container; a taken host port becomes an error that names it."""
    from docker.errors import APIError

    try:
        container.start()
    except APIError as exc:
        text = api_error(exc)
        if "port is already allocated" in text or "address already in use" in text:
            raise ProviderError(
                f"port {port_hint} is taken by another program or container; free it, or set a different "
                f"`port:` for this target ({text})"
            ) from None
        if "could not select device driver" in text:
            raise ProviderError(f"the engine cannot give this container GPUs: {text}") from None
        raise ProviderError(f"container {container.name} did not start: {text}") from None


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (only meaningful for a local engine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host if host != "0.0.0.0" else "", port))
        except OSError:
            return False
    return True


def published_port(container: Container, port: int) -> int | None:
    """The host port the engine picked for the container's `port`."""
    container.reload()
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


@dataclass
class Health:
    ok: bool
    detail: str  # "200", "503 {...}", "exited (1)", "connection refused"
    dead: bool = False  # the container stopped or keeps restarting: waiting longer will not help


def probe(container: Container, port: int, path: str, timeout: float = 1.0) -> Health:
    """One health check: the container is running and GET path on its published port answers 200."""
    try:
        container.reload()
    except Exception as exc:  # the container vanished
        return Health(False, f"gone ({_short(exc)})", dead=True)
    state = container.attrs.get("State", {})
    if state.get("Status") != "running" or state.get("Restarting"):
        code = state.get("ExitCode")
        restarts = container.attrs.get("RestartCount", 0)
        return Health(False, f"{state.get('Status')} (exit code {code}, {restarts} restarts)", dead=True)
    host_port = published_port(container, port)
    if host_port is None:
        return Health(False, "no published port yet")
    url = f"http://{engine_host()}:{host_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return Health(response.status == 200, str(response.status))
    except urllib.error.HTTPError as exc:
        body = exc.read(200).decode(errors="replace").strip()
        return Health(False, f"{exc.code} {body}".strip())
    except (OSError, urllib.error.URLError) as exc:
        return Health(False, _short(getattr(exc, "reason", exc)) if not isinstance(exc, TimeoutError) else "timeout")


def logs_tail(container: Container, lines: int = 5) -> str:
    """The container's last lines, secret values masked: every error and state entry quoting logs reads them here."""
    try:
        text: str = container.logs(tail=lines).decode(errors="replace").strip()
    except Exception:
        return ""
    return redact(text)


def remove(container: Container) -> None:
    """Stop and remove; already gone is fine."""
    from docker.errors import NotFound

    with contextlib.suppress(NotFound):
        container.remove(force=True, v=False)


# ---------------------------------------------------------------- gateway files


def put_files(container: Container, files: dict[str, str], directory: str = CONF_DIR) -> None:
    """Write files into `directory` (the gateway's CONF_DIR) through the engine (works on a remote engine too)."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(directory.rsplit("/", 1)[1])
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        folder.mtime = int(now)
        tar.addfile(folder)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{folder.name}/{name}")
            info.size = len(data)
            info.mode = 0o600 if name == "api_key.map" else 0o644
            info.mtime = int(now)
            tar.addfile(info, io.BytesIO(data))
    if not container.put_archive(directory.rsplit("/", 1)[0] or "/", buffer.getvalue()):
        raise ProviderError(f"could not write {directory} into {container.name}")


def read_file(container: Container, name: str) -> str | None:
    """A file from the gateway's CONF_DIR, or None when it is not there."""
    from docker.errors import APIError, NotFound

    try:
        stream, _ = container.get_archive(f"{CONF_DIR}/{name}")
    except (NotFound, APIError):
        return None
    raw = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read().decode() if handle is not None else None


def read_state(container: Container) -> dict[str, Any] | None:
    text = read_file(container, "state.json")
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def exec_checked(container: Container, cmd: list[str], what: str) -> None:
    """Run cmd in the container; a non-zero exit is a ProviderError quoting its output."""
    result = container.exec_run(cmd, stdout=True, stderr=True)
    if result.exit_code != 0:
        output = (result.output or b"").decode(errors="replace").strip()
        raise ProviderError(f"{what} failed in {container.name}: {output[-500:]}")


def gateway_generation(host: str, port: int, timeout: float = 1.0) -> int | None:
    """The config generation the gateway serves now (its /.scalectl/generation route)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/.scalectl/generation", timeout=timeout) as response:
            return int(response.read().decode().strip() or -1)
    except (OSError, ValueError, urllib.error.URLError):
        return None


def accepting_workers(container: Container) -> set[str]:
    """PIDs of nginx workers that still accept connections (not "worker process is shutting down")."""
    try:
        processes = container.top().get("Processes") or []
    except Exception:
        return set()
    return {str(p[1]) for p in processes if p and str(p[-1]).strip() == "nginx: worker process"}
