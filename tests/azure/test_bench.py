"""`scalectl bench` through the Azure ML front door: the scoring URI with the endpoint's key, against the
simulator's scoring route; with a canary split, each answer is counted for the deployment that served it."""

from __future__ import annotations

import json

from tests.azure.simulator import ArmSimulator


def bench(cli, path, *args: str):  # type: ignore[no-untyped-def]
    result = cli("bench", "-f", path, "-t", "prod", *args, "--output", "json")
    return result.exit_code, json.loads(result.stdout), result.output


def test_bench_scores_with_the_endpoint_key_and_splits_by_revision(sim: ArmSimulator, scale_file, cli) -> None:  # type: ignore[no-untyped-def]
    sim.scoring_base = sim.url
    path = scale_file(image="acr.example.io/fraud:1", strategy="all_at_once")
    (path.parent / "bench.jsonl").write_text('{"instances": [[1, 2]]}\n')
    assert cli("deploy", "-f", path, "--yes").exit_code == 0
    path = scale_file(image="acr.example.io/fraud:2", strategy="all_at_once")
    assert cli("deploy", "-f", path, "--yes").exit_code == 0
    sim.endpoints["fraud-prod"].body["properties"]["traffic"] = {"rev-1": 50, "rev-2": 50}  # a canary, mid-bake

    code, doc, output = bench(cli, path, "--rate", "100/s", "--duration", "1s", "--slo", "errors=0%")
    assert code == 0, doc
    step = doc["steps"][0]
    assert step["ok"] == 100 and step["errors"] == {}
    assert set(step["revisions"]) == {"1", "2"} and doc["traffic"] == {"1": 50, "2": 50}
    assert (
        25 <= step["revisions"]["1"]["ok"] <= 75 and step["revisions"]["2"]["ok"] == 100 - step["revisions"]["1"]["ok"]
    )
    key = sim.keys["fraud-prod"][0]
    assert key not in output  # the key is sent, never shown

    sim.failing_images.add("acr.example.io/fraud:2")  # the canary breaks: its share fails, the rest holds
    code, doc, _ = bench(cli, path, "--rate", "100/s", "--duration", "1s", "--slo", "errors=1%")
    assert code == 7
    step = doc["steps"][0]
    assert set(step["errors"]) == {"HTTP 502"} and step["revisions"]["1"]["errors"] == {}
    assert (
        step["revisions"]["2"]["ok"] == 0 and step["revisions"]["2"]["errors"]["HTTP 502"] == step["errors"]["HTTP 502"]
    )
