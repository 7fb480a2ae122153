"""plan / deploy / status / history / rollback / destroy through the engine, with the in-memory provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scalectl.state import Journal

APP = """\
version: 1
name: fraud
model:
  image: fraud:${TAG:-v1}
defaults:
  autoscaling: {min: 2, max: 4}
targets:
  local: {provider: docker, replicas: 2}
"""


@pytest.fixture
def app_file(scale_file) -> Path:
    return scale_file(APP)


def deploy(cli, path: Path, tag: str, *extra: str):  # type: ignore[no-untyped-def]
    return cli("deploy", "-f", str(path), "--yes", "--output", "json", *extra, env={"TAG": tag})


def test_deploy_without_yes_off_a_terminal_changes_nothing(cli, memory, app_file) -> None:
    result = cli("deploy", "-f", str(app_file))
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert "apply" not in memory.calls


def test_first_deploy_records_revision_1(cli, memory, app_file) -> None:
    result = deploy(cli, app_file, "v1")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rev = doc["targets"]["local"]["revision"]
    assert (rev["number"], rev["status"], rev["image"]) == (1, "active", "fraud:v1")
    assert rev["created_by"]


def test_plan_detailed_exitcode(cli, memory, app_file) -> None:
    assert cli("plan", "-f", str(app_file), "--detailed-exitcode").exit_code == 3
    assert deploy(cli, app_file, "v1").exit_code == 0
    unchanged = cli("plan", "-f", str(app_file), "--detailed-exitcode", "--output", "json", env={"TAG": "v1"})
    assert unchanged.exit_code == 0
    assert json.loads(unchanged.stdout)["targets"]["local"]["has_changes"] is False
    assert cli("plan", "-f", str(app_file), "--detailed-exitcode", env={"TAG": "v2"}).exit_code == 3


def test_redeploying_the_same_config_is_a_no_op(cli, memory, app_file) -> None:
    deploy(cli, app_file, "v1")
    again = deploy(cli, app_file, "v1")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["targets"]["local"] == {"changed": False, "revision": 1}
    assert memory.calls.count("apply") == 1


def test_a_failed_deploy_exits_1_and_keeps_the_old_revision(cli, memory, app_file) -> None:
    deploy(cli, app_file, "v1")
    failed = deploy(cli, app_file, "broken")
    assert failed.exit_code == 1
    doc = json.loads(failed.stdout)
    assert doc["ok"] is False and "revision 1 still serves" in doc["error"]
    status = json.loads(cli("status", "-f", str(app_file), "--output", "json").stdout)
    assert status["targets"]["local"]["active"] == 1


def test_history_and_rollback_from_a_fresh_state_dir(cli, memory, app_file, tmp_path: Path) -> None:
    deploy(cli, app_file, "v1")
    deploy(cli, app_file, "v2")
    other_runner = str(tmp_path / "another-ci-runner")
    hist = cli("history", "-f", str(app_file), "--state-dir", other_runner, "--output", "json")
    revisions = json.loads(hist.stdout)["targets"]["local"]
    assert [(r["number"], r["status"]) for r in revisions] == [(1, "superseded"), (2, "active")]

    back = cli("rollback", "-f", str(app_file), "--yes", "--state-dir", other_runner, "--output", "json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["targets"]["local"]["revision"]["number"] == 1
    status = json.loads(cli("status", "-f", str(app_file), "--output", "json").stdout)
    assert status["targets"]["local"]["active"] == 1


def test_rollback_to_a_named_revision_and_to_an_unknown_one(cli, memory, app_file) -> None:
    for tag in ("v1", "v2", "v3"):
        deploy(cli, app_file, tag)
    assert cli("rollback", "-f", str(app_file), "--yes", "--to", "9").exit_code == 2
    ok = cli("rollback", "-f", str(app_file), "--yes", "--to", "1", "--output", "json")
    assert json.loads(ok.stdout)["targets"]["local"]["from"] == 3


def test_rollback_skips_failed_revisions(cli, memory, app_file) -> None:
    deploy(cli, app_file, "v1")
    deploy(cli, app_file, "v2")
    deploy(cli, app_file, "broken")  # revision 3 failed; 2 still active
    back = cli("rollback", "-f", str(app_file), "--yes", "--output", "json")
    assert json.loads(back.stdout)["targets"]["local"]["revision"]["number"] == 1


def test_a_held_lock_exits_5_naming_the_holder(cli, memory, app_file) -> None:
    journal = Journal.open(app_file.parent / ".scalectl")
    with journal.lock("fraud", "local"):
        result = deploy(cli, app_file, "v1")
    assert result.exit_code == 5
    assert "locked by" in json.loads(result.stdout)["error"]
    assert "apply" not in memory.calls
    assert deploy(cli, app_file, "v1").exit_code == 0  # released afterwards


def test_destroy_needs_confirmation_and_removes_the_target(cli, memory, app_file) -> None:
    deploy(cli, app_file, "v1")
    assert cli("destroy", "-f", str(app_file)).exit_code == 2
    gone = cli("destroy", "-f", str(app_file), "--yes", "--output", "json")
    assert json.loads(gone.stdout)["targets"]["local"] == ["deployment fraud/local"]
    status = json.loads(cli("status", "-f", str(app_file), "--output", "json").stdout)
    assert status["targets"]["local"]["exists"] is False


def test_unknown_target_flag_is_bad_input(cli, memory, app_file) -> None:
    result = cli("status", "-f", str(app_file), "-t", "locl")
    assert result.exit_code == 2
    assert "unknown target 'locl'" in result.stderr and "did you mean `local`" in result.stderr


def test_provider_checks_are_positioned(cli, memory, scale_file) -> None:
    path = scale_file(APP.replace("replicas: 2}", "replicas: 2, spot: true}"))
    result = cli("validate", "-f", str(path))
    assert result.exit_code == 2
    assert f"{path}:8:48: error: targets.local.spot: spot capacity is not offered here" in result.stderr


def test_render_shows_secret_references_never_values(cli, memory, scale_file, tmp_path: Path) -> None:
    path = scale_file(APP.replace("  image:", "  secrets: {TOKEN: env://TOKEN}\n  image:"))
    out = tmp_path / "rendered"
    result = cli("render", "-f", str(path), "-o", str(out), env={"TOKEN": "s3cr3t-value"})
    assert result.exit_code == 0, result.output
    text = (out / "local" / "deployment.json").read_text()
    assert "env://TOKEN" in text and "s3cr3t-value" not in text


def test_env_vars_stand_in_for_flags(cli, memory, app_file) -> None:
    result = cli("deploy", env={"SCALECTL_FILE": str(app_file), "SCALECTL_YES": "1", "SCALECTL_OUTPUT": "json"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_a_missing_platform_sdk_names_the_extra_to_install(cli, memory, app_file, monkeypatch) -> None:
    def observe(release):  # type: ignore[no-untyped-def]
        raise ModuleNotFoundError("No module named 'boto3'", name="boto3")

    monkeypatch.setattr(memory, "observe", observe)
    result = cli("status", "-f", str(app_file))
    assert result.exit_code == 1
    assert "pip install 'scalectl[aws]'" in result.stderr and "Traceback" not in result.output


def _plant_lock(state_dir: Path, pid: int) -> None:
    """A lock row as a deploy on this host with `pid` would leave it."""
    import socket
    import sqlite3

    Journal.open(state_dir)
    with sqlite3.connect(state_dir / "journal.sqlite") as db:
        db.execute(
            "INSERT INTO locks VALUES (?,?,?,?,?,?)",
            ("fraud", "local", "ci@runner", socket.gethostname(), pid, "2026-01-01T00:00:00Z"),
        )


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(cli, memory, app_file) -> None:
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    _plant_lock(app_file.parent / ".scalectl", gone.pid)
    assert deploy(cli, app_file, "v1").exit_code == 0


def test_unlock_removes_a_lock_held_by_a_live_process(cli, memory, app_file) -> None:
    import os

    _plant_lock(app_file.parent / ".scalectl", os.getppid())  # alive: deploy must refuse
    assert deploy(cli, app_file, "v1").exit_code == 5
    result = cli("unlock", "-f", str(app_file), "--output", "json")
    assert json.loads(result.stdout)["unlocked"] == ["local"]
    assert deploy(cli, app_file, "v1").exit_code == 0
