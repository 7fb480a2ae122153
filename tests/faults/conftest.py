"""Fixtures for the fault-injection suite: the real Docker engine (skipped without one, failed under CI=true)."""

from tests.docker.conftest import cleanup, engine, load  # noqa: F401  (pytest fixtures, shared)
from tests.gcp.conftest import gcp, sim  # noqa: F401  (the Vertex AI simulator, for the cloud interruption tests)
