"""`scalectl validate` refuses what Vertex AI would refuse, offline, saying why and what to use."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalectl.checks import load_checked
from scalectl.cli import app
from scalectl.errors import ConfigError

from .helpers import write_scale

runner = CliRunner()


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_checked(path)
    return [f"{d.field}: {d.message}" for d in info.value.diagnostics if d.severity == "error"]


def test_l4_spot_and_tpu_v5e_targets_validate(tmp_path: Path) -> None:
    assert load_checked(write_scale(tmp_path, machine="g2-standard-8", spot=True))
    assert load_checked(write_scale(tmp_path, machine="ct5lp-hightpu-4t", spot=True, extra="tpu_topology: 2x2\n"))
    assert load_checked(write_scale(tmp_path, machine="ct6e-standard-8t", metric="requests_per_replica"))


def test_unknown_machine_type_suggests_close_names(tmp_path: Path) -> None:
    (message,) = errors(write_scale(tmp_path, machine="ct5lp-hightpu-2t"))
    assert message.startswith("targets.prod.machine: `ct5lp-hightpu-2t` is not a Vertex AI serving machine type")
    assert "ct5lp-hightpu-1t" in message and "ct5lp-hightpu-4t" in message


def test_spot_on_a_multi_host_tpu_slice_is_refused(tmp_path: Path) -> None:
    path = write_scale(tmp_path, machine="ct5lp-hightpu-4t", spot=True, extra="tpu_topology: 4x4\n")
    (message,) = errors(path)
    assert message.startswith("targets.prod.spot: Vertex AI does not run multi-host TPU slices (4x4 = 4 hosts)")
    assert "single-host topology (2x2)" in message
    # the same slice on demand is fine
    assert load_checked(write_scale(tmp_path, machine="ct5lp-hightpu-4t", extra="tpu_topology: 4x4\n"))


def test_topology_must_fit_the_machine(tmp_path: Path) -> None:
    (message,) = errors(write_scale(tmp_path, machine="ct5lp-hightpu-1t", extra="tpu_topology: 2x2\n"))
    assert message == "targets.prod.tpu_topology: ct5lp-hightpu-1t (1 v5e chips per host) serves topology 1x1, not 2x2"
    (message,) = errors(write_scale(tmp_path, machine="g2-standard-8", extra="tpu_topology: 2x2\n"))
    assert "applies to TPU machines" in message


def test_duty_cycle_autoscaling_needs_an_accelerator(tmp_path: Path) -> None:
    (message,) = errors(write_scale(tmp_path, machine="n1-standard-4", metric="accelerator_duty_cycle"))
    assert message.startswith(
        "targets.prod.autoscaling.metric: accelerator_duty_cycle autoscaling needs an accelerator"
    )
    assert "use cpu or requests_per_replica" in message


def test_memory_metric_and_scale_to_zero_are_refused(tmp_path: Path) -> None:
    found = errors(write_scale(tmp_path, metric="memory"))
    assert found == [
        "targets.prod.autoscaling.metric: Vertex AI cannot autoscale on memory; "
        "use cpu, accelerator_duty_cycle or requests_per_replica"
    ]


def test_accelerator_must_match_the_machine_family(tmp_path: Path) -> None:
    path = write_scale(tmp_path, machine="g2-standard-8", extra="accelerator: {type: NVIDIA_TESLA_T4, count: 1}\n")
    (message,) = errors(path)
    assert message == (
        "targets.prod.accelerator: g2-standard-8 comes with 1 x NVIDIA_L4; set accelerator to that or remove it"
    )
    path = write_scale(tmp_path, machine="n1-standard-8", extra="accelerator: {type: NVIDIA_L4, count: 1}\n")
    (message,) = errors(path)
    assert "NVIDIA_L4 cannot be attached to n1-standard-8" in message and "g2-standard-*" in message


def test_secrets_must_be_secret_manager_references(tmp_path: Path) -> None:
    path = write_scale(tmp_path)
    path.write_text(path.read_text().replace("  env: {LOG_LEVEL: info}", "  secrets: {TOKEN: env://TOKEN}"))
    (message,) = errors(path)
    assert message.startswith("model.secrets.TOKEN: on gcp a secret must be a Secret Manager reference")


def test_validate_cli_points_at_the_line_and_exits_2(tmp_path: Path) -> None:
    path = write_scale(tmp_path, machine="ct5lp-hightpu-4t", spot=True, extra="tpu_topology: 4x4\n")
    result = runner.invoke(app, ["validate", "-f", str(path), "--no-color"])
    assert result.exit_code == 2
    assert f"{path}:16:11: error: targets.prod.spot:" in result.output  # the `spot:` value
    assert "multi-host TPU" in result.output


def test_aws_alarms_are_a_warning_not_silently_ignored(tmp_path: Path) -> None:
    path = write_scale(tmp_path)
    path.write_text(path.read_text().replace("timeout: 60s}", "timeout: 60s, alarms: [fraud-5xx]}"))
    config = load_checked(path)
    assert next(w.message for w in config.warnings).startswith("rollout.alarms are CloudWatch alarms (AWS)")


def test_the_gcp_example_validates() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "gcp" / "scale.yaml"
    config = load_checked(example, env={})
    assert sorted(config.spec.targets) == ["l4-spot", "tpu-v5e"]


def test_service_account_must_be_an_email(tmp_path: Path) -> None:
    (message,) = errors(write_scale(tmp_path, extra="service_account: fraud-serving\n"))
    assert message.startswith("targets.prod.service_account: service_account must be an email like name@acme.iam")


def test_bakes_longer_than_the_timeout_are_refused(tmp_path: Path) -> None:
    path = write_scale(tmp_path, strategy="linear", percent=20, bake="5m", grace="1m", timeout="20m")
    (message,) = errors(path)
    assert message == (
        "targets.prod.rollout.timeout: the rollout waits 1260s in bakes and undeploy_grace alone, "
        "but rollout.timeout is 1200s; raise the timeout or shorten the bakes"
    )
