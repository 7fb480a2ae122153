"""Bad states get clear errors and leave nothing behind; GPU requests reach the engine as asked."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from scalectl.providers.docker.api import create_container
from scalectl.providers.docker.requests import Stamp, replica_body

from scalectl.checks import load_checked
from scalectl.engine import release_for
from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, QUICKSTART, free_port, predict

pytestmark = pytest.mark.docker


def scale(tmp_path: Path, app: str, image: str = f"{MODEL_IMAGE}:v1", port: int | None = None, extra: str = "") -> Path:
    path = tmp_path / "scale.yaml"
    path.write_text(
        f"version: 1\nname: {app}\nmodel: {{image: {json.dumps(image)}}}\n"
        f"targets:\n  local:\n    provider: docker\n    port: {port or free_port()}\n"
        f"    gateway_image: {GATEWAY_IMAGE}\n    startup_timeout: 20s\n{extra}"
    )
    return path


def deploy(cli: Any, path: Path, **env: str) -> tuple[int, dict[str, Any]]:
    result = cli(
        "deploy", "-f", str(path), "--yes", "--output", "json", "--state-dir", str(path.parent / "st"), env=env
    )
    return result.exit_code, json.loads(result.stdout)


def left_behind(engine: Any, app: str) -> list[str]:
    found = [c.name for c in engine.containers.list(all=True, filters={"label": f"io.scalectl.app={app}"})]
    return found + [n.name for n in engine.networks.list(filters={"label": f"io.scalectl.app={app}"})]


def test_no_engine_reachable_is_a_clear_error(cli, tmp_path) -> None:
    code, doc = deploy(cli, scale(tmp_path, "noengine"), DOCKER_HOST=f"unix://{tmp_path}/no-such.sock")
    assert code == 1
    assert doc["error"].startswith(f"no Docker engine reachable at unix://{tmp_path}/no-such.sock")
    assert "start it" in doc["error"].lower()


def test_a_missing_image_is_named_and_nothing_is_created(cli, engine, tmp_path, cleanup) -> None:
    cleanup.append("noimage")
    code, doc = deploy(cli, scale(tmp_path, "noimage", image="scalectl/does-not-exist:v0"))
    assert code == 1
    assert (
        "image scalectl/does-not-exist:v0 (model.image) is not on this engine and could not be pulled" in doc["error"]
    )
    assert "docker build -t scalectl/does-not-exist:v0" in doc["error"]
    assert left_behind(engine, "noimage") == []


def test_a_taken_port_is_named_and_nothing_is_left_behind(cli, engine, tmp_path, cleanup) -> None:
    cleanup.append("portclash")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        code, doc = deploy(cli, scale(tmp_path, "portclash", port=port))
    assert code == 1
    assert f"port {port} on 127.0.0.1 is taken by another program" in doc["error"]
    assert left_behind(engine, "portclash") == []


def test_gpus_on_an_engine_without_the_nvidia_runtime_are_refused_not_run_on_cpu(
    cli, engine, tmp_path, cleanup
) -> None:
    assert "nvidia" not in (engine.info().get("Runtimes") or {}), "this test needs an engine without GPUs"
    cleanup.append("nogpu")
    code, doc = deploy(cli, scale(tmp_path, "nogpu", extra="    gpus: all\n"))
    assert code == 1
    assert "asks for GPUs (gpus: all) but this Docker engine has no NVIDIA runtime" in doc["error"]
    assert "remove `gpus:` to run on CPU" in doc["error"]
    assert left_behind(engine, "nogpu") == []


def test_gpus_per_replica_reach_the_engine_as_device_requests(engine, tmp_path) -> None:
    """The bodies deploy sends, created (not started: there is no GPU here) and read back from the engine."""
    path = scale(tmp_path, "gpuspread", extra="    replicas: 2\n    gpus: [0, 1, 2, 3]\n    gpus_per_replica: 2\n")
    release = release_for(load_checked(path), "local")
    seen = []
    for index in range(2):
        body = replica_body(release, Stamp(1, "2026-01-01T00:00:00Z", "test"), index)
        body["HostConfig"]["NetworkMode"] = "none"  # no network needed to hold a created container
        body.pop("NetworkingConfig")
        created = create_container(engine, f"scalectl-gpuspread-{os.getpid()}-{index}", body)
        try:
            seen.append(engine.api.inspect_container(created.id)["HostConfig"]["DeviceRequests"])
        finally:
            created.remove(force=True)
    assert seen == [
        [{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0", "1"], "Capabilities": [["gpu"]], "Options": None}],
        [{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["2", "3"], "Capabilities": [["gpu"]], "Options": None}],
    ]


def test_model_build_builds_the_image_and_artifact_is_mounted_read_only(cli, engine, tmp_path, cleanup) -> None:
    """The dev loop: `model.build` builds first; `model.artifact` puts local weights at /opt/ml/model."""
    app = f"devloop{os.getpid()}"
    cleanup.append(app)
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "Dockerfile").write_text(f"FROM {MODEL_IMAGE}:v1\nENV LOG_LEVEL=debug\n")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.json").write_text((QUICKSTART / "model" / "v2.json").read_text())
    port = free_port()
    path = scale(tmp_path, app, image=f"scalectl-test/{app}:dev", port=port, extra="")
    path.write_text(path.read_text().replace("model: {", "model: {build: ./server, artifact: ./weights, "))
    try:
        code, doc = deploy(cli, path)
        assert code == 0, doc
        status, body = predict(port, [[20, 0, 3, 0]])
        assert (status, body["model_version"]) == (200, "v2")  # the mounted weights, not the image's v1
        replica = engine.containers.get(f"scalectl-{app}-local-r1-0")
        mounts = [(m["Destination"], m["RW"]) for m in replica.attrs["Mounts"]]
        assert mounts == [("/opt/ml/model", False)]
    finally:
        cli("destroy", "-f", str(path), "--yes", "--state-dir", str(tmp_path / "st"))
        engine.images.remove(f"scalectl-test/{app}:dev", force=True)
