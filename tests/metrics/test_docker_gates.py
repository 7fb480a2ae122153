"""Live figures and latency/error gates on the real Docker engine.

One deployment for the module: the quickstart model with 20 ms of injected latency as the
serving revision. Canaries of the same image with 250 ms latency, or answering 500 on every
second prediction, must be rolled back by the bake's gate while a load client runs, with the
failing figure in the message and no failed request answered by the serving revision.
`status --window` and `top` figures are compared with what the load client measured.
"""

from __future__ import annotations

import json
import math
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.docker.helpers import GATEWAY_IMAGE, free_port, remove_target
from tests.metrics.client import Client, percentile

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCALE = """\
version: 1
name: {app}
model:
  image: {image}
  port: 8080
  health: /ping
  predict: /invocations
  env: {{FAULT_LATENCY_MS: "${{LAT:-20}}", FAULT_ERROR_SHARE: "${{ERR:-0}}"}}
targets:
  local:
    provider: docker
    replicas: 1
    port: {port}
    gateway_image: {gateway}
    keep_revisions: 2
    startup_timeout: 20s
    rollout:
      strategy: canary
      percent: 50
      bake: 20s
      timeout: 60s
      min_requests: 10
      max_p99: 120ms
"""


class Stack:
    def __init__(self, root: Path, image: str) -> None:
        self.app, self.port = f"gat{uuid.uuid4().hex[:6]}", free_port()
        self.file = root / "scale.yaml"
        self.file.write_text(SCALE.format(app=self.app, image=image, port=self.port, gateway=GATEWAY_IMAGE))
        self.state = root / "state"
        self.serving = 0

    def run(self, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
        cmd = [args[0], "-f", str(self.file), "--state-dir", str(self.state), "--output", "json", *args[1:]]
        result = Cli()(*cmd, env=env)
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr

    def text(self, *args: str) -> Any:
        return Cli()(args[0], "-f", str(self.file), "--state-dir", str(self.state), *args[1:])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, engine: Any, faulty_image: str) -> Any:
    stack = Stack(tmp_path_factory.mktemp("gates"), faulty_image)
    code, doc, err = stack.run("deploy", "--yes")
    assert code == 0, (doc, err)
    stack.serving = doc["targets"]["local"]["revision"]["number"]
    yield stack
    remove_target(engine, stack.app)


def close(measured: float, reported: float | None, slack_ms: float = 3.0, share: float = 0.15) -> bool:
    """The gateway's figure within a few ms (and 15%) of the client's: the client adds its own socket time."""
    return reported is not None and abs(measured - reported) <= slack_ms + share * measured


def test_status_figures_match_what_the_load_client_measured(stack: Stack) -> None:
    time.sleep(1.5)  # a quiet gap: the window below starts inside it
    began = time.time()
    with Client(stack.port, threads=1, bad_every=10) as client:  # one thread: least client-side queueing
        time.sleep(5)
    window = math.ceil(time.time() - began) + 1
    code, doc, err = stack.run("status", "--window", f"{window}s")
    assert code == 0, (doc, err)
    assert doc["window"] == window
    (figures,) = doc["targets"]["local"]["metrics"]
    answered = [s for s in client.samples if s.status]
    ms = [s.ms for s in answered]
    bad = [s for s in answered if s.status == 400]
    print(
        f"\nclient: {len(answered)} req, p50 {percentile(ms, 50):.1f} p95 {percentile(ms, 95):.1f} "
        f"p99 {percentile(ms, 99):.1f} ms, 4xx {len(bad) / len(answered):.3f}; gateway: {figures}"
    )
    assert figures["revision"] == stack.serving and client.failed() == []
    assert figures["requests"] == len(answered)  # every request of the window, none twice
    assert figures["rps"] == pytest.approx(len(answered) / window, rel=0.01)
    assert figures["rate_4xx"] == pytest.approx(len(bad) / len(answered), abs=0.005)
    assert figures["rate_5xx"] == 0
    # the gateway times less than the client (no client socket or thread scheduling), never more
    for q, slack in ((50, 0.15), (95, 0.35), (99, 0.5)):
        measured, reported = percentile(ms, q), figures[f"p{q}_ms"]
        assert close(measured, reported, share=slack) and reported <= measured + 1.5, (q, measured, figures)
        assert reported >= 20  # the injected latency
    assert (figures["replicas_desired"], figures["replicas_ready"]) == (1, 1)
    assert figures["cpu_percent"] is not None and figures["memory_percent"] is not None
    assert figures["gpu_percent"] is None and any("GPU: not reported" in n for n in figures["notes"])

    text = stack.text("status", "--window", f"{window}s")
    assert text.exit_code == 0
    assert "p99" in text.stderr and "req/s" in text.stderr and "1/1" in text.stderr  # the window moved on: no count


def assert_rolled_back(stack: Stack, code: int, doc: dict[str, Any], client: Client, canary: int) -> str:
    """The deploy failed with the canary rolled back; nothing the serving revision answered failed."""
    assert code == 1, doc
    assert f"revision {canary} was rolled back automatically" in doc["error"]
    assert f"Revision {stack.serving} serves 100%" in doc["error"]
    assert [s for s in client.samples if s.revision == str(stack.serving) and s.status not in (200, 400)] == []
    assert all(s.revision == str(canary) for s in client.failed()), client.failed()[:3]
    assert any(s.revision == str(canary) for s in client.samples), "the canary never took traffic"
    return str(doc["error"])


def test_a_slow_canary_is_rolled_back_on_p99_with_the_figure_in_the_message(stack: Stack) -> None:
    with Client(stack.port, threads=2) as client:
        time.sleep(0.3)
        code, doc, err = stack.run("deploy", "--yes", LAT="250")
    canary = int(re.search(r"revision (\d+) was rolled back", doc["error"]).group(1))  # type: ignore[union-attr]
    error = assert_rolled_back(stack, code, doc, client, canary)
    assert client.failed() == []  # slow, not failing
    match = re.search(rf"P99 (\d+) ms of revision {canary} is over rollout.max_p99 120 ms by (\d+) ms", error)
    assert match, error
    assert 250 <= int(match.group(1)) < 400
    progress = [json.loads(line) for line in err.splitlines() if '"kind": "progress"' in line]
    assert progress and progress[0]["seconds_left"] > 0
    # the gate's live line compares the canary with the revision it replaces (the message does too once
    # that one has served min_requests in the bake; tests/core/test_metrics_gate.py checks the wording)
    assert (
        progress[-1]["figures"].startswith(f"rev {canary}: ") and f" | rev {stack.serving}: " in progress[-1]["figures"]
    )


def test_an_erroring_canary_is_rolled_back_on_the_error_rate(stack: Stack) -> None:
    with Client(stack.port, threads=2) as client:
        time.sleep(0.3)
        code, doc, _ = stack.run("deploy", "--yes", ERR="0.5")
    canary = int(re.search(r"revision (\d+) was rolled back", doc["error"]).group(1))  # type: ignore[union-attr]
    error = assert_rolled_back(stack, code, doc, client, canary)
    over = rf"5xx rate (\d+\.\d)% of revision {canary} \((\d+) requests\) is over rollout.max_error_rate 5.0%"
    match = re.search(over, error)
    assert match, error
    assert 35 <= float(match.group(1)) <= 65 and int(match.group(2)) >= 10
    assert client.failed(), "every second canary prediction fails: the client saw some"


def test_top_once_and_json_show_the_same_figures(stack: Stack) -> None:
    with Client(stack.port, threads=1):
        time.sleep(2)
    once = stack.text("top", "--once", "--window", "30s")
    assert once.exit_code == 0, once.stderr
    assert "p99" in once.stderr and f"\n {stack.serving} " in once.stderr
    code, doc, _ = stack.run("top", "--window", "30s")
    assert code == 0
    (figures,) = doc["targets"]["local"]["metrics"]
    assert figures["revision"] == stack.serving and figures["requests"] > 0 and figures["p99_ms"] > 15
    refused = stack.text("top")
    assert refused.exit_code == 2 and "--once" in refused.stderr  # no terminal here


def test_top_refreshes_on_a_terminal_and_quits_cleanly_on_ctrl_c(stack: Stack) -> None:
    leader, follower = pty.openpty()
    cmd = [sys.executable, "-m", "scalectl", "top", "-f", str(stack.file), "--state-dir", str(stack.state)]
    proc = subprocess.Popen(
        [*cmd, "--interval", "1s", "--window", "30s"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
        start_new_session=True,
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and seen.count(b"req/s") < 2:  # two refreshes
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
        assert seen.count(b"req/s") >= 2, seen[-2000:]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
