"""Helpers the gcp tests (and benchmarks/gcp_bench.py) share: a scale file to deploy, and the CLI as CI runs it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from scalectl.cli import app

from .simulator import VertexSim

SCALE = """\
version: 1
name: fraud
model:
  image: {image}
  artifact: gs://acme-models/fraud/v1
  port: 8080
  health: /ping
  predict: /invocations
  env: {{LOG_LEVEL: info}}
targets:
  prod:
    provider: gcp
    project: acme
    region: us-central1
    machine: {machine}
    spot: {spot}
    undeploy_grace: {grace}
    autoscaling: {{min: 1, max: 3, metric: {metric}, target: 60}}
    rollout: {{strategy: {strategy}, percent: {percent}, bake: {bake}, timeout: {timeout}}}
{extra}"""


def write_scale(
    folder: Path,
    *,
    image: str = "us-docker.pkg.dev/acme/serving/fraud:v1",
    machine: str = "g2-standard-8",
    spot: bool = False,
    strategy: str = "all_at_once",
    percent: int = 25,
    bake: str = "0s",
    grace: str = "0s",
    metric: str = "cpu",
    timeout: str = "60s",
    extra: str = "",
) -> Path:
    path = folder / "scale.yaml"
    path.write_text(
        SCALE.format(
            image=image,
            machine=machine,
            spot=str(spot).lower(),
            strategy=strategy,
            percent=percent,
            bake=bake,
            grace=grace,
            metric=metric,
            timeout=timeout,
            extra=textwrap.indent(extra, "    ") if extra else "",
        )
    )
    return path


runner = CliRunner()
V1 = "us-docker.pkg.dev/acme/serving/fraud:v1"
V2 = "us-docker.pkg.dev/acme/serving/fraud:v2"


def scalectl(*args: str, state: Path) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, [*args, "--state-dir", str(state), "--output", "json", "--no-color"])
    doc = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, doc, result.output


def traffic_updates(sim: VertexSim) -> list[dict[str, int]]:
    return [
        {k: int(v) for k, v in r.body["trafficSplit"].items()}
        for r in sim.calls("PATCH")
        if "endpoints" in r.path and "trafficSplit" in r.body
    ]
