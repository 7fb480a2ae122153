"""`scalectl bench` through SageMaker's front door: InvokeEndpoint, SigV4-signed from the standard credential
chain, against the simulator's runtime, which checks the signature the way AWS does."""

from __future__ import annotations

import json

import pytest

from scalectl.cli import app

from .conftest import Project
from .simulator import SageMakerSimulator


def bench(project: Project, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = project.runner.invoke(app, ["bench", "-f", str(project.file), "-t", "prod", *args, "--output", "json"])
    return result.exit_code, json.loads(result.stdout)


def test_bench_signs_invoke_endpoint_and_reports_the_variant_that_served(
    sim: SageMakerSimulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sim.url)
    assert project.json("deploy", "--yes")[0] == 0
    (project.dir / "bench.jsonl").write_text('{"instances": [[1, 2]]}\n{"instances": [[3, 4], [5, 6]]}\n')

    code, doc = bench(project, "--rate", "40/s", "--duration", "1s", "--slo", "errors=0%")
    assert code == 0, doc
    step = doc["steps"][0]
    assert step["ok"] == 40 and step["errors"] == {}
    assert sim.calls["InvokeEndpoint"] == 40  # every request reached the runtime, and its signature held
    assert set(step["revisions"]) == {"AllTraffic"} and doc["traffic"] == {"AllTraffic": 100}
    assert doc["replicas"] == 1 and "SigV4" in doc["front_door"] and doc["url"].startswith(sim.url)

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    code, doc = bench(project, "--rate", "20/s", "--duration", "1s")
    assert code == 1 and doc["steps"][0]["errors"] == {"HTTP 403": 20}  # a wrong signature is refused


def test_bench_refuses_an_endpoint_that_is_not_deployed(sim: SageMakerSimulator, project: Project) -> None:
    (project.dir / "bench.jsonl").write_text('{"instances": []}\n')
    code, doc = bench(project, "--rate", "10/s", "--duration", "1s")
    assert code == 1 and "not serving" in doc["error"] and "scalectl deploy -t prod" in doc["error"]
