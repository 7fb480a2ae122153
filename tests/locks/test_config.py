"""`lock:` in the scale file: checked offline, never part of the revision digest, and what a CI
run without one is told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scalectl.config import digest, load_config
from scalectl.errors import ConfigError
from tests.locks.conftest import GatedMemory

BASE = """\
version: 1
name: lockapp
model:
  image: registry.example.com/fraud:v1
{defaults}targets:
  prod:
    provider: aws
    region: us-east-1
    instance: ml.m5.large
{lock}"""


def write(tmp_path: Path, defaults: str = "", lock: str = "") -> Path:
    path = tmp_path / "scale.yaml"
    path.write_text(BASE.format(defaults=defaults, lock=lock))
    return path


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("ftp://bucket/x", "unknown lock store 'ftp://bucket/x'; expected one of:"),
        ("s3://B!/x", "is not a valid s3:// lock store (expected s3://bucket/prefix)"),
        ("azblob://account", "is not a valid azblob:// lock store (expected azblob://account/container)"),
        ("locks-bucket", "unknown lock store"),
    ],
)
def test_a_bad_lock_store_is_bad_input_naming_file_line_and_field(
    tmp_path: Path, cli: Any, store: str, expected: str
) -> None:
    path = write(tmp_path, lock=f'    lock: {{store: "{store}"}}\n')
    result = cli("validate", "-f", path)
    assert result.exit_code == 2
    assert f"{path}:10:" in result.output and "targets.prod.lock.store" in result.output
    assert expected in result.output


def test_lock_in_defaults_applies_to_every_target_and_a_ttl_is_checked(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, defaults='defaults:\n  lock: {store: "dynamodb://locks", ttl: 5m}\n'))
    lock = config.spec.targets["prod"].lock
    assert lock is not None and lock.store == "dynamodb://locks" and lock.ttl == 300
    with pytest.raises(ConfigError, match=r"lock\.ttl"):
        load_config(write(tmp_path, lock="    lock: {ttl: 1}\n"))


def test_where_the_lease_lives_does_not_change_the_revision_digest(tmp_path: Path) -> None:
    plain = load_config(write(tmp_path))
    locked = load_config(write(tmp_path, lock='    lock: {store: "gs://locks/ci"}\n'))
    assert digest(plain.spec, "prod") == digest(locked.spec, "prod")


def test_a_ci_run_without_a_lock_store_is_told_runners_are_not_serialised(
    tmp_path: Path, cli: Any, platform: GatedMemory
) -> None:
    path = write(tmp_path)
    result = cli("deploy", "-f", path, "--yes", "--state-dir", tmp_path / "s", env={"CI": "true"})
    assert result.exit_code == 0, result.output
    assert "NOT serialised" in result.stderr and "lock: {store: ...}" in result.stderr
    quiet = cli("deploy", "-f", path, "--yes", "--state-dir", tmp_path / "s2", env={"CI": ""})
    assert "NOT serialised" not in quiet.stderr
