"""Helpers for the Docker tests: image names, a free port, predictions, a load generator, cleanup."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"
BASE_IMAGE = os.environ.get("SCALECTL_BASE_IMAGE", "scalectl/base:bookworm")
GATEWAY_IMAGE = os.environ.get("SCALECTL_GATEWAY_IMAGE", "scalectl/gateway:local")
MODEL_IMAGE = os.environ.get("SCALECTL_QUICKSTART_IMAGE", "scalectl/quickstart")
NEEDED = (
    BASE_IMAGE,
    GATEWAY_IMAGE,
    f"{MODEL_IMAGE}:v1",
    f"{MODEL_IMAGE}:v2",
    f"{MODEL_IMAGE}:broken",
    f"{MODEL_IMAGE}:crashy",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def predict(port: int, instances: list[Any], headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST instances to the gateway's predict route; (status, JSON body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps({"instances": instances}).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, {"raw": body.decode(errors="replace")}


@dataclass
class Load:
    """Continuous requests to 127.0.0.1:port on a thread until stopped (or `limit` requests)."""

    port: int
    limit: int = 5000
    versions: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set() and self.sent < self.limit:
            self.sent += 1
            try:
                status, body = predict(self.port, [[20, 0, 3, 0]])
            except OSError as exc:
                self.failures.append(f"request {self.sent}: {exc!r}")
                continue
            if status != 200:
                self.failures.append(f"request {self.sent}: HTTP {status} {body}")
            else:
                version = str(body.get("model_version"))
                self.versions[version] = self.versions.get(version, 0) + 1
            time.sleep(0.01)

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)


def remove_target(client: Any, app: str) -> None:
    """Best-effort cleanup of everything labelled for `app` (after a failed test)."""
    for label in (f"io.scalectl.app={app}", f"io.scalectl.lease.app={app}"):  # a killed command's lease too
        for c in client.containers.list(all=True, filters={"label": label}):
            c.remove(force=True)
    for n in client.networks.list(filters={"label": f"io.scalectl.app={app}"}):
        n.remove()
    for v in client.volumes.list(filters={"label": f"io.scalectl.app={app}"}):  # promotion markers
        v.remove(force=True)
