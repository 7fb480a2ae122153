"""The Docker lease, on the real engine: a created-never-started container named for the target."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scalectl.providers.docker.lease import DockerLease
from scalectl.providers.docker.schema import DockerTarget

from scalectl.lease import Holder
from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, free_port, remove_target

pytestmark = [pytest.mark.docker]

SCALE = """\
version: 1
name: {app}
model:
  image: {model_image}:v1
  port: 8080
  health: /ping
  predict: /invocations
targets:
  local:
    provider: docker
    replicas: 1
    port: {port}
    gateway_image: {gateway_image}
    startup_timeout: 30s
"""


@pytest.fixture
def app(engine: Any) -> Iterator[str]:
    name = f"lk{uuid.uuid4().hex[:8]}"
    yield name
    remove_target(engine, name)
    for c in engine.containers.list(all=True, filters={"label": f"io.scalectl.lease.app={name}"}):
        c.remove(force=True)


def target() -> DockerTarget:
    return DockerTarget(provider="docker", gateway_image=GATEWAY_IMAGE)


def lease_containers(engine: Any, app: str) -> list[str]:
    return [c.name for c in engine.containers.list(all=True, filters={"label": f"io.scalectl.lease.app={app}"})]


def scalectl(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALECTL_")}
    return subprocess.Popen(
        [sys.executable, "-m", "scalectl", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_deploys_at_once_on_one_engine_exactly_one_runs(engine: Any, app: str, tmp_path: Path) -> None:
    """Two runners (separate state dirs, separate processes) deploy the same target together."""
    (tmp_path / "scale.yaml").write_text(
        SCALE.format(app=app, port=free_port(), model_image=MODEL_IMAGE, gateway_image=GATEWAY_IMAGE)
    )
    runs = [scalectl("deploy", "--yes", "--state-dir", f"runner{i}", cwd=tmp_path) for i in range(2)]
    outcomes = [(p.wait(timeout=90), *p.communicate()) for p in runs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 5], outcomes
    refused = next(out + err for code, out, err in outcomes if code == 5)
    assert f"scalectl-lease-{app}_local" in refused and "`scalectl deploy`" in refused and "since 20" in refused
    assert lease_containers(engine, app) == []  # released by the winner at the end
    assert len(engine.containers.list(filters={"label": f"io.scalectl.app={app}"})) == 2  # gateway + 1 replica


def test_an_expired_docker_lease_is_taken_over_by_renaming_that_very_container(engine: Any, app: str) -> None:
    crashed = DockerLease("", f"{app}/local", target())
    dead = Holder("crashed-runner", "ci-host-7", 4242, "scalectl deploy", time.time() - 120, time.time() - 60)
    assert crashed.acquire(dead) is None
    taker = DockerLease("", f"{app}/local", target())
    mine = Holder.me("scalectl deploy", 30)
    assert taker.acquire(mine) is None
    assert lease_containers(engine, app) == [f"scalectl-lease-{app}_local"]  # the expired one is gone
    now = taker.current()
    assert now is not None and now.pid == mine.pid
    # a third runner is refused while it lasts, and renewal moves the expiry on
    third = DockerLease("", f"{app}/local", target())
    refused = third.acquire(Holder.me("scalectl rollback", 30))
    assert refused is not None and refused.pid == mine.pid
    taker.renew(mine.renewed(600))
    renewed = third.current()
    assert renewed is not None and renewed.expires > mine.expires + 500
    # the crashed runner's late release removes nothing of ours (by id, not by name)
    crashed.release()
    assert lease_containers(engine, app) == [f"scalectl-lease-{app}_local"]
    taker.release()
    assert lease_containers(engine, app) == []


def test_unlock_force_removes_a_stuck_docker_lease(engine: Any, app: str, tmp_path: Path, cli: Any) -> None:
    scale = tmp_path / "scale.yaml"
    scale.write_text(SCALE.format(app=app, port=free_port(), model_image=MODEL_IMAGE, gateway_image=GATEWAY_IMAGE))
    stuck = DockerLease("", f"{app}/local", target())
    assert stuck.acquire(Holder("crashed-runner", "ci-host-7", 4242, "scalectl deploy", time.time(), 4e9)) is None
    refused = cli("rollback", "-f", scale, "--yes", "--state-dir", tmp_path / "s")
    assert refused.exit_code == 5 and "crashed-runner" in refused.output
    forced = cli("unlock", "--force", "-f", scale, "--state-dir", tmp_path / "s")
    assert forced.exit_code == 0 and "removed the shared lease held by crashed-runner" in forced.output
    assert lease_containers(engine, app) == []
