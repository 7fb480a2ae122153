"""Fixtures: an ARM simulator on 127.0.0.1, the azure provider pointed at it, and a scale.yaml."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure_arm_sim import ArmSimulator

from scalectl import provider as registry

SCALE = """\
version: 1
name: fraud
model:
  image: {image}
  artifact: azureml:fraud-model:3
  port: 8080
  health: /ping
  predict: /invocations
  env: {{LOG_LEVEL: info}}
targets:
  prod:
    provider: azure
    subscription: 00000000-0000-0000-0000-000000000001
    resource_group: ml
    workspace: prod
    region: eastus
    instance: Standard_NC4as_T4_v3
    keep_revisions: {keep}
    autoscaling: {{min: 1, max: 4, metric: cpu, target: 70, scale_in_cooldown: 5m, scale_out_cooldown: 1m}}
    rollout: {{strategy: {strategy}, percent: 20, bake: {bake}, timeout: 60}}
{extra}"""


class FakeCredential:
    """A TokenCredential test double: ARM only needs a bearer token on every request."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("sim-token", int(time.time()) + 3600)


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmSimulator]:
    simulator = ArmSimulator()
    url = simulator.start()
    monkeypatch.setenv("SCALECTL_AZURE_ARM_ENDPOINT", url)

    from scalectl.providers.azure import AzureProvider as Provider

    registry.register("azure", lambda: Provider(credential=FakeCredential()))
    try:
        yield simulator
    finally:
        registry.unregister("azure")
        simulator.stop()


@pytest.fixture
def scale_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write scale.yaml with the given image/strategy; returns its path."""

    def write(
        image: str = "acr.example.io/fraud:1",
        strategy: str = "canary",
        bake: str = "0s",
        keep: int = 2,
        extra: str = "",
    ) -> Path:
        path = tmp_path / "scale.yaml"
        path.write_text(SCALE.format(image=image, strategy=strategy, bake=bake, keep=keep, extra=extra))
        return path

    return write


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    """Run `scalectl ARGS...` in-process; returns click's Result (exit_code, stdout, output)."""
    from typer.testing import CliRunner

    from scalectl.cli import app

    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args])

    return run


def pytest_configure(config: pytest.Config) -> None:
    # azure-ai-ml's schemas warn about marshmallow 4 on import; not ours to fix
    config.addinivalue_line("filterwarnings", "ignore::Warning:azure")
    config.addinivalue_line("filterwarnings", "ignore::Warning:marshmallow")
