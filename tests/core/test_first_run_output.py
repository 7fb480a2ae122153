"""Output a new user reads: render's one stream, help without `<bool>`, one placeholder form."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
MULTI = ROOT / "examples" / "multi-cloud" / "scale.yaml"


def test_render_without_out_dir_is_one_stream_naming_each_file(cli, tmp_path: Path) -> None:
    env = {"GIT_SHA": "abc123"}
    stream = cli("render", "-f", MULTI, env=env)
    assert stream.exit_code == 0, stream.stderr
    parts = re.split(r"^==> (\S+) <==\n", stream.stdout, flags=re.MULTILINE)
    assert parts[0] == ""  # nothing before the first file's name
    files = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert cli("render", "-f", MULTI, "-o", tmp_path, env=env).exit_code == 0
    written = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert files == written  # the same files, the same bytes, each named
    for name, text in files.items():
        if name.endswith(".json"):
            json.loads(text)


def test_deploy_time_values_have_one_form_on_every_platform(cli) -> None:
    doc = json.loads(cli("render", "-f", MULTI, "--output", "json", env={"GIT_SHA": "abc123"}).stdout)
    text = json.dumps(doc["targets"])
    for target in ("prod-aws", "prod-gcp", "prod-azure", "local"):
        assert "{revision}" in json.dumps(doc["targets"][target]), target
    assert not re.findall(r"<(revision|deployer|deploying user|deploy time|next|digest|image)>", text)


@pytest.mark.parametrize("command", [[], ["cost-estimate"], ["deploy"], ["catalog", "show"]])
def test_help_shows_flags_without_a_value(cli, command: list[str]) -> None:
    result = cli(*command, "--help", env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout
    flag = {"cost-estimate": "--compare", "deploy": "--yes"}.get(command[0] if command else "", "--help")
    line = next(line for line in result.stdout.splitlines() if flag in line)
    assert re.search(re.escape(flag) + r"(\s+-[a-z])?\s+[A-Z]", line), line  # the help text follows the flag
