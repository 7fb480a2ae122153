"""Interruptions on Azure ML (against the ARM simulator): traffic left mid-step is never "active";
SIGTERM rolls back and deletes the new deployment; the next command finishes a SIGKILLed rollout;
a rollout halted on purpose (auto_rollback: false) is left for `rollback`."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from scalectl.errors import Interrupted
from tests.azure.simulator import ArmSimulator

EP = "fraud-prod"


class Killed(BaseException):
    """Stands in for SIGKILL: the process stops where it is, nothing runs after."""


def stop_in_bake(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """The canary's bake (traffic split 20/80) is where the signal arrives."""
    from scalectl.providers.azure import rollout

    def bake(*args: Any, **kwargs: Any) -> None:
        raise exc

    monkeypatch.setattr(rollout, "_bake", bake)


def run(cli: Any, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(*args, "--output", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def test_sigterm_mid_bake_moves_traffic_back_and_deletes_the_new_deployment(
    sim: ArmSimulator, scale_file: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:1")), "--yes")[0] == 0
    stop_in_bake(monkeypatch, Interrupted(signal.SIGTERM))
    code, doc = run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:2", bake="30s")), "--yes")
    assert code == 143 and "rolled back" in doc["error"].lower(), doc
    assert sim.traffic(EP) == {"rev-1": 100}
    assert sim.wait_deleted(EP, "rev-2")


def test_a_split_left_by_sigkill_is_never_active_and_the_next_status_rolls_it_back(
    sim: ArmSimulator, scale_file: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:1")), "--yes")[0] == 0
    stop_in_bake(monkeypatch, Killed())
    path: Path = scale_file(image="acr.example.io/fraud:2", bake="30s")
    with pytest.raises(Killed):
        cli("deploy", "-f", str(path), "--yes")
    assert sim.traffic(EP) == {"rev-2": 20, "rev-1": 80}  # what a SIGKILL leaves
    code, doc = run(cli, "history", "-f", str(path))
    assert {r["number"]: r["status"] for r in doc["targets"]["prod"]}[1] == "active"
    code, doc = run(cli, "status", "-f", str(path))
    assert code == 0, doc["targets"]["prod"]["problems"]
    assert "removed unfinished revision 2" in doc["targets"]["prod"]["recovered"]
    assert sim.traffic(EP) == {"rev-1": 100}
    assert sim.wait_deleted(EP, "rev-2")


def test_a_halted_rollout_is_degraded_and_only_rollback_undoes_it(sim: ArmSimulator, scale_file: Any, cli: Any) -> None:
    assert run(cli, "deploy", "-f", str(scale_file(image="acr.example.io/fraud:1")), "--yes")[0] == 0
    sim.crash_after_traffic.add("acr.example.io/fraud:flaky")
    path = scale_file(image="acr.example.io/fraud:flaky", bake="2s")
    path.write_text(path.read_text().replace("timeout: 60}", "timeout: 60, auto_rollback: false}"))
    assert run(cli, "deploy", "-f", str(path), "--yes")[0] == 1
    code, doc = run(cli, "status", "-f", str(path))
    assert code == 6 and doc["targets"]["prod"]["halted"], doc
    assert sim.traffic(EP) == {"rev-2": 20, "rev-1": 80}  # left alone by status
    code, doc = run(cli, "rollback", "-f", str(path), "--yes")
    assert code == 0, doc
    assert (doc["targets"]["prod"]["revision"]["number"], doc["targets"]["prod"]["from"]) == (1, 2)
    assert sim.traffic(EP) == {"rev-1": 100}
