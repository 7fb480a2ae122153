"""`scalectl bench` through Vertex AI's front door: endpoints.predict at the endpoint's URL, against the
simulator's predict route; the deployed model that answered is reported as its scalectl revision."""

from __future__ import annotations

import json
from pathlib import Path

from scalectl.providers.gcp.provider import GcpProvider

from .helpers import V1, runner, scalectl, write_scale
from .simulator import VertexSim


def bench(path: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    from scalectl.cli import app

    result = runner.invoke(app, ["bench", "-f", str(path), "-t", "prod", *args, "--output", "json"])
    return result.exit_code, json.loads(result.stdout)


def test_bench_calls_predict_and_names_the_revision_that_answered(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    path = write_scale(tmp_path, image=V1)
    (tmp_path / "bench.jsonl").write_text('{"instances": [[1, 2]]}\n')
    code, doc = bench(path, "--rate", "20/s", "--duration", "1s")
    assert code == 1 and "no model with traffic" in doc["error"]  # not deployed yet: refused, nothing sent

    assert scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")[0] == 0
    code, doc = bench(path, "--rate", "40/s", "--duration", "1s", "--slo", "errors=0%")
    assert code == 0, doc
    step = doc["steps"][0]
    assert step["ok"] == 40 and step["errors"] == {}
    assert step["revisions"] == {"1": step["revisions"]["1"]} and step["revisions"]["1"]["ok"] == 40
    assert doc["replicas"] == 1 and doc["traffic"] == {"1": 100}
    assert len(sim.calls("POST", ":predict")) == 40

    sim.break_health("fraud:v1")
    code, doc = bench(path, "--rate", "20/s", "--duration", "1s")
    assert code == 1 and doc["steps"][0]["errors"] == {"HTTP 503": 20}
