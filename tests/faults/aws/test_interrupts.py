"""Interrupted and failed rollouts on SageMaker (against the simulator), undone the way SageMaker
allows: an update in progress cannot be cancelled, so it is waited out and switched back; an
UpdateRollbackFailed endpoint takes UpdateEndpoint to the old config; a Failed one is recreated."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from scalectl.errors import Interrupted
from tests.aws.conftest import Project
from tests.aws.interrupts import baking, stop_when
from tests.aws.simulator import SageMakerSimulator

ENDPOINT = "fraud-prod"
CANARY = "{strategy: canary, percent: 50, bake: 10s}"  # 1 s in the simulator (time_scale 0.1)


class Killed(BaseException):
    """Stands in for SIGKILL: the process stops where it is, nothing runs after."""


def statuses(project: Project) -> dict[int, str]:
    _, doc = project.json("history", state_dir=project.dir / "elsewhere")
    return {r["number"]: r["status"] for r in doc["targets"]["prod"]}


def first(project: Project) -> None:
    code, doc = project.json("deploy", "--yes")
    assert code == 0, doc


def test_sigterm_during_the_canary_bake_waits_the_update_out_and_switches_back(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    first(project)
    stop_when(monkeypatch, Interrupted(signal.SIGTERM), baking)
    project.write(image="acme/fraud:2", rollout=CANARY)
    started = time.monotonic()
    code, doc = project.json("deploy", "--yes")
    took = time.monotonic() - started
    assert code == 143, doc
    assert "revision 2 was rolled back" in doc["error"] and "revision 1 serves 100%" in doc["error"], doc["error"]
    ep = sim.endpoints[ENDPOINT]
    assert (ep.status, ep.config, ep.pending) == ("InService", "fraud-prod-r1", None)
    assert statuses(project) == {1: "active", 2: "failed"}
    assert sim.calls["UpdateEndpoint"] == 2  # the canary, then back to revision 1 all at once
    print(f"\nSIGTERM mid-bake on SageMaker: back on revision 1 in {took:.1f}s (bake 1 s simulated, 2 steps)")


def test_a_canary_left_by_sigkill_is_pending_and_the_next_status_rolls_it_back(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    first(project)
    stop_when(monkeypatch, Killed(), baking)
    project.write(image="acme/fraud:2", rollout=CANARY)
    with pytest.raises(Killed):
        project.run("deploy", "--yes")
    assert sim.endpoints[ENDPOINT].status == "Updating"  # what a SIGKILL leaves
    assert statuses(project) == {1: "active", 2: "pending"}  # the unbaked canary is never active
    code, doc = project.json("plan")
    assert code == 0 and "roll back: endpoint is Updating to revision 2" in str(doc), doc
    started = time.monotonic()
    code, doc = project.json("status")
    assert code == 0, doc
    recovered = doc["targets"]["prod"]["recovered"]
    assert any("traffic back on revision 1" in line for line in recovered), recovered
    assert any("removed unfinished revision 2" in line for line in recovered), recovered
    assert (sim.endpoints[ENDPOINT].status, sim.endpoints[ENDPOINT].config) == ("InService", "fraud-prod-r1")
    assert statuses(project) == {1: "active", 2: "failed"}
    print(f"\nSIGKILL mid-bake on SageMaker: the next status restored revision 1 in {time.monotonic() - started:.1f}s")


def test_a_config_left_before_the_update_is_marked_failed_and_never_takes_a_keep_slot(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    first(project)
    from scalectl.providers.aws import rollout

    def killed(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(rollout, "_update", killed)  # SIGKILL between CreateEndpointConfig and UpdateEndpoint
        project.write(image="acme/fraud:2")
        with pytest.raises(Killed):
            project.run("deploy", "--yes")
    assert statuses(project) == {1: "active", 2: "pending"}
    project.write(image="acme/fraud:3", extra="keep_revisions: 1\n")
    code, doc = project.json("deploy", "--yes")
    assert code == 0, doc
    assert any("found an unfinished rollout" in e.get("message", "") for e in doc["targets"]["prod"]["events"])
    assert statuses(project) == {1: "superseded", 2: "failed", 3: "active"}  # 1 kept: 2 took no slot
    assert "fraud-prod-r1" in sim.configs


def test_an_update_rollback_failed_endpoint_is_put_back_on_the_old_revision(
    sim: SageMakerSimulator, project: Project
) -> None:
    first(project)
    sim.broken_images.add("acme/fraud:bad")
    sim.rollback_fails.add("acme/fraud:bad")
    project.write(image="acme/fraud:bad", rollout="{strategy: canary, percent: 50, bake: 1s}")
    code, doc = project.json("deploy", "--yes")
    assert code == 1 and "UpdateRollbackFailed" in doc["error"], doc
    code, doc = project.json("status")
    assert code == 0, doc
    assert any("traffic back on revision 1" in line for line in doc["targets"]["prod"]["recovered"])
    ep = sim.endpoints[ENDPOINT]
    assert (ep.status, ep.config, ep.pending) == ("InService", "fraud-prod-r1", None)
    assert statuses(project) == {1: "active", 2: "failed"}


def test_a_failed_endpoint_is_recreated_on_the_last_good_revision_by_rollback(
    sim: SageMakerSimulator, project: Project, autoscaling: Any
) -> None:
    first(project)
    sim.update_fails.add("acme/fraud:big")
    project.write(image="acme/fraud:big")
    code, doc = project.json("deploy", "--yes")
    assert code == 1 and "is Failed" in doc["error"], doc
    code, doc = project.json("status")
    assert code == 0, doc  # status finished it: recreated on revision 1
    recovered = doc["targets"]["prod"]["recovered"]
    assert any("recreated endpoint fraud-prod on revision 1" in line for line in recovered), recovered
    assert (sim.endpoints[ENDPOINT].status, sim.endpoints[ENDPOINT].config) == ("InService", "fraud-prod-r1")
    rid = f"endpoint/{ENDPOINT}/variant/AllTraffic"
    assert autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"]
    assert statuses(project) == {1: "active", 2: "failed"}


def test_sigterm_with_guardrail_alarms_trips_them_so_sagemaker_rolls_back_at_once(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch, cloudwatch: Any
) -> None:
    first(project)
    stop_when(monkeypatch, Interrupted(signal.SIGTERM), baking)
    project.write(
        image="acme/fraud:2",
        rollout="{strategy: canary, percent: 50, bake: 60s, max_error_rate: 0.05}",
        extra="instance_count: 2\n",
    )
    started = time.monotonic()
    code, doc = project.json("deploy", "--yes")
    took = time.monotonic() - started
    assert code == 143, doc
    ep = sim.endpoints[ENDPOINT]
    assert (ep.status, ep.config, ep.pending) == ("InService", "fraud-prod-r1", None)
    assert "CloudWatch alarm(s)" in (ep.failure or "") and "in ALARM state" in (ep.failure or "")
    assert sim.calls["UpdateEndpoint"] == 1  # SageMaker rolled its own update back: no switch needed
    assert ep.shares == [50]  # stopped in the canary's bake, never at 100%
    assert cloudwatch.describe_alarms(AlarmNamePrefix="scalectl")["MetricAlarms"] == []  # swept
    assert statuses(project) == {1: "active", 2: "failed"}
    assert took < 6  # the 60 s bake (6 s simulated) x 2 steps was not waited out
    print(f"\nSIGTERM mid-bake with guardrail alarms: SageMaker rolled back in {took:.1f}s (bake 6 s simulated)")
