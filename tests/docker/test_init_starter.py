"""`scalectl init` in an empty folder gives a starter that deploys as is on a set-up machine."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.docker.helpers import GATEWAY_IMAGE, free_port, predict

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_init_then_deploy_serves_predictions(cli, engine: Any, cleanup: list[str], tmp_path: Path) -> None:
    folder = tmp_path / f"starter-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    file = folder / "scale.yaml"
    app = folder.name
    port = free_port()
    env = {"LOCAL_PORT": str(port), "GATEWAY_IMAGE": GATEWAY_IMAGE}
    cleanup.append(app)
    try:
        init = cli("init", "-f", file, "--output", "json")
        assert init.exit_code == 0, init.stderr
        written = {Path(p).relative_to(folder).as_posix() for p in json.loads(init.stdout)["files"]}
        assert written == {"scale.yaml", "scale.schema.json", "server/Dockerfile", "server/serve.py"}
        assert "$schema=./scale.schema.json" in file.read_text()
        assert json.loads((folder / "scale.schema.json").read_text())["type"] == "object"

        plan = cli("plan", "-f", file, "--output", "json", env=env)
        assert plan.exit_code == 0, plan.stderr
        assert f"image {app}:latest" in plan.stdout and "built from ./server" in plan.stdout

        deploy = cli("deploy", "-f", file, "--yes", "--output", "json", env=env)
        assert deploy.exit_code == 0, deploy.stderr
        status, body = predict(port, [[0.5, -2, 1.5]])
        assert status == 200, body
        assert body["predictions"] == [pytest.approx(0.5)]

        destroy = cli("destroy", "-f", file, "--yes", env=env)
        assert destroy.exit_code == 0, destroy.stderr
        assert not engine.containers.list(all=True, filters={"label": f"io.scalectl.app={app}"})
    finally:
        for image in engine.images.list(name=app):
            engine.images.remove(image.id, force=True)


def test_validate_and_plan_say_an_image_is_not_on_the_engine(cli, engine: Any, scale_file) -> None:
    missing = f"scalectl-test-missing-{uuid.uuid4().hex[:8]}:v1"
    file = scale_file(
        f"version: 1\nname: missing-{uuid.uuid4().hex[:6]}\nmodel: {{image: {missing}}}\n"
        f"targets:\n  local: {{provider: docker, port: {free_port()}, gateway_image: {GATEWAY_IMAGE}}}\n"
    )
    result = cli("validate", "-f", file, "--output", "json")
    assert result.exit_code == 0, result.stderr  # a warning: a registry may still have it
    [warning] = json.loads(result.stdout)["diagnostics"]
    assert warning["severity"] == "warning" and warning["field"] == "model.image" and warning["line"] == 3
    assert f"image {missing} is not on this Docker engine" in warning["message"]
    assert "model.build" in warning["message"]
    plan = cli("plan", "-f", file, "--output", "json")
    assert plan.exit_code == 0, plan.stderr
    assert "not on this engine: pulled" in plan.stdout
