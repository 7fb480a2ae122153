"""Deploy, update, auto-rollback, rollback, history and destroy through the CLI, with boto3
talking to the SageMaker simulator and moto (Application Auto Scaling, CloudWatch) over HTTP."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from .conftest import CountingMotoServer, Project
from .simulator import SageMakerSimulator

ENDPOINT = "fraud-prod"
RID = f"endpoint/{ENDPOINT}/variant/AllTraffic"


# a canary that alarms can catch needs a fleet it is a fraction of (10% of 1 instance is all of it)
TWO = "instance_count: 2\n"


def deploy(project: Project, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    return project.json("deploy", "--yes", **kwargs)


def scalable_target(autoscaling: Any) -> dict[str, Any] | None:
    found = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[RID])["ScalableTargets"]
    return found[0] if found else None


def test_first_deploy_creates_the_endpoint_and_attaches_autoscaling(
    sim: SageMakerSimulator, project: Project, autoscaling: Any
) -> None:
    code, doc = deploy(project)
    assert code == 0, doc
    assert doc["targets"]["prod"]["revision"]["number"] == 1
    assert sim.statuses(ENDPOINT) == ["Creating", "InService"]
    states = [e["state"] for e in doc["targets"]["prod"]["events"] if e["kind"] == "state"]
    assert states == ["Creating", "InService"]

    target = scalable_target(autoscaling)
    assert target is not None and (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    policy = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingPolicies"][0]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 300.0  # 5 requests/s per replica, in invocations per minute
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"

    code, status = project.json("status")
    prod = status["targets"]["prod"]
    assert prod["active"] == 1 and prod["traffic"] == {"1": 100}
    assert prod["url"].endswith(f"/endpoints/{ENDPOINT}/invocations")
    assert prod["details"]["autoscaling"][RID] == {"min": 1, "max": 4}


def test_deploying_the_same_config_changes_nothing(sim: SageMakerSimulator, project: Project) -> None:
    assert deploy(project)[0] == 0
    assert project.run("plan", "--detailed-exitcode").exit_code == 0
    code, doc = deploy(project)
    assert code == 0 and doc["targets"]["prod"]["changed"] is False
    assert sim.calls["UpdateEndpoint"] == 0

    project.write(image="acme/fraud:2")
    assert project.run("plan", "--detailed-exitcode").exit_code == 3


@pytest.mark.parametrize(
    ("rollout", "extra", "expected"),
    [
        ("{strategy: all_at_once, bake: 1s}", "", {"Type": "ALL_AT_ONCE", "shares": [100]}),
        ("{strategy: canary, percent: 20, bake: 1s}", "", {"Type": "CANARY", "CanarySize": 20, "shares": [20, 100]}),
        (
            "{strategy: linear, percent: 40, bake: 1s}",
            "",
            {"Type": "LINEAR", "LinearStepSize": 40, "shares": [40, 80, 100]},
        ),
        ("{strategy: all_at_once, bake: 1s}", "rolling_batch: 1\ninstance_count: 2\n", {"Rolling": 1}),
    ],
    ids=["all_at_once", "canary", "linear", "rolling"],
)
def test_update_uses_sagemaker_deployment_guardrails(
    sim: SageMakerSimulator, project: Project, rollout: str, extra: str, expected: dict[str, Any]
) -> None:
    assert deploy(project)[0] == 0
    project.write(image="acme/fraud:2", rollout=rollout, extra=extra)
    code, doc = deploy(project)
    assert code == 0, doc
    endpoint = sim.endpoints[ENDPOINT]
    assert endpoint.config == "fraud-prod-r2"
    assert sim.statuses(ENDPOINT) == ["Creating", "InService", "Updating", "InService"]
    deployment = endpoint.last_deployment or {}
    if "Rolling" in expected:
        assert deployment["RollingUpdatePolicy"]["MaximumBatchSize"]["Value"] == expected["Rolling"]
    else:
        routing = deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
        assert routing["Type"] == expected["Type"] and routing["WaitIntervalInSeconds"] == 1
        for key in ("CanarySize", "LinearStepSize"):
            if key in expected:
                assert routing[key] == {"Type": "CAPACITY_PERCENT", "Value": expected[key]}
    # the progress shows the new fleet's steps, e.g. "Updating (new fleet: Baking: ... 20% ...)"
    states = [e["state"] for e in doc["targets"]["prod"]["events"] if e["kind"] == "state"]
    assert any(s.startswith("Updating (new fleet: Baking") for s in states), states

    code, history = project.json("history")
    assert [(r["number"], r["status"]) for r in history["targets"]["prod"]] == [(1, "superseded"), (2, "active")]


def test_broken_image_is_rolled_back_by_sagemaker_and_exits_1(
    sim: SageMakerSimulator, project: Project, autoscaling: Any
) -> None:
    assert deploy(project)[0] == 0
    sim.broken_images.add("acme/fraud:broken")
    project.write(image="acme/fraud:broken", rollout="{strategy: canary, percent: 10, bake: 1s}")
    result = project.run("deploy", "--yes")
    assert result.exit_code == 1
    assert "rolled back revision 2" in result.stderr
    assert "did not pass the ping health check" in result.stderr
    assert "Revision 1 (fraud-prod-r1) still serves all traffic" in result.stderr
    assert sim.endpoints[ENDPOINT].config == "fraud-prod-r1"
    assert sim.statuses(ENDPOINT)[-3:] == ["Updating", "RollingBack", "InService"]
    assert scalable_target(autoscaling) is not None

    _, history = project.json("history", state_dir=project.dir / "elsewhere")
    revisions = {r["number"]: r for r in history["targets"]["prod"]}
    assert revisions[1]["status"] == "active"
    assert revisions[2]["status"] == "failed" and "ping health check" in revisions[2]["message"]


def test_alarm_during_the_canary_bake_rolls_back(sim: SageMakerSimulator, project: Project, cloudwatch: Any) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName="fraud-5xx",
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    assert deploy(project)[0] == 0
    project.write(
        image="acme/fraud:2", rollout="{strategy: canary, percent: 10, bake: 20s, alarms: [fraud-5xx]}", extra=TWO
    )

    def fire_when_canary_takes_traffic() -> None:
        deadline = time.time() + 10
        while time.time() < deadline:
            pending = sim.endpoints[ENDPOINT].pending or {}
            if pending.get("_fleet_up"):
                cloudwatch.set_alarm_state(AlarmName="fraud-5xx", StateValue="ALARM", StateReason="5xx on canary")
                return
            time.sleep(0.02)

    firing = threading.Thread(target=fire_when_canary_takes_traffic)
    firing.start()
    result = project.run("deploy", "--yes")
    firing.join()
    assert result.exit_code == 1
    assert "SageMaker rolled back revision 2" in result.stderr and "fraud-5xx" in result.stderr
    assert sim.endpoints[ENDPOINT].config == "fraud-prod-r1"
    assert sim.endpoints[ENDPOINT].shares == [10]  # caught during the canary's bake, before 100%


def test_missing_alarm_fails_before_anything_changes(sim: SageMakerSimulator, project: Project) -> None:
    assert deploy(project)[0] == 0
    project.write(image="acme/fraud:2", rollout="{strategy: canary, alarms: [no-such-alarm]}", extra=TWO)
    result = project.run("deploy", "--yes")
    assert result.exit_code == 1 and "no-such-alarm" in result.stderr
    assert sim.calls["CreateModel"] == 1


def test_an_update_keeps_the_autoscaled_instance_count(
    sim: SageMakerSimulator, project: Project, autoscaling: Any
) -> None:
    assert deploy(project)[0] == 0
    sim.set_instance_count(ENDPOINT, "AllTraffic", 3)  # the autoscaler scaled out
    project.write(image="acme/fraud:2", rollout="{strategy: canary, percent: 34, bake: 0}")
    code, doc = deploy(project)
    assert code == 0, doc
    assert sim.configs["fraud-prod-r2"]["ProductionVariants"][0]["InitialInstanceCount"] == 3
    assert sim.endpoints[ENDPOINT].variants[0]["CurrentInstanceCount"] == 3
    target = scalable_target(autoscaling)
    assert target is not None and (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)


def test_changing_the_instance_type_detaches_and_reattaches_autoscaling(
    sim: SageMakerSimulator, project: Project, autoscaling: Any
) -> None:
    assert deploy(project)[0] == 0
    project.write(instance="ml.inf2.xlarge", extra="startup_timeout: 10m\n")
    code, doc = deploy(project)
    assert code == 0, doc  # the simulator refuses the update if the variant were still registered
    steps = [e["message"] for e in doc["targets"]["prod"]["events"] if e["kind"] == "step"]
    assert any("detaching autoscaling" in s for s in steps)
    assert scalable_target(autoscaling) is not None
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingPolicies"]
    assert len(policies) == 1


def test_a_policy_someone_else_added_survives_an_instance_type_change(
    sim: SageMakerSimulator, project: Project, autoscaling: Any
) -> None:
    assert deploy(project)[0] == 0
    autoscaling.put_scaling_policy(
        PolicyName="team-cpu-guard",
        ServiceNamespace="sagemaker",
        ResourceId=RID,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 300.0,
            "CustomizedMetricSpecification": {
                "MetricName": "CPUUtilization",
                "Namespace": "/aws/sagemaker/Endpoints",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": ENDPOINT},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Statistic": "Average",
            },
        },
    )
    project.write(autoscaling="{min: 2, max: 5, target: 5}", instance="ml.g6.xlarge")
    assert deploy(project)[0] == 0
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingPolicies"]
    assert sorted(p["PolicyName"] for p in policies) == ["scalectl-fraud-prod-AllTraffic", "team-cpu-guard"]
    target = scalable_target(autoscaling)
    assert target is not None and (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)


def test_first_deploy_of_a_broken_image_fails_and_cleans_up(sim: SageMakerSimulator, project: Project) -> None:
    sim.broken_images.add("acme/fraud:1")
    result = project.run("deploy", "--yes")
    assert result.exit_code == 1
    assert "could not start revision 1" in result.stderr and "ping health check" in result.stderr
    assert ENDPOINT not in sim.endpoints  # deploy waited until the failed endpoint was gone
    sim.broken_images.clear()
    code, doc = deploy(project)  # the next deploy starts clean, as revision 2
    assert code == 0 and doc["targets"]["prod"]["revision"]["number"] == 2


def test_destroy_after_a_failed_first_deploy_removes_the_retained_revision(
    sim: SageMakerSimulator, project: Project
) -> None:
    sim.broken_images.add("acme/fraud:1")
    assert project.run("deploy", "--yes").exit_code == 1
    code, status = project.json("status")
    assert status["targets"]["prod"]["details"]["status"] == "absent"
    code, doc = project.json("destroy", "--yes")
    assert code == 0 and doc["targets"]["prod"] == ["model fraud-prod-r1", "endpoint config fraud-prod-r1"]
    assert sim.configs == {} and sim.models == {}


def test_rollback_from_a_machine_that_never_deployed(sim: SageMakerSimulator, project: Project) -> None:
    assert deploy(project)[0] == 0
    project.write(image="acme/fraud:2")
    assert deploy(project)[0] == 0
    sim.set_instance_count(ENDPOINT, "AllTraffic", 2)

    other_runner = project.dir / "other-runner-state"
    code, history = project.json("history", state_dir=other_runner)
    assert [(r["number"], r["image"], r["created_by"]) for r in history["targets"]["prod"]] == [
        (1, "acme/fraud:1", "ci-runner-1"),
        (2, "acme/fraud:2", "ci-runner-1"),
    ]
    code, doc = project.json("rollback", "--yes", state_dir=other_runner)
    assert code == 0, doc
    assert doc["targets"]["prod"]["revision"]["number"] == 1 and doc["targets"]["prod"]["from"] == 2
    endpoint = sim.endpoints[ENDPOINT]
    assert endpoint.config == "fraud-prod-r1"
    assert endpoint.variants[0]["CurrentInstanceCount"] == 2  # RetainAllVariantProperties kept the count
    assert endpoint.variants[0]["DeployedImages"][0]["SpecifiedImage"] == "acme/fraud:1"

    code, history = project.json("history")
    statuses = {r["number"]: r["status"] for r in history["targets"]["prod"]}
    assert statuses == {1: "active", 2: "rolled_back"}


def test_old_revisions_are_pruned_to_keep_revisions(sim: SageMakerSimulator, project: Project) -> None:
    for n in range(1, 4):
        project.write(image=f"acme/fraud:{n}", extra="keep_revisions: 1\n")
        assert deploy(project)[0] == 0
    assert sorted(sim.configs) == ["fraud-prod-r2", "fraud-prod-r3"]
    assert sorted(sim.models) == ["fraud-prod-r2", "fraud-prod-r3"]


def test_destroy_removes_only_what_scalectl_created(
    sim: SageMakerSimulator, project: Project, sagemaker: Any, autoscaling: Any
) -> None:
    assert deploy(project)[0] == 0
    project.write(image="acme/fraud:2")
    assert deploy(project)[0] == 0
    # someone else's resources with a look-alike name
    sagemaker.create_model(ModelName="fraud-prod-r99", PrimaryContainer={"Image": "other/image:1"})
    sagemaker.create_endpoint_config(
        EndpointConfigName="fraud-prod-r99",
        ProductionVariants=[
            {
                "VariantName": "v",
                "ModelName": "fraud-prod-r99",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    code, doc = project.json("destroy", "--yes")
    assert code == 0, doc
    removed = doc["targets"]["prod"]
    assert f"endpoint {ENDPOINT}" in removed and f"autoscaling {RID}" in removed
    assert ENDPOINT not in sim.endpoints
    assert sorted(sim.configs) == ["fraud-prod-r99"] and sorted(sim.models) == ["fraud-prod-r99"]
    assert scalable_target(autoscaling) is None
    assert project.json("status")[1]["targets"]["prod"]["exists"] is False


def test_an_endpoint_scalectl_did_not_create_is_left_alone(
    sim: SageMakerSimulator, project: Project, sagemaker: Any
) -> None:
    sagemaker.create_model(ModelName="hand-made", PrimaryContainer={"Image": "other/image:1"})
    sagemaker.create_endpoint_config(
        EndpointConfigName="hand-made",
        ProductionVariants=[
            {"VariantName": "v", "ModelName": "hand-made", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="hand-made")
    result = project.run("deploy", "--yes")
    assert result.exit_code == 1 and "not created by scalectl" in result.stderr
    assert project.run("destroy", "--yes").exit_code == 1
    assert ENDPOINT in sim.endpoints


def test_throttling_and_5xx_are_retried(sim: SageMakerSimulator, project: Project) -> None:
    sim.throttle("CreateModel", 2)
    sim.throttle("DescribeEndpoint", 2)
    sim.fail("CreateEndpoint", 1)
    code, doc = deploy(project)
    assert code == 0, doc
    assert sim.calls["CreateModel"] == 3 and sim.calls["CreateEndpoint"] == 2


def test_persistent_throttling_fails_with_aws_error_code(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    sim.throttle("DescribeEndpoint", 50)
    result = project.run("deploy", "--yes")
    assert result.exit_code == 1
    assert "ThrottlingException: Rate exceeded" in result.stderr


def test_timeout_bounds_the_wait_and_says_what_serves(sim: SageMakerSimulator, project: Project) -> None:
    assert deploy(project)[0] == 0
    sim.provision_seconds = 60
    project.write(image="acme/fraud:2")
    started = time.monotonic()
    result = project.run("deploy", "--yes", "--timeout", "1")
    assert result.exit_code == 1
    assert time.monotonic() - started < 10  # --timeout 1, not the 60 s the fleet would take
    assert "timed out after 1s" in result.stderr and "previous revision serves" in result.stderr


def test_another_deploy_in_progress_is_refused(sim: SageMakerSimulator, project: Project, sagemaker: Any) -> None:
    assert deploy(project)[0] == 0
    sim.provision_seconds = 5
    project.write(image="acme/fraud:2")
    sagemaker.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="fraud-prod-r1")
    result = project.run("deploy", "--yes")
    assert result.exit_code == 1 and "is Updating" in result.stderr


def test_no_credentials_is_a_clear_error(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = project.run("status")
    assert result.exit_code == 1 and "no AWS credentials" in result.stderr


def test_moto_counts_autoscaling_calls(
    sim: SageMakerSimulator, project: Project, moto_server: CountingMotoServer
) -> None:
    assert deploy(project)[0] == 0
    assert moto_server.calls["RegisterScalableTarget"] == 1 and moto_server.calls["PutScalingPolicy"] == 1


def test_rollback_across_an_instance_type_change_keeps_autoscaling(
    sim: SageMakerSimulator, project: Project, autoscaling: Any
) -> None:
    assert deploy(project)[0] == 0
    project.write(instance="ml.g6.xlarge")
    assert deploy(project)[0] == 0
    code, doc = project.json("rollback", "--yes")
    assert code == 0, doc
    assert sim.endpoints[ENDPOINT].config == "fraud-prod-r1"
    target = scalable_target(autoscaling)
    assert target is not None and (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == [f"scalectl-{ENDPOINT}-AllTraffic"]


def test_credentials_from_a_named_profile(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = project.dir / "credentials"
    credentials.write_text("[deployer]\naws_access_key_id = AKIDEPLOYER\naws_secret_access_key = s3cr3t\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "deployer")
    assert deploy(project)[0] == 0


def test_renaming_the_variant_moves_autoscaling_to_the_new_variant(
    sim: SageMakerSimulator, project: Project, autoscaling: Any
) -> None:
    assert deploy(project)[0] == 0
    project.write(extra="variant: blue\n")
    code, doc = deploy(project)
    assert code == 0, doc  # the simulator refuses to drop a variant that is still registered
    warnings = [e["message"] for e in doc["targets"]["prod"]["events"] if e["kind"] == "warn"]
    assert any("cannot use deployment guardrails" in w for w in warnings)
    assert sim.endpoints[ENDPOINT].last_deployment is None  # the update was sent without DeploymentConfig
    found = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [t["ResourceId"] for t in found] == [f"endpoint/{ENDPOINT}/variant/blue"]
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == [f"scalectl-{ENDPOINT}-blue"]


def test_a_request_sagemaker_refuses_is_recorded_as_failed(sim: SageMakerSimulator, project: Project) -> None:
    assert deploy(project)[0] == 0
    project.write(image="acme/fraud:2")
    sim.refuse("UpdateEndpoint", "Endpoint quota exceeded")
    result = project.run("deploy", "--yes")
    assert result.exit_code == 1 and "ValidationException: Endpoint quota exceeded" in result.stderr
    _, history = project.json("history", state_dir=project.dir / "fresh")
    assert {r["number"]: r["status"] for r in history["targets"]["prod"]} == {1: "active", 2: "failed"}


def test_rollback_goes_through_while_the_alarm_still_fires(
    sim: SageMakerSimulator, project: Project, cloudwatch: Any
) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName="fraud-latency",
        MetricName="ModelLatency",
        Namespace="AWS/SageMaker",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=500000,
        ComparisonOperator="GreaterThanThreshold",
    )
    project.write(rollout="{strategy: canary, percent: 10, bake: 1s, alarms: [fraud-latency]}", extra=TWO)
    assert deploy(project)[0] == 0
    project.write(
        image="acme/fraud:2", rollout="{strategy: canary, percent: 10, bake: 1s, alarms: [fraud-latency]}", extra=TWO
    )
    code, doc = deploy(project)
    assert code == 0, doc
    cloudwatch.set_alarm_state(AlarmName="fraud-latency", StateValue="ALARM", StateReason="slow after the bake")
    code, doc = project.json("rollback", "--yes")
    assert code == 0, doc
    assert sim.endpoints[ENDPOINT].config == "fraud-prod-r1"


def test_waiting_is_adaptive_quick_to_notice_and_light_on_calls(sim: SageMakerSimulator, project: Project) -> None:
    sim.provision_seconds = 2.0
    assert deploy(project)[0] == 0
    # polls at about 0.25, 0.6, 1.2, 2.0, 3.3 s: readiness at 2.0 s is seen within one short interval
    # (at most ~1.3 s here, plus request time), not at a 30 s tick
    assert sim.detection_latency(ENDPOINT) < 2.0
    assert sim.calls["DescribeEndpoint"] <= 7  # plan + deploy's check + a handful of polls, not a busy loop


def test_the_rendered_iam_policy_allows_every_call_scalectl_made(
    sim: SageMakerSimulator, project: Project, cloudwatch: Any, moto_server: CountingMotoServer
) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName="fraud-5xx",
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    moto_server.calls.clear()
    rollout = "{strategy: canary, percent: 10, bake: 0, alarms: [fraud-5xx], max_error_rate: 0.05, max_p99_ratio: 2}"
    project.write(rollout=rollout, extra=TWO)
    assert deploy(project)[0] == 0
    project.write(image="acme/fraud:2", instance="ml.g6.xlarge", rollout=rollout, extra=TWO)
    assert deploy(project)[0] == 0
    assert project.json("rollback", "--yes")[0] == 0
    assert project.json("destroy", "--yes")[0] == 0

    result = project.run("render", "--output", "json")
    policy = json.loads(json.loads(result.stdout)["targets"]["prod"]["iam_policy.json"])
    allowed = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    made = {f"sagemaker:{op}" for op in sim.calls}
    made |= {f"application-autoscaling:{op}" for op in moto_server.calls if "Scal" in op}
    made |= {f"cloudwatch:{op}" for op in moto_server.calls if "Alarm" in op or op == "GetMetricData"}
    assert {"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:GetMetricData"} <= made
    assert "cloudwatch:DescribeAlarms" in made and "application-autoscaling:DeregisterScalableTarget" in made
    assert made <= allowed, made - allowed


def test_a_deploy_while_another_holds_the_target_exits_5(sim: SageMakerSimulator, project: Project) -> None:
    from scalectl.state import Journal

    with Journal.open(project.state_dir).lock("fraud", "prod"):
        result = project.run("deploy", "--yes")
    assert result.exit_code == 5 and "locked" in result.stderr
    assert sim.calls["CreateModel"] == 0


def test_rollback_across_a_variant_rename(sim: SageMakerSimulator, project: Project, autoscaling: Any) -> None:
    assert deploy(project)[0] == 0
    project.write(extra="variant: blue\n")
    assert deploy(project)[0] == 0
    code, doc = project.json("rollback", "--yes")
    assert code == 0, doc
    assert sim.endpoints[ENDPOINT].config == "fraud-prod-r1"
    found = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [t["ResourceId"] for t in found] == [RID]
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [(p["PolicyName"], p["ResourceId"]) for p in policies] == [(f"scalectl-{ENDPOINT}-AllTraffic", RID)]
