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
