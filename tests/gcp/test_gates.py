"""Live figures from Cloud Monitoring (the simulator's timeSeries.list) and the bake gates built on them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from scalectl.providers.gcp.metrics import bucket_bounds, percentile
from scalectl.providers.gcp.provider import GcpProvider

from scalectl.checks import load_checked
from scalectl.engine import Engine
from scalectl.events import Event, Events

from .helpers import V1, V2, scalectl, write_scale
from .simulator import BUCKETS, Load, VertexSim, _distribution

CANARY = dict(image=V2, strategy="canary", percent=10, bake="1s")


def _gated(path: Path, gates: str) -> Path:
    path.write_text(path.read_text().replace("timeout: 60s}", f"timeout: 60s, {gates}}}"))
    return path


def _deployed_v1(sim: VertexSim, tmp_path: Path) -> tuple[Path, str]:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    return state, sim.endpoint()["deployedModels"][0]["id"]


def test_percentiles_come_from_the_distribution_buckets() -> None:
    values = [10.0] * 90 + [200.0] * 9 + [3000.0]
    dist = _distribution(values)
    dist["bucketCounts"] = [int(c) for c in dist["bucketCounts"]]
    for q, true in ((0.5, 10.0), (0.95, 200.0), (0.99, 200.0)):
        got = percentile(dist, q)
        lower, upper = next(
            bucket_bounds(BUCKETS, i)
            for i in range(len(dist["bucketCounts"]))
            if bucket_bounds(BUCKETS, i)[0] <= true < bucket_bounds(BUCKETS, i)[1]
        )
        assert lower <= got <= upper, (q, got, lower, upper)  # within the bucket holding the true value
    assert bucket_bounds({"linearBuckets": {"numFiniteBuckets": 3, "width": 10, "offset": 0}}, 2) == (10.0, 20.0)
    assert bucket_bounds({"explicitBuckets": {"bounds": [1, 5, 25]}}, 3) == (25.0, float("inf"))


def test_figures_per_revision_match_what_was_injected(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    sim.serving["fraud:v1"] = Load(40, error_rate=0.25, latency_ms=[30.0] * 9 + [600.0], cpu=0.42)
    path = write_scale(tmp_path, image=V1)
    assert scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")[0] == 0
    time.sleep(2.2)  # two whole seconds of injected load
    engine = Engine(load_checked(path), tmp_path / "st")
    release = engine.release("prod")
    (m,) = gcp.metrics(release, gcp.observe(release), window=60)
    assert m.revision == 1 and m.source.startswith("Cloud Monitoring")
    assert m.requests >= 80 and m.requests % 40 == 0  # 40 a second, whole seconds only
    assert m.rate_5xx == pytest.approx(0.25) and m.rate_4xx == 0
    assert 30 * 0.8 <= (m.p50_ms or 0) <= 30 * 1.25  # bucket resolution: 25%
    assert 600 * 0.8 <= (m.p99_ms or 0) <= 600 * 1.25
    assert (m.replicas_desired, m.replicas_ready) == (1, 1)
    assert m.cpu_percent == 42.0
    assert m.gpu_percent is None  # g2 without a duty-cycle figure injected: none reported, and said so
    assert any("duty cycle" in n for n in m.notes)
    filters = {r.query["filter"][0] for r in sim.calls("GET", "/timeSeries")}
    assert any("prediction/online/prediction_latencies" in f for f in filters)


def test_requests_the_simulator_answered_are_counted(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    import requests

    path = write_scale(tmp_path, image=V1)
    assert scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")[0] == 0
    url = f"{os.environ['SCALECTL_GCP_API_ENDPOINT']}/v1/{sim.endpoint()['name']}:predict"
    for _ in range(7):
        assert requests.post(url, json={"instances": [[1.0]]}, timeout=5).status_code == 200
    engine = Engine(load_checked(path), tmp_path / "st")
    release = engine.release("prod")
    (m,) = gcp.metrics(release, gcp.observe(release), window=30)
    assert (m.requests, m.rate_5xx) == (7, 0.0)


def test_a_canary_over_max_error_rate_rolls_back_naming_the_figure(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state, old_id = _deployed_v1(sim, tmp_path)
    sim.serving["fraud:v1"] = Load(100)
    sim.serving["fraud:v2"] = Load(100, error_rate=0.12)  # healthy replicas, 12% of answers are 503
    path = _gated(write_scale(tmp_path, **CANARY), "max_error_rate: 0.05")  # type: ignore[arg-type]
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 1
    assert doc["error"].startswith("revision 2 failed its bake at 10% of traffic: 5xx rate 12.0% of revision 2 (")
    assert "is over rollout.max_error_rate 5.0% by 7.0 points; revision 1 it replaces: 0.0%" in doc["error"]
    assert doc["error"].endswith("revision 1 serves 100% of traffic again and revision 2 was undeployed")
    assert sim.endpoint()["trafficSplit"] == {old_id: 100}
    assert [d["id"] for d in sim.endpoint()["deployedModels"]] == [old_id]


def test_a_canary_over_max_p99_rolls_back(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state, old_id = _deployed_v1(sim, tmp_path)
    sim.serving["fraud:v1"] = Load(100, latency_ms=[40.0])
    sim.serving["fraud:v2"] = Load(100, latency_ms=[40.0] * 95 + [900.0] * 5)  # 5% of requests take 900 ms
    path = _gated(write_scale(tmp_path, **CANARY), "max_p99: 250ms")  # type: ignore[arg-type]
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 1
    assert "failed its bake at 10% of traffic: P99 " in doc["error"]
    assert "of revision 2 is over rollout.max_p99 250 ms by " in doc["error"]
    p99 = float(doc["error"].split("P99 ")[1].split(" ms")[0])
    assert 900 * 0.8 <= p99 <= 900 * 1.25
    assert sim.endpoint()["trafficSplit"] == {old_id: 100}


def test_a_canary_slower_than_max_p99_ratio_rolls_back(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state, old_id = _deployed_v1(sim, tmp_path)
    sim.serving["fraud:v1"] = Load(100, latency_ms=[40.0])
    sim.serving["fraud:v2"] = Load(100, latency_ms=[160.0])
    path = _gated(write_scale(tmp_path, **CANARY), "max_p99_ratio: 2")  # type: ignore[arg-type]
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 1
    assert "x the " in doc["error"] and "of revision 1 it replaces, over rollout.max_p99_ratio 2x" in doc["error"]
    assert sim.endpoint()["trafficSplit"] == {old_id: 100}


def test_a_gate_that_holds_promotes(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state, old_id = _deployed_v1(sim, tmp_path)
    sim.serving["fraud:v1"] = Load(100, latency_ms=[40.0])
    sim.serving["fraud:v2"] = Load(100, error_rate=0.01, latency_ms=[45.0])
    path = _gated(write_scale(tmp_path, **CANARY), "max_error_rate: 0.05, max_p99: 250ms, max_p99_ratio: 2")  # type: ignore[arg-type]
    live: list[Event] = []
    Engine(load_checked(path), state).deploy("prod", Events(live.append))
    new_id = sim.endpoint()["deployedModels"][-1]["id"]
    assert new_id != old_id and sim.endpoint()["trafficSplit"] == {new_id: 100}
    figures = [e.data["figures"] for e in live if e.kind == "progress" and e.data["figures"]]
    assert figures and figures[-1].startswith("rev 2: ") and "| rev 1: " in figures[-1]  # the bake's countdown line
    p99 = float(figures[-1].split("p99 ")[1].split(" ms")[0])
    assert 45 / 1.25 <= p99 <= 45 * 1.25  # rev 2's P99 from the buckets, within their resolution


def test_an_idle_bake_is_not_promoted_unless_allowed(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state, old_id = _deployed_v1(sim, tmp_path)
    path = write_scale(tmp_path, **{**CANARY, "timeout": "3s"})  # type: ignore[arg-type]
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 1
    assert (
        "was not promoted unjudged: the bake saw 0 request(s) to it, fewer than rollout.min_requests (20)"
        in (doc["error"])
    )
    warns = [e["message"] for e in doc["targets"]["prod"]["events"] if e["kind"] == "warn"]
    assert any("baking on until the rollout's timeout" in w for w in warns)
    assert sim.endpoint()["trafficSplit"] == {old_id: 100}

    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", "--allow-idle-bake", state=state)
    assert code == 0, doc
    warns = [e["message"] for e in doc["targets"]["prod"]["events"] if e["kind"] == "warn"]
    assert any("promoting anyway (--allow-idle-bake)" in w for w in warns)


def test_unreadable_metrics_roll_back_unless_idle_bakes_are_allowed(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state, old_id = _deployed_v1(sim, tmp_path)
    sim.serving["fraud"] = Load(100)
    sim.deny("/timeSeries", "monitoring.timeSeries.list")
    path = write_scale(tmp_path, **CANARY)  # type: ignore[arg-type]
    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 1
    assert "was not promoted unjudged: its figures could not be read (Vertex AI refused ListTimeSeries" in doc["error"]
    assert "PERMISSION_DENIED" in doc["error"]
    assert sim.endpoint()["trafficSplit"] == {old_id: 100}

    code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", "--allow-idle-bake", state=state)
    assert code == 0, doc
