"""Fixtures: a running Vertex AI simulator the real SDK talks to, and scale files to deploy."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from scalectl.providers.gcp import GcpProvider

from scalectl.provider import get_provider, register, unregister
from tests.gcp.vertex_sim import VertexSim

SCALE = """\
version: 1
name: fraud
model:
  image: {image}
  artifact: gs://acme-models/fraud/v1
  port: 8080
  health: /ping
  predict: /invocations
  env: {{LOG_LEVEL: info}}
targets:
  prod:
    provider: gcp
    project: acme
    region: us-central1
    machine: {machine}
    spot: {spot}
    undeploy_grace: {grace}
    autoscaling: {{min: 1, max: 3, metric: {metric}, target: 60}}
    rollout: {{strategy: {strategy}, percent: {percent}, bake: {bake}, timeout: {timeout}}}
{extra}"""


def write_scale(
    folder: Path,
    *,
    image: str = "us-docker.pkg.dev/acme/serving/fraud:v1",
    machine: str = "g2-standard-8",
    spot: bool = False,
    strategy: str = "all_at_once",
    percent: int = 25,
    bake: str = "0s",
    grace: str = "0s",
    metric: str = "cpu",
    timeout: str = "60s",
    extra: str = "",
) -> Path:
    path = folder / "scale.yaml"
    path.write_text(
        SCALE.format(
            image=image,
            machine=machine,
            spot=str(spot).lower(),
            strategy=strategy,
            percent=percent,
            bake=bake,
            grace=grace,
            metric=metric,
            timeout=timeout,
            extra=textwrap.indent(extra, "    ") if extra else "",
        )
    )
    return path


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[VertexSim]:
    """A fresh simulator; SCALECTL_GCP_API_ENDPOINT points scalectl at it."""
    server = VertexSim()
    url = server.start()
    monkeypatch.setenv("SCALECTL_GCP_API_ENDPOINT", url)
    monkeypatch.setenv("SCALECTL_GCP_MONITORING_ENDPOINT", url)
    yield server
    server.stop()


@pytest.fixture
def gcp() -> Iterator[GcpProvider]:
    """A fresh provider instance registered for `provider: gcp` (so call counts are per test)."""
    provider = GcpProvider()
    register("gcp", lambda: provider)
    assert get_provider("gcp") is provider
    yield provider
    unregister("gcp")
