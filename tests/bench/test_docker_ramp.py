"""`bench --ramp` against real Docker replicas of known capacity, and per-revision figures on a real canary.

The image (tests/bench/limited, built here from the local base image) completes at most MAX_RPS requests a
second per replica; two replicas behind the scalectl gateway serve at most 2 x MAX_RPS. The ramp must find
replica_rps within 20% of MAX_RPS, and `--save` must reach `plan`. Then a canary split 50/50 by the gateway:
bench reports each revision's share and latency from the X-Scalectl-Revision header.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.docker.helpers import BASE_IMAGE, GATEWAY_IMAGE, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LIMITED = Path(__file__).parent / "limited"
IMAGE = "scalectl/bench-limited:test"
MAX_RPS = 40  # per replica
SCALE = """\
version: 1
name: {app}
model:
  image: {image}
  env: {{MAX_RPS: "{max_rps}", REVISION_NAME: {revision}}}
targets:
  local:
    provider: docker
    replicas: 2
    port: {port}
    gateway_image: {gateway}
    rollout: {{strategy: canary, percent: 50, bake: {bake}, min_requests: 0}}
traffic: {{peak_rps: 200, offpeak_rps: 20, peak_hours_per_day: 8, replica_rps: 10}}
"""


@pytest.fixture(scope="module")
def image(engine: Any) -> str:
    """The rate-limited image, built from the local base image (the layer cache makes a rebuild instant)."""
    build = subprocess.run(
        ["docker", "build", "-q", "-t", IMAGE, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", str(LIMITED)],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},  # no registry: the legacy builder uses the local base as is
    )
    assert build.returncode == 0, build.stderr
    return IMAGE


def write(path: Path, app: str, port: int, revision: str, bake: str = "1s") -> Path:
    path.write_text(
        SCALE.format(
            app=app, image=IMAGE, max_rps=MAX_RPS, revision=revision, port=port, gateway=GATEWAY_IMAGE, bake=bake
        )
    )
    return path


def test_ramp_finds_the_replica_capacity_and_a_canary_is_reported_per_revision(  # type: ignore[no-untyped-def]
    cli, engine, image, tmp_path: Path, cleanup: list[str]
) -> None:
    from scalectl.checks import load_checked
    from scalectl.engine import Engine
    from scalectl.events import Events

    app = f"ramp{os.getpid()}{uuid.uuid4().hex[:4]}"
    cleanup.append(app)
    port = free_port()
    path = write(tmp_path / "scale.yaml", app, port, "one")
    (tmp_path / "bench.jsonl").write_text('{"instances": [[1, 2, 3, 4]]}\n')
    state = ["--state-dir", tmp_path / "st"]
    deployed = cli("deploy", "--yes", "-f", path, "-t", "local", *state, "--output", "json")
    assert deployed.exit_code == 0, deployed.output

    ramp = cli(
        "bench", "-f", path, "-t", "local", "--rate", "30/s", "--ramp", "--ramp-factor", "1.15", "--max-rate",
        "120/s", "--duration", "3s", "--slo", "p99=250ms,errors=0%", "--save", "--output", "json",
    )  # fmt: skip
    assert ramp.exit_code == 0, ramp.output
    doc = json.loads(ramp.stdout)
    found = doc["ramp"]["replica_rps"]
    assert doc["replicas"] == 2 and doc["ramp"]["broke_at_rps"] is not None, doc["steps"]
    assert abs(found - MAX_RPS) / MAX_RPS <= 0.2, (found, [(s["offered_rps"], s["slo_breaches"]) for s in doc["steps"]])
    # (not asserted: `client_limited`, a p99 of the client's own lateness, flips on a loaded shared machine)
    capacity = json.loads(cli("plan", "-f", path, "-t", "local", *state, "--output", "json").stdout)
    assert capacity["targets"]["local"]["capacity"]["replica_rps"] == found
    assert capacity["targets"]["local"]["capacity"]["source"] == "bench"

    # a canary: revision 2 takes 50% for its bake while bench measures both revisions through the gateway
    canary = write(tmp_path / "canary.yaml", app, port, "two", bake="25s")
    outcome: list[Any] = []
    rollout = threading.Thread(
        target=lambda: outcome.append(Engine(load_checked(canary), tmp_path / "st").deploy("local", Events())),
        daemon=True,
    )
    rollout.start()
    deadline = time.monotonic() + 60
    split: dict[int, int] = {}
    while time.monotonic() < deadline and len(split) < 2:
        split = Engine(load_checked(path), tmp_path / "st").observe("local").traffic
        time.sleep(0.2)
    assert split == {1: 50, 2: 50}, split
    during = cli(
        "bench", "-f", path, "-t", "local", "--rate", "40/s", "--duration", "3s", "--slo", "errors=0%",
        "--output", "json",
    )  # fmt: skip
    rollout.join(timeout=90)
    assert during.exit_code == 0, during.output
    doc = json.loads(during.stdout)
    step = doc["steps"][0]
    assert doc["traffic"] == {"1": 50, "2": 50} and doc["replicas"] == 4
    per = step["revisions"]
    assert set(per) == {"1", "2"} and per["1"]["ok"] + per["2"]["ok"] == step["ok"] == 120
    assert all(0.3 <= per[r]["ok"] / 120 <= 0.7 for r in per), per  # the gateway's 50/50 split, per request
    for r in per.values():  # below capacity each revision answers in about one service time (25 ms)
        assert 1000 / MAX_RPS * 0.9 <= r["latency_ms"]["p50"] <= 1000 / MAX_RPS + 40, per
    assert outcome and outcome[0][1].number == 2  # the canary was promoted after its bake
