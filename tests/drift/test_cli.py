"""`scalectl drift` end to end on files: verdicts, exit codes (0 ok, 2 bad input, 8 drift) and every output form."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from scalectl.capture import CaptureWriter

SCALE = """\
version: 1
name: fraud
model: {{image: "fraud:v1"}}
defaults:
  monitoring:
    drift: {{psi: 0.2, ks_p: 0.01}}
targets:
  web:
    provider: docker
    monitoring:
      capture: {{percent: 20, destination: {destination}}}
{extra}"""


def _instance(rng: np.random.Generator, amount_mean: float) -> dict[str, object]:
    return {
        "amount": float(rng.normal(amount_mean, 10)),
        "night": int(rng.integers(0, 2)),
        "channel": str(rng.choice(["web", "app"])),
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scale file, a 2000-row baseline, and captures: in-distribution a day ago, shifted `amount` in the last hour."""
    rng = np.random.default_rng(11)
    lines = ["amount,night,channel"]
    lines += [",".join(str(v) for v in _instance(rng, 100).values()) for _ in range(2000)]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    now = datetime.now(timezone.utc)
    writer = CaptureWriter(tmp_path / "captures", "web", percent=100, rng=random.Random(1))
    for i in range(400):  # 30 h ago, like the training data; outputs centred on 0.2
        body = json.dumps({"instances": [_instance(rng, 100)]}).encode()
        writer.write(
            body,
            json.dumps({"predictions": [float(rng.normal(0.2, 0.05))]}).encode(),
            200,
            now - timedelta(hours=30, seconds=i),
        )
    for i in range(400):  # last hour: amount shifted by 3 sd, outputs too
        body = json.dumps({"instances": [_instance(rng, 130)]}).encode()
        writer.write(
            body,
            json.dumps({"predictions": [float(rng.normal(0.5, 0.05))]}).encode(),
            200,
            now - timedelta(minutes=30, seconds=i),
        )
    writer.close()
    (tmp_path / "scale.yaml").write_text(SCALE.format(destination="captures", extra=""))
    return tmp_path


def drift(cli, project: Path, *args: object):  # type: ignore[no-untyped-def]
    """`scalectl drift` on the project's scale file and baseline, plus `args`."""
    return cli("drift", "-f", project / "scale.yaml", "--baseline", project / "train.csv", *args)


def test_shifted_feature_exits_8_and_names_it(cli, project: Path) -> None:
    result = drift(cli, project, "--since", "2h", "--reference-since", "2d", "--output", "json")
    assert result.exit_code == 8, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "drift" and doc["inputs"]["drifted"] == ["amount"] and doc["records"] == 400
    assert doc["predictions"]["drifted"] == ["prediction"]  # 0.2 a day ago vs 0.5 now
    assert "drift on web: amount, prediction prediction" in result.stderr


def test_in_distribution_window_is_exit_0(cli, project: Path) -> None:
    # the 30-hours-ago captures alone: --since 2d would mix both, so point at a file holding just the old ones
    old = project / "old.jsonl"
    lines = (project / "captures").glob("requests-*.jsonl")
    kept = [line for f in lines for line in f.read_text().splitlines() if json.loads(line)["time"] < _hours_ago(24)]
    old.write_text("\n".join(kept) + "\n")
    result = drift(cli, project, "--captures", old, "--since", "2d")
    assert result.exit_code == 0, result.stderr
    assert "verdict: no drift" in result.stderr


def _hours_ago(hours: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S")


def test_scale_yaml_and_flag_thresholds(cli, project: Path) -> None:
    (project / "scale.yaml").write_text(
        SCALE.format(destination="captures", extra="    # lenient\n").replace(
            "{psi: 0.2, ks_p: 0.01}", "{psi: 50, ks_p: 0, chi2_p: 0}"
        )
    )
    args = ["drift", "-f", project / "scale.yaml", "--baseline", project / "train.csv", "--since", "2h"]
    assert cli(*args).exit_code == 0  # the file's thresholds let everything pass
    assert cli(*args, "--psi", "0.2").exit_code == 8  # a flag wins over the file


def test_markdown_and_html_report(cli, project: Path) -> None:
    report = project / "drift.html"
    result = drift(cli, project, "--since", "2h", "--reference-since", "2d", "--format", "markdown", "--report", report)
    assert result.exit_code == 8
    assert result.stdout.startswith("### Data drift: `web`")
    assert "| amount | numeric |" in result.stdout and "DRIFT" in result.stdout
    page = report.read_text()
    assert page.count("<svg") == 2  # amount, and the prediction
    assert "<script" not in page and "src=" not in page and "href=" not in page
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):  # each picture is well-formed SVG with both series
        root = ElementTree.fromstring(svg)
        fills = {r.get("fill") for r in root.iter("{http://www.w3.org/2000/svg}rect")}
        assert fills == {"#9aa0a6", "#d93025"}
    # without --reference-since the reference is the window before (2-4 h ago), which has no captures
    plain = drift(cli, project, "--since", "2h")
    assert plain.exit_code == 8 and "no reference outputs" in plain.stderr


def test_reference_file_for_predictions(cli, project: Path) -> None:
    ref = project / "reference.csv"
    rng = np.random.default_rng(3)
    ref.write_text("prediction\n" + "\n".join(str(v) for v in rng.normal(0.5, 0.05, 500)) + "\n")
    result = drift(cli, project, "--since", "2h", "--reference", ref, "--output", "json")
    doc = json.loads(result.stdout)
    assert doc["predictions"]["verdict"] == "ok" and doc["inputs"]["drifted"] == ["amount"]


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        ("pvc://captures/fraud", "kubectl cp"),
        ("azureml://datastores/workspaceblobstore", "azblob://ACCOUNT/CONTAINER/modelDataCollector/"),
    ],
)
def test_cloud_destinations_are_refused_with_what_works(cli, project: Path, destination: str, message: str) -> None:
    (project / "scale.yaml").write_text(SCALE.format(destination=destination, extra=""))
    result = drift(cli, project)
    assert result.exit_code == 2 and message in result.stderr and "--captures" in result.stderr


def test_bad_input_is_exit_2(cli, project: Path) -> None:
    base = ["drift", "-f", project / "scale.yaml"]
    assert cli(*base, "--baseline", project / "nope.csv").exit_code == 2
    assert "--since 3x" in cli(*base, "--baseline", project / "train.csv", "--since", "3x").stderr
    other = project / "other.csv"
    other.write_text("colour,size\nred,1\n")
    wrong = cli(*base, "--baseline", other, "--since", "2h")
    assert wrong.exit_code == 2 and "right baseline" in wrong.stderr
    empty = cli(*base, "--baseline", project / "train.csv", "--since", "1m", "--captures", project / "old-none")
    assert empty.exit_code == 2 and "no captured requests" in empty.stderr


def test_no_captures_in_window_is_a_failure_not_ok(cli, project: Path, tmp_path: Path) -> None:
    (project / "empty").mkdir()
    result = drift(cli, project, "--captures", project / "empty")
    assert result.exit_code == 1 and "nothing to compare" in result.stderr


def test_other_commands_do_not_import_numpy(project: Path) -> None:
    probe = (
        "import sys\nfrom scalectl.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy', 'pyarrow')), file=sys.__stderr__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "validate", "-f", str(project / "scale.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_reference_captures_directory_for_predictions(cli, project: Path) -> None:
    result = drift(cli, project, "--since", "2h", "--reference", project / "captures", "--output", "json")
    doc = json.loads(result.stdout)
    # the reference holds both windows (0.2 and 0.5); now is all 0.5: moved, by about half the mass
    assert doc["reference"] == str(project / "captures") and doc["predictions"]["features"][0]["psi"] > 0.2


def test_without_the_drift_extra_it_names_the_extra(project: Path) -> None:
    probe = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'scipy'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from scalectl.cli import app\n"
        "app(sys.argv[1:])\n"
    )
    args = ["drift", "-f", str(project / "scale.yaml"), "--baseline", str(project / "train.csv")]
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "pip install 'scalectl[drift]'" in proc.stderr
