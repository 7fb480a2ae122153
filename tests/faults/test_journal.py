"""Journal faults without a platform in the way (the in-memory provider): an unusable state
directory is a clear error for deploy, never "internal error"; status, history and rollback work
from the platform alone; a journal lost mid-rollout never turns a success into a failure."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MINIMAL, Cli
from tests.memory_provider import MemoryProvider


def run(cli: Cli, *args: object, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = cli(*args, "--output", "json", env=env)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.fixture
def deployed(scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli, tmp_path: Path) -> Path:
    """Revisions 1 and 2 deployed (2 active), recorded in tmp/state."""
    path = scale_file(MINIMAL)
    for sha in ("v1", "v2"):
        code, doc = run(cli, "deploy", "-f", path, "--yes", "--state-dir", tmp_path / "state", env={"GIT_SHA": sha})
        assert code == 0, doc
    return path


def unusable(tmp_path: Path, kind: str) -> Path:
    """A state directory scalectl cannot use, of the given kind."""
    if kind == "file":
        (tmp_path / "a-file").write_text("")
        return tmp_path / "a-file"
    if kind == "corrupt":
        (tmp_path / "corrupt").mkdir()
        (tmp_path / "corrupt" / "journal.sqlite").write_text("not a database " * 200)
        return tmp_path / "corrupt"
    (tmp_path / "odd" / "journal.sqlite").mkdir(parents=True)  # a directory where the database should be
    return tmp_path / "odd"


@pytest.mark.parametrize("kind", ["file", "corrupt", "journal-is-a-directory"])
def test_an_unusable_state_dir_is_a_clear_error_and_status_history_rollback_still_work(
    deployed: Path, cli: Cli, tmp_path: Path, kind: str
) -> None:
    state = unusable(tmp_path, kind)
    code, doc = run(cli, "deploy", "-f", deployed, "--yes", "--state-dir", state, env={"GIT_SHA": "v3"})
    assert code == 1 and "internal error" not in doc["error"], doc
    assert str(state) in doc["error"] and "Nothing was changed" in doc["error"]
    code, doc = run(cli, "status", "-f", deployed, "--state-dir", state, env={"GIT_SHA": "v2"})
    assert (code, doc["targets"]["local"]["active"]) == (0, 2)
    code, doc = run(cli, "history", "-f", deployed, "--state-dir", state, env={"GIT_SHA": "v2"})
    assert [r["number"] for r in doc["targets"]["local"]] == [1, 2]
    code, doc = run(cli, "rollback", "-f", deployed, "--yes", "--state-dir", state, env={"GIT_SHA": "v2"})
    assert code == 0, doc
    assert doc["targets"]["local"]["revision"]["number"] == 1
    assert any("journal" in e["message"] for e in doc["targets"]["local"]["events"])


def test_a_journal_deleted_mid_rollout_does_not_fail_a_successful_deploy(
    deployed: Path, cli: Cli, memory: MemoryProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply = memory.apply

    def apply_then_lose_the_journal(plan: Any, events: Any) -> Any:
        revision = apply(plan, events)
        shutil.rmtree(tmp_path / "state")  # someone cleans the workspace while the bake runs
        return revision

    monkeypatch.setattr(memory, "apply", apply_then_lose_the_journal)
    code, doc = run(cli, "deploy", "-f", deployed, "--yes", "--state-dir", tmp_path / "state", env={"GIT_SHA": "v3"})
    assert code == 0, doc
    assert doc["targets"]["local"]["revision"]["number"] == 3
    warnings = [e["message"] for e in doc["targets"]["local"]["events"] if e["kind"] == "warn"]
    assert any("the change was made, but the local journal could not record it" in w for w in warnings)
