"""Rollout gates on SageMaker: CloudWatch figures per revision, and the guardrail alarms scalectl makes
from max_error_rate / max_p99 / max_p99_ratio, watched by SageMaker (the simulator reads their state
from moto), deleted when the rollout ends, and named with the failing figure when they roll back."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from .conftest import REGION, CountingMotoServer, Project
from .simulator import SageMakerSimulator

ENDPOINT = "fraud-prod"
PREFIX = "scalectl-fraud-prod-r"
TWO = "instance_count: 2\n"
GATED = "{strategy: canary, percent: 10, bake: 20s, max_error_rate: 0.05, max_p99: 250ms}"


def dims(config: str | None = None) -> list[dict[str, str]]:
    out = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}]
    if config:
        out.append({"Name": "EndpointConfigName", "Value": config})
    return out


def put(cloudwatch: Any, config: str | None, *, requests: int, errors_5xx: int = 0, latency_ms: list[float]) -> None:
    """What SageMaker publishes for `requests` invocations of one fleet (config None: per variant only)."""
    d = dims(config)
    data = [
        {"MetricName": "Invocations", "Dimensions": d, "Values": [1.0], "Counts": [float(requests)]},
        {"MetricName": "Invocation4XXErrors", "Dimensions": d, "Values": [0.0], "Counts": [float(requests)]},
        {
            "MetricName": "Invocation5XXErrors",
            "Dimensions": d,
            "Values": [1.0, 0.0],
            "Counts": [float(errors_5xx), float(requests - errors_5xx)],
        },
        {
            "MetricName": "ModelLatency",
            "Dimensions": d,
            "Values": [v * 1000 for v in latency_ms],
            "Unit": "Microseconds",
        },
        {"MetricName": "OverheadLatency", "Dimensions": d, "Values": [3000.0], "Unit": "Microseconds"},
    ]
    cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)


def ours(cloudwatch: Any) -> list[str]:
    return [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]]


def release_of(project: Project) -> Any:
    from scalectl.checks import load_checked
    from scalectl.engine import release_for

    return release_for(load_checked(project.file), "prod")


def when_canary_serves(sim: SageMakerSimulator, then: Any) -> threading.Thread:
    """Run `then` once the new fleet is up and taking its canary share (what makes a canary fail)."""

    def watch() -> None:
        deadline = time.time() + 15
        while time.time() < deadline:
            with sim.lock:
                up = (sim.endpoints[ENDPOINT].pending or {}).get("_fleet_up")
            if up:
                then()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


# ---------------------------------------------------------------------- figures


def test_metrics_reads_cloudwatch_per_revision(sim: SageMakerSimulator, project: Project, cloudwatch: Any) -> None:
    from scalectl.providers.aws.provider import AwsProvider

    project.write(extra=TWO, autoscaling="{min: 1, max: 4, target: 5}")
    assert project.run("deploy", "--yes").exit_code == 0
    # revision 1 came from CreateEndpoint: SageMaker publishes its figures per variant only
    put(cloudwatch, None, requests=200, errors_5xx=4, latency_ms=[float(ms) for ms in range(1, 101)])
    cloudwatch.put_metric_data(
        Namespace="/aws/sagemaker/Endpoints",
        MetricData=[
            {"MetricName": "CPUUtilization", "Dimensions": dims(), "Value": 200.0},  # summed over 4 vCPUs
            {"MetricName": "GPUUtilization", "Dimensions": dims(), "Value": 80.0},
            {"MetricName": "MemoryUtilization", "Dimensions": dims(), "Value": 30.0},
        ],
    )
    provider = AwsProvider()
    release = release_of(project)
    [m] = provider.metrics(release, provider.observe(release), 300)
    assert (m.revision, m.requests, m.window) == (1, 200, 300.0)
    assert (m.p50_ms, m.p95_ms, m.p99_ms) == (50.0, 95.0, 99.0)
    assert m.rate_5xx == 0.02 and m.rate_4xx == 0.0
    assert (m.cpu_percent, m.gpu_percent, m.memory_percent) == (50.0, 80.0, 30.0)
    assert (m.replicas_desired, m.replicas_ready) == (2, 2)
    assert "ModelLatency" in m.source and any("OverheadLatency p99 adds 3.0 ms" in n for n in m.notes)


def test_during_an_update_the_new_fleet_is_read_apart_from_the_old(
    sim: SageMakerSimulator, project: Project, cloudwatch: Any
) -> None:
    from scalectl.providers.aws.api import clients
    from scalectl.providers.aws.metrics import Fleet, read

    assert project.run("deploy", "--yes").exit_code == 0
    # per variant: both fleets (300 requests, 10 of them 5xx); the canary's own: 100, 9 of them 5xx
    put(cloudwatch, None, requests=300, errors_5xx=10, latency_ms=[40.0] * 10)
    put(cloudwatch, "fraud-prod-r2", requests=100, errors_5xx=9, latency_ms=[80.0] * 10)
    old = Fleet(1, "fraud-prod-r1", "AllTraffic", "ml.g5.xlarge", 2, 2)
    new = Fleet(2, "fraud-prod-r2", "AllTraffic", "ml.g5.xlarge", 1, 1)
    before, after = read(clients(REGION), ENDPOINT, [old, new], 120)
    assert (after.requests, after.rate_5xx, after.p99_ms) == (100, 0.09, 80.0)
    assert before.requests == 200 and before.rate_5xx == 0.005 and before.p99_ms is None
    assert any("minus the new fleet" in n for n in before.notes)
    assert after.cpu_percent is None and any("not per fleet" in n for n in after.notes)


# ---------------------------------------------------------------------- alarms


def test_gates_become_alarms_on_the_new_fleet_and_are_deleted_after_promotion(
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
    assert project.run("deploy", "--yes").exit_code == 0
    rollout = "{strategy: canary, percent: 10, bake: 1s, max_error_rate: 0.05, max_p99: 250ms, alarms: [fraud-5xx]}"
    project.write(image="acme/fraud:2", rollout=rollout, extra=TWO)
    plan = project.run("plan", "--output", "json")
    assert f"alarm {PREFIX}{{revision}}-5xx" in plan.stdout and "ModelLatency p99 > 250 ms" in plan.stdout

    seen: dict[str, Any] = {}

    def snapshot() -> None:
        for a in cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]:
            tags = cloudwatch.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]
            seen[a["AlarmName"]] = {**a, "Tags": {t["Key"]: t["Value"] for t in tags}}

    watcher = when_canary_serves(sim, snapshot)
    result = project.run("deploy", "--yes", "--output", "json")
    watcher.join()
    assert result.exit_code == 0, result.stdout + result.stderr

    assert set(seen) == {f"{PREFIX}2-5xx", f"{PREFIX}2-p99"}
    five = seen[f"{PREFIX}2-5xx"]
    assert five["Threshold"] == 0.05 and five["Tags"]["scalectl:revision"] == "2"
    assert five["Tags"]["scalectl:app"] == "fraud" and five["Tags"]["scalectl:target"] == "prod"
    gate = next(q for q in five["Metrics"] if q["Id"] == "gate")
    assert gate["Expression"] == "IF(inv >= 20, err / inv, 0)"
    err = next(q for q in five["Metrics"] if q["Id"] == "err")["MetricStat"]["Metric"]
    assert {"Name": "EndpointConfigName", "Value": "fraud-prod-r2"} in err["Dimensions"]
    p99 = seen[f"{PREFIX}2-p99"]
    assert p99["Threshold"] == 250.0
    assert next(q for q in p99["Metrics"] if q["Id"] == "lat")["MetricStat"]["Stat"] == "p99"

    watched = sim.endpoints[ENDPOINT].last_deployment["AutoRollbackConfiguration"]["Alarms"]  # type: ignore[index]
    assert [a["AlarmName"] for a in watched] == ["fraud-5xx", f"{PREFIX}2-5xx", f"{PREFIX}2-p99"]
    assert ours(cloudwatch) == []  # promoted: deleted
    assert cloudwatch.describe_alarms(AlarmNames=["fraud-5xx"])["MetricAlarms"]  # the user's stays


def test_error_rate_gate_rolls_back_and_says_the_figure(
    sim: SageMakerSimulator, project: Project, cloudwatch: Any
) -> None:
    assert project.run("deploy", "--yes").exit_code == 0
    project.write(image="acme/fraud:2", rollout=GATED, extra=TWO)

    def canary_fails() -> None:
        put(cloudwatch, "fraud-prod-r2", requests=100, errors_5xx=30, latency_ms=[20.0] * 10)
        cloudwatch.set_alarm_state(
            AlarmName=f"{PREFIX}2-5xx",
            StateValue="ALARM",
            StateReason="Threshold Crossed: 1 datapoint [0.3] was greater than the threshold (0.05).",
        )

    watcher = when_canary_serves(sim, canary_fails)
    result = project.run("deploy", "--yes")
    watcher.join()
    assert result.exit_code == 1
    assert "SageMaker rolled back revision 2" in result.stderr
    message = " ".join(result.stderr.split())
    assert f"{PREFIX}2-5xx" in message
    assert "5xx rate 30.0% of revision 2 (100 requests) is over rollout.max_error_rate 5.0% by 25.0 points" in message
    assert sim.endpoints[ENDPOINT].config == "fraud-prod-r1" and sim.endpoints[ENDPOINT].shares == [10]
    assert ours(cloudwatch) == []  # rolled back: deleted too
    history = project.json("history")[1]["targets"]["prod"]
    assert "5xx rate 30.0" in next(r["message"] for r in history if r["number"] == 2)  # tags allow no %


def test_p99_ratio_compares_with_the_revision_it_replaces(
    sim: SageMakerSimulator, project: Project, cloudwatch: Any
) -> None:
    assert project.run("deploy", "--yes").exit_code == 0
    put(cloudwatch, None, requests=50, latency_ms=[40.0] * 50)  # revision 1 alone, before the update
    project.write(image="acme/fraud:2", rollout="{strategy: canary, bake: 20s, max_p99_ratio: 1.5}", extra=TWO)
    expression: list[str] = []

    def canary_is_slow() -> None:
        [alarm] = cloudwatch.describe_alarms(AlarmNames=[f"{PREFIX}2-p99-ratio"])["MetricAlarms"]
        expression.append(next(q["Expression"] for q in alarm["Metrics"] if q["Id"] == "gate"))
        put(cloudwatch, "fraud-prod-r2", requests=60, latency_ms=[100.0] * 60)
        cloudwatch.set_alarm_state(AlarmName=f"{PREFIX}2-p99-ratio", StateValue="ALARM", StateReason="2.5 > 1.5")

    watcher = when_canary_serves(sim, canary_is_slow)
    result = project.run("deploy", "--yes")
    watcher.join()
    assert result.exit_code == 1
    assert expression == ["IF(inv >= 20, lat / 40000, 0)"]  # 1.5x revision 1's 40 ms P99, in microseconds
    message = " ".join(result.stderr.split())
    assert "revision 1's P99 over the last 15 min: 40.0 ms" in message
    assert (
        "P99 100 ms of revision 2 is 2.5x the 40 ms of revision 1 it replaces, over rollout.max_p99_ratio 1.5x"
        in message
    )
    assert ours(cloudwatch) == []


def test_ratio_without_enough_traffic_to_compare_warns_and_makes_no_ratio_alarm(
    sim: SageMakerSimulator, project: Project, cloudwatch: Any
) -> None:
    assert project.run("deploy", "--yes").exit_code == 0
    put(cloudwatch, None, requests=5, latency_ms=[40.0] * 5)
    project.write(image="acme/fraud:2", rollout="{strategy: canary, bake: 1s, max_p99_ratio: 1.5}", extra=TWO)
    result = project.run("deploy", "--yes")
    assert result.exit_code == 0
    assert "max_p99_ratio is not applied" in " ".join(result.stderr.split())
    assert "AutoRollbackConfiguration" not in (sim.endpoints[ENDPOINT].last_deployment or {})


def test_alarm_state_with_metrics_lagging_still_names_the_alarm_and_cloudwatchs_reason(
    sim: SageMakerSimulator, project: Project, cloudwatch: Any
) -> None:
    assert project.run("deploy", "--yes").exit_code == 0
    project.write(image="acme/fraud:2", rollout=GATED, extra=TWO)
    reason = "Threshold Crossed: 1 datapoint [412.0] was greater than the threshold (250.0)."
    watcher = when_canary_serves(
        sim, lambda: cloudwatch.set_alarm_state(AlarmName=f"{PREFIX}2-p99", StateValue="ALARM", StateReason=reason)
    )
    result = project.run("deploy", "--yes")
    watcher.join()
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert f"{PREFIX}2-p99: {reason}" in message


def test_leftover_alarms_are_swept_by_rollback_and_destroy_never_a_users(
    sim: SageMakerSimulator, project: Project, cloudwatch: Any
) -> None:
    def alarm(name: str, tags: list[dict[str, str]]) -> None:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="ModelLatency",
            Namespace="AWS/SageMaker",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            Tags=tags,
        )

    mine = [{"Key": f"scalectl:{k}", "Value": v} for k, v in {"managed-by": "scalectl", "app": "fraud"}.items()]
    assert project.run("deploy", "--yes").exit_code == 0
    project.write(image="acme/fraud:2")
    assert project.run("deploy", "--yes").exit_code == 0
    # an interrupted deploy of revision 3 left its alarm; a user named one of theirs alike
    alarm(f"{PREFIX}3-5xx", [*mine, {"Key": "scalectl:target", "Value": "prod"}])
    alarm(f"{PREFIX}9-mine", [{"Key": "team", "Value": "fraud"}])
    alarm(f"{PREFIX}4-5xx", [*mine, {"Key": "scalectl:target", "Value": "staging"}])  # another target's
    assert project.json("rollback", "--yes")[0] == 0
    assert sorted(ours(cloudwatch)) == [f"{PREFIX}4-5xx", f"{PREFIX}9-mine"]

    alarm(f"{PREFIX}5-p99", [*mine, {"Key": "scalectl:target", "Value": "prod"}])
    code, doc = project.json("destroy", "--yes")
    assert code == 0
    assert f"alarm {PREFIX}5-p99" in json.dumps(doc)
    assert sorted(ours(cloudwatch)) == [f"{PREFIX}4-5xx", f"{PREFIX}9-mine"]


# ---------------------------------------------------------------------- requests against botocore's models


def test_rendered_alarms_and_update_and_metric_queries_fit_botocores_models(project: Project, tmp_path: Path) -> None:
    from scalectl.providers.aws.metrics import Fleet, queries

    project.write(
        rollout="{strategy: canary, max_error_rate: 0.02, max_p99: 300ms, max_p99_ratio: 2, alarms: [a]}", extra=TWO
    )
    result = project.run("render", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    files = {p.name: json.loads(p.read_text()) for p in (tmp_path / "out" / "prod").glob("*.json")}
    session = botocore.session.get_session()
    cw, sm = session.get_service_model("cloudwatch"), session.get_service_model("sagemaker")
    alarms = [files[f"put_metric_alarm_{g}.json"] for g in ("5xx", "p99", "p99-ratio")]
    for body in alarms:
        report = ParamValidator().validate(body, cw.operation_model("PutMetricAlarm").input_shape)
        assert not report.has_errors(), report.generate_report()
    assert alarms[2]["Threshold"] == 2 and "{previous_p99_us}" in json.dumps(alarms[2])
    update = files["update_endpoint.json"]
    report = ParamValidator().validate(update, sm.operation_model("UpdateEndpoint").input_shape)
    assert not report.has_errors(), report.generate_report()
    names = [a["AlarmName"] for a in update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert names == ["a", *(a["AlarmName"] for a in alarms)]

    fleet = Fleet(2, "fraud-prod-r2", "AllTraffic", "ml.g5.xlarge", 1, 1)
    q = queries(ENDPOINT, {"r2": (fleet.variant, fleet.config), "all": (fleet.variant, None)}, 300)
    body = {"MetricDataQueries": q, "StartTime": 0, "EndTime": 300}
    report = ParamValidator().validate(body, cw.operation_model("GetMetricData").input_shape)
    assert not report.has_errors(), report.generate_report()
    delete = {"AlarmNames": [a["AlarmName"] for a in alarms]}
    assert not ParamValidator().validate(delete, cw.operation_model("DeleteAlarms").input_shape).has_errors()


def test_gates_count_against_sagemakers_ten_alarms_and_are_no_longer_refused(project: Project) -> None:
    project.write(rollout="{strategy: canary, max_error_rate: 0.05, max_p99: 200ms}", extra=TWO)
    assert project.run("validate").exit_code == 0
    nine = ", ".join(f"a{i}" for i in range(9))
    project.write(rollout=f"{{strategy: canary, max_error_rate: 0.05, max_p99: 200ms, alarms: [{nine}]}}", extra=TWO)
    result = project.run("validate", "--output", "json")
    assert result.exit_code == 2
    [d] = json.loads(result.stdout)["diagnostics"]
    assert d["field"] == "targets.prod.rollout.alarms" and "plus the 2 scalectl makes" in d["message"]
