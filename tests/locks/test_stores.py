"""The lease on each cloud store, against a server nobody here wrote (see conftest.py).

Two engines with separate state directories stand for two CI runners: only the store can
serialise them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scalectl.config import load_config
from scalectl.engine import Engine
from scalectl.errors import ExitCode, LockedError
from scalectl.events import Events
from scalectl.lease import Holder, LeaseLost, hold, store_for
from tests.locks.conftest import ACCOUNT, GatedMemory, Store, azure_connection

SCALE = """\
version: 1
name: lockapp
model:
  image: registry.example.com/fraud:${{TAG:-v1}}
defaults:
  lock: {{store: "{store}", ttl: {ttl}}}
targets:
  prod:
    provider: aws
    region: us-east-1
    instance: ml.m5.large
"""


def engines(tmp_path: Path, store: Store, n: int = 2, tag: str = "v1", ttl: int | None = None) -> list[Engine]:
    path = tmp_path / "scale.yaml"
    path.write_text(SCALE.format(store=store.url, ttl=ttl or store.ttl))
    config = load_config(path, env={"TAG": tag})
    return [Engine(config, tmp_path / f"runner{i}") for i in range(n)]


def abandon(engine: Engine, ttl: int, command: str = "scalectl deploy") -> Holder:
    """Take the lease as a process that then dies would: never renewed, never released."""
    store, _ = store_for(engine.release("prod"))
    assert store is not None
    holder = Holder("crashed-runner", "ci-host-7", 4242, command, time.time(), time.time() + ttl)
    assert store.acquire(holder) is None
    return holder


# First in the module, so the abandoned lease it makes ages while the other tests run.
def test_azure_a_crashed_holders_blob_lease_is_refused_while_it_lasts(crashed_azure_engine: Engine) -> None:
    with pytest.raises(LockedError) as refused:
        crashed_azure_engine.deploy("prod", Events())
    assert "crashed-runner" in refused.value.message and "pid 4242 on ci-host-7" in refused.value.message


def test_two_runners_race_exactly_one_deploys_the_other_is_refused_naming_the_holder(
    tmp_path: Path, store: Store, platform: GatedMemory
) -> None:
    a, b = engines(tmp_path, store)
    platform.gate.clear()  # the winner's rollout stays open until the loser has been refused
    outcomes: dict[str, Any] = {}

    events = {"a": Events(), "b": Events()}

    def run(name: str, engine: Engine) -> None:
        try:
            outcomes[name] = engine.deploy("prod", events[name])[1]
        except LockedError as exc:
            outcomes[name] = exc
            platform.gate.set()

    threads = [threading.Thread(target=run, args=(n, e)) for n, e in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    refused = [v for v in outcomes.values() if isinstance(v, LockedError)]
    deployed = [v for v in outcomes.values() if not isinstance(v, LockedError)]
    assert len(refused) == 1 and len(deployed) == 1, (outcomes, {n: e.to_list() for n, e in events.items()})
    assert deployed[0].number == 1 and deployed[0].status == "active"
    error = refused[0]
    assert error.exit_code == ExitCode.LOCKED == 5
    assert "`scalectl deploy`" in error.message and "since 20" in error.message
    assert store.url.split("://")[0] + "://" in error.message  # says where the lease is
    assert "unlock --force -t prod" in error.message
    # released at the end: the next deploy from either runner goes ahead
    again = engines(tmp_path, store, 1, tag="v2")[0]
    assert again.deploy("prod", Events())[1] is not None
    assert store_for(again.release("prod"))[0].current() is None  # type: ignore[union-attr]


@pytest.mark.parametrize("store", ["s3", "dynamodb", "gs"], indirect=True)
def test_a_crashed_holders_lease_expires_and_is_taken_over(tmp_path: Path, store: Store, platform: GatedMemory) -> None:
    """(Azure's shortest lease is 15 s: its crash test waits once, at the end of this module.)"""
    (engine,) = engines(tmp_path, store, 1)
    abandon(engine, store.expires_after)
    with pytest.raises(LockedError) as refused:
        engine.deploy("prod", Events())
    assert "crashed-runner" in refused.value.message and "pid 4242 on ci-host-7" in refused.value.message
    time.sleep(store.expires_after + 0.3)
    _, revision = engine.deploy("prod", Events())
    assert revision is not None and revision.status == "active"


@pytest.mark.parametrize("store", ["s3", "gs"], indirect=True)
def test_renewals_keep_a_long_deploys_lease(tmp_path: Path, store: Store, platform: GatedMemory) -> None:
    """The renewer thread on the two object stores. DynamoDB's renewal is the same conditional put
    as its takeover (crash test) and its lost-lease check (below); Azure's is checked directly."""
    ttl = 3  # renewed every second: slack for a loaded CI machine
    first, second = engines(tmp_path, store, ttl=ttl)
    platform.hold_for = ttl * 3  # the rollout outlives the first expiry and the second deploy, with slack under load
    result: dict[str, Any] = {}
    events = Events()
    worker = threading.Thread(target=lambda: result.update(rev=first.deploy("prod", events)[1]))
    worker.start()
    assert platform.entered.wait(10)
    time.sleep(ttl * 1.2)  # past the first expiry: only renewals keep it
    with pytest.raises(LockedError):
        second.deploy("prod", Events())
    worker.join(timeout=30)
    assert result["rev"].status == "active"
    assert not [e.message for e in events.items if e.kind == "warn"]  # no renewal failed


@pytest.mark.parametrize("store", ["azblob"], indirect=True)
def test_azure_blob_lease_renewal_extends_the_lease(tmp_path: Path, store: Store, platform: GatedMemory) -> None:
    (engine,) = engines(tmp_path, store, 1)
    lease, ttl = store_for(engine.release("prod"))
    assert lease is not None and lease.effective_ttl(ttl) == 15
    mine = Holder.me("scalectl deploy", 15)
    assert lease.acquire(mine) is None
    lease.renew(mine.renewed(15))  # a real RenewLease on Azurite, and the holder rewritten under it
    seen = lease.current()
    assert seen is not None and seen.pid == mine.pid and seen.expires > mine.since
    lease.release()
    assert lease.current() is None
    # broken under us (an operator's unlock --force): the next renewal says the lease is lost
    assert lease.acquire(mine) is None
    assert lease.force_release() is not None
    with pytest.raises(LeaseLost, match="broken or taken over"):
        lease.renew(mine.renewed(15))


def test_unlock_force_removes_a_stuck_lease(
    tmp_path: Path, store: Store, platform: GatedMemory, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (engine,) = engines(tmp_path, store, 1)
    abandon(engine, 3600 if store.kind != "azblob" else 60)
    state = ["--state-dir", str(tmp_path / "runner0")]
    refused = cli("deploy", "-f", tmp_path / "scale.yaml", "-t", "prod", "--yes", *state)
    assert refused.exit_code == 5, refused.output
    assert "crashed-runner" in refused.output
    plain = cli("unlock", "-f", tmp_path / "scale.yaml", "-t", "prod", *state)
    assert plain.exit_code == 0 and "still held" in plain.output  # without --force it says, and keeps it
    forced = cli("unlock", "--force", "-f", tmp_path / "scale.yaml", "-t", "prod", *state)
    assert forced.exit_code == 0, forced.output
    assert "removed the shared lease held by crashed-runner" in forced.output
    deployed = cli("deploy", "-f", tmp_path / "scale.yaml", "-t", "prod", "--yes", *state)
    assert deployed.exit_code == 0, deployed.output


@pytest.mark.parametrize("store", ["s3", "dynamodb", "gs"], indirect=True)
def test_a_lease_taken_over_while_held_is_reported_not_silently_kept(
    tmp_path: Path, store: Store, platform: GatedMemory
) -> None:
    """An operator's `unlock --force` while a deploy runs: its renewer says so (Azure: checked directly)."""
    (engine,) = engines(tmp_path, store, 1)
    events = Events()
    with hold(engine.release("prod"), "scalectl deploy", events):
        lease, _ = store_for(engine.release("prod"))
        assert lease is not None and lease.force_release() is not None  # an operator's unlock --force
        deadline = time.monotonic() + store.ttl * 2
        while time.monotonic() < deadline and not any(e.kind == "warn" for e in events.items):
            time.sleep(0.1)
    warnings = [e.message for e in events.items if e.kind == "warn"]
    assert warnings and "taken over" in warnings[0]


@pytest.fixture(scope="module")
def azure_crashed(azurite_url: str) -> Iterator[tuple[str, float]]:
    """An Azure blob lease left by a runner that died, taken when this module starts so the 15 s
    it takes Azure to expire it pass while the other tests run: (lock.store, when it was taken)."""
    from azure.storage.blob import BlobServiceClient
    from scalectl.providers.azure.lease import AzureBlobLease

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AZURE_STORAGE_CONNECTION_STRING", azure_connection(azurite_url))
        BlobServiceClient.from_connection_string(azure_connection(azurite_url)).create_container("crashed")
        lease = AzureBlobLease(f"{ACCOUNT}/crashed", "lockapp/prod", None)  # type: ignore[arg-type]
        taken = time.time()
        assert lease.acquire(Holder("crashed-runner", "ci-host-7", 4242, "scalectl deploy", taken, taken + 15)) is None
    yield f"azblob://{ACCOUNT}/crashed", taken


@pytest.fixture
def crashed_azure_engine(
    tmp_path: Path,
    azure_crashed: tuple[str, float],
    platform: GatedMemory,
    monkeypatch: pytest.MonkeyPatch,
    azurite_url: str,
) -> Engine:
    """A runner whose target's `lock:` is the container with the crashed runner's lease."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azure_connection(azurite_url))
    (engine,) = engines(tmp_path, Store("azblob", azure_crashed[0], 15, 15), 1)
    return engine


def test_azure_a_crashed_holders_blob_lease_expires_and_is_taken_over(
    crashed_azure_engine: Engine, azure_crashed: tuple[str, float]
) -> None:
    time.sleep(max(0.0, azure_crashed[1] + 15.5 - time.time()))
    _, revision = crashed_azure_engine.deploy("prod", Events())
    assert revision is not None and revision.status == "active"
