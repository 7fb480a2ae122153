"""Azure target figures, against the ARM simulator in tests/azure (no cloud needed).

    .venv/bin/python benchmarks/azure_bench.py

Prints: deploy wall time minus the simulator's provisioning time (scalectl's own overhead:
SDK calls, polling lag, rendering), ARM calls per deploy and rollback, rollback time, the time
from a canary starting to fail to its rollback (the bake's gate on Azure Monitor figures), and
the import cost kept off `validate`/`render`.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.azure.helpers import SCALE, FakeCredential  # noqa: E402
from tests.azure.simulator import ArmSimulator  # noqa: E402
from tests.served import Load  # noqa: E402

DEPLOY_SECONDS = 3.0  # simulated deployment provisioning
ENDPOINT_SECONDS = 0.5  # simulated endpoint create / traffic update


def run(args: list[str]) -> tuple[int, float]:
    from typer.testing import CliRunner

    from scalectl.cli import app

    started = time.monotonic()
    result = CliRunner().invoke(app, args)
    return result.exit_code, time.monotonic() - started


def measure_deploy(sim: ArmSimulator, path: Path, state: Path, label: str) -> None:
    calls_before, started = len(sim.calls), time.monotonic()
    code, wall = run(["deploy", "-f", str(path), "--yes", "--state-dir", str(state)])
    assert code == 0, f"{label} failed"
    calls = sim.calls[calls_before:]
    provisioning = sim.provisioning_seconds(since=started)
    writes = sum(1 for c in calls if c.method != "GET")
    print(
        f"{label:<34} wall {wall:5.2f}s  provisioning {provisioning:5.2f}s  overhead {wall - provisioning:5.2f}s  "
        f"ARM calls {len(calls):2d} ({writes} writes, {len(calls) - writes} reads)"
    )


def failing_canary(sim: ArmSimulator, path: Path, state: Path, image: str, load: Load, gates: str) -> dict[str, float]:
    """Deploy a canary (20%, bake 20s) that turns bad `load.fail_from` s after it starts serving;
    seconds from then to the gate's verdict, to traffic back on the old revision, and to the rollback done."""
    from scalectl.checks import load_checked
    from scalectl.engine import Engine
    from scalectl.errors import DeployFailed
    from scalectl.events import Event, Events

    sim.serving[image.rsplit("/", 1)[1]] = load
    text = SCALE.format(image=image, strategy="canary", bake="20s", keep=2, extra="")
    path.write_text(text.replace("timeout: 60}", f"timeout: 120, {gates}}}"))
    engine = Engine(load_checked(path), state)
    seen: dict[str, float] = {}

    def sink(event: Event) -> None:
        now = time.time()
        if event.kind == "step" and event.message.startswith("rolling back"):
            seen["verdict"] = now
        elif (
            "verdict" in seen
            and event.kind == "state"
            and event.message.startswith("endpoint")
            and "Succeeded" in event.message
        ):
            seen.setdefault("traffic back", now)

    try:
        engine.deploy("prod", Events(sink))
        raise AssertionError("the failing canary was promoted")
    except DeployFailed:
        seen["done"] = time.time()
    number = max(int(d.split("-")[1]) for _, d in sim.created_wall)
    fails = math.ceil(sim.created_wall[("fraud-prod", f"rev-{number}")]) + load.fail_from
    return {k: v - fails for k, v in seen.items()}


def subprocess_seconds(code: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT)
    return time.monotonic() - started


def main() -> None:
    sim = ArmSimulator(deploy_seconds=DEPLOY_SECONDS, endpoint_seconds=ENDPOINT_SECONDS)
    os.environ["SCALECTL_AZURE_ARM_ENDPOINT"] = sim.start()
    from scalectl.providers.azure.provider import AzureProvider

    from scalectl import registry

    registry.register("azure", lambda: AzureProvider(credential=FakeCredential()))
    import azure.ai.ml  # noqa: F401 - warm the SDK import so the first deploy measures deploying

    work = Path(tempfile.mkdtemp())
    path, state = work / "scale.yaml", work / "state"

    def write(image: str, strategy: str) -> Path:
        path.write_text(SCALE.format(image=image, strategy=strategy, bake="0s", keep=2, extra=""))
        return path

    print(f"simulated provisioning: deployment {DEPLOY_SECONDS}s, endpoint operation {ENDPOINT_SECONDS}s, bake 0s\n")
    measure_deploy(sim, write("acr.example.io/fraud:1", "canary"), state, "first deploy (endpoint + rev-1)")
    measure_deploy(sim, write("acr.example.io/fraud:2", "canary"), state, "canary deploy (20% -> 100%)")
    measure_deploy(sim, write("acr.example.io/fraud:3", "all_at_once"), state, "all_at_once deploy")
    measure_deploy(sim, write("acr.example.io/fraud:4", "linear"), state, "linear deploy (5 steps) + retire")

    calls_before = len(sim.calls)
    code, wall = run(["rollback", "-f", str(path), "--yes", "--state-dir", str(work / "fresh")])
    assert code == 0
    print(f"{'rollback (fresh state dir)':<34} wall {wall:5.2f}s  ARM calls {len(sim.calls) - calls_before}")

    sim.serving["fraud"] = Load(50)  # the serving revision's steady healthy traffic
    print("\ncanary turning bad 3s into a 20s bake (100 req/s), to the gate's rollback:")
    print(f"  {'gate':<44} {'verdict s':>9} {'traffic back s':>14} {'rolled back s':>13}")
    for label, image, load, gates in (
        ("5xx 50% vs max_error_rate 5%", "fraud:5", Load(100, error_rate=0.5, fail_from=3), "max_error_rate: 0.05"),
        (
            "P99 900 ms (5% slow) vs max_p99 250 ms",
            "fraud:6",
            Load(100, latency_ms=[30.0] * 95 + [900.0] * 5),
            "max_p99: 250ms",
        ),
    ):
        r = failing_canary(sim, path, state, f"acr.example.io/{image}", load, gates)
        print(f"  {label:<44} {r['verdict']:9.2f} {r['traffic back']:14.2f} {r['done']:13.2f}")
    sim.stop()

    print()
    cli = "from typer.testing import CliRunner; from scalectl.cli import app; "
    validate = subprocess_seconds(
        cli + f"assert CliRunner().invoke(app, ['validate', '-f', {str(path)!r}]).exit_code == 0"
    )
    render = subprocess_seconds(cli + f"assert CliRunner().invoke(app, ['render', '-f', {str(path)!r}]).exit_code == 0")
    sdk = subprocess_seconds("import azure.ai.ml._restclient.arm_ml_service, azure.mgmt.monitor")
    bare = subprocess_seconds("pass")
    print(f"python startup            {bare:5.2f}s")
    print(f"validate (azure target)   {validate:5.2f}s  (no azure SDK imported)")
    print(f"render   (azure target)   {render:5.2f}s  (no azure SDK imported)")
    print(f"azure-ai-ml + monitor     {sdk - bare:5.2f}s  import cost, paid only by commands that talk to Azure")


if __name__ == "__main__":
    main()
