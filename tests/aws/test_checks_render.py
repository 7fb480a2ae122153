"""Offline behaviour of `provider: aws`: validation findings with file:line:col, and `render`
showing the exact request bodies. No AWS endpoint is needed, and boto3 is never imported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from .conftest import Project


def test_spot_is_refused_with_the_place_and_an_alternative(project: Project) -> None:
    project.write(extra="spot: true\n")
    result = project.run("validate")
    assert result.exit_code == 2
    assert "scale.yaml:13:11:" in result.stderr  # the value of `spot: true`
    assert "no spot capacity" in result.stderr
    assert "asynchronous inference" in result.stderr and "gcp" in result.stderr


def test_unknown_instance_type_suggests_hosting_types(project: Project) -> None:
    project.write(instance="inf2.xlarge")
    result = project.run("validate", "--output", "json")
    assert result.exit_code == 2
    messages = [d["message"] for d in json.loads(result.stdout)["diagnostics"]]
    assert any("`ml.inf2.xlarge`" in m for m in messages), messages

    project.write(instance="ml.g5.xlarg")
    result = project.run("validate")
    assert result.exit_code == 2 and "ml.g5.xlarge" in result.stderr


def test_inf2_is_valid_and_warns_about_startup_timeouts(project: Project) -> None:
    project.write(instance="ml.inf2.xlarge")
    result = project.run("validate", "--output", "json")
    assert result.exit_code == 0
    warnings = json.loads(result.stdout)["diagnostics"]
    assert any("startup_timeout" in w["message"] for w in warnings)


def test_what_sagemaker_cannot_do_is_an_error(project: Project) -> None:
    project.write(
        autoscaling="{min: 0, max: 2, metric: accelerator_duty_cycle, target: 60}",
        rollout="{strategy: canary, percent: 60}",
    )
    result = project.run("validate", "--output", "json")
    assert result.exit_code == 2
    fields = {d["field"]: d["message"] for d in json.loads(result.stdout)["diagnostics"]}
    assert "inference components" in fields["targets.prod.autoscaling.min"]
    assert "duty-cycle" in fields["targets.prod.autoscaling.metric"]
    assert "at most 50%" in fields["targets.prod.rollout.percent"]


def test_secret_values_never_reach_sagemaker(project: Project) -> None:
    project.file.write_text(
        project.file.read_text().replace(
            "  image: acme/fraud:1\n", "  image: acme/fraud:1\n  secrets: {TOKEN: env://TOKEN}\n"
        )
    )
    result = project.run("validate")
    assert result.exit_code == 2 and "aws-sm://" in result.stderr

    project.file.write_text(project.file.read_text().replace("env://TOKEN", "aws-sm://prod/token"))
    result = project.run("render", "--output", "json")
    assert result.exit_code == 0
    model = json.loads(json.loads(result.stdout)["targets"]["prod"]["create_model.json"])
    assert model["PrimaryContainer"]["Environment"] == {"TOKEN_SECRET_REF": "aws-sm://prod/token"}


def test_render_shows_every_request_body_and_the_iam_policy(project: Project, tmp_path: Path) -> None:
    project.write(
        rollout="{strategy: linear, percent: 25, bake: 2m, alarms: [fraud-5xx]}",
        autoscaling="{min: 2, max: 6, target: 20, scale_in_cooldown: 10m}",
    )
    result = project.run("render", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    files = {p.name: json.loads(p.read_text()) for p in (tmp_path / "out" / "prod").iterdir()}
    assert set(files) == {
        "create_model.json",
        "create_endpoint_config.json",
        "create_endpoint.json",
        "update_endpoint.json",
        "register_scalable_target.json",
        "put_scaling_policy.json",
        "iam_policy.json",
    }
    update = files["update_endpoint.json"]["DeploymentConfig"]
    routing = update["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "LINEAR",
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        "WaitIntervalInSeconds": 120,
    }
    assert update["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "fraud-5xx"}]}
    policy = files["put_scaling_policy.json"]["TargetTrackingScalingPolicyConfiguration"]
    assert policy["TargetValue"] == 1200  # 20 requests/s per replica = 1200 invocations per instance per minute
    assert policy["PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert policy["ScaleInCooldown"] == 600
    assert files["register_scalable_target.json"]["MinCapacity"] == 2
    assert files["create_endpoint_config.json"]["ProductionVariants"][0]["InitialInstanceCount"] == 2
    tags = {t["Key"]: t["Value"] for t in files["create_model.json"]["Tags"]}
    assert tags["scalectl:revision"] == "{revision}" and len(tags["scalectl:digest"]) == 12
    actions = {
        a
        for s in files["iam_policy.json"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {"sagemaker:UpdateEndpoint", "application-autoscaling:PutScalingPolicy", "iam:PassRole"} <= actions


def test_rolling_batch_renders_a_rolling_update(project: Project) -> None:
    project.write(extra="rolling_batch: 2\ninstance_count: 4\n")  # 50% of the variant: the most SageMaker takes
    result = project.run("render", "--output", "json")
    update = json.loads(json.loads(result.stdout)["targets"]["prod"]["update_endpoint.json"])
    rolling = update["DeploymentConfig"]["RollingUpdatePolicy"]
    assert rolling["MaximumBatchSize"] == {"Type": "INSTANCE_COUNT", "Value": 2}
    assert rolling["MaximumExecutionTimeoutInSeconds"] == 1800


def test_validate_and_render_do_not_import_boto3(project: Project) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from typer.testing import CliRunner
        from scalectl.cli import app
        for cmd in ("validate", "render"):
            r = CliRunner().invoke(app, [cmd, "--file", {str(project.file)!r}])
            assert r.exit_code == 0, r.output
        print("boto3" in sys.modules, "botocore" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_the_example_validates() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "aws" / "scale.yaml"
    from typer.testing import CliRunner

    from scalectl.cli import app

    result = CliRunner().invoke(app, ["validate", "--file", str(example)])
    assert result.exit_code == 0, result.stderr


def scaling_policy(project: Project) -> dict[str, Any]:
    result = project.run("render", "--output", "json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(json.loads(result.stdout)["targets"]["prod"]["put_scaling_policy.json"])
    return body["TargetTrackingScalingPolicyConfiguration"]


def test_utilisation_targets_are_converted_to_sagemaker_units(project: Project) -> None:
    project.write(instance="ml.c5.2xlarge", autoscaling="{min: 1, max: 3, metric: cpu, target: 70}")
    cpu = scaling_policy(project)
    assert cpu["CustomizedMetricSpecification"]["MetricName"] == "CPUUtilization"
    assert cpu["TargetValue"] == 560  # 70% of each of 8 vCPUs, as SageMaker sums them

    project.write(instance="ml.g5.12xlarge", autoscaling="{min: 1, max: 3, metric: gpu, target: 60}")
    gpu = scaling_policy(project)
    assert gpu["CustomizedMetricSpecification"]["MetricName"] == "GPUUtilization"
    assert gpu["TargetValue"] == 240  # 4 GPUs
    dims = {d["Name"]: d["Value"] for d in gpu["CustomizedMetricSpecification"]["Dimensions"]}
    assert dims == {"EndpointName": "fraud-prod", "VariantName": "AllTraffic"}

    project.write(instance="ml.c5.2xlarge", autoscaling="{min: 1, max: 3, metric: gpu, target: 60}")
    assert project.run("validate").exit_code == 2


def test_a_target_model_override_supplies_the_aws_secret_and_artifact(project: Project) -> None:
    project.file.write_text(
        project.file.read_text().replace(
            "  image: acme/fraud:1\n",
            "  image: acme/fraud:1\n  artifact: gs://acme/fraud/model.tar.gz\n  secrets: {TOKEN: gcp-sm://token}\n",
        )
    )
    result = project.run("validate", "--output", "json")
    assert result.exit_code == 2
    fields = {d["field"] for d in json.loads(result.stdout)["diagnostics"]}
    assert fields == {"model.artifact", "model.secrets.TOKEN"}

    project.write(
        extra="model: {artifact: s3://acme/fraud/model.tar.gz, secrets: {TOKEN: aws-sm://prod/token}}\n",
    )
    project.file.write_text(
        project.file.read_text().replace(
            "  image: acme/fraud:1\n",
            "  image: acme/fraud:1\n  artifact: gs://acme/fraud/model.tar.gz\n  secrets: {TOKEN: gcp-sm://token}\n",
        )
    )
    result = project.run("render", "--output", "json")
    assert result.exit_code == 0, result.stderr
    model = json.loads(json.loads(result.stdout)["targets"]["prod"]["create_model.json"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://acme/fraud/model.tar.gz"
    assert model["PrimaryContainer"]["Environment"] == {"TOKEN_SECRET_REF": "aws-sm://prod/token"}


def test_large_model_settings_reach_the_endpoint_config(project: Project) -> None:
    project.write(
        instance="ml.inf2.24xlarge",
        extra="startup_timeout: 20m\ndownload_timeout: 15m\nvolume_size_gb: 256\ninstance_count: 2\n",
    )
    result = project.run("render", "--output", "json")
    assert result.exit_code == 0, result.stderr
    config = json.loads(json.loads(result.stdout)["targets"]["prod"]["create_endpoint_config.json"])
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.inf2.24xlarge"
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 1200
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 900
    assert variant["VolumeSizeInGB"] == 256
    assert variant["InitialInstanceCount"] == 2

    project.write(instance="ml.inf2.xlarge", extra="startup_timeout: 2h\n")
    result = project.run("validate")
    assert result.exit_code == 2 and "between 60s and 1h" in result.stderr
