"""The offline commands as a new user meets them: init, validate, schema, render, --version."""

from __future__ import annotations

import json
from pathlib import Path

from scalectl import __version__

ROOT = Path(__file__).parents[2]


def test_init_writes_a_commented_starter_that_validates(cli, tmp_path: Path) -> None:
    path = tmp_path / "scale.yaml"
    assert cli("init", "-f", path).exit_code == 0
    assert path.read_text().startswith("# scale.yaml")
    result = cli("validate", "-f", path, "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["targets"] == {"local": "docker"}
    again = cli("init", "-f", path)
    assert again.exit_code == 2 and "--force" in again.stderr


def test_every_example_validates(cli) -> None:
    examples = sorted((ROOT / "examples").glob("*/scale.yaml"))
    assert len(examples) >= 5
    for example in examples:
        result = cli("validate", "-f", example, env={"GIT_SHA": "abc123"})
        assert result.exit_code == 0, f"{example}: {result.stderr}"


def test_render_writes_one_folder_per_target(cli, tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    example = ROOT / "examples" / "multi-cloud" / "scale.yaml"
    result = cli("render", "-f", example, "-o", out, env={"GIT_SHA": "abc123"})
    assert result.exit_code == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"prod-aws", "prod-gcp", "prod-azure", "local"}
    text = "\n".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "registry.example.com/fraud:abc123" in text
    assert "aws-sm://prod/fraud/token" in text or "prod/fraud/token" in text


def test_schema_is_json_on_stdout(cli) -> None:
    result = cli("schema")
    assert json.loads(result.stdout)["title"] == "scalectl scale.yaml"


def test_version(cli) -> None:
    assert cli("--version").stdout.strip() == f"scalectl {__version__}"
