"""The engine's generic interruption handling, on the in-memory provider: a signal during `apply`
calls the provider's `recover`; an unfinished rollout found later is rolled back first, or refused
clearly (and reported by `status`) by a provider that cannot."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scalectl.errors import Interrupted
from tests.conftest import MINIMAL, Cli
from tests.memory_provider import MemoryProvider


def run(cli: Cli, path: Path, *args: str, sha: str = "v1") -> tuple[int, dict[str, Any]]:
    result = cli(*args, "-f", path, "--output", "json", "--state-dir", path.parent / "st", env={"GIT_SHA": sha})
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def leave_unfinished(memory: MemoryProvider, monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    observe = memory.observe

    def observe_with_leftover(release: Any) -> Any:
        live = observe(release)
        if getattr(memory, "leftover", True):
            live.unfinished = [line]
        return live

    monkeypatch.setattr(memory, "observe", observe_with_leftover)


def test_sigterm_during_apply_calls_recover_and_exits_143(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = scale_file(MINIMAL)
    assert run(cli, path, "deploy", "--yes")[0] == 0
    calls: list[str] = []

    def apply(plan: Any, events: Any) -> Any:
        memory.leftover = True  # type: ignore[attr-defined]  # what the signal leaves behind
        raise Interrupted(signal.SIGTERM)

    def recover(release: Any, live: Any, events: Any) -> list[str]:
        calls.append(live.unfinished[0])
        memory.leftover = False  # type: ignore[attr-defined]
        return ["removed unfinished revision 2"]

    memory.leftover = False  # type: ignore[attr-defined]
    leave_unfinished(memory, monkeypatch, "revision 2 was left pending")
    monkeypatch.setattr(memory, "apply", apply)
    monkeypatch.setattr(memory, "recover", recover, raising=False)
    code, doc = run(cli, path, "deploy", "--yes", sha="v2")
    assert code == 143, doc
    assert calls == ["revision 2 was left pending"]
    assert "removed unfinished revision 2" in doc["error"] and "revision 1 serves 100%" in doc["error"]


def test_a_provider_without_recover_refuses_to_deploy_over_an_unfinished_rollout(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = scale_file(MINIMAL)
    assert run(cli, path, "deploy", "--yes")[0] == 0
    leave_unfinished(memory, monkeypatch, "traffic is split mid-rollout")
    code, doc = run(cli, path, "deploy", "--yes", sha="v2")
    assert code == 1 and "cannot roll it back automatically" in doc["error"], doc
    assert memory.calls.count("apply") == 1  # only the first deploy applied anything
    code, doc = run(cli, path, "status")
    assert code == 6
    assert any("not started from this state directory" in p for p in doc["targets"]["local"]["problems"])


def test_status_leaves_an_unfinished_rollout_it_did_not_start_when_no_lease_is_shared(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another runner (another state directory, no `lock:` store) may be mid-canary: a read must not undo it."""
    path = scale_file(MINIMAL)
    assert run(cli, path, "deploy", "--yes")[0] == 0
    recovered: list[str] = []
    monkeypatch.setattr(memory, "recover", lambda *a: recovered.append("x") or ["rolled back"], raising=False)
    leave_unfinished(memory, monkeypatch, "revision 2 takes 20% mid-canary")
    code, doc = run(cli, path, "status")
    assert code == 6 and recovered == []
    problem = " ".join(doc["targets"]["local"]["problems"])
    assert "not started from this state directory" in problem and "scalectl rollback -t local" in problem


def test_status_finishes_a_rollout_this_state_directory_started_and_lost(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash (here: an exception nothing handles) leaves the `started` row last: status knows it is its own."""
    path = scale_file(MINIMAL)
    assert run(cli, path, "deploy", "--yes")[0] == 0

    def crash(plan: Any, events: Any) -> Any:
        raise KeyboardInterrupt  # not a ScalectlError: nothing records an outcome, as after SIGKILL

    monkeypatch.setattr(memory, "apply", crash)
    run(cli, path, "deploy", "--yes", sha="v2")
    recovered: list[str] = []

    def recover(release: Any, live: Any, events: Any) -> list[str]:
        recovered.append(live.unfinished[0])
        memory.leftover = False  # type: ignore[attr-defined]
        return ["removed revision 2"]

    memory.leftover = True  # type: ignore[attr-defined]
    leave_unfinished(memory, monkeypatch, "revision 2 was left pending")
    monkeypatch.setattr(memory, "recover", recover, raising=False)
    code, doc = run(cli, path, "status")
    assert recovered == ["revision 2 was left pending"], doc
    assert code == 0, doc
