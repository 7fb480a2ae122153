"""Fixtures: moto (Application Auto Scaling, CloudWatch, STS) and the SageMaker simulator on
127.0.0.1, wired in through the standard AWS environment variables only, and a CLI runner."""

from __future__ import annotations

import json
import logging
import math
import re
import textwrap
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from typer.testing import CliRunner
from werkzeug.serving import make_server

from scalectl.cli import app

from .simulator import SageMakerSimulator

REGION = "us-east-1"


def _with_percentiles() -> None:
    """moto's GetMetricData computes Sum/Average/Minimum/Maximum/SampleCount only; CloudWatch also
    answers extended statistics (p50, p99.9, ...). Add them, nearest rank over the raw values a test
    put with put_metric_data (Values/Counts), so the percentile queries scalectl sends are answered."""
    from moto.cloudwatch.models import Statistics

    plain = Statistics.get_statistics_for_type

    def get_statistics_for_type(self: Statistics, stat: str) -> Any:
        match = re.fullmatch(r"p(\d+(?:\.\d+)?)", stat)
        if not match:
            return plain(self, stat)
        values = sorted(self.metric_single_values_list)
        if not values:
            return None
        rank = math.ceil(float(match.group(1)) / 100 * len(values))
        return values[min(max(rank, 1), len(values)) - 1]

    Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]


_with_percentiles()
logging.getLogger("werkzeug").setLevel(logging.ERROR)
ROLE = "arn:aws:iam::123456789012:role/sagemaker-exec"


class CountingMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer that also counts requests by X-Amz-Target (for the benchmark)."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.calls: Counter[str] = Counter()

    def _server_entry(self) -> None:
        inner = DomainDispatcherApplication(create_backend_app)

        def counting(environ: dict[str, Any], start_response: Any) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET")
            if target:
                self.calls[target.split(".")[-1]] += 1
            return inner(environ, start_response)

        self._server = make_server(self._ip_address, self._port, counting, True)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")).read()
        self.calls.clear()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[CountingMotoServer]:
    server = CountingMotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_server: CountingMotoServer, tmp_path: Path) -> None:
    """Only standard AWS settings: fake keys, no config files, endpoints from AWS_ENDPOINT_URL*."""
    moto_server.reset()
    for key in list(__import__("os").environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("SCALECTL_ACTOR", "ci-runner-1")


@pytest.fixture
def sim(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, moto_server: CountingMotoServer
) -> Iterator[SageMakerSimulator]:
    """A fresh SageMaker that reads alarm states from, and checks autoscaling in, moto."""
    simulator = SageMakerSimulator(region=REGION).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", simulator.url)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_server.url)
    autoscaling = boto3.client("application-autoscaling", region_name=REGION, endpoint_url=moto_server.url)

    def firing(names: list[str]) -> list[str]:
        alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        return [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]

    def registered(resource_id: str) -> bool:
        found = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])
        return bool(found["ScalableTargets"])

    simulator.alarm_source = firing
    simulator.autoscaled = registered
    yield simulator
    simulator.stop()
    assert simulator.errors == [], "the simulator itself failed"


@dataclass
class Project:
    """A scale.yaml in a temp folder, its state dir, and a way to run the CLI on it."""

    dir: Path
    state_dir: Path
    runner: CliRunner

    @property
    def file(self) -> Path:
        return self.dir / "scale.yaml"

    def write(
        self,
        image: str = "acme/fraud:1",
        instance: str = "ml.g5.xlarge",
        rollout: str = "{strategy: all_at_once, bake: 0}",
        autoscaling: str = "{min: 1, max: 4, target: 5}",
        extra: str = "",
    ) -> None:
        self.file.write_text(
            textwrap.dedent(
                f"""\
                version: 1
                name: fraud
                model:
                  image: {image}
                targets:
                  prod:
                    provider: aws
                    region: {REGION}
                    instance: {instance}
                    execution_role: {ROLE}
                    autoscaling: {autoscaling}
                    rollout: {rollout}
                """
            )
            + textwrap.indent(textwrap.dedent(extra), " " * 4)
        )

    def run(self, *args: str, state_dir: Path | None = None) -> Any:
        cmd = [*args, "--file", str(self.file)]
        if args[0] not in ("validate", "render"):
            cmd += ["--state-dir", str(state_dir or self.state_dir)]
        return self.runner.invoke(app, cmd)

    def json(self, *args: str, state_dir: Path | None = None) -> tuple[int, dict[str, Any]]:
        result = self.run(*args, "--output", "json", state_dir=state_dir)
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(dir=tmp_path, state_dir=tmp_path / "state", runner=CliRunner())
    p.write()
    return p


@pytest.fixture
def autoscaling(moto_server: CountingMotoServer) -> Any:
    return boto3.client("application-autoscaling", region_name=REGION, endpoint_url=moto_server.url)


@pytest.fixture
def cloudwatch(moto_server: CountingMotoServer) -> Any:
    return boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_server.url)


@pytest.fixture
def sagemaker(sim: SageMakerSimulator) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=sim.url)
