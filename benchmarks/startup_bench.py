"""How fast the offline commands start, against a bare `python -c pass` in the same run.

Run: python benchmarks/startup_bench.py [--runs N] [--all]
Prints the median wall time of each command and its ratio to the baseline; no pass/fail.
The headline cases are `--help`, `--version` and `validate` of a one-target Docker file, run
through the installed `scalectl` console script (what users type) when it sits next to this
Python, else `python -m scalectl`. `--all` adds `schema` and validate/render of each example.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE_DOCKER_TARGET = """\
version: 1
name: bench
model: {image: "bench:v1"}
targets:
  local: {provider: docker}
"""


def median_wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scalectl_command() -> list[str]:
    """The console script if installed beside this interpreter: it is what users run."""
    script = Path(sys.executable).parent / "scalectl"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "scalectl"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--all", action="store_true", help="also schema, and validate/render of every example")
    args = parser.parse_args()
    py = sys.executable
    cli = scalectl_command()
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "scale.yaml"
        one.write_text(ONE_DOCKER_TARGET)
        cases: dict[str, list[str]] = {
            "python -c pass (baseline)": [py, "-c", "pass"],
            "scalectl --help": [*cli, "--help"],
            "scalectl --version": [*cli, "--version"],
            "scalectl validate (one docker target)": [*cli, "validate", "-f", str(one)],
        }
        if args.all:
            cases["scalectl schema"] = [*cli, "schema"]
            for example in sorted((ROOT / "examples").glob("*/scale.yaml")):
                rel = example.relative_to(ROOT)
                cases[f"scalectl validate -f {rel}"] = [*cli, "validate", "-f", str(example)]
                cases[f"scalectl render -f {rel}"] = [*cli, "render", "-f", str(example)]
        base = None
        print(f"{'command':<60} {'median':>9} {'x baseline':>11}")
        for name, cmd in cases.items():
            t = median_wall(cmd, args.runs)
            base = base or t
            print(f"{name:<60} {t * 1000:7.1f}ms {t / base:10.1f}x")


if __name__ == "__main__":
    main()
