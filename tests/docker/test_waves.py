"""Three quickstart targets on the real engine in two waves: staging first, then two production
targets at once, each under its own lease; a broken staging rollout stops the production wave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest

from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, free_port, predict

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def created(engine: Any, app: str, target: str) -> list[str]:
    """Creation times (ISO, sortable) of a target's replicas and gateway."""
    found = engine.containers.list(
        all=True, filters={"label": [f"io.scalectl.app={app}", f"io.scalectl.target={target}"]}
    )
    return sorted(c.attrs["Created"] for c in found)


def test_staging_then_two_production_targets_at_once(cli, engine: Any, cleanup: list[str], scale_file) -> None:
    app = f"waves-{uuid.uuid4().hex[:8]}"
    cleanup.append(app)
    ports = {name: free_port() for name in ("staging", "prod-a", "prod-b")}
    common = f"replicas: 1, gateway_image: {GATEWAY_IMAGE}, startup_timeout: 4s, rollout: {{strategy: all_at_once}}"
    path = scale_file(
        f"version: 1\nname: {app}\nmodel: {{image: '{MODEL_IMAGE}:v1'}}\ntargets:\n"
        f"  staging: {{provider: docker, wave: 1, port: {ports['staging']}, {common},"
        f" model: {{image: '{MODEL_IMAGE}:${{STAGING:-v1}}'}}}}\n"
        f"  prod-a: {{provider: docker, wave: 2, port: {ports['prod-a']}, {common}}}\n"
        f"  prod-b: {{provider: docker, wave: 2, port: {ports['prod-b']}, {common}}}\n"
    )
    state = path.parent / "state"
    result = cli("deploy", "-f", path, "--yes", "--parallel", "2", "--output", "json", "--state-dir", state)
    doc = json.loads(result.stdout)
    assert result.exit_code == 0, doc
    assert [(r["target"], r["wave"], r["result"], r["revision"]) for r in doc["results"]] == [
        ("staging", 1, "deployed", 1),
        ("prod-a", 2, "deployed", 1),
        ("prod-b", 2, "deployed", 1),
    ]
    for port in ports.values():
        assert predict(port, [[20, 0, 3, 0]])[1]["model_version"] == "v1"
    # wave 2 was created only after wave 1 was done
    assert max(created(engine, app, "staging")) < min(created(engine, app, "prod-a") + created(engine, app, "prod-b"))
    # each target held its own lease, and none is left behind
    assert engine.containers.list(all=True, filters={"label": f"io.scalectl.lease.app={app}"}) == []

    # a staging revision that never becomes healthy: rolled back, and production is not touched
    result = cli("deploy", "-f", path, "--yes", "--output", "json", "--state-dir", state, env={"STAGING": "broken"})
    doc = json.loads(result.stdout)
    assert result.exit_code == 1, doc
    results = {r["target"]: r for r in doc["results"]}
    assert results["staging"]["result"] == "failed" and "did not become healthy" in results["staging"]["reason"]
    for name in ("prod-a", "prod-b"):
        assert results[name]["result"] == "skipped" and "an earlier wave failed" in results[name]["reason"]
    assert predict(ports["staging"], [[20, 0, 3, 0]])[1]["model_version"] == "v1"


def test_sigint_rolls_back_both_baking_canaries(engine: Any, cleanup: list[str], scale_file) -> None:
    """A real process, a real signal: it reaches the main thread, both workers' rollouts are rolled back."""
    app = f"wavesig-{uuid.uuid4().hex[:8]}"
    cleanup.append(app)
    ports = {name: free_port() for name in ("a", "b")}
    common = (
        f"replicas: 1, gateway_image: {GATEWAY_IMAGE}, rollout: {{strategy: canary, percent: 50, bake: '${{BAKE:-1s}}',"
        " min_requests: 0}"
    )
    path = scale_file(
        f"version: 1\nname: {app}\nmodel: {{image: '{MODEL_IMAGE}:${{TAG:-v1}}'}}\ntargets:\n"
        + "".join(f"  {name}: {{provider: docker, port: {port}, {common}}}\n" for name, port in ports.items())
    )
    command = [sys.executable, "-m", "scalectl", "deploy", "-f", str(path), "--yes", "--output", "json"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr

    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TAG": "v2", "BAKE": "60s"},
    )
    baking: set[str] = set()
    both = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("{") and "baking revision 2" in line:
                baking.add(json.loads(line)["target"])
                if baking == {"a", "b"}:
                    both.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert both.wait(60), "".join(lines)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, _ = proc.communicate(timeout=60)
    reader.join(timeout=5)
    assert proc.returncode == 130, (out, "".join(lines))
    assert time.monotonic() - started < 30  # rolled back now, not after the 60 s bake
    results = {r["target"]: r for r in json.loads(out)["results"]}
    for name, port in ports.items():
        assert results[name]["result"] == "interrupted" and "rolled back" in results[name]["reason"], results
        assert predict(port, [[20, 0, 3, 0]])[1]["model_version"] == "v1"
    left = engine.containers.list(all=True, filters={"label": [f"io.scalectl.app={app}", "io.scalectl.revision=2"]})
    assert left == []
