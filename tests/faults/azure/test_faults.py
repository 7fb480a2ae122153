"""Hung calls on Azure ML (against the ARM simulator): azure-core's transport gives up at the read
timeout scalectl sets and retries; a Resource Manager that never answers is a clear error within
seconds of the retries (not azure-core's default 300 s per read), the last good revision keeps all
the traffic, and the next deploy puts things right."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.azure.simulator import ArmSimulator

EP = "fraud-prod"


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A silent Resource Manager is given up on after 0.5 s (60 s in real use)."""
    from scalectl.providers.azure import api

    monkeypatch.setattr(api, "READ_TIMEOUT", 0.5)


def run(cli: Any, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(*args, "--output", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def test_a_hung_put_is_retried_and_the_rollout_completes(sim: ArmSimulator, scale_file: Any, cli: Any) -> None:
    assert run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:1")), "--yes")[0] == 0
    sim.hang("PUT", f"/onlineEndpoints/{EP}/deployments/rev-2", 1, seconds=5)
    started = time.monotonic()
    code, doc = run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:2")), "--yes")
    assert code == 0, doc
    assert sim.hung == 1 and time.monotonic() - started < 5
    assert sim.traffic(EP) == {"rev-2": 100}


def test_a_resource_manager_that_never_answers_is_a_clear_error_and_the_next_deploy_puts_it_right(
    sim: ArmSimulator, scale_file: Any, cli: Any
) -> None:
    assert run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:1")), "--yes")[0] == 0
    sim.hang("PUT", f"/onlineEndpoints/{EP}/deployments/rev-2", 50, seconds=30)
    started = time.monotonic()
    code, doc = run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:2")), "--yes")
    took = time.monotonic() - started
    assert code == 1 and "did not answer in time" in doc["error"], doc
    assert took < 20, took
    assert sim.traffic(EP) == {"rev-1": 100}  # the last good revision kept all the traffic
    sim._hangs.clear()
    code, doc = run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:2")), "--yes")
    assert code == 0, doc
    traffic = sim.traffic(EP)
    assert list(traffic.values()) == [100], traffic
    print(f"\nAzure ML: {sim.hung} hung PUTs, clear error after {took:.1f}s (read timeout 0.5 s)")


DEPLOY_STEPS = [
    ("GET", f"/onlineEndpoints/{EP}"),
    ("GET", f"/onlineEndpoints/{EP}/deployments"),
    ("PUT", "/environments/scalectl-fraud-prod/versions/2"),
    ("PUT", f"/onlineEndpoints/{EP}/deployments/rev-2"),
    ("PUT", f"/onlineEndpoints/{EP}"),
    ("PUT", "/fraud-prod-rev-2-autoscale"),
]


def test_a_5xx_at_every_step_of_a_deploy_is_retried(sim: ArmSimulator, scale_file: Any, cli: Any) -> None:
    assert run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:1")), "--yes")[0] == 0
    for method, suffix in DEPLOY_STEPS:
        sim.fail(method, suffix)
    code, doc = run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:2")), "--yes")
    assert code == 0, doc
    assert sim.traffic(EP) == {"rev-2": 100}


@pytest.mark.parametrize("skip", [0, 1], ids=["canary-share", "full-share"])
def test_a_traffic_switch_that_keeps_failing_leaves_the_last_good_revision_serving(
    sim: ArmSimulator, scale_file: Any, cli: Any, skip: int
) -> None:
    path = scale_file(image="acr.example.io/fraud:1")
    assert run(cli, "deploy", "-f", str(path), "--yes")[0] == 0
    sim.fail("PUT", f"/onlineEndpoints/{EP}", 50, status=500, skip=skip)
    code, doc = run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:2")), "--yes")
    assert code == 1 and doc["error"], doc
    traffic = sim.traffic(EP)
    print(f"\nAzure ML, traffic PUT failing after {skip} passed: exit {code}, traffic {traffic}: {doc['error'][:160]}")
    sim._failing.clear()
    code, doc = run(cli, "status", "-f", str(path))
    assert code == 0, doc["targets"]["prod"]["problems"]
    assert sim.traffic(EP) == {"rev-1": 100}  # the next command put it right
    code, doc = run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:2")), "--yes")
    assert code == 0, doc
    assert list(sim.traffic(EP).values()) == [100]
