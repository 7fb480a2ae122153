"""The quickstart's life on a real engine, as a user drives it: one scenario, run once, in order.

deploy v1 -> canary v2 under load -> warm rollback under load -> a fresh state dir rolls
forward -> broken v3 fails health (v2 keeps serving) -> a canary dying mid-bake is rolled back
-> a canary failing predictions is rolled back on the error rate -> a bake outliving --timeout
is rolled back -> a cold rollback restarts a removed revision -> a linear rollout
-> destroy removes the target and nothing else.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, free_port, predict, remove_target

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RISKY = {"amount": 900, "night": 1, "distance_km": 120, "foreign": 1}
SAFE = {"amount": 20, "night": 0, "distance_km": 3, "foreign": 0}

SCALE = """\
version: 1
name: {app}
model:
  image: {model_image}:${{TAG:-v1}}
  port: 8080
  health: /ping
  predict: /invocations
  env: {{LOG_LEVEL: info}}
targets:
  local:
    provider: docker
    replicas: 2
    port: {port}
    gateway_image: {gateway_image}
    keep_revisions: 2
    startup_timeout: ${{STARTUP:-30s}}
    rollout:
      strategy: ${{STRATEGY:-canary}}
      percent: ${{PERCENT:-50}}
      bake: ${{BAKE:-2s}}
      min_requests: ${{MIN_REQUESTS:-0}}
      auto_rollback: true
"""


class Stack:
    """One deployed target: its scale file, gateway port and state dir."""

    def __init__(self, root: Path) -> None:
        self.app = f"it{os.getpid()}"
        self.port = free_port()
        self.file = root / "scale.yaml"
        self.file.write_text(
            SCALE.format(app=self.app, port=self.port, model_image=MODEL_IMAGE, gateway_image=GATEWAY_IMAGE)
        )
        self.state = root / "state"

    def run(self, cli: Any, *args: str, state: Path | None = None, **env: str) -> tuple[int, dict[str, Any], str]:
        """Run a scalectl command with --output json; (exit code, JSON document, stderr)."""
        result = cli(
            args[0],
            "-f",
            str(self.file),
            "--state-dir",
            str(state or self.state),
            "--output",
            "json",
            *args[1:],
            env=env,
        )
        return result.exit_code, json.loads(result.stdout), result.stderr


@pytest.fixture(scope="module")
def stack(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("lifecycle"))
    yield s
    remove_target(engine, s.app)


def containers(engine: Any, app: str, **labels: str) -> list[Any]:
    filters = [f"io.scalectl.app={app}"] + [f"io.scalectl.{k}={v}" for k, v in labels.items()]
    return engine.containers.list(all=True, filters={"label": filters})


def test_first_deploy_serves_real_predictions_on_the_gateway_port(cli, engine, stack) -> None:
    code, doc, _ = stack.run(cli, "deploy", "--yes", TAG="v1")
    assert code == 0, doc
    assert doc["targets"]["local"]["revision"]["number"] == 1

    status, body = predict(stack.port, [RISKY, SAFE])
    assert status == 200, body
    assert body["model_version"] == "v1"
    risky, safe = body["predictions"]
    assert risky["fraud"] is True and risky["fraud_probability"] > 0.9
    assert safe["fraud"] is False and safe["fraud_probability"] < 0.2

    replicas = containers(engine, stack.app, role="replica", revision="1")
    assert len(replicas) == 2
    assert all(c.labels["io.scalectl.digest"] == doc["targets"]["local"]["revision"]["digest"] for c in replicas)

    code, status_doc, _ = stack.run(cli, "status")
    live = status_doc["targets"]["local"]
    assert (code, live["active"], live["traffic"]) == (0, 1, {"1": 100})
    assert live["url"] == f"http://127.0.0.1:{stack.port}"
    assert [r["health"] for r in live["details"]["replicas"]] == ["healthy", "healthy"]


def test_deploying_the_same_config_again_changes_nothing(cli, stack) -> None:
    code, doc, _ = stack.run(cli, "deploy", "--yes", TAG="v1")
    assert (code, doc["targets"]["local"]) == (0, {"changed": False, "revision": 1})
    result = cli(
        "plan", "-f", str(stack.file), "--state-dir", str(stack.state), "--detailed-exitcode", env={"TAG": "v2"}
    )
    assert result.exit_code == 3  # v2 would change it


def test_canary_v2_under_continuous_load_fails_no_request(cli, stack, load) -> None:
    with load(stack.port) as traffic:
        time.sleep(0.3)
        code, doc, _ = stack.run(cli, "deploy", "--yes", TAG="v2")
        time.sleep(0.3)
    assert code == 0, doc
    splits = [e["state"] for e in doc["targets"]["local"]["events"] if e.get("resource") == "traffic"]
    assert splits == ["rev 1: 50%, rev 2: 50%", "rev 2: 100%"]
    assert traffic.failures == []
    assert traffic.versions.get("v1", 0) > 0 and traffic.versions.get("v2", 0) > 0  # both served during the bake
    assert predict(stack.port, [SAFE])[1]["model_version"] == "v2"


def test_rollback_is_warm_fast_and_fails_no_request(cli, engine, stack, load) -> None:
    assert all(c.status == "running" for c in containers(engine, stack.app, revision="1"))  # kept warm
    with load(stack.port) as traffic:
        time.sleep(0.3)
        began = time.monotonic()
        code, doc, _ = stack.run(cli, "rollback", "--yes")
        took = time.monotonic() - began
        time.sleep(0.3)
    assert code == 0, doc
    assert (doc["targets"]["local"]["revision"]["number"], doc["targets"]["local"]["from"]) == (1, 2)
    assert took < 3.0, f"a warm rollback is a gateway reload, it took {took:.1f}s"
    assert traffic.failures == []
    assert predict(stack.port, [SAFE])[1]["model_version"] == "v1"


def test_a_fresh_state_dir_reads_history_from_the_engine_and_rolls_forward(cli, stack, tmp_path) -> None:
    code, doc, _ = stack.run(cli, "history", state=tmp_path / "other-runner")
    assert code == 0
    assert [(r["number"], r["status"]) for r in doc["targets"]["local"]] == [(1, "active"), (2, "rolled_back")]

    code, doc, _ = stack.run(cli, "rollback", "--yes", "--to", "2", "-t", "local", state=tmp_path / "other-runner")
    assert code == 0, doc
    assert predict(stack.port, [SAFE])[1]["model_version"] == "v2"


def test_broken_v3_fails_its_health_check_and_v2_keeps_serving(cli, engine, stack, load) -> None:
    with load(stack.port) as traffic:
        code, doc, _ = stack.run(cli, "deploy", "--yes", TAG="broken", STARTUP="4s")
    assert code == 1
    assert "revision 3 did not become healthy" in doc["error"]
    assert "503" in doc["error"] and "4 features but 2 weights" in doc["error"]
    assert "rev 2: 100% still serves" in doc["error"]
    assert traffic.failures == []
    assert predict(stack.port, [SAFE])[1]["model_version"] == "v2"
    assert containers(engine, stack.app, revision="3") == []

    _, history, _ = stack.run(cli, "history")
    assert [(r["number"], r["status"]) for r in history["targets"]["local"]][-2:] == [(2, "active"), (3, "failed")]


def test_a_canary_that_dies_during_its_bake_is_rolled_back_automatically(cli, engine, stack, load) -> None:
    killed: list[str] = []

    def kill_canary() -> None:
        """Stop one canary replica once the gateway sends it traffic (a crash in the middle of the bake)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not killed:
            for c in containers(engine, stack.app, revision="4"):
                if c.status == "running" and predict(stack.port, [SAFE])[1].get("model_version") == "v1":
                    c.stop(timeout=1)
                    killed.append(c.name)
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_canary, daemon=True)
    with load(stack.port) as traffic:
        killer.start()
        code, doc, _ = stack.run(cli, "deploy", "--yes", TAG="v1", BAKE="8s")
        killer.join(timeout=5)
    assert killed, "the canary was never seen serving"
    assert code == 1
    assert "revision 4 was rolled back automatically" in doc["error"]
    assert "failed its health check during the bake" in doc["error"]
    assert "Revision 2 serves 100%" in doc["error"]
    assert traffic.failures == []  # the gateway retried the old revision for requests the dead canary dropped
    assert predict(stack.port, [SAFE])[1]["model_version"] == "v2"
    assert containers(engine, stack.app, revision="4") == []


def test_a_canary_whose_predictions_fail_is_rolled_back_on_the_gateway_error_rate(cli, engine, stack, load) -> None:
    """Healthy on /ping, but every prediction crashes: the gateway's error count catches it."""
    with load(stack.port) as traffic:
        code, doc, _ = stack.run(cli, "deploy", "--yes", TAG="crashy", BAKE="6s")
    assert code == 1
    assert "revision 5 was rolled back automatically" in doc["error"]
    assert "5xx rate 100.0% of revision 5" in doc["error"] and "over rollout.max_error_rate" in doc["error"]
    assert traffic.failures == []  # each failed attempt was retried on revision 2
    assert predict(stack.port, [SAFE])[1]["model_version"] == "v2"
    assert containers(engine, stack.app, revision="5") == []


def test_a_bake_longer_than_the_timeout_is_rolled_back_when_time_runs_out(cli, stack) -> None:
    began = time.monotonic()
    code, doc, _ = stack.run(cli, "deploy", "--yes", "--timeout", "5", TAG="v1", BAKE="60s")
    assert code == 1
    assert time.monotonic() - began < 15
    assert "revision 6 was rolled back automatically: the rollout ran out of time (5s" in doc["error"]
    assert predict(stack.port, [SAFE])[1]["model_version"] == "v2"


def test_rolling_back_to_a_revision_whose_containers_are_gone_restarts_its_image(cli, engine, stack) -> None:
    for c in containers(engine, stack.app, revision="1"):  # as if pruned by keep_revisions
        c.remove(force=True)
    code, doc, _ = stack.run(cli, "rollback", "--yes", "--to", "1", "-t", "local")
    assert code == 0, doc
    warnings = [e["message"] for e in doc["targets"]["local"]["events"] if e["kind"] == "warn"]
    assert any("cold rollback" in w for w in warnings)
    assert predict(stack.port, [SAFE])[1]["model_version"] == "v1"
    assert len(containers(engine, stack.app, revision="1")) == 2


def test_a_linear_rollout_moves_traffic_in_steps(cli, stack, load) -> None:
    with load(stack.port) as traffic:
        code, doc, _ = stack.run(cli, "deploy", "--yes", TAG="v2", STRATEGY="linear", PERCENT="40", BAKE="1s")
    assert code == 0, doc
    splits = [e["state"] for e in doc["targets"]["local"]["events"] if e.get("resource") == "traffic"]
    assert splits == ["rev 1: 60%, rev 7: 40%", "rev 7: 80%, rev 1: 20%", "rev 7: 100%"]
    assert traffic.failures == []


def test_destroy_removes_the_target_and_nothing_else(cli, engine, stack) -> None:
    bystander = engine.containers.run(
        "scalectl/base:bookworm", ["sleep", "60"], detach=True, labels={"io.scalectl.app": "someone-else"}
    )
    other_network = engine.networks.create(f"{stack.app}-bystander")
    try:
        code, doc, _ = stack.run(cli, "destroy", "--yes")
        assert code == 0, doc
        removed = doc["targets"]["local"]
        assert f"container scalectl-{stack.app}-local-gateway" in removed
        assert f"network scalectl-{stack.app}-local" in removed
        assert containers(engine, stack.app) == []
        assert engine.networks.list(filters={"label": f"io.scalectl.app={stack.app}"}) == []
        bystander.reload()
        other_network.reload()
        assert bystander.status == "running"
        assert engine.images.get(f"{MODEL_IMAGE}:v2")  # images are the user's: never removed
        with pytest.raises(OSError):
            predict(stack.port, [SAFE])
        code, doc, _ = stack.run(cli, "status")
        assert (code, doc["targets"]["local"]["exists"]) == (0, False)
    finally:
        bystander.remove(force=True)
        other_network.remove()
