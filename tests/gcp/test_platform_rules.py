"""Vertex AI rules between fields that each parse on their own: refused offline with file:line:col,
or rendered as Vertex applies them. Sources are named in each test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scalectl.providers.gcp.requests import dedicated_resources
from typer.testing import CliRunner

from scalectl.checks import load_checked
from scalectl.cli import app
from scalectl.engine import release_for
from scalectl.errors import ConfigError

from .helpers import write_scale

CPU = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
DUTY = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"
REQUESTS = "aiplatform.googleapis.com/prediction/online/request_count"


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_checked(path)
    return [f"{d.field}: {d.message}" for d in info.value.diagnostics if d.severity == "error"]


def specs(path: Path) -> list[dict[str, object]]:
    return list(dedicated_resources(release_for(load_checked(path), "prod"))["autoscalingMetricSpecs"])


def test_duty_cycle_on_a_tpu_machine_is_refused(tmp_path: Path) -> None:
    # DedicatedResources.autoscalingMetricSpecs: duty cycle counts only when machineSpec.acceleratorCount > 0
    path = write_scale(tmp_path, machine="ct5lp-hightpu-4t", metric="accelerator_duty_cycle")
    (message,) = errors(path)
    assert message == (
        "targets.prod.autoscaling.metric: Vertex applies accelerator duty-cycle autoscaling only to machines with "
        "an accelerator count; ct5lp-hightpu-4t is a TPU machine (a topology, no count), so Vertex would scale it "
        "on CPU: use requests_per_replica or cpu"
    )
    result = CliRunner().invoke(app, ["validate", "-f", str(path)])
    assert result.exit_code == 2 and f"{path}:18:" in result.stderr


def test_every_metric_vertex_applies_is_sent_explicitly(tmp_path: Path) -> None:
    # Vertex adds CPU 60% (and duty cycle 60% with an accelerator count) to the metric sent; both are sent at
    # 100% so the chosen metric alone scales out
    assert specs(write_scale(tmp_path, machine="g2-standard-8", metric="cpu")) == [
        {"metricName": CPU, "target": 60},
        {"metricName": DUTY, "target": 100},
    ]
    assert specs(write_scale(tmp_path, machine="n2-standard-8", metric="requests_per_replica")) == [
        {"metricName": REQUESTS, "target": 3600},
        {"metricName": CPU, "target": 100},
    ]
    assert specs(write_scale(tmp_path, machine="g2-standard-8", metric="gpu")) == [
        {"metricName": DUTY, "target": 60},
        {"metricName": CPU, "target": 100},
    ]


def _with_target(tmp_path: Path, metric: str, target: str, machine: str = "g2-standard-8") -> Path:
    path = write_scale(tmp_path, machine=machine, metric=metric)
    path.write_text(path.read_text().replace(f"metric: {metric}, target: 60", f"metric: {metric}, target: {target}"))
    return path


def test_a_utilisation_target_vertex_would_truncate_is_refused(tmp_path: Path) -> None:
    # AutoscalingMetricSpec.target is an int32 percent: 70.7 would be sent as 70
    (message,) = errors(_with_target(tmp_path, "cpu", "70.7"))
    assert message == (
        "targets.prod.autoscaling.target: Vertex takes a utilisation target as a whole percent (1-100); 70.7 "
        "would be sent as 70: use 71"
    )


def test_a_request_rate_below_one_per_minute_is_refused(tmp_path: Path) -> None:
    # 0.005 requests/s is 0.3/minute: `| int` sent 0, which Vertex reads as "unset, use the default"
    (message,) = errors(_with_target(tmp_path, "requests_per_replica", "0.005"))
    assert message.startswith(
        "targets.prod.autoscaling.target: Vertex takes the request-count target as whole requests per replica "
        "per minute; 0.005 requests/s is 0.3/minute"
    )
    assert specs(_with_target(tmp_path, "requests_per_replica", "1.5"))[0] == {"metricName": REQUESTS, "target": 90}


@pytest.mark.parametrize(
    ("machine", "accelerator", "message"),
    [
        ("n1-standard-8", "{type: NVIDIA_TESLA_T4, count: 8}", "n1-standard-8 takes 1, 2, 4 x NVIDIA_TESLA_T4, not 8"),
        ("n1-standard-8", "{type: NVIDIA_TESLA_P100, count: 8}", "takes 1, 2, 4 x NVIDIA_TESLA_P100, not 8"),
        (
            "n1-standard-32",
            "{type: NVIDIA_TESLA_V100, count: 1}",
            "1 x NVIDIA_TESLA_V100 can be attached to N1 machines of at most 12 vCPUs; n1-standard-32 has 32",
        ),
    ],
)
def test_gpu_counts_attachable_to_n1(tmp_path: Path, machine: str, accelerator: str, message: str) -> None:
    # https://cloud.google.com/compute/docs/gpus#n1-gpus
    (found,) = errors(write_scale(tmp_path, machine=machine, extra=f"accelerator: {accelerator}\n"))
    assert found.startswith("targets.prod.accelerator.count: ") and message in found


def test_a_fitting_n1_gpu_validates_and_is_sent(tmp_path: Path) -> None:
    path = write_scale(tmp_path, machine="n1-standard-8", extra="accelerator: {type: NVIDIA_TESLA_T4, count: 4}\n")
    spec = dedicated_resources(release_for(load_checked(path), "prod"))["machineSpec"]
    assert spec == {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 4}


def test_tpu_topologies_only_where_vertex_serves_them(tmp_path: Path) -> None:
    # Vertex AI "Serve with Cloud TPU": ct5lp-hightpu-8t is one 2x4 host; multi-host slices use the 4-chip host
    (message,) = errors(write_scale(tmp_path, machine="ct5lp-hightpu-8t", extra="tpu_topology: 4x4\n"))
    assert message == "targets.prod.tpu_topology: ct5lp-hightpu-8t (8 v5e chips per host) serves topology 2x4, not 4x4"
    rendered = json.dumps(
        dedicated_resources(release_for(load_checked(write_scale(tmp_path, machine="ct6e-standard-8t")), "prod"))
    )
    assert '"tpuTopology": "2x4"' in rendered and "acceleratorCount" not in rendered
