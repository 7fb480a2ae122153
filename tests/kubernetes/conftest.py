"""Fixtures: a Kubernetes API simulator on 127.0.0.1 named by a kubeconfig, and a scale.yaml writer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scalectl import registry
from tests.kubernetes.simulator import KubeSim

SCALE = """\
version: 1
name: {app}
model:
  image: {image}
  port: 8080
  health: /ping
targets:
  prod:
    provider: kubernetes
    context: sim
    namespace: ml
    autoscaling: {{min: {min}, max: 3, metric: cpu, target: 60}}
    rollout: {rollout}
{extra}"""


@pytest.fixture
def sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeSim]:
    """A fresh simulator (fast: pods ready in 50 ms, a broken rollout stalls at 200 ms); KUBECONFIG names it."""
    simulator = KubeSim(ready_seconds=0.05, fail_seconds=0.2)
    simulator.start()
    monkeypatch.setenv("KUBECONFIG", str(simulator.kubeconfig(tmp_path / "kubeconfig", context="sim")))
    from scalectl.providers.kubernetes.provider import KubernetesProvider

    provider = KubernetesProvider()
    registry.register("kubernetes", lambda: provider)
    try:
        yield simulator
    finally:
        registry.unregister("kubernetes")
        simulator.stop()
    assert simulator.errors == [], "the Kubernetes simulator itself failed"


ScaleWriter = Callable[..., Path]


@pytest.fixture
def scale_file(tmp_path: Path) -> ScaleWriter:
    def write(
        image: str = "acme/scorer:1",
        rollout: str = "{strategy: all_at_once, bake: 0s}",
        extra: str = "",
        app: str = "fraud",
        min: int = 1,
    ) -> Path:
        path = tmp_path / "scale.yaml"
        path.write_text(SCALE.format(app=app, image=image, rollout=rollout, extra=extra, min=min))
        return path

    return write
