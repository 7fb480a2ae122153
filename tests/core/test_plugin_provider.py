"""A provider from outside the repository plugs in through the `scalectl.providers` entry point.

The example package in tests/plugins/echo is installed for real (pip, into a folder of its own)
and scalectl, run as a separate process with that folder on its path, validates, renders,
plans, deploys and rolls back an `echo` target: no core file knows the platform.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "echo"

SCALE = """\
version: 1
name: shop
model:
  image: shop:v1
targets:
  demo:
    provider: echo
    state_file: platform.json
    replicas: 2
{extra}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin installed with pip into its own folder (not the test environment)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(PLUGIN)],
        check=True,
        cwd=build,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert (target / "scalectl_echo-0.1.0.dist-info" / "entry_points.txt").exists()
    return target


def scalectl(folder: Path, *args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALECTL_")}
    env["PYTHONPATH"] = str(site) if site else ""
    return subprocess.run(
        [sys.executable, "-m", "scalectl", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


def test_validate_render_plan_deploy_and_rollback(site: Path, tmp_path: Path) -> None:
    (tmp_path / "scale.yaml").write_text(SCALE.format(extra=""))

    assert scalectl(tmp_path, "validate", site=site).returncode == 0

    rendered = scalectl(tmp_path, "render", "--output", "json", site=site)
    assert rendered.returncode == 0, rendered.stderr
    body = json.loads(json.loads(rendered.stdout)["targets"]["demo"]["deployment.json"])
    assert body == {"name": "shop-demo", "image": "shop:v1", "replicas": 2, "port": 8080, "revision": "{revision}"}

    plan = scalectl(tmp_path, "plan", "--detailed-exitcode", site=site)
    assert plan.returncode == 3, plan.stderr
    assert "echo deployment shop-demo" in plan.stderr + plan.stdout

    assert scalectl(tmp_path, "deploy", "--yes", site=site).returncode == 0
    (tmp_path / "scale.yaml").write_text(SCALE.format(extra="").replace("shop:v1", "shop:v2"))
    assert scalectl(tmp_path, "deploy", "--yes", site=site).returncode == 0
    assert json.loads((tmp_path / "platform.json").read_text())["demo"]["active"] == 2

    back = scalectl(tmp_path, "rollback", "--yes", site=site)
    assert back.returncode == 0, back.stderr
    assert json.loads((tmp_path / "platform.json").read_text())["demo"]["active"] == 1


def test_its_checks_are_validation_errors_with_a_place(site: Path, tmp_path: Path) -> None:
    (tmp_path / "scale.yaml").write_text(SCALE.format(extra="    spot: true\n"))
    result = scalectl(tmp_path, "validate", site=site)
    assert result.returncode == 2
    assert "scale.yaml:10:" in result.stderr
    assert "echo has no spot capacity" in result.stderr


def test_its_keys_are_in_the_schema_and_checked_strictly(site: Path, tmp_path: Path) -> None:
    schema = json.loads(scalectl(tmp_path, "schema", site=site).stdout)
    assert "EchoTarget" in schema["$defs"]

    (tmp_path / "scale.yaml").write_text(SCALE.format(extra="    replica: 3\n"))
    result = scalectl(tmp_path, "validate", site=site)
    assert result.returncode == 2
    assert "unknown key `replica`" in result.stderr
    assert "did you mean `replicas`" in result.stderr


def test_without_the_package_the_platform_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "scale.yaml").write_text(SCALE.format(extra=""))
    result = scalectl(tmp_path, "validate")
    assert result.returncode == 2
    assert "unknown provider `echo`" in result.stderr
