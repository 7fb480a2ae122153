"""Live figures from Azure Monitor (the simulator's Microsoft.Insights/metrics) and the bake gates built on them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from scalectl import registry
from scalectl.checks import load_checked
from scalectl.engine import Engine
from scalectl.events import Event, Events
from tests.azure.simulator import ArmSimulator
from tests.served import Load

EP = "fraud-prod"
V1, V2 = "acr.example.io/fraud:1", "acr.example.io/fraud:2"


def _deploy(cli: Any, path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("deploy", "-f", path, "--yes", "--output", "json", *extra)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def _canary(scale_file: Any, gates: str = "", timeout: str = "60") -> Path:
    path = scale_file(image=V2, strategy="canary", bake="1s")
    text = path.read_text().replace("timeout: 60}", f"timeout: {timeout}{', ' + gates if gates else ''}}}")
    path.write_text(text)
    return path


def test_figures_per_revision_match_what_was_injected(sim: ArmSimulator, scale_file: Any, cli: Any) -> None:
    sim.serving["fraud:1"] = Load(30, error_rate=0.2, latency_ms=[25.0] * 9 + [700.0], cpu=0.55, duty_cycle=0.8)
    path = scale_file(image=V1)
    assert _deploy(cli, path)[0] == 0
    time.sleep(2.2)  # whole seconds of injected load
    engine = Engine(load_checked(path), path.parent / ".scalectl")
    release = engine.release("prod")
    provider = registry.get_provider("azure")
    (m,) = provider.metrics(release, provider.observe(release), 120)  # type: ignore[attr-defined]
    assert m.revision == 1 and m.source.startswith("Azure Monitor")
    assert m.requests >= 60 and m.requests % 30 == 0
    assert m.rate_5xx == pytest.approx(0.2) and m.rate_4xx == 0
    assert m.p50_ms == 25.0 and m.p99_ms == 700.0  # Azure publishes the percentiles themselves
    assert (m.replicas_desired, m.replicas_ready) == (1, 1)
    assert (m.cpu_percent, m.gpu_percent, m.memory_percent) == (55.0, 80.0, 30.0)
    asked = [c for c in sim.calls if c.path.endswith("/providers/Microsoft.Insights/metrics")]
    assert {c.query["metricnames"][0] for c in asked} == {
        "RequestsPerMinute",
        "RequestLatency_P50,RequestLatency_P95,RequestLatency_P99",
        "CpuUtilizationPercentage,GpuUtilizationPercentage,CpuMemoryUtilizationPercentage,DeploymentCapacity",
    }


def test_scored_requests_are_counted(sim: ArmSimulator, scale_file: Any, cli: Any) -> None:
    sim.scoring_base = sim.url
    path = scale_file(image=V1)
    assert _deploy(cli, path)[0] == 0
    key = sim.keys.get(EP) or sim._keys(EP)
    import requests

    for _ in range(6):
        answer = requests.post(
            f"{sim.url}/score/{EP}", json={"instances": [[1]]}, headers={"Authorization": f"Bearer {key[0]}"}, timeout=5
        )
        assert answer.status_code == 200
    release = Engine(load_checked(path), path.parent / ".scalectl").release("prod")
    provider = registry.get_provider("azure")
    (m,) = provider.metrics(release, provider.observe(release), 60)  # type: ignore[attr-defined]
    assert (m.requests, m.rate_5xx) == (6, 0.0)


def test_max_error_rate_is_accepted_on_azure_now(scale_file: Any, cli: Any) -> None:
    result = cli("validate", "-f", _canary(scale_file, "max_error_rate: 0.02"))
    assert result.exit_code == 0, result.output


def test_a_canary_over_max_error_rate_rolls_back_naming_the_figure(
    sim: ArmSimulator, scale_file: Any, cli: Any
) -> None:
    assert _deploy(cli, scale_file(image=V1))[0] == 0
    sim.serving["fraud:1"] = Load(100)
    sim.serving["fraud:2"] = Load(100, error_rate=0.15, error_code="502")
    code, doc = _deploy(cli, _canary(scale_file, "max_error_rate: 0.05"))
    assert code == 1
    assert doc["error"].startswith(
        "revision 2 failed: its bake at 20% of traffic failed: 5xx rate 15.0% of revision 2 ("
    )
    assert "over rollout.max_error_rate 5.0% by 10.0 points; revision 1 it replaces: 0.0%" in doc["error"]
    assert "Rolled back: revision 1 (rev-1) still serves 100% of traffic" in doc["error"]
    assert sim.traffic(EP) == {"rev-1": 100}
    assert sim.wait_deleted(EP, "rev-2")


def test_a_canary_over_max_p99_rolls_back(sim: ArmSimulator, scale_file: Any, cli: Any) -> None:
    assert _deploy(cli, scale_file(image=V1))[0] == 0
    sim.serving["fraud:1"] = Load(100, latency_ms=[40.0])
    sim.serving["fraud:2"] = Load(100, latency_ms=[40.0] * 95 + [850.0] * 5)
    code, doc = _deploy(cli, _canary(scale_file, "max_p99: 300ms"))
    assert code == 1
    assert (
        "its bake at 20% of traffic failed: P99 850 ms of revision 2 is over rollout.max_p99 300 ms by 550 ms"
        in (doc["error"])
    )
    assert "revision 1 it replaces: 40 ms" in doc["error"]
    assert sim.traffic(EP) == {"rev-1": 100}


def test_a_gate_that_holds_promotes(sim: ArmSimulator, scale_file: Any, cli: Any) -> None:
    path = scale_file(image=V1)
    assert _deploy(cli, path)[0] == 0
    sim.serving["fraud:1"] = Load(100, latency_ms=[40.0])
    sim.serving["fraud:2"] = Load(100, error_rate=0.01, latency_ms=[50.0])
    path = _canary(scale_file, "max_error_rate: 0.05, max_p99: 300ms, max_p99_ratio: 2")
    live: list[Event] = []
    Engine(load_checked(path), path.parent / ".scalectl").deploy("prod", Events(live.append))
    assert sim.traffic(EP) == {"rev-2": 100}
    figures = [e.data["figures"] for e in live if e.kind == "progress" and e.data["figures"]]
    assert figures and figures[-1].startswith("rev 2: ")  # the bake's countdown line
    assert "p99 50 ms, 5xx 1.0% | rev 1: " in figures[-1] and figures[-1].endswith("p99 40 ms, 5xx 0.0%")


def test_an_idle_bake_is_not_promoted_unless_allowed(sim: ArmSimulator, scale_file: Any, cli: Any) -> None:
    assert _deploy(cli, scale_file(image=V1))[0] == 0
    code, doc = _deploy(cli, _canary(scale_file, timeout="4"))
    assert code == 1
    assert (
        "not promoted unjudged: the bake saw 0 request(s) to it, fewer than rollout.min_requests (20)" in doc["error"]
    )
    assert sim.traffic(EP) == {"rev-1": 100}
    assert sim.wait_deleted(EP, "rev-2")

    code, doc = _deploy(cli, _canary(scale_file, timeout="4"), "--allow-idle-bake")
    assert code == 0, doc
    assert sim.traffic(EP) == {"rev-3": 100}
