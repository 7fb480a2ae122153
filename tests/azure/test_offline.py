"""What `validate` and `render` say about an azure target, with no network and no Azure SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def validate(cli, path: Path):  # type: ignore[no-untyped-def]
    return cli("validate", "-f", path, "--output", "json")


def errors(result) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [d for d in json.loads(result.stdout)["diagnostics"] if d["severity"] == "error"]


def test_the_example_validates(cli) -> None:
    result = cli("validate", "-f", ROOT / "examples" / "azure" / "scale.yaml")
    assert result.exit_code == 0, result.output


def test_spot_is_refused_with_the_reason(scale_file, cli) -> None:
    result = validate(cli, scale_file(extra="    spot: true\n"))
    assert result.exit_code == 2
    (err,) = errors(result)
    assert err["field"] == "targets.prod.spot"
    assert "no spot or low-priority capacity" in err["message"]
    assert err["line"] == 21


def test_unknown_instance_type_suggests_the_close_ones(scale_file, cli) -> None:
    path = scale_file()
    path.write_text(path.read_text().replace("Standard_NC4as_T4_v3", "Standard_NC4as_T4"))
    (err,) = errors(validate(cli, path))
    assert err["field"] == "targets.prod.instance"
    assert "did you mean `Standard_NC4as_T4_v3`" in err["message"]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ("metric: cpu, target: 70", "targets.prod.autoscaling.metric", "use `metric: gpu` (GpuUtilizationPercentage)"),
        ("min: 1, max: 4", "targets.prod.autoscaling.min", "cannot scale to zero"),
        ("scale_out_cooldown: 1m", "targets.prod.autoscaling.scale_out_cooldown", "at least 1 minute"),
        ("azureml:fraud-model:3", "model.artifact", "target prod (azure): Azure ML cannot load"),
    ],
)
def test_what_azure_cannot_do_is_an_error_that_says_what_to_use(scale_file, cli, change, field, says) -> None:
    replacement = {
        "metric: cpu, target: 70": "metric: accelerator_duty_cycle, target: 70",
        "min: 1, max: 4": "min: 0, max: 4",
        "scale_out_cooldown: 1m": "scale_out_cooldown: 30s",
        "azureml:fraud-model:3": "s3://models/fraud.tar.gz",
    }[change]
    path = scale_file()
    path.write_text(path.read_text().replace(change, replacement))
    result = validate(cli, path)
    assert result.exit_code == 2
    (err,) = errors(result)
    assert err["field"] == field
    assert says in err["message"]


def test_gpu_metric_needs_a_gpu_instance(scale_file, cli) -> None:
    path = scale_file()
    text = path.read_text().replace("metric: cpu", "metric: gpu").replace("Standard_NC4as_T4_v3", "Standard_DS3_v2")
    path.write_text(text)
    (err,) = errors(validate(cli, path))
    assert "`Standard_DS3_v2` has none" in err["message"]


def test_long_default_endpoint_name_asks_for_endpoint_name(tmp_path: Path, scale_file, cli) -> None:
    path = scale_file()
    path.write_text(path.read_text().replace("name: fraud", "name: fraud-detector-for-card-payments"))
    (err,) = errors(validate(cli, path))
    assert err["field"] == "targets.prod"
    assert "set a shorter `endpoint_name`" in err["message"]


def test_render_shows_every_body_and_the_rbac_role(scale_file, cli) -> None:
    result = cli("render", "-f", scale_file(), "--output", "json")
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["targets"]["prod"]
    assert sorted(files) == ["autoscale.json", "deployment.json", "endpoint.json", "environment.json", "rbac-role.json"]
    endpoint = json.loads(files["endpoint.json"])
    assert endpoint["properties"]["authMode"] == "Key"
    assert endpoint["properties"]["traffic"] == {"rev-{revision}": 100}
    role = json.loads(files["rbac-role.json"])
    assert "Microsoft.Insights/autoscalesettings/write" in role["Actions"]
    assert role["AssignableScopes"] == ["/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/ml"]


def test_fixed_capacity_needs_no_autoscale_setting(scale_file, cli) -> None:
    path = scale_file()
    path.write_text(path.read_text().replace("min: 1, max: 4", "min: 2, max: 2"))
    files = json.loads(cli("render", "-f", path, "--output", "json").stdout)["targets"]["prod"]
    assert "autoscale.json" not in files
    assert json.loads(files["deployment.json"])["sku"]["capacity"] == 2


def test_key_vault_secrets_are_injected_by_reference(scale_file, cli) -> None:
    path = scale_file()
    path.write_text(
        path.read_text().replace("env: {LOG_LEVEL: info}", "secrets: {API_TOKEN: azure-kv://fraud-kv/token}")
    )
    result = cli("render", "-f", path, "--output", "json")
    files = json.loads(result.stdout)["targets"]["prod"]
    env = json.loads(files["deployment.json"])["properties"]["environmentVariables"]
    assert env == {"API_TOKEN": "${{keyvault:https://fraud-kv.vault.azure.net/secrets/token}}"}


def test_a_multi_cloud_model_gets_azure_overrides(scale_file, cli) -> None:
    """s3:// artifacts and AWS secrets cannot be read by Azure ML: the target names its own."""
    path = scale_file()
    text = path.read_text().replace("azureml:fraud-model:3", "s3://models/fraud.tar.gz")
    text = text.replace("env: {LOG_LEVEL: info}", "secrets: {API_TOKEN: aws-sm://prod/fraud/token}")
    path.write_text(text)
    found = errors(validate(cli, path))
    assert [e["field"] for e in found] == ["model.artifact", "model.secrets.API_TOKEN"]
    assert "give this target `model: {artifact: azureml:<name>:<version>}`" in found[0]["message"]
    assert "`model: {secrets: {API_TOKEN: azure-kv://<vault>/<secret>}}`" in found[1]["message"]

    path.write_text(
        text + "    model:\n"
        "      artifact: azureml:fraud-model:3\n"
        "      secrets: {API_TOKEN: azure-kv://fraud-kv/token}\n"
    )
    assert validate(cli, path).exit_code == 0
    files = json.loads(cli("render", "-f", path, "--output", "json").stdout)["targets"]["prod"]
    props = json.loads(files["deployment.json"])["properties"]
    assert props["model"].endswith("/models/fraud-model/versions/3")
    assert props["environmentVariables"]["API_TOKEN"].startswith("${{keyvault:https://fraud-kv.vault.azure.net")
    assert "aws-sm" not in json.dumps(files)


def test_validate_and_render_do_not_import_the_azure_sdk(scale_file) -> None:
    path = scale_file()
    code = f"""
import sys
from typer.testing import CliRunner
from scalectl.cli import app
for args in (["validate", "-f", {str(path)!r}], ["render", "-f", {str(path)!r}]):
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
loaded = sorted(m for m in sys.modules if m.startswith(("azure", "msrest")))
print(",".join(loaded))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert "scalectl.providers.azure" not in out.stdout
    assert out.stdout.strip() == ""


def test_the_deployment_body_is_what_azure_ai_ml_would_send() -> None:
    """azure-ai-ml's own entity, serialised by azure-ai-ml, against the body scalectl renders."""
    from azure.ai.ml.entities import ManagedOnlineDeployment, OnlineRequestSettings, ProbeSettings
    from scalectl.providers.azure.requests import PLACEHOLDER, Bodies

    from scalectl.checks import load_checked
    from scalectl.engine import release_for

    config = load_checked(ROOT / "examples" / "azure" / "scale.yaml")
    body = Bodies(release_for(config, "prod"), PLACEHOLDER).deployment_body()
    props = body["properties"]
    probe = ProbeSettings(initial_delay=30, period=10, timeout=2, success_threshold=1, failure_threshold=30)
    entity = ManagedOnlineDeployment(
        name="rev-N",
        endpoint_name="fraud-prod",
        model=props["model"],
        environment=props["environmentId"],
        instance_type=props["instanceType"],
        instance_count=body["sku"]["capacity"],
        environment_variables=props["environmentVariables"],
        request_settings=OnlineRequestSettings(request_timeout_ms=10000, max_concurrent_requests_per_instance=2),
        liveness_probe=probe,
        readiness_probe=probe,
        tags=body["tags"],
    )
    expected = entity._to_rest_object(location=body["location"]).as_dict()
    for key, value in expected["properties"].items():
        if key != "properties":
            assert props[key] == value, key
    assert body["sku"] == expected["sku"]
    assert body["tags"] == expected["tags"]


def _example_bodies():  # type: ignore[no-untyped-def]
    from scalectl.providers.azure.requests import PLACEHOLDER, Bodies

    from scalectl.checks import load_checked
    from scalectl.engine import release_for

    return Bodies(release_for(load_checked(ROOT / "examples" / "azure" / "scale.yaml"), "prod"), PLACEHOLDER)


def test_the_endpoint_body_is_what_azure_ai_ml_would_send() -> None:
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    b = _example_bodies()
    body = b.endpoint_body({"rev-1": 90, "rev-N": 10}, {}, {})
    entity = ManagedOnlineEndpoint(
        name=b.endpoint,
        auth_mode="key",
        traffic={"rev-1": 90, "rev-N": 10},
        mirror_traffic={},
        description=body["properties"]["description"],
        tags=body["tags"],
        public_network_access="Enabled",
    )
    expected = entity._to_rest_online_endpoint(location="eastus").as_dict()
    expected["properties"].pop("properties", None)
    assert body == expected


def test_the_environment_body_is_what_azure_ai_ml_would_send() -> None:
    from azure.ai.ml.entities import Environment

    b = _example_bodies()
    body = b.environment_body()
    props = body["properties"]
    routes = {"path": "/ping", "port": 8080}
    entity = Environment(
        name=b.environment,
        version="{revision}",
        image=props["image"],
        inference_config={
            "liveness_route": routes,
            "readiness_route": routes,
            "scoring_route": {"path": "/invocations", "port": 8080},
        },
        description=props["description"],
        tags=props["tags"],
        properties=props["properties"],
    )
    expected = entity._to_rest_object().as_dict()["properties"]
    for key, value in expected.items():
        if key not in ("isAnonymous", "isArchived"):
            assert props[key] == value, key
    assert props["osType"] == "Linux"


def test_the_autoscale_body_round_trips_through_azure_mgmt_monitor() -> None:
    """Every key scalectl sends is one the Monitor SDK's AutoscaleSettingResource model knows."""
    from azure.mgmt.monitor.models import AutoscaleSettingResource

    body = _example_bodies().autoscale_body()
    assert body is not None
    assert AutoscaleSettingResource.deserialize(body).serialize() == body


def test_a_small_instance_type_is_a_warning(scale_file, cli) -> None:
    path = scale_file()
    path.write_text(path.read_text().replace("Standard_NC4as_T4_v3", "Standard_DS2_v2"))
    result = validate(cli, path)
    assert result.exit_code == 0
    (warning,) = json.loads(result.stdout)["diagnostics"]
    assert warning["severity"] == "warning"
    assert "Standard_DS3_v2 is the smallest recommended" in warning["message"]


def test_tags_azure_refuses_are_found_offline(scale_file, cli) -> None:
    (err,) = errors(validate(cli, scale_file(extra="    tags: {cost/center: ml}\n")))
    assert err["field"] == "targets.prod.tags.cost/center"
    assert "cannot contain" in err["message"]


def test_a_finding_about_a_target_override_points_at_the_override(scale_file, cli) -> None:
    path = scale_file()
    path.write_text(path.read_text() + "    model:\n      secrets: {API_TOKEN: aws-sm://prod/fraud/token}\n")
    found = errors(validate(cli, path))
    assert [e["field"] for e in found] == ["targets.prod.model.secrets.API_TOKEN"]
    assert found[0]["line"] == len(path.read_text().splitlines())


# Managed online endpoint limits, each refused offline with its place (file:line:col) and the bound:
# OnlineRequestSettings.request_timeout_ms at most 180000 ms; mirror traffic at most 50% ("Safe rollout for
# online endpoints": mirror up to 50%, to one deployment); ProbeSettings.initial_delay at least 1 s.
@pytest.mark.parametrize(
    ("extra", "field", "position", "says"),
    [
        ("    request_timeout: 5m\n", "targets.prod.request_timeout", (21, 22), "less than or equal to 180"),
        ("    request_timeout: 0\n", "targets.prod.request_timeout", (21, 22), "greater than or equal to 1"),
        ("    mirror: 60\n", "targets.prod.mirror", (21, 13), "less than or equal to 50"),
        ("    startup_delay: 0\n", "targets.prod.startup_delay", (21, 20), "ProbeSettings initialDelay >= 1s"),
        ("    startup_delay: 2h\n", "targets.prod.startup_delay", (21, 20), "less than or equal to 3600"),
        ("    max_concurrent_requests: 5000\n", "targets.prod.max_concurrent_requests", (21, 30), "less than or equal"),
    ],
)
def test_request_probe_and_mirror_limits(scale_file, cli, extra, field, position, says) -> None:
    result = validate(cli, scale_file(extra=extra))
    assert result.exit_code == 2
    (err,) = errors(result)
    assert (err["field"], (err["line"], err["column"])) == (field, position)
    assert says in err["message"]


def test_a_mirror_without_a_bake_mirrors_nothing_and_says_so(scale_file, cli) -> None:
    result = validate(cli, scale_file(bake="0s", extra="    mirror: 10\n"))
    assert result.exit_code == 0
    (warning,) = [d for d in json.loads(result.stdout)["diagnostics"] if d["field"] == "targets.prod.mirror"]
    assert warning["severity"] == "warning" and "nothing would be mirrored" in warning["message"]
    result = validate(cli, scale_file(bake="2m", extra="    mirror: 10\n"))
    assert result.exit_code == 0 and not json.loads(result.stdout)["diagnostics"]
