"""SageMaker rules between fields that each parse on their own: refused offline (exit 2, file:line:col),
before any call. Each test names the rule and the documentation it comes from."""

from __future__ import annotations

import json
from typing import Any

import pytest
from scalectl.providers.aws.requests import gpus_per_instance

from .conftest import Project


def findings(project: Project) -> tuple[int, list[dict[str, Any]]]:
    result = project.run("validate", "--output", "json")
    return result.exit_code, json.loads(result.stdout)["diagnostics"]


def only(diagnostics: list[dict[str, Any]], field: str) -> dict[str, Any]:
    found = [d for d in diagnostics if d["field"] == field]
    assert len(found) == 1, diagnostics
    return found[0]


def test_the_execution_deadline_must_outlast_the_bakes_and_termination_wait(project: Project) -> None:
    # UpdateEndpoint DeploymentConfig: MaximumExecutionTimeoutInSeconds 600-28800, after which SageMaker
    # rolls back; a canary baking 1h then keeping the old fleet 1h needs more than 2h.
    project.write(rollout="{strategy: canary, percent: 50, bake: 1h, timeout: 30m}", extra="termination_wait: 1h\n")
    code, diags = findings(project)
    assert code == 2
    d = only(diags, "targets.prod.rollout.timeout")
    assert (d["line"], d["column"]) == (12, 65)  # the `timeout: 30m` value
    assert d["message"].startswith("rollout.timeout 1800s becomes SageMaker's MaximumExecutionTimeoutInSeconds")
    assert "waits 7200s in bakes and termination_wait" in d["message"]

    project.write(rollout="{strategy: canary, percent: 50, bake: 1h, timeout: 2h30m}", extra="termination_wait: 1h\n")
    assert findings(project)[0] == 0


def test_steps_that_cannot_fit_in_eight_hours_are_refused(project: Project) -> None:
    # linear 10% with bake 1h: nine bakes + termination wait; SageMaker ends any deployment after 28800 s
    project.write(rollout="{strategy: linear, percent: 10, bake: 1h, timeout: 8h}", extra="termination_wait: 1h\n")
    code, diags = findings(project)
    assert code == 2
    d = only(diags, "targets.prod.rollout.bake")
    assert d["message"].startswith("SageMaker would wait 36000s in this deployment")
    assert "after 28800s (8h, MaximumExecutionTimeoutInSeconds)" in d["message"]


def test_a_rolling_batch_is_5_to_50_percent_of_the_fleet(project: Project) -> None:
    # RollingUpdatePolicy.MaximumBatchSize: "between 5% to 50% of the variant's total instance count"
    project.write(extra="rolling_batch: 1\n")
    code, diags = findings(project)
    assert code == 2
    d = only(diags, "targets.prod.rolling_batch")
    assert d["message"] == (
        "SageMaker's MaximumBatchSize must be 5-50% of the variant's instance count; rolling_batch 1 of 1 "
        "instance(s) is 100%: a rolling update needs at least 2 instances"
    )
    assert (d["line"], d["column"]) == (13, 20)
    project.write(autoscaling="{min: 1, max: 40, target: 5}", extra="rolling_batch: 1\ninstance_count: 30\n")
    assert "is 3.33333%" in only(findings(project)[1], "targets.prod.rolling_batch")["message"]
    project.write(extra="rolling_batch: 2\ninstance_count: 4\n")
    assert findings(project)[0] == 0


@pytest.mark.parametrize(
    "instance", ["ml.g5.xlarge", "ml.g6e.2xlarge", "ml.g7e.2xlarge", "ml.m5d.large", "ml.p4d.24xlarge"]
)
def test_volume_size_is_refused_on_instances_with_local_nvme(project: Project, instance: str) -> None:
    # https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html
    project.write(instance=instance, extra="volume_size_gb: 100\n")
    code, diags = findings(project)
    assert code == 2
    d = only(diags, "targets.prod.volume_size_gb")
    assert d["message"].startswith(f"{instance} has local NVMe instance storage, so SageMaker attaches no EBS volume")


def test_inf2_takes_a_volume_size(project: Project) -> None:
    project.write(instance="ml.inf2.xlarge", extra="volume_size_gb: 100\nstartup_timeout: 10m\n")
    code, diags = findings(project)
    assert code == 0, diags


def test_a_canary_of_the_whole_fleet_warns_and_is_refused_with_alarm_rollback(project: Project) -> None:
    # CanarySize CAPACITY_PERCENT is rounded up to whole instances: 10% of 1 instance is the whole new fleet
    project.write(rollout="{strategy: canary, percent: 10, bake: 1m}")
    code, diags = findings(project)
    assert code == 0
    d = only(diags, "targets.prod.rollout.percent")
    assert d["severity"] == "warning"
    assert d["message"].startswith("10% of 1 instance(s) rounds up to the whole new fleet: the canary step is all")

    project.write(rollout="{strategy: canary, percent: 10, bake: 1m, alarms: [fraud-5xx]}")
    code, diags = findings(project)
    assert code == 2
    d = only(diags, "targets.prod.rollout.percent")
    assert d["severity"] == "error" and "auto_rollback would watch the alarms too late" in d["message"]

    project.write(rollout="{strategy: canary, percent: 10, bake: 1m, alarms: [fraud-5xx]}", extra="instance_count: 2\n")
    assert findings(project)[0] == 0  # 1 of 2 instances


@pytest.mark.parametrize(
    ("instance", "gpus"),
    [
        ("ml.g7e.2xlarge", 1),
        ("ml.g7e.12xlarge", 2),
        ("ml.g7e.24xlarge", 4),
        ("ml.g7e.48xlarge", 8),
        ("ml.g6e.12xlarge", 4),
        ("ml.g5.48xlarge", 8),
        ("ml.g4dn.16xlarge", 1),
        ("ml.p5.4xlarge", 1),
        ("ml.p5.48xlarge", 8),
        ("ml.p2.16xlarge", 16),
        ("ml.p6e-gb200.36xlarge", 4),
        ("ml.inf2.xlarge", None),
    ],
)
def test_gpu_counts_per_instance(instance: str, gpus: int | None) -> None:
    # EC2 accelerated computing specs; GPUUtilization is summed over the GPUs, so the count scales the target
    assert gpus_per_instance(instance) == gpus
