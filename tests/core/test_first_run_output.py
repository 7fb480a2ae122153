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
    for target in ("prod-aws", "prod-gcp", "prod-azure"):
        assert "{revision}" in json.dumps(doc["targets"][target]), target
    # docker and kubernetes put the revision into container/resource names, where braces are not
    # allowed: `next` / 1 there; who and when still read {actor} and {deploy_time}
    assert "{actor}" in json.dumps(doc["targets"]["local"]) and "{deploy_time}" in json.dumps(doc["targets"]["local"])
    assert not re.findall(r"<(revision|deployer|deploying user|deploy time|next|digest|image)>", text)


@pytest.mark.parametrize("command", [[], ["cost-estimate"], ["deploy"], ["catalog", "show"]])
def test_help_shows_flags_without_a_value(cli, command: list[str]) -> None:
    result = cli(*command, "--help", env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout
    flag = {"cost-estimate": "--compare", "deploy": "--yes"}.get(command[0] if command else "", "--help")
    line = next(line for line in result.stdout.splitlines() if flag in line)
    assert re.search(re.escape(flag) + r"(\s+-[a-z])?\s+[A-Z]", line), line  # the help text follows the flag


APP = """\
version: 1
name: fraud
model:
  image: registry.example.com/team/fraud-detector:${TAG:-v1}
targets:
  local: {provider: docker, replicas: 2}
"""


@pytest.mark.parametrize("columns", [80, 100])
def test_history_fits_the_terminal_without_collapsing_the_message(cli, memory, scale_file, columns: int) -> None:
    path = scale_file(APP)
    for tag in ("v1", "v2-with-a-long-tag"):
        assert cli("deploy", "-f", path, "--yes", env={"TAG": tag}).exit_code == 0
    assert cli("deploy", "-f", path, "--yes", env={"TAG": "broken"}).exit_code == 1  # a revision with a message
    doc = json.loads(cli("history", "-f", path, "--output", "json").stdout)
    messages = [r["message"] for r in doc["targets"]["local"] if r["message"]]
    assert messages
    text = cli("history", "-f", path, "--no-color", env={"COLUMNS": str(columns)}).stderr
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert "…" not in "".join(line for line in lines if "fraud" not in line and "@" not in line)
    flat = " ".join(" ".join(line.split()) for line in lines)
    for message in messages:
        for word in message.split()[:3]:
            assert word in flat, (word, text)


def test_json_mode_streams_progress_on_stderr_one_event_per_line(cli, memory, scale_file) -> None:
    path = scale_file(APP)
    result = cli("deploy", "-f", path, "--yes", "--output", "json", env={"TAG": "v1"})
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)  # stdout: still exactly one document
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert events and all({"kind", "message", "t"} <= set(e) for e in events)
    assert [e["message"] for e in events] == [e["message"] for e in doc["targets"]["local"]["events"]]
