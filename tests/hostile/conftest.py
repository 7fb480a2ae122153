"""The hostile-input tests use the Docker tests' real engine and cleanup fixtures."""

from tests.docker.conftest import cleanup, engine  # noqa: F401  (fixtures, re-exported for this folder)
