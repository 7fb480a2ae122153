"""Hung calls on Vertex AI (against the simulator): a call that never answers is given up on at the
client timeout and retried, and one that never answers at all ends as a clear error, not a hang;
traffic stays wholly on the last good revision and the next deploy puts things right."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from scalectl.providers.gcp.provider import GcpProvider

from tests.gcp.helpers import V1, V2, scalectl, write_scale
from tests.gcp.simulator import VertexSim


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch, gcp: GcpProvider) -> None:
    """A silent Vertex AI is given up on after 0.5 s (60 s in real use); retries wait 10 ms here."""
    from scalectl.providers.gcp import api

    monkeypatch.setattr(api, "CALL_TIMEOUT", 0.5)
    gcp.sleep = lambda s: time.sleep(min(s, 0.01))


def serving(sim: VertexSim) -> dict[str, int]:
    ep = sim.endpoint()
    images = {d["id"]: d["model"] for d in ep["deployedModels"]}
    return {images[k]: v for k, v in ep["trafficSplit"].items() if v}


def test_a_hung_deploy_call_is_retried_and_the_rollout_completes(sim: VertexSim, tmp_path: Path) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    sim.hang("POST", ":deployModel", 1, seconds=5)
    started = time.monotonic()
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    assert code == 0, doc
    assert sim.hung == 1 and time.monotonic() - started < 5
    assert list(serving(sim).values()) == [100] and len(sim.endpoint()["deployedModels"]) == 1


def test_a_call_that_never_answers_is_a_clear_error_and_the_next_deploy_puts_it_right(
    sim: VertexSim, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    before = serving(sim)
    sim.hang("POST", ":deployModel", 50, seconds=30)
    started = time.monotonic()
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    took = time.monotonic() - started
    assert code == 1 and "cannot reach Vertex AI" in doc["error"], doc
    assert took < 10, took
    assert serving(sim) == before  # the last good revision kept all the traffic
    sim._hangs.clear()
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    assert code == 0, doc
    assert list(serving(sim).values()) == [100] and len(sim.endpoint()["deployedModels"]) == 1
    print(f"\nVertex AI: {sim.hung} hung deployModel calls, clear error after {took:.1f}s (timeout 0.5 s)")


DEPLOY_STEPS = [
    ("GET", "/endpoints"),
    ("GET", "/models"),
    ("POST", "/models:upload"),
    ("POST", ":deployModel"),
    ("POST", ":undeployModel"),
    ("GET", "/operations/"),
]


def test_a_5xx_burst_at_every_step_of_a_deploy_is_retried(sim: VertexSim, tmp_path: Path) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    for method, suffix in DEPLOY_STEPS:
        sim.fail(method, suffix, 2)
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    assert code == 0, doc
    assert list(serving(sim).values()) == [100] and len(sim.endpoint()["deployedModels"]) == 1


@pytest.mark.parametrize(("method", "suffix"), [("POST", "/models:upload"), ("POST", ":deployModel")])
def test_a_step_that_keeps_failing_is_a_clear_error_and_the_next_deploy_puts_it_right(
    sim: VertexSim, tmp_path: Path, method: str, suffix: str
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    before = serving(sim)
    sim.fail(method, suffix, 50, status="INTERNAL")
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    assert code == 1 and "Internal error encountered" in doc["error"], doc
    assert serving(sim) == before
    sim._failing.clear()
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    assert code == 0, doc
    assert list(serving(sim).values()) == [100] and len(sim.endpoint()["deployedModels"]) == 1


def test_a_failing_undeploy_after_the_switch_leaves_v2_serving_and_the_next_deploy_cleans_up(
    sim: VertexSim, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    sim.fail("POST", ":undeployModel", 50, status="INTERNAL")
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    assert code == 0, doc  # revision 2 serves 100%: the failed clean-up is a warning
    assert list(serving(sim).values()) == [100]
    code, doc, _ = scalectl("status", "-f", str(write_scale(tmp_path, image=V2)), state=state)
    assert code == 6, doc  # degraded: the leftover still holds replicas, and status says so
    assert any("revision 1 is still deployed at 0% traffic" in p for p in doc["targets"]["prod"]["problems"]), doc
    sim._failing.clear()
    code, doc, _ = scalectl("deploy", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)
    assert code == 0, doc
    assert len(sim.endpoint()["deployedModels"]) == 1  # the leftover holds no replicas any more
    code, doc, _ = scalectl("status", "-f", str(write_scale(tmp_path, image=V2)), state=state)
    assert code == 0, doc["targets"]["prod"]["problems"]
    code, doc, _ = scalectl("history", "-f", str(write_scale(tmp_path, image=V2)), state=state)
    assert {r["number"]: r["status"] for r in doc["targets"]["prod"]} == {1: "superseded", 2: "active"}
