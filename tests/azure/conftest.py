"""Fixtures: an ARM simulator on 127.0.0.1, the azure provider pointed at it, and a scale.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scalectl import registry
from tests.azure.helpers import SCALE, FakeCredential
from tests.azure.simulator import ArmSimulator


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmSimulator]:
    simulator = ArmSimulator()
    url = simulator.start()
    monkeypatch.setenv("SCALECTL_AZURE_ARM_ENDPOINT", url)

    from scalectl.providers.azure.provider import AzureProvider as Provider

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


def pytest_configure(config: pytest.Config) -> None:
    # azure-ai-ml's schemas warn about marshmallow 4 on import; not ours to fix
    config.addinivalue_line("filterwarnings", "ignore::Warning:azure")
    config.addinivalue_line("filterwarnings", "ignore::Warning:marshmallow")
