"""Fixtures for the Docker target: a real engine with the locally built images, a load generator.

`bash .ci/setup-docker.sh` starts the engine and builds the images. Without an engine these
tests skip on a workstation but fail under CI=true: a CI run must not pass by testing nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.docker.helpers import NEEDED, Load, remove_target


def _unavailable(reason: str) -> None:
    message = f"{reason}; run `bash .ci/setup-docker.sh` first"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the Docker tests cannot run: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def engine() -> Any:
    """A client for the real engine, with the test images present."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ModuleNotFoundError:
        _unavailable("the docker SDK is not installed")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except DockerException as exc:
        _unavailable(f"no Docker engine reachable ({exc})")
    missing = []
    for image in NEEDED:
        try:
            client.images.get(image)
        except ImageNotFound:
            missing.append(image)
    if missing:
        _unavailable(f"images missing on the engine: {', '.join(missing)}")
    return client


@pytest.fixture
def load() -> type[Load]:
    return Load


@pytest.fixture
def cleanup(engine: Any) -> Iterator[list[str]]:
    """Apps listed here are removed from the engine after the test, whatever happened."""
    apps: list[str] = []
    yield apps
    for app in apps:
        remove_target(engine, app)
