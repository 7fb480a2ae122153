"""One end-to-end bench through a real Docker gateway: the quickstart image behind an API key, a canary
split reported per revision, the container resource use, and the key never in anything bench prints."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, QUICKSTART, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

KEY = "bench-" + uuid.uuid4().hex


def test_bench_through_the_docker_gateway(cli, engine, tmp_path: Path, cleanup: list[str]) -> None:  # type: ignore[no-untyped-def]
    app = f"bench{os.getpid()}{uuid.uuid4().hex[:4]}"
    cleanup.append(app)
    path = tmp_path / "scale.yaml"
    shutil.copy(QUICKSTART / "bench.jsonl", tmp_path / "bench.jsonl")  # the target's example payloads
    path.write_text(f"""\
version: 1
name: {app}
model:
  image: {MODEL_IMAGE}:v1
  secrets: {{GATEWAY_KEY: env://BENCH_GATEWAY_KEY}}
targets:
  local:
    provider: docker
    replicas: 2
    port: {free_port()}
    gateway_image: {GATEWAY_IMAGE}
    api_key: GATEWAY_KEY
""")
    env = {"BENCH_GATEWAY_KEY": KEY}
    common = ["-f", path, "-t", "local"]
    state = ["--state-dir", tmp_path / "st"]
    deployed = cli("deploy", "--yes", *common, *state, "--output", "json", env=env)
    assert deployed.exit_code == 0, deployed.output

    result = cli(
        "bench", *common, "--rate", "100/s", "--duration", "2s", "--slo", "p99=500ms,errors=0%",
        "--report", tmp_path / "r.html", "--output", "json", env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    step = doc["steps"][0]
    assert step["ok"] == 200 and step["errors"] == {}  # the key was sent: no 401
    assert doc["replicas"] == 2 and doc["traffic"] == {"1": 100}
    assert step["revisions"]["1"]["ok"] == 200  # the gateway names the revision that served
    assert 0 < step["latency_ms"]["p50"] < 100
    usage = doc["resources"]
    roles = sorted(c["role"] for c in usage["containers"])
    assert roles == ["gateway", "replica", "replica"] and all(c["samples"] >= 1 for c in usage["containers"])
    assert all(c["memory_max_mb"] > 0 for c in usage["containers"])
    assert [c["name"] for c in step["resources"]] == [c["name"] for c in usage["containers"]]  # the step's share
    assert "env://BENCH_GATEWAY_KEY" in doc["front_door"]
    assert KEY not in result.output and KEY not in (tmp_path / "r.html").read_text()

    wrong = cli("bench", *common, "--rate", "20/s", "--duration", "1s", "--output", "json")  # no key in the env
    assert wrong.exit_code == 1 and "BENCH_GATEWAY_KEY" in json.loads(wrong.stdout)["error"]

    destroyed = cli("destroy", "--yes", *common, *state, env=env)
    assert destroyed.exit_code == 0
