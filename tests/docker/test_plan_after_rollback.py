"""After a rollback, `plan` for the newer config names its warm containers and the one-second way back to them.

A deploy of that config still rolls out a new revision through the rollout's steps and bakes: the warm
revision is the one that was rolled back from, so it is not trusted without a rollout.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_plan_after_a_rollback_names_the_warm_newer_revision(cli, engine: Any, cleanup: list[str], scale_file) -> None:
    app = f"warm-{uuid.uuid4().hex[:8]}"
    cleanup.append(app)
    path = scale_file(
        f"version: 1\nname: {app}\nmodel: {{image: '{MODEL_IMAGE}:${{TAG}}'}}\n"
        f"targets:\n  local: {{provider: docker, replicas: 1, port: {free_port()}, gateway_image: {GATEWAY_IMAGE},"
        " keep_revisions: 2, rollout: {strategy: all_at_once}}\n"
    )
    for tag in ("v1", "v2"):
        assert cli("deploy", "-f", path, "--yes", env={"TAG": tag}).exit_code == 0
    assert cli("rollback", "-f", path, "--yes", env={"TAG": "v2"}).exit_code == 0
    plan = cli("plan", "-f", path, "--output", "json", env={"TAG": "v2"})
    assert plan.exit_code == 0, plan.stderr
    changes = json.loads(plan.stdout)["targets"]["local"]["changes"]
    warm = [c for c in changes if "warm replica" in c["resource"]]
    assert warm and warm[0]["action"] == "keep" and warm[0]["resource"].startswith("revision 2:")
    assert "rollback --to 2" in warm[0]["detail"]
    assert [c for c in changes if c["action"] == "create" and "replica(s) of" in c["resource"]]
    fresh = json.loads(cli("plan", "-f", path, "--output", "json", env={"TAG": "crashy"}).stdout)
    assert any(c["action"] == "create" and "replica" in c["resource"] for c in fresh["targets"]["local"]["changes"])
