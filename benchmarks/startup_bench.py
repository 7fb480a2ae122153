"""How fast the offline commands start, against a bare `python -c pass` in the same run.

Run: python benchmarks/startup_bench.py [--runs N]
Prints the median wall time of each command and its ratio to the baseline; no pass/fail.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median_wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    examples = sorted(p for p in (ROOT / "examples").glob("*/scale.yaml"))
    cases: dict[str, list[str]] = {
        "python -c pass (baseline)": [py, "-c", "pass"],
        "scalectl --help": [py, "-m", "scalectl", "--help"],
        "scalectl schema": [py, "-m", "scalectl", "schema"],
    }
    for example in examples:
        rel = example.relative_to(ROOT)
        cases[f"scalectl validate -f {rel}"] = [py, "-m", "scalectl", "validate", "-f", str(example)]
        cases[f"scalectl render -f {rel}"] = [py, "-m", "scalectl", "render", "-f", str(example)]
    base = None
    print(f"{'command':<60} {'median':>9} {'x baseline':>11}")
    for name, cmd in cases.items():
        t = median_wall(cmd, args.runs)
        base = base or t
        print(f"{name:<60} {t * 1000:7.0f}ms {t / base:10.1f}x")


if __name__ == "__main__":
    main()
