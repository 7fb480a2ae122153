"""Is `scalectl bench` itself the bottleneck? Its ceiling against wrk, and its fixed-rate latency against autocannon.

    python benchmarks/bench_client.py [--seconds 5] [--concurrency 16] [--runs 3] [--json]

Installs what it compares with when missing: `wrk` (Debian's package, `apt-get install -y wrk`) and
`autocannon` (npm, into ~/.cache/scalectl-bench). Needs a Docker engine (`.ci/setup-docker.sh`).

1. Closed loop, requests/s: nginx (the gateway image) answering `return 200` on a free port; wrk with one
   thread per core against `scalectl bench --concurrency N` with one worker process per core, at the same
   connections. `--runs` alternating runs; the median ratio is the figure.
2. Fixed rate, latency: `scalectl bench --rate R` against `autocannon --overallRate R` (a standard fixed-rate
   tool; Debian's wrk has no fixed-rate mode, wrk2 is not packaged) at the same connections, P50/P99 side by
   side, below saturation. Twice: against the static nginx at a rate well below its ceiling,
   and against a server with a fixed 20 ms service time (autocannon reports whole milliseconds, so
   sub-millisecond latencies of the static endpoint are below what it can resolve).
CPU microseconds per request (user + system of the client, from the OS) are printed too: on a shared,
loaded machine requests/s say as much about the neighbours as about the client; CPU per request does not.
bench's figure has its interpreter start-up (measured by a one-request run) taken off.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
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
CACHE = Path.home() / ".cache" / "scalectl-bench"
AUTOCANNON = CACHE / "node_modules" / ".bin" / "autocannon"
AUTOCANNON_VERSION = "9"
BODY = '{"instances": [[1, 2, 3, 4]]}'
SLOW_SERVER = """
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(float(sys.argv[2]))
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
                         b"Content-Length: 11\\r\\n\\r\\n{\\"ok\\":true}")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await server.serve_forever()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cores() -> int:
    return len(os.sched_getaffinity(0))


def child_cpu() -> float:
    """CPU seconds (user + system) used by finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_tools() -> None:
    """wrk from Debian and autocannon from npm, installed here when missing."""
    if shutil.which("wrk") is None:
        if os.geteuid() != 0:
            sys.exit("wrk is not installed: apt-get install -y wrk")
        if subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], check=True, capture_output=True)  # a fresh machine's empty lists
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    if not AUTOCANNON.exists():
        if shutil.which("npm") is None:
            sys.exit("npm is needed to install autocannon (apt-get install -y npm)")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), f"autocannon@{AUTOCANNON_VERSION}"],
            check=True,
            capture_output=True,
        )


def wait_for(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def wrk(url: str, seconds: int, concurrency: int, threads: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\nwrk.headers["Content-Type"] = "application/json"\n'
        )
    cpu = child_cpu()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", script.name, url],
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


def autocannon(url: str, seconds: int, connections: int, rate: int) -> dict[str, float]:
    """autocannon at a fixed overall rate, latencies in whole ms, measured from each send (-C).

    Its coordinated-omission correction is left off: it back-fills values *below* the measured ones (a
    20 ms server reads p50 11 ms at 400/s with it on), and below saturation there is nothing to correct."""
    cpu = child_cpu()
    out = subprocess.run(
        [str(AUTOCANNON), "-c", str(connections), "-d", str(seconds), "-m", "POST", "-H",
         "Content-Type: application/json", "-b", BODY, "--overallRate", str(rate), "-C", "--json", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    doc = json.loads(out)
    total = doc["requests"]["total"] or 1
    return {
        "rps": doc["requests"]["average"],
        "p50_ms": doc["latency"]["p50"],
        "p99_ms": doc["latency"]["p99"],
        "errors": doc["errors"] + doc["non2xx"],
        "cpu_us_per_request": round((child_cpu() - cpu) / total * 1e6, 1),
    }


def bench(
    url: str, requests: Path, seconds: int, load: list[str], startup_cpu: float = 0.0, loop: str = ""
) -> dict[str, Any]:
    """One `scalectl bench` run; CPU per request without the interpreter's start-up. `loop`: force
    SCALECTL_BENCH_LOOP (asyncio) to measure what uvloop saves."""
    cpu = child_cpu()
    env = {**os.environ, "SCALECTL_BENCH_LOOP": loop} if loop else None
    out = subprocess.run(
        [*SCALECTL, "bench", "--url", url, "--requests", str(requests), "--duration", f"{seconds}s",
         "--max-rate", "100000/s", "--max-requests", "10000000", "--output", "json", *load],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    doc = json.loads(out.stdout)
    step = doc["steps"][0]
    return {
        "rps": step["throughput_rps"],
        "p50_ms": step["latency_ms"]["p50"],
        "p99_ms": step["latency_ms"]["p99"],
        "errors": step["errors"],
        "client_lag_ms": step["client_lag_ms"],
        "workers": doc["workers"],
        "event_loop": doc["event_loop"],
        "cpu_us_per_request": round((child_cpu() - cpu - startup_cpu) / max(1, step["ok"]) * 1e6, 1),
    }


def startup(url: str, requests: Path) -> float:
    """CPU seconds of a `scalectl bench` that sends one request: the fixed cost of every run."""
    cpu = child_cpu()
    bench(url, requests, 1, ["--rate", "1/s", "--max-requests", "1"])
    return child_cpu() - cpu


def agreement(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    """bench's P50 and P99 as a ratio of the reference tool's."""
    return {
        q: round(ours[f"{q}_ms"] / theirs[f"{q}_ms"], 2) if theirs[f"{q}_ms"] else float("nan") for q in ("p50", "p99")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--static-rate", type=int, default=2000, help="fixed rate against the static endpoint")
    parser.add_argument("--slow-rate", type=int, default=400, help="fixed rate against the 20 ms server")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ensure_tools()
    n = cores()
    port, slow_port = free_port(), free_port()
    name = f"scalectl-bench-static-{os.getpid()}"
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:80", "--entrypoint", "sh",
         GATEWAY_IMAGE, "-c", "echo \"$0\" > /etc/nginx/nginx.conf && exec nginx -g 'daemon off;'", CONF],
        check=True, capture_output=True,
    )  # fmt: skip
    slow = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(slow_port), "0.02"])
    figures: dict[str, Any] = {"concurrency": args.concurrency, "seconds": args.seconds, "cores": n}
    try:
        url, slow_url = f"http://127.0.0.1:{port}/invocations", f"http://127.0.0.1:{slow_port}/invocations"
        wait_for(port)
        wait_for(slow_port)
        with tempfile.TemporaryDirectory() as tmp:
            requests = Path(tmp) / "r.jsonl"
            requests.write_text(BODY + "\n")
            base = startup(url, requests)
            figures["bench_startup_cpu_s"] = round(base, 3)
            runs = []
            for _ in range(args.runs):
                w = wrk(url, args.seconds, args.concurrency, n)
                b = bench(url, requests, args.seconds, ["--concurrency", str(args.concurrency)], base)
                runs.append({"wrk": w, "bench": b, "ratio": round(b["rps"] / w["rps"], 3)})
            figures["closed"] = runs
            figures["median_ratio"] = statistics.median(r["ratio"] for r in runs)
            one = bench(url, requests, args.seconds, ["--concurrency", str(args.concurrency), "--workers", "1"], base)
            figures["bench_one_worker"] = one
            plain = bench(url, requests, args.seconds, ["--concurrency", str(args.concurrency), "--workers", "1"],
                          base, loop="asyncio")  # fmt: skip
            figures["bench_one_worker_asyncio"] = plain
            fixed = {}
            for label, target, rate in (("static", url, args.static_rate), ("slow_20ms", slow_url, args.slow_rate)):
                ref = autocannon(target, args.seconds, args.concurrency, rate)
                ours = bench(target, requests, args.seconds,
                             ["--rate", f"{rate}/s", "--connections", str(args.concurrency)], base)  # fmt: skip
                fixed[label] = {"rate": rate, "autocannon": ref, "bench": ours, "ratio": agreement(ours, ref)}
            figures["fixed_rate"] = fixed
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        slow.terminate()
        slow.wait()
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"static nginx, {args.concurrency} connections, {args.seconds}s runs, wrk -t{n} vs bench --workers {n}:")
    for r in runs:
        w, c = r["wrk"], r["bench"]
        print(f"  wrk {w['rps']:>8,.0f}/s p50 {w['p50_ms']:.2f} p99 {w['p99_ms']:.2f} ms"
              f" CPU {w['cpu_us_per_request']:.0f} us/req | bench {c['rps']:>8,.0f}/s"
              f" p50 {c['p50_ms']:.2f} p99 {c['p99_ms']:.2f} ms CPU"
              f" {c['cpu_us_per_request']:.0f} us/req ({c['event_loop']}) | {r['ratio']:.0%}")  # fmt: skip
    print(f"  median ratio {figures['median_ratio']:.0%}; one worker: {one['rps']:,.0f}/s, "
          f"CPU {one['cpu_us_per_request']:.0f} us/req ({one['event_loop']}); on asyncio's loop {plain['rps']:,.0f}/s, "
          f"CPU {plain['cpu_us_per_request']:.0f} us/req; bench start-up {base:.2f} s CPU")  # fmt: skip
    for label, f in figures["fixed_rate"].items():
        a, o = f["autocannon"], f["bench"]
        print(f"fixed rate {f['rate']}/s ({label}): autocannon p50 {a['p50_ms']:.2f} p99 {a['p99_ms']:.2f} ms | bench "
              f"p50 {o['p50_ms']:.2f} p99 {o['p99_ms']:.2f} ms (lag p99 {o['client_lag_ms']['p99']:.2f}) | ratio "
              f"p50 {f['ratio']['p50']:.2f} p99 {f['ratio']['p99']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
