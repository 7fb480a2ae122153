"""Capture and drift end to end on the real engine: the quickstart behind the capture sidecar.

The baseline is the quickstart's own training data (examples/quickstart/train.py); a load drawn
from the same generator reports no drift, a load with larger amounts and more foreign merchants
reports exactly those two features and exits 8.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from scalectl.capture import CaptureWriter
from scalectl.capture_proxy import CaptureProxy
from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, QUICKSTART, free_port, predict

pytestmark = [pytest.mark.docker, pytest.mark.slow]


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
        status, body = predict(port, batch)
        assert status == 200, body


def _proxy(upstream: int, folder: Path) -> tuple[CaptureProxy, CaptureWriter, int]:
    writer = CaptureWriter(folder, "local", percent=100)
    server = CaptureProxy(("127.0.0.1", 0), f"http://127.0.0.1:{upstream}", writer, "/invocations", 10)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, writer, server.server_address[1]


def test_quickstart_capture_then_drift(cli, engine, tmp_path: Path, cleanup: list[str]) -> None:
    app = f"drift{os.getpid()}{random.randrange(1000)}"
    cleanup.append(app)
    port = free_port()
    scale = tmp_path / "scale.yaml"
    scale.write_text(f"""\
version: 1
name: {app}
model:
  image: {MODEL_IMAGE}:v1
targets:
  local:
    provider: docker
    port: {port}
    gateway_image: {GATEWAY_IMAGE}
    monitoring:
      capture: {{percent: 100, destination: captures}}
""")
    deployed = cli("deploy", "--yes", "-f", scale, "--state-dir", tmp_path / "st", "--output", "json")
    assert deployed.exit_code == 0, deployed.stdout

    train = _training()
    baseline = tmp_path / "train.csv"
    with open(baseline, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(train.FEATURES)
        out.writerows(x for x, _ in train.make_data(3000, seed=1))

    server, writer, proxy_port = _proxy(port, tmp_path / "captures")
    try:
        _send(proxy_port, [x for x, _ in train.make_data(600, seed=2)])
        same = cli("drift", "-f", scale, "--baseline", baseline, "--since", "1h", "--output", "json")
        assert same.exit_code == 0, same.stdout + same.stderr
        assert json.loads(same.stdout)["inputs"]["verdict"] == "ok"
    finally:
        server.shutdown()
        server.server_close()
        writer.close()

    server, writer, proxy_port = _proxy(port, tmp_path / "shifted")
    try:
        shifted = [
            [a * 4, n, d, 1.0 if i % 2 else f] for i, ((a, n, d, f), _) in enumerate(train.make_data(600, seed=3))
        ]
        _send(proxy_port, shifted)
        moved = cli(
            "drift",
            "-f",
            scale,
            "--baseline",
            baseline,
            "--since",
            "1h",
            "--captures",
            tmp_path / "shifted",
            "--reference",
            tmp_path / "captures",
            "--output",
            "json",
        )
    finally:
        server.shutdown()
        server.server_close()
        writer.close()
    assert moved.exit_code == 8, moved.stdout + moved.stderr
    doc = json.loads(moved.stdout)
    assert doc["inputs"]["drifted"] == ["amount", "foreign"]
    assert doc["inputs"]["top"][:2] == ["amount", "foreign"] or doc["inputs"]["top"][:2] == ["foreign", "amount"]
