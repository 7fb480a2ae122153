"""The gateway's own features on a real engine: an API key header check and a rate limit.

The key's value comes from the environment at deploy (`env://`) and is written only into the
gateway container's key map: never into rendered files, labels, state, or command output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, free_port, predict

pytestmark = [pytest.mark.docker, pytest.mark.slow]

KEY = "k3y-" + "7f2c9a1e" * 3


def secure_app(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "scale.yaml"
    path.write_text(f"""\
version: 1
name: gw{os.getpid()}
model:
  image: {MODEL_IMAGE}:v1
  secrets: {{GATEWAY_KEY: env://QS_GATEWAY_KEY}}
targets:
  local:
    provider: docker
    port: {port}
    gateway_image: {GATEWAY_IMAGE}
    api_key: GATEWAY_KEY
    rate_limit: 5
""")
    return path


def test_api_key_and_rate_limit_at_the_gateway(cli, engine, tmp_path, cleanup) -> None:
    port = free_port()
    path = secure_app(tmp_path, port)
    cleanup.append(f"gw{os.getpid()}")
    common = ["-f", str(path), "--state-dir", str(tmp_path / "st"), "--output", "json"]

    rendered = cli("render", "-f", str(path), "--output", "json")
    assert rendered.exit_code == 0
    deployed = cli("deploy", "--yes", *common, env={"QS_GATEWAY_KEY": KEY})
    assert deployed.exit_code == 0, deployed.stdout

    assert predict(port, [[20, 0, 3, 0]])[0] == 401
    assert predict(port, [[20, 0, 3, 0]], {"X-Api-Key": "wrong"})[0] == 401
    status, body = predict(port, [[20, 0, 3, 0]], {"X-Api-Key": KEY})
    assert (status, body["model_version"]) == (200, "v1")

    burst = [predict(port, [[20, 0, 3, 0]], {"X-Api-Key": KEY})[0] for _ in range(40)]
    assert 429 in burst and 200 in burst  # 5 r/s with a burst of 10: the rest are turned away
    assert set(burst) <= {200, 429}

    status_doc = cli("status", *common)
    history_doc = cli("history", *common)
    everything_scalectl_said = (
        rendered.stdout + deployed.stdout + deployed.stderr + status_doc.stdout + history_doc.stdout
    )
    assert KEY not in everything_scalectl_said
    assert "env://QS_GATEWAY_KEY" in rendered.stdout  # the reference is shown, the value never
    for container in engine.containers.list(filters={"label": f"io.scalectl.app=gw{os.getpid()}"}):
        assert KEY not in json.dumps(container.attrs)  # not in labels, env or command of any container
    gateway = engine.containers.get(f"scalectl-gw{os.getpid()}-local-gateway")
    state = gateway.exec_run(["cat", "/etc/nginx/scalectl/state.json", "/etc/nginx/scalectl/nginx.conf"]).output
    assert KEY.encode() not in state

    destroyed = cli("destroy", "--yes", *common)
    assert destroyed.exit_code == 0


def test_a_secret_the_environment_does_not_have_fails_before_anything_starts(cli, engine, tmp_path, cleanup) -> None:
    path = secure_app(tmp_path, free_port())
    cleanup.append(f"gw{os.getpid()}")
    env: dict[str, Any] = {"QS_GATEWAY_KEY": None}
    result = cli("deploy", "--yes", "-f", str(path), "--state-dir", str(tmp_path / "st"), env=env)
    assert result.exit_code == 1
    assert "env://QS_GATEWAY_KEY names environment variable QS_GATEWAY_KEY, which is not set" in result.stderr


def test_a_weak_api_key_is_refused_without_echoing_it(cli, engine, tmp_path, cleanup) -> None:
    path = secure_app(tmp_path, free_port())
    cleanup.append(f"gw{os.getpid()}")
    result = cli(
        "deploy", "--yes", "-f", str(path), "--state-dir", str(tmp_path / "st"), env={"QS_GATEWAY_KEY": "hunter2"}
    )
    assert result.exit_code == 1
    assert "the API key behind env://QS_GATEWAY_KEY must be at least 16 characters" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert engine.containers.list(all=True, filters={"label": f"io.scalectl.app=gw{os.getpid()}"}) == []
