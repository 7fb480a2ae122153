"""Fixtures for cost-estimate tests: a scale file writer, the CLI, and an isolated catalog location."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalectl.cli import app


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user catalog from the real home, no SCALECTL_* from the caller's shell."""
    for var in list(os.environ):
        if var.startswith("SCALECTL_") or var in ("GITHUB_ACTIONS", "NO_COLOR"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def scale_file(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "scale.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()
