"""History lives on Vertex (Model labels + the endpoint): any machine sees it and can roll back."""

from __future__ import annotations

from pathlib import Path

from scalectl.providers.gcp.provider import GcpProvider

from .helpers import V1, V2, scalectl, write_scale
from .simulator import VertexSim


def test_rollback_from_a_fresh_state_dir_redeploys_the_previous_model(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    ci = tmp_path / "ci-runner-1"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=ci)[0] == 0
    v1_model = sim.endpoint()["deployedModels"][0]["model"]
    path = write_scale(tmp_path, image=V2, strategy="canary", percent=50, bake="0s")
    assert scalectl("deploy", "-f", str(path), "--yes", state=ci)[0] == 0

    other = tmp_path / "ci-runner-2"  # knows nothing locally
    code, doc, _ = scalectl("history", "-f", str(path), state=other)
    assert code == 0
    assert [(r["number"], r["status"], r["image"]) for r in doc["targets"]["prod"]] == [
        (1, "superseded", V1),
        (2, "active", V2),
    ]

    code, doc, _ = scalectl("rollback", "-f", str(path), "--yes", state=other)
    assert code == 0, doc
    assert (doc["targets"]["prod"]["revision"]["number"], doc["targets"]["prod"]["from"]) == (1, 2)
    (deployed,) = sim.endpoint()["deployedModels"]
    assert deployed["model"] == v1_model  # revision 1's own Model, redeployed
    assert deployed["dedicatedResources"]["machineSpec"] == {
        "machineType": "g2-standard-8",
        "acceleratorType": "NVIDIA_L4",
        "acceleratorCount": 1,
    }
    assert sim.endpoint()["trafficSplit"] == {deployed["id"]: 100}

    code, doc, _ = scalectl("history", "-f", str(path), state=tmp_path / "ci-runner-3")
    assert [(r["number"], r["status"]) for r in doc["targets"]["prod"]] == [(1, "active"), (2, "rolled_back")]
    assert doc["targets"]["prod"][1]["message"].startswith("rolled back to revision 1 by ")


def test_rollback_to_a_still_deployed_revision_only_moves_traffic(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    old_id = sim.endpoint()["deployedModels"][0]["id"]
    sim.unhealthy_image["fraud:v2"] = 0.2
    manual = write_scale(tmp_path, image=V2, strategy="canary", percent=20, bake="2s", extra="")
    manual.write_text(manual.read_text().replace("timeout: 60s}", "timeout: 60s, auto_rollback: false}"))
    code, doc, _ = scalectl("deploy", "-f", str(manual), "--yes", state=state)
    assert code == 1
    assert "auto_rollback is off, so revision 2 keeps 20% of traffic" in doc["error"]
    assert len(sim.endpoint()["deployedModels"]) == 2

    deploys_before = len(sim.calls("POST", ":deployModel"))
    code, doc, _ = scalectl("rollback", "-f", str(manual), "--yes", state=tmp_path / "elsewhere")
    assert code == 0, doc
    assert len(sim.calls("POST", ":deployModel")) == deploys_before  # no redeploy: a traffic switch
    assert sim.endpoint()["trafficSplit"] == {old_id: 100}
    assert [d["id"] for d in sim.endpoint()["deployedModels"]] == [old_id]
    assert doc["targets"]["prod"]["seconds"] < 5


def test_rollback_with_nothing_earlier_is_bad_input(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    path = write_scale(tmp_path, image=V1)
    assert scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")[0] == 0
    code, doc, _ = scalectl("rollback", "-f", str(path), "--yes", state=tmp_path / "st")
    assert code == 2 and "no earlier good revision" in doc["error"]


def test_destroy_removes_only_what_scalectl_created(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state = tmp_path / "st"
    assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=V1)), "--yes", state=state)[0] == 0
    path = write_scale(tmp_path, image=V2)
    assert scalectl("deploy", "-f", str(path), "--yes", state=state)[0] == 0
    # someone else's model in the same project
    sim.models["projects/acme/locations/us-central1/models/42"] = {
        "name": "projects/acme/locations/us-central1/models/42",
        "labels": {"team": "search"},
    }

    code, doc, _ = scalectl("destroy", "-f", str(path), "--yes", state=state)
    assert code == 0, doc
    removed = doc["targets"]["prod"]
    assert sum(r.startswith("model ") for r in removed) == 2
    assert any(r.startswith("endpoint ") for r in removed)
    assert sim.endpoints == {}
    assert list(sim.models) == ["projects/acme/locations/us-central1/models/42"]

    code, doc, _ = scalectl("status", "-f", str(path), state=state)
    assert (code, doc["targets"]["prod"]["exists"]) == (0, False)


def test_keep_revisions_prunes_old_models(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    state = tmp_path / "st"
    for n in range(1, 4):
        path = write_scale(tmp_path, image=f"us-docker.pkg.dev/acme/serving/fraud:v{n}", extra="keep_revisions: 1\n")
        assert scalectl("deploy", "-f", str(path), "--yes", state=state)[0] == 0
    revisions = sorted(m["labels"]["scalectl_revision"] for m in sim.models.values())
    assert revisions == ["2", "3"]  # the active one and one earlier for rollback


def test_destroy_keeps_an_endpoint_that_serves_someone_elses_model(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    path = write_scale(tmp_path, image=V1)
    assert scalectl("deploy", "-f", str(path), "--yes", state=tmp_path / "st")[0] == 0
    (endpoint,) = sim.endpoints.values()
    foreign = "projects/acme/locations/us-central1/models/42"
    sim.models[foreign] = {"name": foreign, "labels": {"team": "search"}}
    endpoint["deployedModels"].append(
        {
            "id": "77",
            "model": foreign,
            "dedicatedResources": {"minReplicaCount": 1},
            "_health": "/",
            "_unhealthy_at": float("inf"),
        }
    )

    code, doc, _ = scalectl("destroy", "-f", str(path), "--yes", state=tmp_path / "st")
    assert code == 1
    assert "deployed model(s) scalectl did not create, holding no traffic" in doc["error"]

    ours = next(d["id"] for d in endpoint["deployedModels"] if d["id"] != "77")
    endpoint["trafficSplit"] = {ours: 50, "77": 50}  # the other team shares the endpoint
    code, doc, _ = scalectl("destroy", "-f", str(path), "--yes", state=tmp_path / "st")
    assert code == 0, doc
    assert [d["id"] for d in sim.endpoint()["deployedModels"]] == ["77"]
    assert sim.endpoint()["trafficSplit"] == {"77": 100}
    assert list(sim.models) == [foreign]


def test_a_target_locked_by_another_deploy_exits_5(sim: VertexSim, gcp: GcpProvider, tmp_path: Path) -> None:
    from scalectl.state import Journal

    state = tmp_path / "st"
    path = write_scale(tmp_path, image=V1)
    with Journal.open(state).lock("fraud", "prod"):
        code, doc, _ = scalectl("deploy", "-f", str(path), "--yes", state=state)
    assert code == 5 and "is locked by" in doc["error"]
    assert not sim.calls("POST")


def test_rollback_skips_a_revision_that_was_rolled_back_before(
    sim: VertexSim, gcp: GcpProvider, tmp_path: Path
) -> None:
    state = tmp_path / "st"
    for image in (V1, V2):
        assert scalectl("deploy", "-f", str(write_scale(tmp_path, image=image)), "--yes", state=state)[0] == 0
    assert scalectl("rollback", "-f", str(write_scale(tmp_path, image=V2)), "--yes", state=state)[0] == 0  # 2 -> 1
    sim.unhealthy_image["fraud:v3"] = 0.2
    path = write_scale(tmp_path, image="us-docker.pkg.dev/acme/serving/fraud:v3", strategy="canary", bake="2s")
    path.write_text(path.read_text().replace("timeout: 60s}", "timeout: 60s, auto_rollback: false}"))
    assert scalectl("deploy", "-f", str(path), "--yes", state=state)[0] == 1  # revision 3 stuck at 25%

    code, doc, _ = scalectl("rollback", "-f", str(path), "--yes", state=state)
    assert code == 0, doc
    assert (doc["targets"]["prod"]["from"], doc["targets"]["prod"]["revision"]["number"]) == (3, 1)
