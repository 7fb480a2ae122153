"""Several targets at once, on the in-memory provider: waves in order, never more than --parallel
at once, a failed wave stops the later ones (unless --keep-going), Ctrl-C rolls back every running
rollout, the journal takes concurrent writers, and `validate`/`plan` know the key."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scalectl.provider import Revision
from scalectl.state import Journal
from tests.conftest import Cli
from tests.memory_provider import MemoryProvider

FILE = """\
version: 1
name: fleet
model:
  image: registry.example.com/fraud:${{GIT_SHA:-v1}}
targets:
{targets}
"""


def fleet(targets: dict[str, int], broken: tuple[str, ...] = ()) -> str:
    """A file whose targets (name -> wave) all stand on the memory provider; `broken` ones fail their rollout."""
    lines = []
    for name, wave in targets.items():
        image = ", model: {image: registry.example.com/broken:v1}" if name in broken else ""
        lines.append(f"  {name}: {{provider: docker, wave: {wave}{image}}}")
    return FILE.format(targets="\n".join(lines))


def run(cli: Cli, path: Path, *args: object, sha: str = "v1") -> tuple[int, dict[str, Any], str]:
    result = cli(*args, "-f", path, "--output", "json", "--state-dir", path.parent / "st", env={"GIT_SHA": sha})
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


def by_target(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["target"]: r for r in doc["results"]}


def test_waves_run_in_order_each_in_parallel_and_report_every_target(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli
) -> None:
    path = scale_file(fleet({"prod-eu": 2, "staging": 1, "prod-us": 2}))
    memory.apply_seconds = 0.3
    code, doc, err = run(cli, path, "deploy", "--yes")
    assert code == 0 and doc["ok"] is True, doc
    spans = {name: (start, end) for name, start, end in memory.spans}
    # staging (wave 1) finished before either production target (wave 2) started; those two overlapped
    assert spans["staging"][1] <= min(spans["prod-eu"][0], spans["prod-us"][0])
    assert spans["prod-eu"][0] < spans["prod-us"][1] and spans["prod-us"][0] < spans["prod-eu"][1]
    assert memory.peak == 2
    assert [r["target"] for r in doc["results"]] == ["staging", "prod-eu", "prod-us"]  # wave, then file order
    for r in doc["results"]:
        assert set(r) == {"target", "wave", "result", "revision", "seconds", "reason", "exit_code"}
        assert r["result"] == "deployed" and r["revision"] == 1 and r["exit_code"] == 0
        assert r["seconds"] >= 0.3
    assert by_target(doc)["prod-eu"]["wave"] == 2
    assert doc["targets"]["staging"]["changed"] is True  # the per-target entry deploy always had
    # progress on stderr names its target, one JSON object per line
    progress = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert {p["target"] for p in progress} == {"staging", "prod-eu", "prod-us"}

    code, doc, _ = run(cli, path, "deploy", "--yes")
    assert code == 0 and {r["result"] for r in doc["results"]} == {"unchanged"}


def test_never_more_than_parallel_at_once(scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli) -> None:
    path = scale_file(fleet({f"t{i}": 1 for i in range(6)}))
    memory.apply_seconds = 0.2
    started = time.monotonic()
    code, doc, _ = run(cli, path, "deploy", "--yes", "--parallel", "2")
    took = time.monotonic() - started
    assert code == 0, doc
    assert memory.peak == 2  # measured inside apply: two at a time, never three
    assert len(memory.spans) == 6 and took >= 3 * 0.2  # three rounds of two

    memory.peak = 0
    code, doc, _ = run(cli, path, "deploy", "--yes", "--parallel", "6", sha="v2")
    assert code == 0 and memory.peak == 6, doc

    code, _, err = run(cli, path, "deploy", "--yes", "--parallel", "0", sha="v3")
    assert code == 2 and "--parallel" in err


def test_a_failed_wave_stops_later_waves_but_its_own_targets_finish(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli
) -> None:
    path = scale_file(fleet({"staging": 1, "canary": 1, "prod": 2, "prod-2": 3}, broken=("staging",)))
    code, doc, _ = run(cli, path, "deploy", "--yes")
    assert code == 1 and doc["ok"] is False and doc["exit_code"] == 1, doc
    results = by_target(doc)
    assert results["staging"]["result"] == "failed" and "failed its health check" in results["staging"]["reason"]
    assert results["canary"]["result"] == "deployed"  # same wave: it ran to the end
    for name in ("prod", "prod-2"):
        assert (
            results[name]["result"] == "skipped"
            and "an earlier wave failed (wave 1: staging)" in results[name]["reason"]
        )
        assert results[name]["revision"] is None
    assert {name for name, _, _ in memory.spans} == {"staging", "canary"}  # production was never touched
    assert "staging: " in doc["error"] and "skipped: prod, prod-2" in doc["error"]


def test_keep_going_runs_later_waves_and_still_exits_1(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli
) -> None:
    path = scale_file(fleet({"staging": 1, "prod": 2}, broken=("staging",)))
    result = cli("deploy", "--yes", "--keep-going", "-f", path, "--state-dir", path.parent / "st", "--no-color")
    assert result.exit_code == 1
    summary = result.stderr.split("deploy summary", 1)[1]
    row = next(line for line in summary.splitlines() if line.strip().startswith("prod "))
    assert "deployed" in row and " 2 " in row
    assert "1 of 2 target(s) did not deploy" in result.stderr
    assert {name for name, _, _ in memory.spans} == {"staging", "prod"}


def test_sigint_rolls_back_every_running_target_and_skips_the_rest(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = scale_file(fleet({"a": 1, "b": 1, "c": 1, "later": 2}))
    assert run(cli, path, "deploy", "--yes")[0] == 0
    monkeypatch.setattr(memory, "recover", memory.remove_pending, raising=False)
    memory.apply_seconds = 30  # would take 30 s: only the interrupt ends it

    def interrupt_when_all_running() -> None:
        deadline = time.monotonic() + 10
        while memory.running < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread, where the CLI runs

    sender = threading.Thread(target=interrupt_when_all_running)
    sender.start()
    started = time.monotonic()
    code, doc, _ = run(cli, path, "deploy", "--yes", sha="v2")
    sender.join()
    assert time.monotonic() - started < 5  # nobody waited for the 30 s rollouts
    assert code == 130, doc
    results = by_target(doc)
    for name in ("a", "b", "c"):
        assert results[name]["result"] == "interrupted" and results[name]["exit_code"] == 130
        assert "removed pending revision 2" in results[name]["reason"]
        assert "revision 1 serves 100%" in results[name]["reason"]
    assert results["later"]["result"] == "skipped" and "interrupted" in results["later"]["reason"]
    platform = json.loads(memory.platform_file.read_text())
    for name in ("a", "b", "c", "later"):  # nothing half-rolled: revision 1 serves everywhere, nothing pending
        entry = platform[f"fleet/{name}"]
        assert entry["active"] == 1 and [r["status"] for r in entry["revisions"]] == ["active"]
    journal = Journal.open(path.parent / "st")
    assert [r.status for r in journal.revisions("fleet", "a")] == ["active", "failed"]  # the attempt is recorded


def test_targets_not_yet_rolling_out_stop_before_applying(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = scale_file(fleet({"a": 1, "b": 1, "c": 1}))
    monkeypatch.setattr(memory, "recover", memory.remove_pending, raising=False)
    memory.apply_seconds = 30

    def interrupt_when_one_running() -> None:
        while memory.running < 1:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=interrupt_when_one_running)
    sender.start()
    code, doc, _ = run(cli, path, "deploy", "--yes", "--parallel", "1")
    sender.join()
    assert code == 143, doc
    results = by_target(doc)
    assert results["a"]["result"] == "interrupted" and "nothing serves" in results["a"]["reason"]
    assert results["b"]["result"] == results["c"]["result"] == "skipped"
    assert memory.calls.count("apply") == 1
    assert json.loads(memory.platform_file.read_text()) == {}


def test_the_journal_takes_concurrent_writers_from_threads(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    errors: list[BaseException] = []

    def work(target: str) -> None:
        try:
            for n in range(1, 21):
                with journal.lock("app", target):
                    journal.record("app", target, Revision(n, "d", "img", "t", "me", "active"))
                    journal.audit("app", target, "deploy", n, "ok", {"n": n})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(8):
        assert [r.number for r in journal.revisions("app", f"t{i}")] == list(range(1, 21))
        assert len(journal.audit_log("app", f"t{i}")) == 20


def test_plan_shows_the_waves_and_validate_refuses_a_bad_wave(
    scale_file: Callable[[str], Path], memory: MemoryProvider, cli: Cli
) -> None:
    path = scale_file(fleet({"prod": 2, "staging": 1}))
    code, doc, _ = run(cli, path, "plan")
    assert code == 0 and doc["waves"] == [{"wave": 1, "targets": ["staging"]}, {"wave": 2, "targets": ["prod"]}]
    assert doc["targets"]["prod"]["wave"] == 2
    text = cli("plan", "-f", path, "--state-dir", path.parent / "st", "--no-color")
    assert "deploy order: wave 1: staging -> wave 2: prod" in text.stderr

    bad = scale_file(fleet({"staging": 1}).replace("wave: 1", "wave: first"), name="bad.yaml")
    result = cli("validate", "-f", bad, "--output", "json")
    assert result.exit_code == 2
    (finding,) = json.loads(result.stdout)["diagnostics"]
    assert finding["field"] == "targets.staging.wave" and finding["line"] == 6
    assert "whole number from 1 to 100" in finding["message"]
