"""Rollback and destroy on Azure ML, from a machine that did not deploy (a fresh --state-dir)."""

from __future__ import annotations

import json
import time
from pathlib import Path

EP = "fraud-prod"


def deploy(cli, path: Path, state: Path):  # type: ignore[no-untyped-def]
    result = cli("deploy", "-f", path, "--yes", "--state-dir", state)
    assert result.exit_code == 0, result.output
    return result


def test_rollback_from_a_fresh_state_dir_moves_traffic_back(sim, scale_file, cli, tmp_path: Path) -> None:
    deploy(cli, scale_file(image="acr.example.io/fraud:1"), tmp_path / "runner-a")
    deploy(cli, scale_file(image="acr.example.io/fraud:2"), tmp_path / "runner-a")
    fresh = tmp_path / "runner-b"

    history = json.loads(cli("history", "-f", scale_file(), "--state-dir", fresh, "--output", "json").stdout)
    revs = history["targets"]["prod"]
    assert [(r["number"], r["status"], r["image"]) for r in revs] == [
        (1, "superseded", "acr.example.io/fraud:1"),
        (2, "active", "acr.example.io/fraud:2"),
    ]

    writes_before = len(sim.writes())
    started = time.monotonic()
    result = cli("rollback", "-f", scale_file(), "--yes", "--state-dir", fresh, "--output", "json")
    took = time.monotonic() - started

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["targets"]["prod"]["revision"]["number"] == 1
    assert doc["targets"]["prod"]["from"] == 2
    assert sim.traffic(EP) == {"rev-1": 100}
    assert len(sim.writes()) - writes_before == 1  # one endpoint PUT: the traffic switch
    assert took < 3

    history = json.loads(
        cli("history", "-f", scale_file(), "--state-dir", tmp_path / "runner-c", "--output", "json").stdout
    )
    assert {r["number"]: r["status"] for r in history["targets"]["prod"]} == {1: "active", 2: "rolled_back"}


def test_rollback_recreates_a_deleted_deployment_from_its_retained_config(sim, scale_file, cli, tmp_path: Path) -> None:
    for n in (1, 2, 3):
        deploy(cli, scale_file(image=f"acr.example.io/fraud:{n}", keep=1), tmp_path / "a")
    assert sim.wait_deleted(EP, "rev-1")  # retired: keep_revisions is 1

    result = cli("rollback", "-f", scale_file(), "--to", "1", "-t", "prod", "--yes", "--state-dir", tmp_path / "b")

    assert result.exit_code == 0, result.output
    assert "recreating rev-1 from its retained configuration" in result.output
    assert sim.traffic(EP) == {"rev-1": 100}
    recreated = sim.deployments[(EP, "rev-1")].body
    assert recreated["tags"]["scalectl.image"] == "acr.example.io/fraud:1"
    env_id = recreated["properties"]["environmentId"]
    assert env_id.endswith("/environments/scalectl-fraud-prod/versions/1")
    assert "fraud-prod-rev-1-autoscale" in sim.autoscale


def test_rollback_with_nothing_earlier_is_bad_input(sim, scale_file, cli, tmp_path: Path) -> None:
    deploy(cli, scale_file(), tmp_path / "a")
    result = cli("rollback", "-f", scale_file(), "--yes", "--state-dir", tmp_path / "a")
    assert result.exit_code == 2
    assert "no earlier good revision" in result.output


def test_destroy_removes_only_what_scalectl_created(sim, scale_file, cli, tmp_path: Path) -> None:
    from tests.azure.simulator import Resource

    deploy(cli, scale_file(image="acr.example.io/fraud:1"), tmp_path / "a")
    deploy(cli, scale_file(image="acr.example.io/fraud:2"), tmp_path / "a")
    other = {"location": "eastus", "tags": {}, "properties": {"authMode": "Key", "traffic": {}}}
    sim.endpoints["someone-elses"] = Resource(other)
    sim.autoscale["someone-elses-autoscale"] = {"tags": {}, "properties": {"profiles": []}}

    result = cli("destroy", "-f", scale_file(), "--yes", "--state-dir", tmp_path / "b", "--output", "json")

    assert result.exit_code == 0, result.output
    removed = json.loads(result.stdout)["targets"]["prod"]
    assert removed == [
        "autoscale setting fraud-prod-rev-1-autoscale",
        "autoscale setting fraud-prod-rev-2-autoscale",
        "deployment rev-1",
        "deployment rev-2",
        "endpoint fraud-prod",
        "environment scalectl-fraud-prod (2 versions)",
    ]
    assert EP not in sim.endpoints
    assert not [k for k in sim.deployments if k[0] == EP]
    assert set(sim.autoscale) == {"someone-elses-autoscale"}
    assert "someone-elses" in sim.endpoints
    assert not sim.environments

    status = json.loads(cli("status", "-f", scale_file(), "--output", "json").stdout)
    assert status["targets"]["prod"]["exists"] is False


def test_destroy_of_nothing_succeeds(sim, scale_file, cli) -> None:
    result = cli("destroy", "-f", scale_file(), "--yes")
    assert result.exit_code == 0
    assert "removed 0 resource(s)" in result.output
