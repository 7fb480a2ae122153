"""`scalectl bench` as a user and a pipeline run it, against a local server: the SLO exit code, the JSON
document, bad flags, the HTML report, a ramp finding a known capacity, and a saved replica_rps in cost-estimate."""

from __future__ import annotations

import json
from pathlib import Path

from scalectl.bench.saved import bench_file, save_measurement
from tests.bench.server import Behaviour, serve


def bodies(tmp_path: Path) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_text('{"instances": [[1, 2]]}\n\n{"instances": [[3, 4]]}\n')
    return path


def test_json_document_and_slo_exit_codes(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with serve(Behaviour(delay=0.01, revisions=("3",))) as url:
        common = ["bench", "--url", url, "--rate", "50/s", "--duration", "1s", "--requests", bodies(tmp_path)]
        held = cli(*common, "--slo", "p99=500ms,errors=1%", "--workers", "2", "--output", "json")
        missed = cli(*common, "--slo", "p50=1ms", "--output", "json")
        text = cli(*common, "--slo", "p50=1ms", "--no-color")
    assert held.exit_code == 0, held.output
    doc = json.loads(held.stdout)
    step = doc["steps"][0]
    assert doc["ok"] is True and doc["slo_met"] is True and doc["mode"] == "open" and doc["workers"] == 2
    assert step["sent"] == 50 and step["ok"] == 50 and step["errors"] == {} and step["offered_rps"] == 50
    assert 10 <= step["latency_ms"]["p50"] <= 30 and step["latency_ms"]["p999"] >= step["latency_ms"]["p99"]
    assert step["revisions"]["3"]["ok"] == 50
    assert missed.exit_code == 7
    failed = json.loads(missed.stdout)
    assert failed["ok"] is False and failed["exit_code"] == 7 and "p50" in failed["error"]
    assert text.exit_code == 7 and "SLO p50=1ms missed" in text.stderr and "p99.9" in text.stderr


def test_bad_flags_exit_2_before_any_request(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    behaviour = Behaviour()
    with serve(behaviour) as url:
        base = ["bench", "--url", url, "--requests", bodies(tmp_path)]
        cases = {
            "unknown key `p98`": [*base, "--rate", "10", "--slo", "p98=1ms"],
            "above --max-rate": [*base, "--rate", "5000/s"],
            "exactly one of --rate": [*base],
            "--duration": [*base, "--rate", "10", "--duration", "2h"],
            "--ramp needs": [*base, "--rate", "10", "--ramp"],
        }
        for needle, args in cases.items():
            result = cli(*args, "--output", "json")
            assert result.exit_code == 2, (needle, result.output)
            assert needle in json.loads(result.stdout)["error"]
        broken = tmp_path / "broken.jsonl"
        broken.write_text('{"ok": 1}\n{"instances": [1,\n')
        result = cli("bench", "--url", url, "--rate", "10", "--requests", broken)
        assert result.exit_code == 2 and "broken.jsonl:2" in result.stderr
    assert behaviour.received == 0


def test_nothing_answers_is_a_failure_not_a_success(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.docker.helpers import free_port

    url = f"http://127.0.0.1:{free_port()}/x"
    result = cli("bench", "--url", url, "--rate", "20", "--duration", "1s", "--requests", bodies(tmp_path))
    assert result.exit_code == 1 and "connection refused" in result.stderr


def test_ramp_finds_a_known_capacity_and_writes_a_report(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One request at a time at 10 ms each: capacity about 100/s (a little less with overhead)."""
    report = tmp_path / "report.html"
    with serve(Behaviour(delay=0.01, serial=True)) as url:
        result = cli(
            "bench", "--url", url, "--requests", bodies(tmp_path), "--rate", "50/s", "--ramp", "--ramp-factor", "1.2",
            "--max-rate", "150/s", "--duration", "1s", "--slo", "p99=100ms", "--replicas", "2",
            "--report", report, "--output", "json",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    ramp = doc["ramp"]
    assert 80 <= ramp["held_rps"] <= 100, doc["steps"]
    assert ramp["broke_at_rps"] == round(ramp["held_rps"] * 1.2, 2)
    assert ramp["replica_rps"] == round(ramp["held_rps"] / 2, 2)
    page = report.read_text()
    assert "<svg" in page and "<script" not in page and "https://" not in page
    assert page.count("<circle") >= 2 * len(doc["steps"])  # a point per step for each percentile line


def test_a_saved_replica_rps_feeds_cost_estimate_and_says_so(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file("""\
version: 1
name: fraud
model: {image: registry.example.com/fraud:v1}
defaults:
  autoscaling: {min: 1, max: 8, target: 60}
targets:
  prod:
    provider: gcp
    project: acme
    region: us-central1
    machine: g2-standard-4
traffic: {peak_rps: 400, offpeak_rps: 40, peak_hours_per_day: 10, replica_rps: 50}
""")
    before = json.loads(cli("cost-estimate", "-f", path, "--output", "json").stdout)["targets"]["prod"]
    doc = {"slo": {"text": "p99=250ms"}, "ramp": {"held_rps": 400}, "replicas": 2, "url": "http://x"}
    saved = save_measurement(path, "prod", 200.0, doc)
    assert saved == bench_file(path, "prod") and json.loads(saved.read_text())["replica_rps"] == 200.0
    after_run = cli("cost-estimate", "-f", path, "--output", "json")
    after = json.loads(after_run.stdout)["targets"]["prod"]
    assert after["on_demand"]["expected"] < before["on_demand"]["expected"]  # 2 replicas at peak, not 8
    assert any("measured by `scalectl bench`" in n and "replica_rps 200" in n for n in after["notes"])
    text = cli("cost-estimate", "-f", path, "--no-color")
    assert "measured by `scalectl bench`" in text.stderr
    saved.unlink()  # deleting the file goes back to the hand-typed figure
    again = json.loads(cli("cost-estimate", "-f", path, "--output", "json").stdout)["targets"]["prod"]
    assert again["on_demand"] == before["on_demand"]


def test_cloud_front_doors_not_built_yet_are_refused_with_what_to_do_instead(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file("""\
version: 1
name: fraud
model: {image: acme.azurecr.io/fraud:v1}
targets:
  prod:
    provider: azure
    subscription: sub
    resource_group: ml
    workspace: prod
    region: eastus
    instance: Standard_NC4as_T4_v3
    auth_mode: aml_token
""")
    result = cli("bench", "-f", path, "-t", "prod", "--rate", "10", "--duration", "1s", "--output", "json")
    assert result.exit_code == 2, result.output  # refused before anything is called: no credentials needed
    error = json.loads(result.stdout)["error"]
    assert "auth_mode aml_token" in error and "not supported yet" in error and "--url" in error


def test_plan_reads_the_saved_replica_rps_and_says_whether_the_top_replica_count_covers_the_peak(  # type: ignore[no-untyped-def]
    cli, memory, scale_file
) -> None:
    path = scale_file("""\
version: 1
name: fraud
model: {image: fraud:v1}
targets:
  local: {provider: docker, replicas: 3}
traffic: {peak_rps: 400, offpeak_rps: 40, peak_hours_per_day: 10, replica_rps: 50}
""")
    guessed = json.loads(cli("plan", "-f", path, "--output", "json").stdout)["targets"]["local"]["capacity"]
    assert guessed == {
        "replica_rps": 50.0, "source": "scale.yaml", "measured_at": None, "peak_rps": 400.0, "max_replicas": 3,
        "max_source": "replicas", "replicas_needed_at_peak": 8, "covers_peak": False,
    }  # fmt: skip
    text = cli("plan", "-f", path, "--no-color")
    assert "does NOT cover (peak needs 8; raise replicas)" in text.stderr and "traffic.replica_rps" in text.stderr
    doc = {"slo": {"text": "p99=250ms"}, "ramp": {"held_rps": 300}, "replicas": 2, "url": "http://x"}
    save_measurement(path, "local", 150.0, doc)
    measured = json.loads(cli("plan", "-f", path, "--output", "json").stdout)["targets"]["local"]["capacity"]
    assert measured["source"] == "bench" and measured["replica_rps"] == 150.0 and measured["measured_at"]
    assert measured["replicas_needed_at_peak"] == 3 and measured["covers_peak"] is True
    text = cli("plan", "-f", path, "--no-color")
    assert "capacity 150 req/s per replica (measured by `scalectl bench` at" in text.stderr
    assert "replicas 3 x 150 = 450 req/s covers the expected peak of 400 req/s" in text.stderr
    cost = json.loads(cli("cost-estimate", "-f", path, "--output", "json").stdout)["targets"]["local"]
    assert any("replica_rps 150 measured by `scalectl bench`" in n for n in cost["notes"])  # the same figure
