"""Docker target figures on a real engine, with the quickstart images `.ci/setup-docker.sh` builds.

    python benchmarks/docker_bench.py [--requests 500] [--seconds 3] [--concurrency 4] [--json]

Prints:
- warm rollback wall time (`scalectl rollback`, as a user runs it) and its ratio to a fresh
  deploy of the same revision (destroy, then `scalectl deploy`);
- gateway overhead: p50/p99 latency (sequential requests) and throughput (N client threads)
  through the gateway vs straight to one replica's published port, in the same run;
- scalectl's own deploy overhead: deploy wall time minus the time the containers took to be
  healthy, from asking the engine to start them (create + start + first 200 on the health route,
  read from the deploy's own events).
Every scalectl call is a subprocess, so wall times include interpreter start-up, as a user sees.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

GATEWAY_IMAGE = os.environ.get("SCALECTL_GATEWAY_IMAGE", "scalectl/gateway:local")
MODEL_IMAGE = os.environ.get("SCALECTL_QUICKSTART_IMAGE", "scalectl/quickstart")
BODY = json.dumps({"instances": [{"amount": 900, "night": 1, "distance_km": 120, "foreign": 1}]}).encode()

SCALE = """\
version: 1
name: bench
model:
  image: {image}:${{TAG:-v1}}
targets:
  local:
    provider: docker
    replicas: 2
    port: {port}
    gateway_image: {gateway}
    keep_revisions: 3
    rollout: {{strategy: all_at_once}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scalectl(path: Path, *args: str, tag: str = "v1") -> tuple[float, dict[str, Any]]:
    """Run one scalectl command; (wall seconds, its JSON document)."""
    env = {**os.environ, "TAG": tag}
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "scalectl", args[0], "-f", str(path), "--state-dir", str(path.parent / "st"),
         "--output", "json", *args[1:]],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"scalectl {' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return wall, json.loads(done.stdout)


def healthy_window(events: list[dict[str, Any]]) -> float:
    """Seconds from asking the engine to start the replicas to the revision being healthy (deploy's events)."""
    asked = [e["t"] for e in events if e["kind"] == "step" and str(e["message"]).startswith("starting ")]
    healthy = [
        e["t"] for e in events if e.get("state") == "healthy" and str(e.get("resource", "")).startswith("revision")
    ]
    return healthy[-1] - asked[0] if asked and healthy else 0.0


def one_request(port: int) -> float:
    began = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/invocations", BODY, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status} from port {port}")
    finally:
        conn.close()
    return time.perf_counter() - began


def latency(ports: dict[str, int], n: int) -> dict[str, dict[str, float]]:
    """p50/p99 of sequential requests, alternating between the ports so both see the same noise."""
    samples: dict[str, list[float]] = {name: [] for name in ports}
    for i in range(n + 20):
        for name, port in ports.items():
            took = one_request(port)
            if i >= 20:  # the first 20 warm up
                samples[name].append(took)
    out = {}
    for name, values in samples.items():
        values.sort()
        out[name] = {
            "p50_ms": round(1000 * values[len(values) // 2], 2),
            "p99_ms": round(1000 * values[min(len(values) - 1, int(len(values) * 0.99))], 2),
        }
    return out


def throughput(port: int, seconds: float, concurrency: int) -> float:
    count = [0] * concurrency
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        while time.perf_counter() < stop:
            one_request(port)
            count[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / seconds


def throughputs(ports: dict[str, int], seconds: float, concurrency: int, rounds: int = 2) -> dict[str, float]:
    """Requests/s per port: alternating runs, averaged."""
    runs: dict[str, list[float]] = {name: [] for name in ports}
    for _ in range(rounds):
        for name, port in ports.items():
            runs[name].append(throughput(port, seconds, concurrency))
    return {name: round(statistics.mean(values), 1) for name, values in runs.items()}


def replica_port(app: str, revision: int) -> int:
    import docker

    client = docker.from_env()
    found = client.containers.list(
        filters={"label": [f"io.scalectl.app={app}", f"io.scalectl.revision={revision}", "io.scalectl.role=replica"]}
    )
    ports = found[0].attrs["NetworkSettings"]["Ports"]["8080/tcp"]
    return int(ports[0]["HostPort"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="sequential requests per latency sample")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each throughput run")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads in the throughput runs")
    parser.add_argument("--rollbacks", type=int, default=5, help="warm rollbacks to time")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="scalectl-bench-"))
    port = free_port()
    path = work / "scale.yaml"
    path.write_text(SCALE.format(image=MODEL_IMAGE, port=port, gateway=GATEWAY_IMAGE))
    figures: dict[str, Any] = {"replicas": 2, "cpus": os.cpu_count()}
    try:
        wall, doc = scalectl(path, "deploy", "--yes", tag="v1")
        events = doc["targets"]["local"]["events"]
        window = healthy_window(events)
        figures["first_deploy"] = {
            "wall_s": round(wall, 3),
            "containers_to_healthy_s": round(window, 3),
            "scalectl_overhead_s": round(wall - window, 3),
            "in_process_s": round(events[-1]["t"], 3),
        }
        wall, doc = scalectl(path, "deploy", "--yes", tag="v2")
        events = doc["targets"]["local"]["events"]
        window = healthy_window(events)
        figures["update_deploy"] = {
            "wall_s": round(wall, 3),
            "containers_to_healthy_s": round(window, 3),
            "scalectl_overhead_s": round(wall - window, 3),
            "in_process_s": round(events[-1]["t"], 3),
        }

        rollbacks, in_process = [], []
        for i in range(args.rollbacks):  # 2 -> 1 -> 2 -> 1 ...: every one is warm
            to = "1" if i % 2 == 0 else "2"
            wall, doc = scalectl(path, "rollback", "--yes", "-t", "local", "--to", to)
            rollbacks.append(wall)
            in_process.append(doc["targets"]["local"]["seconds"])
        if args.rollbacks % 2 == 0:
            scalectl(path, "rollback", "--yes", "-t", "local", "--to", "1")
        direct_port = replica_port("bench", 1)
        ports = {"through_gateway": port, "direct_to_one_replica": direct_port}
        lat = latency(ports, args.requests)
        rps = throughputs(ports, args.seconds, args.concurrency)
        figures["gateway"] = {name: {**lat[name], "rps": rps[name]} for name in ports}

        scalectl(path, "destroy", "--yes")
        fresh_wall, _ = scalectl(path, "deploy", "--yes", tag="v1")
        median_rb = statistics.median(rollbacks)
        figures["rollback"] = {
            "warm_rollback_wall_s_median": round(median_rb, 3),
            "warm_rollback_wall_s_all": [round(x, 3) for x in rollbacks],
            "warm_rollback_in_process_s_median": round(statistics.median(in_process), 3),
            "fresh_deploy_same_revision_wall_s": round(fresh_wall, 3),
            "ratio_rollback_to_fresh_deploy": round(median_rb / fresh_wall, 3),
        }
    finally:
        subprocess.run(
            [sys.executable, "-m", "scalectl", "destroy", "-f", str(path), "--state-dir", str(work / "st"), "--yes"],
            capture_output=True,
        )

    if args.json:
        print(json.dumps(figures, indent=2))
        return
    rb, gw = figures["rollback"], figures["gateway"]
    print(f"machine: {figures['cpus']} CPUs (shared); target: {figures['replicas']} replicas, quickstart model")
    print(
        f"warm rollback (scalectl rollback, wall):   median {rb['warm_rollback_wall_s_median']:.2f}s "
        f"(in-process {rb['warm_rollback_in_process_s_median']:.2f}s) over {len(rb['warm_rollback_wall_s_all'])} runs"
    )
    print(f"fresh deploy of the same revision (wall):  {rb['fresh_deploy_same_revision_wall_s']:.2f}s")
    print(f"ratio rollback / fresh deploy:             {rb['ratio_rollback_to_fresh_deploy']:.2f}")
    for name, key in (("through the gateway", "through_gateway"), ("direct to one replica", "direct_to_one_replica")):
        g = gw[key]
        print(f"{name:<24} p50 {g['p50_ms']:6.2f} ms  p99 {g['p99_ms']:6.2f} ms  {g['rps']:7.1f} req/s")
    for name in ("first_deploy", "update_deploy"):
        d = figures[name]
        print(
            f"{name.replace('_', ' '):<14} wall {d['wall_s']:.2f}s, containers start->healthy "
            f"{d['containers_to_healthy_s']:.2f}s, scalectl overhead {d['scalectl_overhead_s']:.2f}s"
        )


if __name__ == "__main__":
    main()
