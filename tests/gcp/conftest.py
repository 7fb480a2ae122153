"""Fixtures: a running Vertex AI simulator the real SDK talks to, and a fresh gcp provider per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scalectl.providers.gcp.provider import GcpProvider

from scalectl.registry import get_provider, register, unregister

from .simulator import VertexSim


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
