"""Fixtures for the live-figures and latency-gate tests: the real Docker engine and the faulty model image."""

from __future__ import annotations

from typing import Any

import pytest

from tests.docker.conftest import cleanup, engine, load  # noqa: F401  (pytest fixtures, shared)
from tests.metrics.client import build_faulty_image


@pytest.fixture(scope="session")
def faulty_image(engine: Any) -> str:  # noqa: F811  (the shared engine fixture)
    return build_faulty_image(engine)
