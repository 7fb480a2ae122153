"""The Kubernetes deploy lease: a coordination.k8s.io/v1 Lease, through the official client and the simulator.

These tests use the real platform (no `registry.register` override, unlike the `sim` fixture),
because the core skips a platform's own lease when its provider is swapped out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scalectl.providers.kubernetes.lease import HOLDER, KubernetesLease, holder_of, identity, lease_name
from scalectl.providers.kubernetes.schema import DNS_LABEL, KubernetesTarget

from scalectl.checks import load_checked
from scalectl.engine import Engine
from scalectl.errors import LockedError
from scalectl.events import Events
from scalectl.lease import Holder, LeaseLost, store_for
from tests.conftest import Cli
from tests.kubernetes.conftest import ScaleWriter
from tests.kubernetes.simulator import KubeSim

TARGET = KubernetesTarget(provider="kubernetes", context="sim", namespace="ml")
NAME = lease_name("fraud", "prod")


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeSim]:
    """A simulator named by KUBECONFIG; pods take 0.4 s to get ready, so a deploy holds its lease that long."""
    simulator = KubeSim(ready_seconds=0.4, fail_seconds=1.0)
    simulator.start()
    monkeypatch.setenv("KUBECONFIG", str(simulator.kubeconfig(tmp_path / "kubeconfig", context="sim")))
    try:
        yield simulator
    finally:
        simulator.stop()
    assert simulator.errors == [], "the Kubernetes simulator itself failed"


def engine(path: Path, state: str) -> Engine:
    return Engine(load_checked(path), path.parent / state)


def store() -> KubernetesLease:
    return KubernetesLease("", "fraud/prod", TARGET)


def crashed(expires_in: float) -> Holder:
    """A holder on another machine that stopped renewing."""
    return Holder("crashed-runner", "ci-host-7", 4242, "scalectl deploy", time.time() - 300, time.time() + expires_in)


def test_lease_names_are_dns_labels_and_distinct_per_app_and_target() -> None:
    pairs = [("a-b", "c"), ("a", "b-c"), ("fraud", "prod_a"), ("fraud", "prod-a"), ("fraud", "Prod")]
    pairs += [("x" * 40, "t" * 80), ("x" * 40, "t" * 81)]  # long: truncated, still apart
    names = [lease_name(app, target) for app, target in pairs]
    assert len(set(names)) == len(pairs), names
    assert all(DNS_LABEL.fullmatch(n) and n.startswith("scalectl-lease-") for n in names), names
    assert lease_name("fraud", "prod") == NAME  # stable: every runner computes the same one


def test_two_runners_race_exactly_one_deploys_the_other_exits_5_naming_the_holder(
    cluster: KubeSim, scale_file: ScaleWriter
) -> None:
    path = scale_file()
    runners = {name: engine(path, name) for name in ("runner-a", "runner-b")}  # separate state dirs
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}
    held: list[dict[str, object] | None] = []

    def run(name: str) -> None:
        start.wait()
        try:
            outcomes[name] = runners[name].deploy("prod", Events())[1]
        except LockedError as exc:
            outcomes[name] = exc
            held.append(cluster.get("leases", NAME, "ml"))  # the winner's lease, while it deploys

    threads = [threading.Thread(target=run, args=(n,)) for n in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    refused = [e for e in outcomes.values() if isinstance(e, LockedError)]
    assert len(outcomes) == 2 and len(refused) == 1, outcomes
    error = refused[0]
    assert error.exit_code == 5
    assert f"kubernetes Lease ml/{NAME}" in error.message and "`scalectl deploy`" in error.message
    assert "since 20" in error.message and "unlock --force" in error.message
    lease = held[0]
    assert lease is not None, "the loser saw no Lease"
    assert lease["metadata"]["labels"] == {"scalectl.io/app": "fraud", "scalectl.io/target": "prod"}  # type: ignore[index]
    winner = holder_of(lease)  # type: ignore[arg-type]
    assert winner.describe().split(" since ")[0] in error.message  # names the holder the Lease names
    assert lease["spec"]["holderIdentity"] == identity(winner)  # type: ignore[index]
    assert lease["spec"]["leaseDurationSeconds"] == 60  # type: ignore[index]
    # the winner released it; the other runner deploys next without --force
    assert cluster.names("leases") == []
    assert cluster.requests["DELETE Lease"] == 1
    loser = next(n for n, o in outcomes.items() if isinstance(o, LockedError))
    plan, _ = runners[loser].deploy("prod", Events())
    assert plan is not None and cluster.names("leases") == []


def test_an_expired_lease_is_taken_over_by_resource_version_and_a_late_release_removes_nothing(
    cluster: KubeSim,
) -> None:
    dead = store()
    assert dead.acquire(crashed(expires_in=-30)) is None
    assert cluster.get("leases", NAME, "ml")["spec"]["leaseTransitions"] == 0  # type: ignore[index]

    taker = store()
    mine = Holder.me("scalectl deploy", 30)
    assert taker.acquire(mine) is None  # expired: replaced under the resourceVersion it read
    lease = cluster.get("leases", NAME, "ml")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == identity(mine) and lease["spec"]["leaseTransitions"] == 1
    assert lease["metadata"]["annotations"][HOLDER] == mine.to_json()
    assert abs(holder_of(lease).expires - mine.expires) < 1.0  # renewTime + leaseDurationSeconds

    third = store()
    refused = third.acquire(Holder.me("scalectl rollback", 30))
    assert refused is not None and refused.pid == mine.pid and refused.command == "scalectl deploy"
    taker.renew(mine.renewed(600))
    renewed = third.current()
    assert renewed is not None and renewed.expires > mine.expires + 500
    assert cluster.get("leases", NAME, "ml")["spec"]["leaseTransitions"] == 1  # type: ignore[index]  # a renewal

    dead.release()  # the crashed runner comes back: its resourceVersion is stale, the delete is refused
    assert cluster.names("leases") == [NAME]
    taker.release()
    assert cluster.names("leases") == []


def test_a_deploy_takes_over_an_expired_lease_and_releases_it(cluster: KubeSim, scale_file: ScaleWriter) -> None:
    path = scale_file()
    assert store().acquire(crashed(expires_in=-5)) is None
    _, revision = engine(path, "state").deploy("prod", Events())
    assert revision is not None and revision.status == "active"
    assert cluster.names("leases") == []
    assert cluster.requests["PUT Lease"] == 1  # the takeover


def test_a_lease_broken_under_its_holder_is_lost_not_silently_kept(cluster: KubeSim) -> None:
    mine = Holder.me("scalectl deploy", 30)
    held = store()
    assert held.acquire(mine) is None
    assert store().force_release() is not None  # an operator's unlock --force elsewhere
    with pytest.raises(LeaseLost, match="removed or taken over"):
        held.renew(mine.renewed(30))


def test_unlock_force_removes_a_stuck_lease(cluster: KubeSim, scale_file: ScaleWriter, cli: Cli) -> None:
    path = scale_file()
    assert store().acquire(crashed(expires_in=3600)) is None
    state = path.parent / "s"

    refused = cli("deploy", "-f", path, "--yes", "--state-dir", state)
    assert refused.exit_code == 5, refused.output
    assert "crashed-runner" in refused.output and "ci-host-7" in refused.output
    assert cluster.names("deployments") == []  # nothing was touched

    held = cli("unlock", "-f", path, "--state-dir", state)
    assert held.exit_code == 0 and "still held" in held.output and "crashed-runner" in held.output

    forced = cli("unlock", "--force", "-f", path, "--state-dir", state)
    assert forced.exit_code == 0, forced.output
    assert "removed the shared lease held by crashed-runner" in forced.output
    assert cluster.names("leases") == []
    assert cli("deploy", "-f", path, "--yes", "--state-dir", state).exit_code == 0


def test_destroy_holds_the_lease_and_leaves_none_behind(cluster: KubeSim, scale_file: ScaleWriter) -> None:
    path = scale_file()
    engine(path, "state").deploy("prod", Events())
    other, _ = store_for(engine(path, "other").release("prod"))
    assert other is not None and other.acquire(Holder.me("scalectl rollback", 30)) is None
    with pytest.raises(LockedError, match="scalectl rollback"):
        engine(path, "state").destroy("prod", Events())  # refused while another command holds it
    assert cluster.names("deployments") == ["fraud-prod-r1"]
    other.release()

    removed = engine(path, "state").destroy("prod", Events())
    assert "Deployment fraud-prod-r1" in removed and not any("Lease" in r for r in removed)
    assert cluster.names("deployments") == [] and cluster.names("leases") == []  # released after the destroy


def test_no_right_on_leases_is_said_plainly_and_nothing_is_deployed(
    cluster: KubeSim, scale_file: ScaleWriter, cli: Cli
) -> None:
    path = scale_file()
    cluster.fail(403, match="/leases")  # RBAC without coordination.k8s.io leases
    result = cli("deploy", "-f", path, "--yes", "--state-dir", path.parent / "s")
    assert result.exit_code == 1, result.output
    assert "forbidden in namespace ml" in result.output and "leases (coordination.k8s.io" in result.output
    assert "internal error" not in result.output.lower()
    assert cluster.names("deployments") == []
