"""Several Docker targets deployed one after the other vs at once, on a real engine.

    python benchmarks/waves_bench.py [--targets 4] [--rounds 2] [--json]

Deploys N quickstart targets (one wave, 2 replicas each behind a gateway) with `--parallel 1`
(what `deploy` did before waves) and with `--parallel N`, destroying them between runs, and
prints the wall times (subprocess, as a user runs it) and their ratio, alternating the order each
round. Also prints, per run, the sum of the targets' own durations: the parallel run's sum over its
wall time is how many rollouts actually overlapped. On a 2-core machine the containers' start-up
competes for CPU, so cloud targets (minutes of waiting on the platform each) gain more.
Needs the images `.ci/setup-docker.sh` builds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

GATEWAY_IMAGE = os.environ.get("SCALECTL_GATEWAY_IMAGE", "scalectl/gateway:local")
MODEL_IMAGE = os.environ.get("SCALECTL_QUICKSTART_IMAGE", "scalectl/quickstart")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scale_file(app: str, targets: int) -> str:
    lines = [f"version: 1\nname: {app}\nmodel: {{image: '{MODEL_IMAGE}:v1'}}\ntargets:"]
    for i in range(targets):
        lines.append(
            f"  t{i}: {{provider: docker, replicas: 2, port: {free_port()}, gateway_image: {GATEWAY_IMAGE},"
            " rollout: {strategy: all_at_once}}"
        )
    return "\n".join(lines) + "\n"


def scalectl(path: Path, *args: str) -> tuple[float, dict[str, Any]]:
    """Run one scalectl command; (wall seconds, its JSON document)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "scalectl", args[0], "-f", str(path), "--state-dir", str(path.parent / "st"),
         "--output", "json", "--yes", *args[1:]],
        capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"scalectl {' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return wall, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=4, help="Docker targets in the file (one wave)")
    parser.add_argument("--rounds", type=int, default=2, help="serial/parallel pairs to time")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    runs: dict[str, list[float]] = {"serial": [], "parallel": []}
    overlap: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.yaml"
        path.write_text(scale_file(f"wbench-{uuid.uuid4().hex[:6]}", args.targets))
        try:
            for round_ in range(args.rounds):
                order = ["serial", "parallel"] if round_ % 2 == 0 else ["parallel", "serial"]
                for kind in order:
                    n = "1" if kind == "serial" else str(args.targets)
                    wall, doc = scalectl(path, "deploy", "--parallel", n)
                    assert all(r["result"] == "deployed" for r in doc["results"]), doc
                    runs[kind].append(wall)
                    if kind == "parallel":
                        overlap.append(sum(r["seconds"] for r in doc["results"]) / wall)
                    scalectl(path, "destroy")
        finally:
            subprocess.run(
                [sys.executable, "-m", "scalectl", "destroy", "-f", str(path), "--state-dir", str(path.parent / "st"),
                 "--yes"],
                capture_output=True,
            )  # fmt: skip
    serial, parallel = statistics.median(runs["serial"]), statistics.median(runs["parallel"])
    figures = {
        "targets": args.targets,
        "rounds": args.rounds,
        "serial_s": [round(w, 2) for w in runs["serial"]],
        "parallel_s": [round(w, 2) for w in runs["parallel"]],
        "median_serial_s": round(serial, 2),
        "median_parallel_s": round(parallel, 2),
        "speedup": round(serial / parallel, 2),
        "overlap": round(statistics.median(overlap), 2),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.targets} Docker targets, 2 replicas each, {args.rounds} round(s), {os.cpu_count()} CPU(s)")
    print(f"  --parallel 1: median {serial:.2f}s  ({', '.join(f'{w:.2f}' for w in runs['serial'])})")
    print(f"  --parallel {args.targets}: median {parallel:.2f}s  ({', '.join(f'{w:.2f}' for w in runs['parallel'])})")
    print(f"  speedup {serial / parallel:.2f}x; rollouts overlapping on average: {figures['overlap']}")


if __name__ == "__main__":
    main()
