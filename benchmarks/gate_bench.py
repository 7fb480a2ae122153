"""How fast the Docker bake gate catches a bad canary: from its first bad answer to the rollback done.

    python benchmarks/gate_bench.py [--runs 3] [--json]

One deployment of the quickstart model with 20 ms of injected latency (tests/metrics/faulty),
then, under a two-thread load client, canaries of the same image that answer 500 on every
second prediction (error-rate gate) or take 250 ms (max_p99 gate), each rolled back by the bake.
Per kind and run:
- fail -> off: from the first bad answer a client got from the canary to the last answer the
  canary gave (the gateway no longer sends it traffic);
- fail -> done: to the end of `scalectl deploy` (canary removed, state written), as a user waits;
- bad answers: how many requests the canary answered badly before it was rolled back.
Gate settings: canary 50%, min_requests 10, max_error_rate 5% (default), max_p99 120 ms.
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
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.metrics.client import Client, build_faulty_image  # noqa: E402

GATEWAY_IMAGE = os.environ.get("SCALECTL_GATEWAY_IMAGE", "scalectl/gateway:local")
SCALE = """\
version: 1
name: {app}
model:
  image: {image}
  env: {{FAULT_LATENCY_MS: "${{LAT:-20}}", FAULT_ERROR_SHARE: "${{ERR:-0}}"}}
targets:
  local:
    provider: docker
    replicas: 1
    port: {port}
    gateway_image: {gateway}
    keep_revisions: 2
    rollout: {{strategy: canary, percent: 50, bake: 30s, timeout: 90s, min_requests: 10, max_p99: 120ms}}
"""
KINDS = {"5xx": {"ERR": "0.5"}, "p99": {"LAT": "250"}}


def scalectl(path: Path, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    cmd = [sys.executable, "-m", "scalectl", args[0], "-f", str(path), "--output", "json", *args[1:]]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, cwd=path.parent)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


def one(path: Path, port: int, kind: str) -> dict[str, float]:
    with Client(port, threads=2) as client:
        time.sleep(0.5)
        code, doc = scalectl(path, "deploy", "--yes", **KINDS[kind])
        done = time.time()
    if code != 1 or "rolled back automatically" not in doc.get("error", ""):
        raise SystemExit(f"{kind} canary was not rolled back: {doc}")
    serving = {s.revision for s in client.samples[:20]}
    canary = [s for s in client.samples if s.revision and s.revision not in serving]
    bad = [s for s in canary if (s.status >= 500 if kind == "5xx" else s.ms > 120)]
    first = min(s.ended for s in bad)
    return {
        "fail_to_off_s": round(max(s.ended for s in canary) - first, 3),
        "fail_to_done_s": round(done - first, 3),
        "bad_answers": len(bad),
        "canary_answers": len(canary),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import docker

    image = build_faulty_image(docker.from_env())
    with tempfile.TemporaryDirectory() as tmp:
        from tests.docker.helpers import free_port

        port, app = free_port(), f"gbench{uuid.uuid4().hex[:6]}"
        path = Path(tmp) / "scale.yaml"
        path.write_text(SCALE.format(app=app, image=image, port=port, gateway=GATEWAY_IMAGE))
        code, doc = scalectl(path, "deploy", "--yes")
        if code != 0:
            raise SystemExit(f"base deploy failed: {doc}")
        try:
            results = {kind: [one(path, port, kind) for _ in range(args.runs)] for kind in KINDS}
        finally:
            scalectl(path, "destroy", "--yes")
    summary = {
        kind: {
            key: {"median": statistics.median(r[key] for r in runs), "max": max(r[key] for r in runs)}
            for key in runs[0]
        }
        for kind, runs in results.items()
    }
    if args.json:
        print(json.dumps({"runs": results, "summary": summary}, indent=2))
        return
    for kind, figures in summary.items():
        off, done = figures["fail_to_off_s"], figures["fail_to_done_s"]
        print(
            f"{kind:>4} canary: fail -> off {off['median']:.2f}s (max {off['max']:.2f}), "
            f"fail -> deploy done {done['median']:.2f}s (max {done['max']:.2f}), bad answers "
            f"{figures['bad_answers']['median']:.0f} of {figures['canary_answers']['median']:.0f} canary answers "
            f"(median of {args.runs})"
        )


if __name__ == "__main__":
    main()
