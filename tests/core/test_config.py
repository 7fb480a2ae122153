"""scale.yaml as users write it: defaults, overrides, ${VAR}s, schema."""

from __future__ import annotations

import json

import pytest

from scalectl.config import json_schema, load_config
from scalectl.errors import ConfigError
from scalectl.schema import parse_duration

FULL = """\
version: 1
name: fraud-detector
model:
  image: registry.example.com/fraud:${GIT_SHA}
  artifact: s3://models/fraud/model.tar.gz
  env: {LOG_LEVEL: info, WORKERS: 4, DEBUG: false}
  secrets: {API_TOKEN: aws-sm://prod/fraud/token}
defaults:
  autoscaling: {min: 1, max: 4, metric: requests_per_replica, target: 50}
  rollout: {strategy: canary, percent: 10, bake: 5m, auto_rollback: true}
targets:
  prod-aws: {provider: aws, region: us-east-1, instance: ml.inf2.xlarge}
  prod-gcp:
    provider: gcp
    project: acme
    region: us-central1
    machine: ct5lp-hightpu-1t
    spot: true
    autoscaling: {max: 8}
    rollout: {strategy: linear, bake: 90s}
  local: {provider: docker, gpus: all, replicas: 2, port: 8000}
traffic: {peak_rps: 400, offpeak_rps: 40, peak_hours_per_day: 10, replica_rps: 60}
"""


def test_defaults_are_inherited_and_a_target_overrides_them(scale_file) -> None:
    config = load_config(scale_file(FULL), env={"GIT_SHA": "abc123"})
    aws, gcp = config.spec.targets["prod-aws"], config.spec.targets["prod-gcp"]
    assert (aws.autoscaling.min, aws.autoscaling.max) == (1, 4)
    assert (aws.rollout.strategy, aws.rollout.bake) == ("canary", 300)
    assert (gcp.autoscaling.min, gcp.autoscaling.max) == (1, 8)  # min from defaults, max its own
    assert (gcp.rollout.strategy, gcp.rollout.percent, gcp.rollout.bake) == ("linear", 10, 90)
    assert config.spec.model.image == "registry.example.com/fraud:abc123"
    assert config.spec.model.env == {"LOG_LEVEL": "info", "WORKERS": "4", "DEBUG": "false"}


def test_an_unset_variable_is_an_error_that_names_it(scale_file) -> None:
    path = scale_file(FULL)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    (d,) = err.value.diagnostics
    assert "GIT_SHA is not set" in d.message
    assert (d.line, d.column, d.field) == (4, 10, "model.image")


def test_variable_defaults_and_escapes(scale_file) -> None:
    text = FULL.replace("${GIT_SHA}", "${GIT_SHA:-latest}").replace("LOG_LEVEL: info", "LOG_LEVEL: '$${not_a_var}'")
    config = load_config(scale_file(text), env={})
    assert config.spec.model.image.endswith(":latest")
    assert config.spec.model.env["LOG_LEVEL"] == "${not_a_var}"


def test_an_error_in_inherited_defaults_points_at_the_defaults_line(scale_file) -> None:
    text = FULL.replace("{min: 1, max: 4,", "{min: 9, max: 4,")
    with pytest.raises(ConfigError) as err:
        load_config(scale_file(text), env={"GIT_SHA": "x"})
    lines = {(d.line, d.message) for d in err.value.diagnostics}
    assert (9, "min (9) is greater than max (4)") in lines
    assert len(err.value.diagnostics) == 2  # prod-aws and local inherit it; prod-gcp overrides max


@pytest.mark.parametrize(("text", "seconds"), [(30, 30), ("45s", 45), ("5m", 300), ("1h30m", 5400), ("120", 120)])
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_digest_changes_with_what_the_target_runs(scale_file) -> None:
    from scalectl.config import digest

    a = load_config(scale_file(FULL), env={"GIT_SHA": "a"}).spec
    b = load_config(scale_file(FULL), env={"GIT_SHA": "b"}).spec
    assert digest(a, "local") != digest(b, "local")
    assert digest(a, "local") == digest(a, "local")


def test_json_schema_is_strict_and_describes_every_provider() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    text = json.dumps(schema)
    for kind in ("DockerTarget", "AwsTarget", "GcpTarget", "AzureTarget"):
        assert kind in text


def test_the_committed_schema_file_is_current() -> None:
    """Editors point at scale.schema.json; regenerate with `scalectl schema -o scale.schema.json`."""
    from pathlib import Path

    committed = json.loads((Path(__file__).parents[2] / "scale.schema.json").read_text())
    assert committed == json_schema()


def test_a_target_overrides_model_artifact_secrets_and_env(scale_file) -> None:
    from scalectl.config import effective_model

    text = FULL.replace(
        "  prod-aws: {provider: aws, region: us-east-1, instance: ml.inf2.xlarge}",
        "  prod-aws: {provider: aws, region: us-east-1, instance: ml.inf2.xlarge,\n"
        "             model: {artifact: s3://other/model.tar.gz, env: {LOG_LEVEL: debug},\n"
        "                     secrets: {DB_URL: aws-ssm://prod/db}}}",
    )
    spec = load_config(scale_file(text), env={"GIT_SHA": "a"}).spec
    aws = effective_model(spec, "prod-aws")
    assert aws.artifact == "s3://other/model.tar.gz"
    assert aws.env["LOG_LEVEL"] == "debug" and aws.env["WORKERS"] == "4"
    assert aws.secrets == {"API_TOKEN": "aws-sm://prod/fraud/token", "DB_URL": "aws-ssm://prod/db"}
    assert effective_model(spec, "local") == spec.model
