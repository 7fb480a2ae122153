"""Every broken scale file gets exit 2, a message naming file, line, column and field, and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BAD = Path(__file__).parent / "bad"


def _expectations() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in (BAD / "EXPECTED.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, position, field, message = line.split("\t")
        rows.append((name, position, field, message))
    return rows


EXPECTED = _expectations()


def test_the_corpus_is_large_and_every_file_has_an_expectation() -> None:
    files = {p.name for p in BAD.glob("*.yaml")}
    assert len(files) >= 30
    assert files == {row[0] for row in EXPECTED}


@pytest.mark.parametrize(("name", "position", "field", "message"), EXPECTED, ids=[r[0] for r in EXPECTED])
def test_broken_file_is_reported_with_its_position(cli, name: str, position: str, field: str, message: str) -> None:
    path = BAD / name
    result = cli("validate", "-f", str(path), "--no-color")
    assert result.exit_code == 2
    assert f"{path}:{position}:" in result.stderr
    assert message in result.stderr
    if field != "*":
        assert f": {field}: " in result.stderr if field else True
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["unknown-target-key.yaml", "tabs.yaml", "alias-bomb.yaml"])
def test_json_output_carries_the_same_findings(cli, name: str) -> None:
    result = cli("validate", "-f", str(BAD / name), "--output", "json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    first = doc["diagnostics"][0]
    assert first["file"] == str(BAD / name)
    assert first["line"] >= 1 and first["column"] >= 1


def test_a_10_mb_file_is_refused_without_parsing(cli, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"version: 1\n" + b"# padding padding padding padding\n" * 300_000)
    assert big.stat().st_size > 10_000_000
    result = cli("validate", "-f", str(big))
    assert result.exit_code == 2
    assert f"{big}:1:1:" in result.stderr
    assert "at most 1024 KiB" in result.stderr


def test_a_missing_file_says_how_to_start(cli, tmp_path: Path) -> None:
    result = cli("validate", "-f", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "file not found" in result.stderr and "scalectl init" in result.stderr


def test_a_directory_is_not_a_scale_file(cli, tmp_path: Path) -> None:
    result = cli("validate", "-f", str(tmp_path))
    assert result.exit_code == 2
    assert "cannot read file" in result.stderr


def test_all_errors_are_reported_at_once(cli, scale_file) -> None:
    path = scale_file(
        "version: 1\n"
        "name: fraud\n"
        "model:\n"
        "  image: fraud:v1\n"
        "  port: eighty\n"
        "targets:\n"
        "  a: {provider: docker, replicas: 0}\n"
        "  b: {provider: aws, regoin: x, instance: ml.g5.xlarge}\n"
    )
    result = cli("validate", "-f", str(path), "--no-color")
    assert result.exit_code == 2
    stderr = result.stderr
    assert f"{path}:5:9: error: model.port:" in stderr
    assert f"{path}:7:35: error: targets.a.replicas:" in stderr
    assert "unknown key `regoin` (did you mean `region`?)" in stderr
    assert "required key `region` is missing" in stderr
    assert "4 errors; nothing was changed." in stderr


def test_github_actions_gets_annotations(cli) -> None:
    path = BAD / "unknown-provider.yaml"
    result = cli("validate", "-f", str(path), env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 2
    assert f"::error file={path},line=7,col=15,title=scalectl::targets.prod.provider: unknown provider" in result.stderr
