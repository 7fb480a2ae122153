"""Interruptions on a cloud platform (Vertex AI, against the simulator): the engine's generic
handling (signal -> the provider's `recover`, "unfinished rollout found" on the next command)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from scalectl.providers.gcp.provider import GcpProvider

from scalectl.errors import Interrupted
from tests.gcp.helpers import V1, V2, scalectl, write_scale
from tests.gcp.simulator import VertexSim


class Killed(BaseException):
    """Stands in for SIGKILL: the process stops where it is, nothing runs after."""


def stop_mid_bake(sim: VertexSim, gcp: GcpProvider, exc: BaseException) -> None:
    """The first wait while the canary holds part of the traffic raises `exc` (the signal arriving)."""

    def sleep(seconds: float) -> None:
        if len(sim.endpoint().get("trafficSplit", {})) == 2:
            raise exc
        time.sleep(min(seconds, 0.01))

    gcp.sleep = sleep


def test_sigterm_mid_bake_on_vertex_moves_traffic_back_and_removes_the_canary(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    (old,) = sim.endpoint()["deployedModels"]
    stop_mid_bake(sim, gcp, Interrupted(signal.SIGTERM))
    path = write_scale(tmp_path, image=V2, strategy="canary", bake="30s")
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 143, doc
    assert "rolled back" in doc["error"]
    assert sim.endpoint()["trafficSplit"] == {old["id"]: 100}
    assert [d["id"] for d in sim.endpoint()["deployedModels"]] == [old["id"]]
    code, doc, _ = scalectl("history", "-f", str(path), state=state)
    assert [r["number"] for r in doc["targets"]["prod"] if r["status"] == "active"] == [1]


def test_a_split_left_by_sigkill_on_vertex_is_rolled_back_by_the_next_status(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    (old,) = sim.endpoint()["deployedModels"]
    stop_mid_bake(sim, gcp, Killed())
    path = write_scale(tmp_path, image=V2, strategy="canary", bake="30s")
    with pytest.raises(Killed):
        scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert len(sim.endpoint()["trafficSplit"]) == 2  # what a SIGKILL leaves
    gcp.sleep = lambda s: time.sleep(min(s, 0.01))
    code, doc, _ = scalectl("history", "-f", str(path), state=state)
    statuses = {r["number"]: r["status"] for r in doc["targets"]["prod"]}
    assert statuses == {1: "active", 2: "pending"}  # the unbaked canary is never active
    code, doc, _ = scalectl("status", "-f", str(path), state=state)
    assert code == 0, doc
    assert doc["targets"]["prod"]["recovered"]
    assert sim.endpoint()["trafficSplit"] == {old["id"]: 100}
    assert [d["id"] for d in sim.endpoint()["deployedModels"]] == [old["id"]]
