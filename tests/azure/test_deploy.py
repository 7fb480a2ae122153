"""Deploying to Azure ML through the CLI, against the ARM simulator.

Each test reads as a user session: write scale.yaml, run scalectl, look at what Azure got.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.azure.simulator import ArmSimulator
from tests.served import Load

EP = "fraud-prod"


def deploy(cli, path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli("deploy", "-f", path, "--yes", *extra)


def traffic_puts(sim: ArmSimulator) -> list[dict[str, int]]:
    """Every traffic split scalectl asked the endpoint for, in order."""
    return [b["properties"]["traffic"] for b in sim.sent("PUT", f"/onlineEndpoints/{EP}")]


def test_first_deploy_creates_endpoint_deployment_and_autoscale(sim, scale_file, cli) -> None:
    path = scale_file()
    result = deploy(cli, path)

    assert result.exit_code == 0, result.output
    assert "revision 1 is live" in result.output
    assert sim.traffic(EP) == {"rev-1": 100}
    dep = sim.deployments[(EP, "rev-1")].body
    assert dep["sku"] == {"name": "Default", "capacity": 1}
    assert dep["properties"]["instanceType"] == "Standard_NC4as_T4_v3"
    assert dep["properties"]["scaleSettings"] == {"scaleType": "Default"}
    assert dep["properties"]["model"].endswith("/workspaces/prod/models/fraud-model/versions/3")
    assert dep["properties"]["modelMountPath"] == "/opt/ml/model"  # the one container contract
    assert dep["tags"]["scalectl.revision"] == "1"
    assert dep["tags"]["scalectl.app"] == "fraud"
    env = sim.environments[("scalectl-fraud-prod", "1")]["properties"]
    assert env["image"] == "acr.example.io/fraud:1"
    assert env["inferenceConfig"]["scoringRoute"] == {"path": "/invocations", "port": 8080}
    assert env["inferenceConfig"]["readinessRoute"] == {"path": "/ping", "port": 8080}
    assert list(sim.autoscale) == ["fraud-prod-rev-1-autoscale"]


def test_what_is_sent_is_exactly_what_render_shows(sim, scale_file, cli) -> None:
    """render and deploy use the same templates; deploy only fills in the revision's identity."""
    from scalectl.providers.azure.requests import PLACEHOLDER, Bodies, Identity

    from scalectl.checks import load_checked
    from scalectl.engine import release_for
    from scalectl.provider import Revision

    path = scale_file()
    assert deploy(cli, path).exit_code == 0
    release = release_for(load_checked(path), "prod")
    tags = sim.deployments[(EP, "rev-1")].body["tags"]
    revision = Revision(
        1, tags["scalectl.digest"], tags["scalectl.image"], tags["scalectl.created_at"], tags["scalectl.created_by"]
    )
    sent, shown = Bodies(release, Identity.of(revision)), Bodies(release, PLACEHOLDER)

    assert sim.sent("PUT", "/environments/scalectl-fraud-prod/versions/1") == [sent.environment_body()]
    assert sim.sent("PUT", "/deployments/rev-1") == [sent.deployment_body()]
    assert sim.sent("PUT", "/autoscalesettings/fraud-prod-rev-1-autoscale") == [sent.autoscale_body()]
    assert sim.sent("PUT", f"/onlineEndpoints/{EP}")[-1] == sent.endpoint_body({"rev-1": 100}, {}, {})

    rendered = json.loads(cli("render", "-f", path, "--output", "json").stdout)["targets"]["prod"]
    assert json.loads(rendered["deployment.json"]) == shown.deployment_body()
    assert json.loads(rendered["autoscale.json"]) == shown.autoscale_body()
    assert json.loads(rendered["environment.json"]) == shown.environment_body()
    assert json.loads(rendered["endpoint.json"]) == shown.endpoint_body({"rev-{revision}": 100}, {}, {})


def test_autoscale_setting_as_sent(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file()).exit_code == 0
    setting = sim.sent("PUT", "/autoscalesettings/fraud-prod-rev-1-autoscale")[0]
    props = setting["properties"]
    assert props["targetResourceUri"].endswith("/onlineEndpoints/fraud-prod/deployments/rev-1")
    assert setting["location"] == "eastus"
    (profile,) = props["profiles"]
    assert profile["capacity"] == {"minimum": "1", "maximum": "4", "default": "1"}
    out, scale_in = profile["rules"]
    assert out["metricTrigger"]["metricName"] == "CpuUtilizationPercentage"
    assert out["metricTrigger"]["metricResourceUri"] == props["targetResourceUri"]
    assert (out["metricTrigger"]["operator"], out["metricTrigger"]["threshold"]) == ("GreaterThan", 70.0)
    assert out["scaleAction"] == {"direction": "Increase", "type": "ChangeCount", "value": "1", "cooldown": "PT1M"}
    assert (scale_in["metricTrigger"]["operator"], scale_in["metricTrigger"]["threshold"]) == ("LessThan", 35.0)
    assert scale_in["scaleAction"]["cooldown"] == "PT5M"


def test_requests_per_replica_scales_on_the_endpoint_metric_per_instance(sim, scale_file, cli) -> None:
    path = scale_file()
    path.write_text(path.read_text().replace("metric: cpu, target: 70", "metric: requests_per_replica, target: 5"))
    assert deploy(cli, path).exit_code == 0
    trigger = sim.sent("PUT", "/autoscalesettings/fraud-prod-rev-1-autoscale")[0]["properties"]["profiles"][0]["rules"][
        0
    ]["metricTrigger"]
    assert trigger["metricName"] == "RequestsPerMinute"
    assert trigger["metricResourceUri"].endswith("/onlineEndpoints/fraud-prod")
    assert trigger["dividePerInstance"] is True
    assert trigger["threshold"] == 300.0  # 5 requests/s per instance
    assert trigger["dimensions"] == [{"DimensionName": "deployment", "Operator": "Equals", "Values": ["rev-1"]}]


def test_canary_moves_traffic_in_two_steps_and_keeps_the_old_deployment(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0
    sim.serving["fraud"] = Load(50)  # healthy traffic for the bake to judge
    result = deploy(cli, scale_file(image="acr.example.io/fraud:2", strategy="canary", bake="1s"))

    assert result.exit_code == 0, result.output
    assert traffic_puts(sim)[-2:] == [{"rev-2": 20, "rev-1": 80}, {"rev-2": 100}]
    assert sim.traffic(EP) == {"rev-2": 100}
    assert (EP, "rev-1") in sim.deployments  # kept warm for a fast rollback
    assert "baking 0s" not in result.output


def test_linear_and_mirror(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0
    path = scale_file(image="acr.example.io/fraud:2", strategy="linear", bake="0s", extra="    mirror: 10\n")
    assert deploy(cli, path).exit_code == 0

    puts = sim.sent("PUT", f"/onlineEndpoints/{EP}")
    mirrored, *steps = puts[-6:]
    assert mirrored["properties"]["traffic"] == {"rev-1": 100}
    assert mirrored["properties"]["mirrorTraffic"] == {"rev-2": 10}
    assert [p["properties"]["traffic"] for p in steps] == [
        {"rev-2": 20, "rev-1": 80},
        {"rev-2": 40, "rev-1": 60},
        {"rev-2": 60, "rev-1": 40},
        {"rev-2": 80, "rev-1": 20},
        {"rev-2": 100},
    ]
    assert all(p["properties"]["mirrorTraffic"] == {} for p in steps)
    assert sim.traffic(EP) == {"rev-2": 100}
    assert sim.endpoints[EP].body["properties"]["mirrorTraffic"] == {}


def test_failed_probe_rolls_back_and_exits_1(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0
    sim.failing_images.add("acr.example.io/fraud:broken")
    result = deploy(cli, scale_file(image="acr.example.io/fraud:broken"))

    assert result.exit_code == 1
    assert "revision 2 failed: deployment rev-2 ended Failed" in result.output
    assert "weights.bin" in result.output  # the container's own words
    assert "revision 1 (rev-1) still serves 100% of traffic" in result.output
    assert sim.traffic(EP) == {"rev-1": 100}
    assert sim.wait_deleted(EP, "rev-2")
    assert "fraud-prod-rev-2-autoscale" not in sim.autoscale

    history = json.loads(cli("history", "-f", scale_file(), "--output", "json").stdout)
    statuses = {r["number"]: r["status"] for r in history["targets"]["prod"]}
    assert statuses == {1: "active", 2: "failed"}


def test_probe_failing_during_the_canary_bake_returns_traffic(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0
    sim.crash_after_traffic.add("acr.example.io/fraud:flaky")
    result = deploy(cli, scale_file(image="acr.example.io/fraud:flaky", bake="2s"))

    assert result.exit_code == 1
    assert "became Failed during the bake" in result.output
    assert traffic_puts(sim)[-2:] == [{"rev-2": 20, "rev-1": 80}, {"rev-1": 100}]
    assert sim.traffic(EP) == {"rev-1": 100}


def test_first_deploy_that_fails_leaves_nothing_serving_and_says_so(sim, scale_file, cli) -> None:
    sim.failing_images.add("acr.example.io/fraud:broken")
    result = deploy(cli, scale_file(image="acr.example.io/fraud:broken"))
    assert result.exit_code == 1
    assert "nothing serves yet" in result.output
    assert sim.traffic(EP) == {}


def test_timeout_rolls_back(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0
    sim.deploy_seconds = 5
    result = deploy(cli, scale_file(image="acr.example.io/fraud:2"), "--timeout", "1")
    assert result.exit_code == 1
    assert "timed out" in result.output
    assert "revision 1 (rev-1) still serves" in result.output
    assert sim.traffic(EP) == {"rev-1": 100}


def test_throttled_requests_are_retried(sim, scale_file, cli) -> None:
    sim.throttle(2)
    result = deploy(cli, scale_file())
    assert result.exit_code == 0, result.output
    assert [c.status for c in sim.calls[:3]] == [429, 429, 404]


def test_unchanged_config_deploys_nothing(sim, scale_file, cli) -> None:
    path = scale_file()
    assert deploy(cli, path).exit_code == 0
    before = len(sim.writes())
    result = deploy(cli, path)
    assert result.exit_code == 0
    assert "already up to date" in result.output
    assert len(sim.writes()) == before


def test_old_deployments_beyond_keep_revisions_are_deleted(sim, scale_file, cli) -> None:
    for n in range(1, 4):
        assert deploy(cli, scale_file(image=f"acr.example.io/fraud:{n}", keep=2)).exit_code == 0
    planned = json.loads(
        cli("plan", "-f", scale_file(image="acr.example.io/fraud:4", keep=2), "--output", "json").stdout
    )
    deletes = [c["resource"] for c in planned["targets"]["prod"]["changes"] if c["action"] == "delete"]
    assert deletes == ["deployment rev-1"]

    assert deploy(cli, scale_file(image="acr.example.io/fraud:4", keep=2)).exit_code == 0
    assert sim.wait_deleted(EP, "rev-1")
    assert {d for (_, d) in sim.deployments} == {"rev-2", "rev-3", "rev-4"}
    assert "fraud-prod-rev-1-autoscale" not in sim.autoscale
    assert ("scalectl-fraud-prod", "1") in sim.environments  # history and recreate config stay


def test_status_shows_deployments_traffic_and_autoscale(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0
    assert deploy(cli, scale_file(image="acr.example.io/fraud:2")).exit_code == 0
    doc = json.loads(cli("status", "-f", scale_file(), "--output", "json").stdout)["targets"]["prod"]
    assert doc["active"] == 2
    assert doc["traffic"] == {"2": 100}
    assert doc["url"] == "https://fraud-prod.eastus.inference.ml.azure.com/score"
    deps = {d["name"]: d for d in doc["details"]["deployments"]}
    assert deps["rev-1"]["traffic"] == 0 and deps["rev-2"]["instance_count"] == 1
    assert doc["details"]["autoscale"]["rev-2"] == {
        "name": "fraud-prod-rev-2-autoscale",
        "min": 1,
        "max": 4,
        "default": 1,
        "metric": "CpuUtilizationPercentage",
        "enabled": True,
    }


def test_an_endpoint_scalectl_did_not_create_is_left_alone(sim, scale_file, cli) -> None:
    from tests.azure.simulator import Resource

    sim.endpoints[EP] = Resource({"location": "eastus", "tags": {}, "properties": {"authMode": "Key", "traffic": {}}})
    result = deploy(cli, scale_file())
    assert result.exit_code == 1
    assert "was not created by scalectl" in result.output
    assert cli("destroy", "-f", scale_file(), "--yes").exit_code == 1
    assert EP in sim.endpoints


def test_json_output_is_one_document_on_stdout(sim, scale_file, cli) -> None:
    ok = deploy(cli, scale_file(image="acr.example.io/fraud:1"), "--output", "json")
    assert ok.exit_code == 0
    doc = json.loads(ok.stdout)
    assert doc["ok"] is True
    assert doc["targets"]["prod"]["revision"]["number"] == 1

    sim.failing_images.add("acr.example.io/fraud:broken")
    failed = deploy(cli, scale_file(image="acr.example.io/fraud:broken"), "--output", "json")
    assert failed.exit_code == 1
    doc = json.loads(failed.stdout)
    assert doc["ok"] is False
    assert "still serves 100% of traffic" in doc["error"]


def test_plan_exit_codes(sim, scale_file, cli) -> None:
    path = scale_file()
    planned = cli("plan", "-f", path, "--detailed-exitcode", "--output", "json")
    assert planned.exit_code == 3
    actions = [(c["action"], c["resource"]) for c in json.loads(planned.stdout)["targets"]["prod"]["changes"]]
    assert ("create", "endpoint fraud-prod") in actions
    assert not sim.writes()  # plan changes nothing

    assert deploy(cli, path).exit_code == 0
    assert cli("plan", "-f", path, "--detailed-exitcode").exit_code == 0


def test_without_auto_rollback_the_split_is_left_and_said(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0
    sim.crash_after_traffic.add("acr.example.io/fraud:flaky")
    path = scale_file(image="acr.example.io/fraud:flaky", bake="2s")
    path.write_text(path.read_text().replace("timeout: 60}", "timeout: 60, auto_rollback: false}"))
    result = deploy(cli, path)
    assert result.exit_code == 1
    assert "auto_rollback is off, so traffic is left as is (rev-2 20%, rev-1 80%)" in result.output
    assert sim.traffic(EP) == {"rev-2": 20, "rev-1": 80}


def test_no_azure_credentials_is_a_clear_error(sim, scale_file, cli) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from scalectl.providers.azure.provider import AzureProvider

    from scalectl import registry

    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    registry.register("azure", lambda: AzureProvider(credential=NoCredential()))  # type: ignore[arg-type]
    result = deploy(cli, scale_file())
    assert result.exit_code == 1
    assert "Azure authentication failed while trying to read endpoint fraud-prod" in result.output
    assert "az login" in result.output
    assert not sim.calls  # nothing was sent without a token


def test_a_refused_deployment_leaves_the_old_one_serving(sim, scale_file, cli) -> None:
    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0
    sim.quota["Standard_NC4as_T4_v3"] = 1  # rev-1 uses it all
    result = deploy(cli, scale_file(image="acr.example.io/fraud:2"))
    assert result.exit_code == 1
    assert "Azure refused to create deployment rev-2: BadArgument: Not enough quota available" in result.output
    assert "revision 1 (rev-1) still serves 100% of traffic" in result.output
    assert sim.traffic(EP) == {"rev-1": 100}


def test_an_interrupted_rollout_puts_the_old_revision_back(sim, scale_file, cli, monkeypatch) -> None:
    from scalectl.providers.azure.api import Arm

    assert deploy(cli, scale_file(image="acr.example.io/fraud:1")).exit_code == 0

    def interrupted(self, name, body):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(Arm, "put_autoscale", interrupted)  # Ctrl-C while the new deployment is up
    result = deploy(cli, scale_file(image="acr.example.io/fraud:2"))
    assert result.exit_code == 130  # interrupted, after rolling back (README: exit codes)
    assert "revision 2 failed: interrupted. Rolled back: revision 1 (rev-1) still serves 100%" in result.output
    assert sim.traffic(EP) == {"rev-1": 100}
    assert sim.wait_deleted(EP, "rev-2")
