"""Is `scalectl bench` itself the bottleneck? Its ceiling against wrk, on a static endpoint on this machine.

    python benchmarks/bench_client.py [--seconds 3] [--concurrency 16] [--json]

Starts nginx (the gateway image, `.ci/setup-docker.sh` builds it) answering `return 200` on a free port,
then, at the same concurrency and on one core each (wrk -t1; bench is one event loop):
- closed loop: wrk's requests/s and P50/P99 vs `scalectl bench --concurrency N` (POST, same body);
- open loop: `scalectl bench --rate R` at half of its own closed-loop ceiling, its P50/P99 and how late the
  client sent (client_lag). Debian's wrk has no fixed-rate mode (that is wrk2), so the fixed-rate latency
  is compared with wrk's closed-loop latency at the same concurrency, not at the same rate.
CPU microseconds per request (user + system, from the OS) are printed too: on a shared, loaded machine
requests/s say more about the neighbours than the client; CPU per request does not.
Needs `wrk` (apt-get install wrk) and a Docker engine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GATEWAY_IMAGE = os.environ.get("SCALECTL_GATEWAY_IMAGE", "scalectl/gateway:local")
CONF = (
    "worker_processes 1; events { worker_connections 1024; } "
    "http { access_log off; server { listen 80; location / { return 200 '{\"ok\":true}'; } } }"
)
SCALECTL = [sys.executable, "-m", "scalectl"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_cpu() -> float:
    """CPU seconds (user + system) used by finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(url: str, body: str, seconds: int, concurrency: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n'
        )
    cpu = child_cpu()
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script.name).unlink()

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    assert rps and done, out
    cpu_us = (child_cpu() - cpu) / int(done.group(1)) * 1e6
    return {"rps": float(rps.group(1)), "p50_ms": ms("50"), "p99_ms": ms("99"), "cpu_us_per_request": round(cpu_us, 1)}


def bench(url: str, requests: Path, seconds: int, load: list[str]) -> dict[str, Any]:
    """One `scalectl bench` run; its CPU per request includes interpreter start-up (about 0.3 s)."""
    cpu = child_cpu()
    out = subprocess.run(
        [*SCALECTL, "bench", "--url", url, "--requests", str(requests), "--duration", f"{seconds}s",
         "--max-rate", "100000/s", "--max-requests", "10000000", "--output", "json", *load],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    step = json.loads(out.stdout)["steps"][0]
    return {
        "rps": step["throughput_rps"],
        "p50_ms": step["latency_ms"]["p50"],
        "p99_ms": step["latency_ms"]["p99"],
        "errors": step["errors"],
        "client_lag_ms": step["client_lag_ms"],
        "cpu_us_per_request": round((child_cpu() - cpu) / max(1, step["ok"]) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    port = free_port()
    name = f"scalectl-bench-static-{os.getpid()}"
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:80", "--entrypoint", "sh",
         GATEWAY_IMAGE, "-c", "echo \"$0\" > /etc/nginx/nginx.conf && exec nginx -g 'daemon off;'", CONF],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/invocations"
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        body = '{"instances": [[1, 2, 3, 4]]}'
        with tempfile.TemporaryDirectory() as tmp:
            requests = Path(tmp) / "r.jsonl"
            requests.write_text(body + "\n")
            figures: dict[str, Any] = {"concurrency": args.concurrency, "seconds": args.seconds}
            figures["wrk"] = wrk(url, body, args.seconds, args.concurrency)
            figures["bench_closed"] = bench(url, requests, args.seconds, ["--concurrency", str(args.concurrency)])
            rate = int(figures["bench_closed"]["rps"] / 2)
            figures["bench_open"] = {"rate": rate, **bench(url, requests, args.seconds, ["--rate", f"{rate}/s"])}
            figures["ratio_rps"] = round(figures["bench_closed"]["rps"] / figures["wrk"]["rps"], 2)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    w, c, o = figures["wrk"], figures["bench_closed"], figures["bench_open"]
    print(f"static nginx, {args.concurrency} connections, {args.seconds}s, one core each:")
    print(f"  wrk            {w['rps']:>9,.0f} req/s  p50 {w['p50_ms']:.2f} ms  p99 {w['p99_ms']:.2f} ms"
          f"  CPU {w['cpu_us_per_request']:.0f} us/request")  # fmt: skip
    print(f"  bench closed   {c['rps']:>9,.0f} req/s  p50 {c['p50_ms']:.2f} ms  p99 {c['p99_ms']:.2f} ms"
          f"  CPU {c['cpu_us_per_request']:.0f} us/request  ({figures['ratio_rps']:.0%} of wrk)")  # fmt: skip
    print(f"  bench {o['rate']}/s open: {o['rps']:,.0f} req/s  p50 {o['p50_ms']:.2f} ms  p99 {o['p99_ms']:.2f} ms"
          f"  client lag p99 {o['client_lag_ms']['p99']:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
