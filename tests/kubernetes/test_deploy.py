"""The official client against the simulator: deploy, canary, failures rolled back, rollback, destroy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scalectl.providers.kubernetes.api import Cluster, Conflict
from scalectl.providers.kubernetes.requests import httproute
from typer.testing import CliRunner

from scalectl.checks import load_checked
from scalectl.cli import app
from scalectl.engine import Engine
from scalectl.errors import DeployFailed, ProviderError
from scalectl.events import Events
from tests.kubernetes.conftest import ScaleWriter
from tests.kubernetes.simulator import KubeSim

CANARY = "{strategy: canary, percent: 50, bake: 0s}"
GATEWAY = "    gateway: gateways/public\n"


def engine(path: Path, state: Path | None = None) -> Engine:
    return Engine(load_checked(path), state or path.parent / "state")


def statuses(e: Engine) -> list[tuple[int, str]]:
    return [(r.number, r.status) for r in e.history("prod")]


def test_canary_by_replica_ratio_then_a_fresh_machine_rolls_back(
    sim: KubeSim, scale_file: ScaleWriter, tmp_path: Path
) -> None:
    path = scale_file(min=2)
    engine(path).deploy("prod", Events())
    assert sim.get("deployments", "fraud-prod-r1", "ml")["spec"]["replicas"] == 2  # type: ignore[index]
    assert engine(path).observe("prod").details["revisions"][0]["nodes"] == "2 spot"  # node labels, read live
    sim.fail(403, match="/nodes")  # no cluster-scoped right to list nodes: said, not fatal
    assert engine(path).observe("prod").details["revisions"][0]["nodes"] == "unknown (no right to list nodes)"

    events = Events()
    plan, revision = engine(scale_file(image="acme/scorer:2", rollout=CANARY, min=2)).deploy("prod", events)

    assert any("traffic by replica ratio" in c.detail for c in plan.changes)
    assert revision is not None and revision.number == 2
    assert "r2 1 pod(s), r1 1 pod(s)" in [e.data.get("state") for e in events.items]  # the 50% step
    live = engine(path).observe("prod")
    assert (live.active, live.traffic) == (2, {2: 100})
    assert sim.get("deployments", "fraud-prod-r1", "ml")["spec"]["replicas"] == 0  # type: ignore[index]
    assert sorted(sim.names("horizontalpodautoscalers")) == ["fraud-prod-r2"]  # the HPA follows the serving revision

    elsewhere = engine(path, tmp_path / "another-machine")
    assert statuses(elsewhere) == [(1, "superseded"), (2, "active")]
    now, replaced = elsewhere.rollback("prod", None, Events())
    assert (now.number, replaced and replaced.number) == (1, 2)
    live = elsewhere.observe("prod")
    assert (live.active, live.traffic) == (1, {1: 100})
    assert sim.get("deployments", "fraud-prod-r1", "ml")["status"]["readyReplicas"] == 2  # type: ignore[index]
    assert sim.names("horizontalpodautoscalers") == ["fraud-prod-r1"]


def test_a_broken_canary_is_rolled_back_and_status_says_why_in_plain_words(
    sim: KubeSim, scale_file: ScaleWriter
) -> None:
    path = scale_file(extra=GATEWAY)
    engine(path).deploy("prod", Events())
    scale_file(image="acme/scorer:broken", rollout=CANARY, extra=GATEWAY)

    result = CliRunner().invoke(app, ["deploy", "-f", str(path), "--yes", "--state-dir", str(path.parent / "state")])

    assert result.exit_code == 1, result.output
    assert "revision 1 still serves 100% of traffic" in result.output
    route = sim.get("httproutes", "fraud-prod", "ml")
    assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [("fraud-prod-r1", 100)]  # type: ignore[index]
    status = CliRunner().invoke(
        app, ["status", "-f", str(path), "--output", "json", "--state-dir", str(path.parent / "s")]
    )
    assert status.exit_code == 0, status.output
    doc = json.loads(status.stdout)
    target = doc["targets"][0] if isinstance(doc["targets"], list) else doc["targets"]["prod"]
    text = json.dumps(target)
    assert "readiness or liveness probe fails" in text and "statuscode: 503" in text
    assert '"traffic": {"1": 100}' in text


def test_restarts_during_the_bake_roll_back(sim: KubeSim, scale_file: ScaleWriter) -> None:
    path = scale_file(extra=GATEWAY)
    engine(path).deploy("prod", Events())
    scale_file(image="acme/scorer:crashy", rollout="{strategy: canary, percent: 50, bake: 1s}", extra=GATEWAY)

    with pytest.raises(DeployFailed, match="restarted"):
        engine(path).deploy("prod", Events())

    live = engine(path).observe("prod")
    assert (live.active, live.traffic) == (1, {1: 100})
    assert statuses(engine(path))[-1] == (2, "failed")


def test_throttling_and_server_errors_are_retried(sim: KubeSim, scale_file: ScaleWriter) -> None:
    sim.fail(429, count=2, match="POST")
    sim.fail(503, count=1, match="PATCH")
    events = Events()

    _, revision = engine(scale_file(extra=GATEWAY)).deploy("prod", events)

    assert revision is not None and revision.status == "active"
    warnings = [e.message for e in events.items if e.kind == "warn"]
    assert sum("answered 429" in w for w in warnings) == 2 and sum("answered 503" in w for w in warnings) == 1


def test_a_stale_resource_version_is_a_conflict_and_apply_rereads(sim: KubeSim, scale_file: ScaleWriter) -> None:
    path = scale_file(extra=GATEWAY)
    engine(path).deploy("prod", Events())
    release = engine(path).release("prod")
    cluster = Cluster(release.target)  # type: ignore[arg-type]
    stale = cluster.get("HTTPRoute", "fraud-prod")
    assert stale is not None
    cluster.apply(httproute(release, {1: 100}))  # someone else writes in between

    with pytest.raises(Conflict, match="has been modified"):
        cluster.replace(stale)
    sim.fail(409, count=1, match="PUT")  # apply re-reads and retries a conflict
    assert cluster.apply(httproute(release, {1: 100}))["kind"] == "HTTPRoute"


def test_without_gateway_api_the_plan_says_replica_ratio(sim: KubeSim, scale_file: ScaleWriter) -> None:
    sim.gateway_api = False
    plan = engine(scale_file(extra=GATEWAY)).plan("prod")
    assert any("replica ratio (the cluster does not serve Gateway API)" in c.detail for c in plan.changes)


def test_destroy_removes_only_this_apps_objects(sim: KubeSim, scale_file: ScaleWriter, tmp_path: Path) -> None:
    other = scale_file(app="other", extra=GATEWAY)
    other_copy = tmp_path / "other.yaml"
    other_copy.write_text(other.read_text())
    engine(other_copy, tmp_path / "s2").deploy("prod", Events())
    path = scale_file(extra=GATEWAY)
    engine(path).deploy("prod", Events())

    removed = engine(path).destroy("prod", Events())

    assert "Deployment fraud-prod-r1" in removed and "HTTPRoute fraud-prod" in removed
    assert engine(path).observe("prod").exists is False
    left = [name for (_, _, name) in sim.objects]
    assert left and all(name.startswith("other-") for name in left)


def test_a_missing_context_or_cluster_is_a_clear_error(
    sim: KubeSim, scale_file: ScaleWriter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = scale_file()
    path.write_text(path.read_text().replace("context: sim", "context: prod-eks"))
    with pytest.raises(ProviderError, match="context 'prod-eks' is not usable"):
        engine(path).observe("prod")
    path.write_text(path.read_text().replace("    context: prod-eks\n", ""))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ProviderError, match="no Kubernetes cluster configured"):
        engine(path).observe("prod")


@pytest.mark.parametrize(
    ("image", "gpus", "words"),
    [
        ("acme/scorer:missing", 0, "the image cannot be pulled: check its name and tag"),
        ("acme/scorer:oom", 0, "ran out of memory (OOMKilled): raise resources.memory_limit"),
        ("acme/scorer:1", 2, "Pending: no node has a free GPU (nvidia.com/gpu)"),
    ],
)
def test_failing_pods_are_reported_in_plain_words(
    sim: KubeSim, scale_file: ScaleWriter, image: str, gpus: int, words: str
) -> None:
    sim.gpus_per_node = 1
    path = scale_file(image=image, extra=f"    gpus: {gpus}\n")

    with pytest.raises(DeployFailed, match="nothing was serving before") as failed:
        engine(path).deploy("prod", Events())

    assert words in failed.value.message
    live = engine(path).observe("prod")
    assert live.traffic == {} and live.active is None
    assert words in live.details["revisions"][0]["problems"][0]


def test_an_interrupted_canary_puts_the_previous_revision_back(sim: KubeSim, scale_file: ScaleWriter) -> None:
    path = scale_file(extra=GATEWAY)
    engine(path).deploy("prod", Events())
    scale_file(image="acme/scorer:2", rollout="{strategy: canary, percent: 50, bake: 5s}", extra=GATEWAY)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt  # Ctrl-C during the bake

    with pytest.MonkeyPatch.context() as patch, pytest.raises(DeployFailed, match="interrupted"):
        patch.setattr("scalectl.providers.kubernetes.rollout.time.sleep", interrupt)  # only the bake sleeps so
        engine(path).deploy("prod", Events())

    live = engine(path).observe("prod")
    assert (live.active, live.traffic) == (1, {1: 100})
    assert statuses(engine(path))[-1] == (2, "failed")


def test_a_target_locked_by_another_deploy_exits_5_and_touches_nothing(sim: KubeSim, scale_file: ScaleWriter) -> None:
    from scalectl.state import Journal

    path = scale_file()
    state = path.parent / "state"
    with Journal.open(state).lock("fraud", "prod"):
        result = CliRunner().invoke(app, ["deploy", "-f", str(path), "--yes", "--state-dir", str(state)])
    assert result.exit_code == 5, result.output
    assert not any(key.startswith(("POST", "PUT", "PATCH", "DELETE")) for key in sim.requests)


def test_capture_on_adds_the_sidecar_and_points_the_service_at_it(sim: KubeSim, scale_file: ScaleWriter) -> None:
    engine(scale_file()).deploy("prod", Events())
    service = sim.get("services", "fraud-prod", "ml")
    assert service is not None and service["spec"]["ports"][0]["targetPort"] == 8080
    capture = (
        "    capture_image: registry.example/scalectl:0.1\n"
        "    monitoring: {capture: {percent: 10, destination: pvc://captures/fraud}}\n"
    )
    plan, revision = engine(scale_file(extra=capture)).deploy("prod", Events())
    assert any(c.resource == "capture sidecar in each pod" for c in plan.changes)
    assert revision is not None and revision.number == 2
    pod = sim.get("deployments", "fraud-prod-r2", "ml")["spec"]["template"]["spec"]  # type: ignore[index]
    assert [c["name"] for c in pod["containers"]] == ["model", "capture"]
    service = sim.get("services", "fraud-prod", "ml")
    assert service is not None and service["spec"]["ports"][0]["targetPort"] == "http"  # the sidecar's port name
