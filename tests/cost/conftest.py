"""Fixtures for cost-estimate tests: an isolated catalog location (scale_file and cli come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user catalog from the real home (the root conftest clears SCALECTL_* already)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
