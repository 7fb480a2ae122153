"""Is an image on the local engine? Asked over the Engine API with the standard library.

`validate` and `plan` say when an image is missing and how to get it, before a deploy fails
on a pull. `validate` must not import the Docker SDK (it costs startup time on every CI push),
and must not fail when no engine runs: every answer here is True, False or None (not asked).
"""

from __future__ import annotations

import http.client
import os
import socket
import urllib.parse
from pathlib import Path

from scalectl.config import ScaleFile
from scalectl.errors import Diagnostic

from .schema import DockerTarget

GATEWAY_HINT = (
    "without a registry, `bash .ci/setup-docker.sh` builds scalectl/gateway:local "
    "(set gateway_image to it, or export GATEWAY_IMAGE when the file says ${GATEWAY_IMAGE:-...})"
)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _connection(timeout: float) -> http.client.HTTPConnection | None:
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if where.startswith("unix://"):
        return _UnixHTTPConnection(where[len("unix://") :], timeout)
    parsed = urllib.parse.urlparse(where)
    if parsed.scheme in ("tcp", "http") and parsed.hostname and not os.environ.get("DOCKER_TLS_VERIFY"):
        return http.client.HTTPConnection(parsed.hostname, parsed.port or 2375, timeout=timeout)
    return None  # ssh:// or TLS: only the SDK speaks those


def image_present(image: str, timeout: float = 1.0) -> bool | None:
    """True/False as the engine says; None when no engine answered (nothing is concluded)."""
    conn = _connection(timeout)
    if conn is None:
        return None
    try:
        conn.request("GET", f"/images/{urllib.parse.quote(image, safe='/:@')}/json")
        status = conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()
    return {200: True, 404: False}.get(status)


def missing_images(spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
    """Warnings for images a deploy would have to pull, each saying how to get it locally."""
    t = spec.targets[target]
    assert isinstance(t, DockerTarget)
    out: list[Diagnostic] = []
    image = spec.model.image
    if not spec.model.build and image_present(image) is False:
        out.append(
            Diagnostic(
                f"image {image} is not on this Docker engine; deploy will try to pull it. Build it first "
                f"(`docker build -t {image} DIR`) or set model.build: ./DIR so deploy builds it",
                ("model", "image"),
                severity="warning",
            )
        )
    if image_present(t.gateway_image) is False:
        out.append(
            Diagnostic(
                f"gateway image {t.gateway_image} is not on this Docker engine; deploy will try to pull it; "
                + GATEWAY_HINT,
                ("targets", target, "gateway_image"),
                severity="warning",
            )
        )
    return out
