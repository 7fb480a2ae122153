"""A wheel carries providers/, templates/ and the price catalog inside the scalectl package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_wheel_installs_providers_templates_and_catalog_inside_scalectl(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("scalectl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"scalectl/templates/{p.relative_to(ROOT / 'templates')}" for p in (ROOT / "templates").rglob("*.j2")}
    expected |= {f"scalectl/providers/{p.relative_to(ROOT / 'providers')}" for p in (ROOT / "providers").rglob("*.py")}
    expected |= {"scalectl/catalog/prices.csv", "scalectl/py.typed"}
    assert len(expected) > 20
    assert expected <= names, sorted(expected - names)
