"""Capture and drift end to end on the real engine: `deploy` starts the capture sidecar, nothing manual.

The baseline is the quickstart's own training data (examples/quickstart/train.py); a load drawn
from the same generator reports no drift, a load with larger amounts and more foreign merchants
(captured after a redeploy to a new destination, which recreates the sidecar) reports exactly those
two features and exits 8. The API key clients send is never in a captured file.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.docker.helpers import BASE_IMAGE, GATEWAY_IMAGE, MODEL_IMAGE, QUICKSTART, free_port, predict

pytestmark = [pytest.mark.docker, pytest.mark.slow]

KEY = "capture-test-key-" + "7f3a9c2e5b"


def _training() -> Any:
    spec = importlib.util.spec_from_file_location("quickstart_train", QUICKSTART / "train.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _send(port: int, rows: list[list[float]]) -> None:
    for start in range(0, len(rows), 10):  # ten instances per request, like a batch client
        batch = [
            dict(zip(["amount", "night", "distance_km", "foreign"], r, strict=True)) for r in rows[start : start + 10]
        ]
        status, body = predict(port, batch, {"X-Api-Key": KEY})
        assert status == 200, body


def _scale(app: str, port: int, destination: str) -> str:
    return f"""\
version: 1
name: {app}
model:
  image: {MODEL_IMAGE}:v1
  secrets: {{GATEWAY_KEY: env://CAPTURE_TEST_KEY}}
targets:
  local:
    provider: docker
    port: {port}
    gateway_image: {GATEWAY_IMAGE}
    capture_image: {BASE_IMAGE}
    api_key: GATEWAY_KEY
    monitoring:
      capture: {{percent: 100, destination: {destination}, max_file_mb: 1}}
"""


def test_quickstart_capture_then_drift(cli, engine, tmp_path: Path, cleanup: list[str], monkeypatch) -> None:
    monkeypatch.setenv("CAPTURE_TEST_KEY", KEY)
    app = f"drift{os.getpid()}{random.randrange(1000)}"
    cleanup.append(app)
    port = free_port()
    scale = tmp_path / "scale.yaml"
    scale.write_text(_scale(app, port, "captures"))
    state = tmp_path / "st"
    deployed = cli("deploy", "--yes", "-f", scale, "--state-dir", state, "--output", "json")
    assert deployed.exit_code == 0, deployed.stdout + deployed.stderr
    sidecars = engine.containers.list(filters={"label": [f"io.scalectl.app={app}", "io.scalectl.role=capture"]})
    assert [c.status for c in sidecars] == ["running"]

    train = _training()
    baseline = tmp_path / "train.csv"
    with open(baseline, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(train.FEATURES)
        out.writerows(x for x, _ in train.make_data(3000, seed=1))

    _send(port, [x for x, _ in train.make_data(600, seed=2)])
    same = cli("drift", "-f", scale, "--baseline", baseline, "--since", "1h", "--output", "json")
    assert same.exit_code == 0, same.stdout + same.stderr
    doc = json.loads(same.stdout)
    assert doc["inputs"]["verdict"] == "ok"
    assert doc["records"] == 60  # every call captured once (percent: 100), none twice

    # the sidecar gone: calls are still served (straight to the replicas), status says capture stopped,
    # the plan names the sidecar and a deploy puts it back
    sidecars[0].remove(force=True)
    _send(port, [x for x, _ in train.make_data(20, seed=4)])
    status = cli("status", "-f", scale, "--state-dir", state, "--output", "json")
    assert status.exit_code == 6 and "calls are served but not captured" in status.stdout, status.stdout
    plan = cli("plan", "-f", scale, "--state-dir", state, "--output", "json")
    assert "capture sidecar" in plan.stdout and "create" in plan.stdout, plan.stdout
    repaired = cli("deploy", "--yes", "-f", scale, "--state-dir", state, "--output", "json")
    assert repaired.exit_code == 0, repaired.stdout + repaired.stderr
    assert engine.containers.list(filters={"label": [f"io.scalectl.app={app}", "io.scalectl.role=capture"]})

    # a new destination: the plan says the sidecar is recreated, the deploy does it
    scale.write_text(_scale(app, port, "shifted"))
    planned = cli("plan", "-f", scale, "--state-dir", state, "--output", "json")
    assert "capture sidecar" in planned.stdout
    redeployed = cli("deploy", "--yes", "-f", scale, "--state-dir", state, "--allow-idle-bake", "--output", "json")
    assert redeployed.exit_code == 0, redeployed.stdout + redeployed.stderr
    shifted = [[a * 4, n, d, 1.0 if i % 2 else f] for i, ((a, n, d, f), _) in enumerate(train.make_data(600, seed=3))]
    _send(port, shifted)
    moved = cli(
        "drift",
        "-f",
        scale,
        "--baseline",
        baseline,
        "--since",
        "1h",
        "--reference",
        tmp_path / "captures",
        "--output",
        "json",
    )
    assert moved.exit_code == 8, moved.stdout + moved.stderr
    doc = json.loads(moved.stdout)
    assert doc["inputs"]["drifted"] == ["amount", "foreign"]
    assert sorted(doc["inputs"]["top"][:2]) == ["amount", "foreign"]

    files = list((tmp_path / "captures").glob("requests-*.jsonl")) + list((tmp_path / "shifted").glob("*.jsonl"))
    assert files
    for file in files:
        text = file.read_text()
        assert KEY not in text and "x-api-key" not in text.lower()

    gone = cli("destroy", "--yes", "-f", scale, "--state-dir", state)
    assert gone.exit_code == 0, gone.stdout + gone.stderr
    assert not engine.containers.list(all=True, filters={"label": [f"io.scalectl.app={app}"]})
