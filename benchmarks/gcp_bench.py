"""GCP provider figures: deploy overhead beyond Vertex's own provisioning, API calls per
deploy, rollback time, the time from a canary starting to fail to its rollback (the bake's
gate on Cloud Monitoring figures), and the import cost kept off the offline commands.

Runs the real SDK against the local Vertex AI simulator (tests/gcp/vertex_sim.py):

    .venv/bin/python benchmarks/gcp_bench.py
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalectl.checks import load_checked
from scalectl.engine import Engine
from scalectl.errors import DeployFailed
from scalectl.events import Event, Events
from tests.gcp.helpers import write_scale
from tests.gcp.simulator import VertexSim
from tests.served import Load

PROVISION = 3.0  # seconds the simulator takes to make a deployed model ready
OP = 0.3  # seconds for uploads, endpoint creation, undeploys


def deploy(folder: Path, sim: VertexSim, **scale: object) -> dict[str, object]:
    """One `scalectl deploy` (plan + apply): wall time, Vertex's own time, calls by method."""
    path = write_scale(folder, **scale)  # type: ignore[arg-type]
    engine = Engine(load_checked(path), folder / ".state")
    first_request, provisioned = len(sim.requests), sim.provisioning_seconds()
    started = time.monotonic()
    engine.deploy("prod", Events())
    wall = time.monotonic() - started
    requests = sim.requests[first_request:]
    vertex = sim.provisioning_seconds() - provisioned
    by_method = Counter(f"{r.method} {_kind(r.path)}" for r in requests)
    return {"wall": wall, "vertex": vertex, "calls": len(requests), "by_method": dict(by_method)}


def _kind(path: str) -> str:
    """`/v1/projects/p/locations/l/endpoints/7:deployModel` -> `deployModel`; `.../operations/9` -> `operations`."""
    if ":" in path:
        return path.rsplit(":", 1)[1]
    parts = path.split("/")
    return parts[-2] if parts[-1].isdigit() else parts[-1]


def rollback(folder: Path) -> float:
    engine = Engine(load_checked(folder / "scale.yaml"), folder / ".fresh-state")
    started = time.monotonic()
    engine.rollback("prod", None, Events())
    return time.monotonic() - started


def failing_canary(folder: Path, sim: VertexSim, image: str, load: Load, gates: str, bake: str) -> dict[str, float]:
    """Deploy a canary that turns bad `load.fail_from` s after it starts serving; seconds from then
    to the gate's verdict, to traffic back on the old revision, and to the rollback done."""
    sim.serving[image.rsplit("/", 1)[1]] = load
    path = write_scale(folder, image=image, strategy="canary", percent=10, bake=bake, timeout="120s")
    path.write_text(path.read_text().replace("timeout: 120s}", f"timeout: 120s, {gates}}}"))
    engine = Engine(load_checked(path), folder / ".state")
    seen: dict[str, float] = {}
    number = max((r.number for r in engine.history("prod")), default=0) + 1

    def sink(event: Event) -> None:
        now = time.time()
        if event.message == f"revision {number}: 10% traffic":  # the canary serves: when does it turn bad?
            with sim.lock:
                ours = [d for ep in sim.endpoints.values() for d in ep["deployedModels"] if "_deployed_wall" in d]
                seen["fails"] = math.ceil(max(d["_deployed_wall"] for d in ours)) + load.fail_from
        elif event.kind == "step" and event.message.startswith("rolling back"):
            seen["verdict"] = now
        elif event.kind == "state" and event.message.endswith("100% traffic") and "verdict" in seen:
            seen.setdefault("traffic back", now)

    try:
        engine.deploy("prod", Events(sink))
        raise AssertionError("the failing canary was promoted")
    except DeployFailed as exc:
        seen["done"] = time.time()
        reason = exc.message
    return {k: v - seen["fails"] for k, v in seen.items() if k != "fails"} | {"reason": reason}  # type: ignore[dict-item]


def import_seconds(code: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        best = min(best, time.monotonic() - started)
    return best


def main() -> None:
    sim = VertexSim(op_seconds=OP, deploy_seconds=PROVISION)
    sim.serving["fraud"] = Load(50)  # steady healthy traffic (Cloud Monitoring figures) for the bakes to judge
    os.environ["SCALECTL_GCP_API_ENDPOINT"] = os.environ["SCALECTL_GCP_MONITORING_ENDPOINT"] = sim.start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image = "us-docker.pkg.dev/acme/serving/fraud:v{}"
        runs = [
            ("first deploy (endpoint + model + deploy)", dict(image=image.format(1))),
            ("all_at_once update", dict(image=image.format(2))),
            (
                "canary 10% -> 100%, bake 2s, grace 1s",
                dict(image=image.format(3), strategy="canary", bake="2s", grace="1s"),
            ),
        ]
        waits = [0.0, 0.0, 3.0]
        print(f"Vertex simulator: deployed model ready after {PROVISION}s, other operations {OP}s\n")
        print(f"{'deploy':44} {'wall s':>7} {'vertex s':>8} {'waits s':>7} {'overhead s':>10} {'calls':>5}")
        for (label, scale), configured in zip(runs, waits, strict=True):
            r = deploy(folder, sim, **scale)
            overhead = float(r["wall"]) - float(r["vertex"]) - configured  # type: ignore[arg-type]
            print(f"{label:44} {r['wall']:7.2f} {r['vertex']:8.2f} {configured:7.1f} {overhead:10.2f} {r['calls']:5}")
            print(f"    calls: {r['by_method']}")
        # after the grace period the previous revision is gone: rollback redeploys its Model
        first = len(sim.requests)
        seconds = rollback(folder)
        print(
            f"\nrollback, previous revision undeployed (redeploy its Model): {seconds:.2f}s, "
            f"{len(sim.requests) - first} calls (Vertex provisioning {PROVISION}s)"
        )
        # a canary that fails with auto_rollback off leaves both deployed: rollback is a traffic switch
        sim.unhealthy_image["fraud:v5"] = 0.5
        path = write_scale(folder, image=image.format(5), strategy="canary", bake="3s")
        path.write_text(path.read_text().replace("timeout: 60s}", "timeout: 60s, auto_rollback: false}"))
        with contextlib.suppress(DeployFailed):  # revision 4 stays at 10% next to revision 2
            Engine(load_checked(path), folder / ".state").deploy("prod", Events())
        first = len(sim.requests)
        seconds = rollback(folder)
        calls = [f"{r.method} {_kind(r.path)}" for r in sim.requests[first:]]
        moved = calls.index("PATCH endpoints") + 1
        print(
            f"rollback, previous revision still deployed (traffic switch): {seconds:.2f}s in all, "
            f"{len(calls)} calls; traffic moved by call {moved} (then the failed one is undeployed)"
        )
        print("\ncanary turning bad 3s into a 20s bake (100 req/s), to the gate's rollback:")
        print(f"  {'gate':<44} {'verdict s':>9} {'traffic back s':>14} {'rolled back s':>13}")
        for label, number, load, gates in (
            ("5xx 50% vs max_error_rate 5%", 6, Load(100, error_rate=0.5, fail_from=3), "max_error_rate: 0.05"),
            (
                "P99 900 ms (5% slow) vs max_p99 250 ms",
                7,
                Load(100, latency_ms=[30.0] * 95 + [900.0] * 5, fail_from=0),
                "max_p99: 250ms",
            ),
        ):
            r = failing_canary(folder, sim, image.format(number), load, gates, "20s")
            print(f"  {label:<44} {r['verdict']:9.2f} {r['traffic back']:14.2f} {r['done']:13.2f}")
    sim.stop()

    scale = Path(tempfile.mkdtemp()) / "scale.yaml"
    write_scale(scale.parent, machine="ct5lp-hightpu-1t", spot=True)
    print("\nimport cost (best of 3, fresh interpreter):")
    print(f"  python -c pass                               {import_seconds('pass'):.2f}s")
    gcp_import = import_seconds("import scalectl.providers.gcp.provider")
    print(f"  import scalectl.providers.gcp.provider       {gcp_import:.2f}s")
    validate = (
        "import sys; from scalectl.checks import load_checked; "
        f"load_checked({str(scale)!r}); "
        "assert not [m for m in sys.modules if m.startswith(('google.cloud.aiplatform', 'google.api_core'))]"
    )
    print(
        f"  validate (load_config + gcp checks)          {import_seconds(validate):.2f}s  (no Google SDK module loaded)"
    )
    print(f"  import google.cloud.aiplatform_v1 (used)     {import_seconds('import google.cloud.aiplatform_v1'):.2f}s")
    print(f"  import google.cloud.aiplatform (avoided)     {import_seconds('import google.cloud.aiplatform'):.2f}s")


if __name__ == "__main__":
    main()
