"""Kubernetes provider figures: deploy overhead beyond the cluster's own readiness time, API calls
per deploy and per rollback, rollback wall time, for both traffic mechanisms.

Runs the official kubernetes client against the local API server simulator
(tests/kubernetes/simulator.py), whose pods become ready READY seconds after a spec change:

    .venv/bin/python benchmarks/kubernetes_bench.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalectl import registry
from scalectl.checks import load_checked
from scalectl.engine import Engine
from scalectl.events import Events
from tests.kubernetes.simulator import KubeSim

READY = 1.0  # seconds the simulator takes to make a Deployment's pods ready

SCALE = """\
version: 1
name: bench
model: {{image: "acme/scorer:{version}"}}
targets:
  prod:
    provider: kubernetes
    context: sim
    autoscaling: {{min: 2, max: 4, metric: cpu, target: 60}}
    rollout: {{strategy: {strategy}, percent: 50, bake: 0s}}
{extra}"""


def run(sim: KubeSim, act: Callable[[], object]) -> tuple[float, int]:
    """Wall seconds and API requests (discovery included) of one engine call."""
    before = sum(sim.requests.values())
    started = time.monotonic()
    act()
    wall = time.monotonic() - started
    return wall, sum(sim.requests.values()) - before


def scenario(routing: str) -> list[str]:
    extra = "    gateway: gateways/public\n" if routing == "gateway" else ""
    sim = KubeSim(ready_seconds=READY, fail_seconds=READY)
    sim.start()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["KUBECONFIG"] = str(sim.kubeconfig(folder / "kubeconfig"))
        registry.unregister("kubernetes")
        path = folder / "scale.yaml"

        def engine(version: int, strategy: str) -> Engine:
            path.write_text(SCALE.format(version=version, strategy=strategy, extra=extra))
            return Engine(load_checked(path), folder / "state")

        wall, calls = run(sim, lambda: engine(1, "all_at_once").deploy("prod", Events()))
        lines.append(
            f"  first deploy (1 readiness wait): {wall:.2f}s wall, overhead {wall - READY:.2f}s, {calls} API calls"
        )
        # gateway mode waits for the new pods once; replica mode at the 50% step and again at 100%
        waits = 1 if routing == "gateway" else 2
        wall, calls = run(sim, lambda: engine(2, "canary").deploy("prod", Events()))
        lines.append(
            f"  canary deploy 50% -> 100%, bake 0s ({waits} readiness wait): {wall:.2f}s wall, "
            f"overhead {wall - waits * READY:.2f}s, {calls} API calls"
        )
        wall, calls = run(sim, lambda: engine(2, "canary").rollback("prod", None, Events()))
        warm = "warm: a route flip" if routing == "gateway" else f"scales revision 1 back up: {READY:.1f}s of readiness"
        lines.append(f"  rollback to revision 1 ({warm}): {wall:.2f}s wall, {calls} API calls")
        wall, calls = run(sim, lambda: engine(2, "canary").destroy("prod", Events()))
        lines.append(f"  destroy: {wall:.2f}s wall, {calls} API calls")
    sim.stop()
    return lines


def main() -> None:
    started = time.monotonic()
    import kubernetes.client  # noqa: F401  (paid once per deploy command; measured apart from the rollout)

    print(f"importing the kubernetes client: {time.monotonic() - started:.2f}s (only commands that talk to a cluster)")
    print(f"kubernetes provider vs API server simulator (pods ready {READY:.1f}s after a change)")
    for routing, title in (
        ("gateway", "HTTPRoute weights (Gateway API)"),
        ("replicas", "replica ratio behind the Service"),
    ):
        print(f"{title}:")
        for line in scenario(routing):
            print(line)


if __name__ == "__main__":
    main()
