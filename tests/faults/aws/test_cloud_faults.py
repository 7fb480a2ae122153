"""Cloud faults at every step of deploy, rollback and destroy on SageMaker (against the simulator):
5xx bursts and throttling are retried, throttling that does not stop and hung calls end as a clear
error (never a hang), traffic stays wholly on the last good revision, nothing is orphaned, and
the next command puts things right."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.aws.conftest import Project
from tests.aws.simulator import SageMakerSimulator

ENDPOINT = "fraud-prod"
DEPLOY_STEPS = [
    "DescribeEndpoint",
    "ListTags",
    "DescribeEndpointConfig",
    "CreateModel",
    "CreateEndpointConfig",
    "UpdateEndpoint",
    "AddTags",
    "ListEndpointConfigs",
]
MUTATING = ["CreateModel", "CreateEndpointConfig", "UpdateEndpoint", "AddTags"]


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A silent server is given up on after 0.5 s (60 s in real use), and new clients pick that up."""
    from scalectl.providers.aws import api

    monkeypatch.setattr(api, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(api, "CONNECT_TIMEOUT", 0.5)


def deploy(project: Project, image: str) -> tuple[int, dict[str, Any]]:
    project.write(image=image)
    return project.json("deploy", "--yes")


def sound(sim: SageMakerSimulator, project: Project, image: str) -> None:
    """Wholly on one confirmed revision running `image`; every model has its config; nothing pending."""
    ep = sim.endpoints[ENDPOINT]
    assert ep.status == "InService" and ep.pending is None, ep
    _, doc = project.json("history", state_dir=project.dir / "elsewhere")
    revisions = doc["targets"]["prod"]
    active = [r for r in revisions if r["status"] == "active"]
    assert len(active) == 1 and active[0]["image"] == image, revisions
    assert ep.config == f"fraud-prod-r{active[0]['number']}"
    assert not [r for r in revisions if r["status"] == "pending"], revisions
    with sim.lock:
        assert set(sim.models) == set(sim.configs), "a model without its config (or the reverse) was left"


def test_a_5xx_burst_at_every_step_of_a_deploy_is_retried(sim: SageMakerSimulator, project: Project) -> None:
    assert deploy(project, "acme/fraud:1")[0] == 0
    for op in DEPLOY_STEPS:
        sim.fail(op, 2)
    code, doc = deploy(project, "acme/fraud:2")
    assert code == 0, doc
    sound(sim, project, "acme/fraud:2")


@pytest.mark.parametrize("op", DEPLOY_STEPS)
def test_throttling_that_does_not_stop_fails_clearly_and_the_next_deploy_puts_it_right(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    assert deploy(project, "acme/fraud:1")[0] == 0
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    sim.throttle(op, 1000)
    code, doc = deploy(project, "acme/fraud:2")
    assert code == 1 and "ThrottlingException" in doc["error"], doc
    ep = sim.endpoints[ENDPOINT]
    assert ep.config in ("fraud-prod-r1", "fraud-prod-r2") and ep.status in ("InService", "Updating")
    sim._faults.clear()  # the throttling stops
    code, doc = deploy(project, "acme/fraud:2")
    assert code == 0, doc
    sound(sim, project, "acme/fraud:2")


@pytest.mark.parametrize(("op", "applied"), [("DescribeEndpoint", False)] + [(op, True) for op in MUTATING])
def test_a_hung_call_times_out_and_its_retry_completes_the_deploy(
    sim: SageMakerSimulator, project: Project, op: str, applied: bool
) -> None:
    assert deploy(project, "acme/fraud:1")[0] == 0
    sim.hang(op, 1, seconds=5, applied=applied)  # went through (or not), but the answer never comes
    started = time.monotonic()
    code, doc = deploy(project, "acme/fraud:2")
    assert code == 0, doc
    assert sim.hung[op] == 1
    assert time.monotonic() - started < 5  # given up on at the read timeout, not held for the 5 s
    sound(sim, project, "acme/fraud:2")


def test_calls_that_always_hang_end_as_a_clear_error_not_a_hang(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deploy(project, "acme/fraud:1")[0] == 0
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    sim.hang("UpdateEndpoint", 100, seconds=30)
    started = time.monotonic()
    code, doc = deploy(project, "acme/fraud:2")
    took = time.monotonic() - started
    assert code == 1 and "Read timeout" in doc["error"] and "updating endpoint fraud-prod" in doc["error"], doc
    assert took < 10, took
    assert sim.endpoints[ENDPOINT].config == "fraud-prod-r1"  # revision 1 serves all along
    sim._hangs.clear()
    assert deploy(project, "acme/fraud:2")[0] == 0
    sound(sim, project, "acme/fraud:2")
    print(
        f"\n{sim.hung['UpdateEndpoint']} hung UpdateEndpoint attempts: clear error after {took:.1f}s (read timeout 0.5)"
    )


@pytest.mark.parametrize("op", ["DescribeEndpointConfig", "UpdateEndpoint", "AddTags"])
def test_throttling_during_a_rollback_fails_clearly_and_the_next_rollback_finishes(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    assert deploy(project, "acme/fraud:1")[0] == 0
    assert deploy(project, "acme/fraud:2")[0] == 0
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    sim.throttle(op, 1000)
    code, doc = project.json("rollback", "--yes")
    assert code == 1 and "ThrottlingException" in doc["error"], doc
    sim._faults.clear()
    code, doc = project.json("rollback", "--yes", "--to", "1")
    assert code in (0, 2), doc  # 2: "revision 1 is already active" when only the tagging was throttled
    ep = sim.endpoints[ENDPOINT]
    assert (ep.status, ep.config) == ("InService", "fraud-prod-r1")


@pytest.mark.parametrize("op", ["DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"])
def test_throttling_during_destroy_fails_clearly_and_the_next_destroy_finishes(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    assert deploy(project, "acme/fraud:1")[0] == 0
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    sim.throttle(op, 1000)
    code, doc = project.json("destroy", "--yes")
    assert code == 1 and "ThrottlingException" in doc["error"], doc
    sim._faults.clear()
    code, doc = project.json("destroy", "--yes")
    assert code == 0, doc
    with sim.lock:
        assert (sim.endpoints, sim.configs, sim.models) == ({}, {}, {})
