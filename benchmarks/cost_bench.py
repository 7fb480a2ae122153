"""Measure `scalectl cost-estimate` on a 20-target file against `python -c pass`.

Runs both as fresh subprocesses, interleaved, and prints the medians, the difference, and
whether any cloud SDK module was imported (it must not be).

    .venv/bin/python benchmarks/cost_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = [
    ("aws", "us-east-1", "ml.g5.xlarge"),
    ("aws", "us-east-1", "ml.inf2.xlarge"),
    ("aws", "us-west-2", "ml.g5.xlarge"),
    ("aws", "us-east-1", "ml.p4d.24xlarge"),
    ("aws", "eu-west-1", "ml.inf2.xlarge"),
    ("gcp", "us-central1", "g2-standard-8"),
    ("gcp", "us-central1", "a2-highgpu-1g"),
    ("gcp", "us-central1", "ct5lp-hightpu-1t"),
    ("gcp", "us-central1", "ct6e-standard-4t"),
    ("gcp", "us-central1", "a3-highgpu-1g"),
    ("azure", "eastus", "Standard_NC4as_T4_v3"),
    ("azure", "eastus", "Standard_NC24ads_A100_v4"),
    ("azure", "westus2", "Standard_NC6s_v3"),
    ("azure", "eastus", "Standard_NV36ads_A10_v5"),
    ("azure", "eastus2", "Standard_NC40ads_H100_v5"),
    ("docker", "", ""),
    ("docker", "", ""),
    ("gcp", "europe-west4", "g2-standard-4"),
    ("aws", "us-east-2", "ml.g5.xlarge"),
    ("azure", "westus3", "Standard_NC8as_T4_v3"),
]


def scale_file() -> str:
    lines = [
        "version: 1",
        "name: bench",
        "model: {image: registry.example.com/bench:v1}",
        "defaults:",
        "  autoscaling: {min: 1, max: 6, target: 50}",
        "targets:",
    ]
    for i, (provider, region, kind) in enumerate(TARGETS):
        name = f"t{i:02d}-{provider}"
        if provider == "aws":
            lines.append(f"  {name}: {{provider: aws, region: {region}, instance: {kind}}}")
        elif provider == "gcp":
            lines.append(f"  {name}: {{provider: gcp, project: p, region: {region}, machine: {kind}, spot: true}}")
        elif provider == "azure":
            lines.append(
                f"  {name}: {{provider: azure, subscription: s, resource_group: r, workspace: w, "
                f"region: {region}, instance: {kind}}}"
            )
        else:
            lines.append(f"  {name}: {{provider: docker, replicas: 2, hourly_cost: 0.4}}")
    lines += ["traffic: {peak_rps: 300, offpeak_rps: 30, peak_hours_per_day: 10, replica_rps: 50}", ""]
    return "\n".join(lines)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - start, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.yaml"
        path.write_text(scale_file())
        env = {**os.environ, "XDG_DATA_HOME": tmp}  # the shipped catalog, not a user copy
        estimate = [sys.executable, "-m", "scalectl", "cost-estimate", "-f", str(path), "--output", "json"]
        probe = [
            sys.executable,
            "-c",
            "import sys; before = set(sys.modules); from typer.testing import CliRunner; from scalectl.cli import app; "
            f"r = CliRunner().invoke(app, ['cost-estimate', '-f', {str(path)!r}, '--compare', '--output', 'json']); "
            "sdk = ('boto3', 'botocore', 'google.cloud.aiplatform', 'google.auth', 'google.api_core', 'azure.', "
            "'docker'); print(sorted(m for m in set(sys.modules) - before if m.startswith(sdk)))",
        ]
        baseline = [sys.executable, "-c", "pass"]
        timed(estimate, env)  # warm the file cache and .pyc files
        est_times, base_times = [], []
        doc = ""
        for _ in range(args.runs):
            t, doc = timed(estimate, env)
            est_times.append(t)
            base_times.append(timed(baseline, env)[0])
        parsed = json.loads(doc)
        _, sdks = timed(probe, env)
        med_est, med_base = statistics.median(est_times), statistics.median(base_times)
        print(f"targets: {len(parsed['targets'])}, total expected: ${parsed['total_monthly']:,.2f}/month")
        print(f"runs: {args.runs} each, interleaved")
        print(f"python -c pass          median {med_base * 1000:7.1f} ms")
        print(f"scalectl cost-estimate  median {med_est * 1000:7.1f} ms")
        print(f"difference              median {(med_est - med_base) * 1000:7.1f} ms")
        print(f"cloud SDK modules imported by cost-estimate --compare: {sdks.strip()}")


if __name__ == "__main__":
    main()
