"""Commands that touch no cloud must not import a cloud SDK (each costs 0.1-2.5 s to import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("boto3", "botocore", "google.cloud", "google.api_core", "azure", "docker")

PROBE = """
import json, sys
at_startup = set(sys.modules)  # site .pth files may load the empty google / google.cloud namespaces
from scalectl.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in set(sys.modules) - at_startup if m.split(".")[0] in ("boto3", "botocore", "azure", "docker")
               or m.startswith(("google.cloud", "google.api_core")))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.__stderr__)
"""

ALL_PROVIDERS = """\
version: 1
name: fraud
model: {image: "fraud:v1"}
targets:
  local: {provider: docker}
  aws: {provider: aws, region: us-east-1, instance: ml.g5.xlarge,
        execution_role: "arn:aws:iam::123456789012:role/sagemaker"}
  gcp: {provider: gcp, project: acme, region: us-central1, machine: n1-standard-4}
  azure: {provider: azure, subscription: 00000000-0000-0000-0000-000000000000, resource_group: ml,
          workspace: prod, instance: Standard_DS3_v2}
"""


def run_probe(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60, check=False)
    line = proc.stderr.strip().splitlines()[-1]
    result: dict[str, object] = json.loads(line)
    return result


@pytest.mark.parametrize(
    "command",
    [["--help"], ["validate"], ["schema"], ["render"], ["render", "--output", "json"]],
    ids=lambda c: " ".join(c),
)
def test_offline_commands_import_no_cloud_sdk(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "scale.yaml"
    path.write_text(ALL_PROVIDERS)
    args = [*command, "-f", str(path)] if command[0] in ("validate", "render") else command
    result = run_probe(*args)
    assert result["heavy"] == [], f"{' '.join(command)} imported {result['heavy']}"
    assert result["code"] in (0, None), result


def test_validate_does_not_import_jinja2(tmp_path: Path) -> None:
    """Templates are for render and deploy; validate runs on every CI push and should start fast."""
    path = tmp_path / "scale.yaml"
    path.write_text(ALL_PROVIDERS)
    probe = (
        "import sys\nfrom scalectl.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'jinja2'), file=sys.__stderr__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[]"
