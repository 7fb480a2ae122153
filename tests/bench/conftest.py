"""The Docker fixtures (engine with the test images, cleanup) for the end-to-end bench."""

from tests.docker.conftest import cleanup, engine

__all__ = ["cleanup", "engine"]
