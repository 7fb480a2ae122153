"""Shared fixtures: write a scale file, run the CLI, swap in the in-memory provider."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalectl import registry
from scalectl.cli import app
from tests.memory_provider import MemoryProvider

MINIMAL = """\
version: 1
name: fraud
model:
  image: registry.example.com/fraud:${GIT_SHA:-v1}
targets:
  local:
    provider: docker
    replicas: 2
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("SCALECTL_") or var in ("GITHUB_ACTIONS", "NO_COLOR", "LINES"):
            monkeypatch.delenv(var, raising=False)
    # output off a terminal is 160 columns unless $COLUMNS says otherwise; pytest-xdist workers set
    # COLUMNS=80, so pin what a CI log gets (tests of narrow output set their own COLUMNS)
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture
def scale_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write `text` as tmp/scale.yaml and return its path."""

    def write(text: str, name: str = "scale.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: object, env: dict[str, str] | None = None, input: str | None = None):  # type: ignore[no-untyped-def]
        """Run `scalectl ARGS...` in-process; returns click's Result (exit_code, stdout, stderr)."""
        return self.runner.invoke(app, [str(a) for a in args], env=env, input=input, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[MemoryProvider]:
    """The in-memory provider standing in for `provider: docker`, its platform in one JSON file."""
    instance = MemoryProvider(tmp_path / "platform.json")
    registry.register("docker", lambda: instance)
    yield instance
    registry.unregister("docker")
