"""A container that prints its secret before dying: the value must reach no output or record.

It goes to stdout, stderr, `--output json`, the journal (revisions and audit, any SQLite file
in the state dir), the gateway's state.json, `status` and `history`; the test greps them all.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from scalectl.redact import MASK, redact, remember
from tests.docker.helpers import BASE_IMAGE, GATEWAY_IMAGE, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_redact_masks_known_values_longest_first() -> None:
    value = "pw-" + secrets.token_hex(6)
    remember(value)
    assert redact(f"login failed for {value} and {value}x") == f"login failed for {MASK} and {MASK}x"
    assert redact("abc", ["ab"]) == "abc"  # values under 4 characters would mask ordinary text
    assert redact("a longer-secret here", ["longer", "longer-secret"]) == f"a {MASK} here"


def test_a_leaked_secret_is_in_no_output_or_record(cli, engine, tmp_path: Path, cleanup) -> None:
    app = f"leak{os.getpid()}{secrets.token_hex(2)}"
    planted = "Pl4nted-" + secrets.token_hex(12)
    image = f"scalectl-test/{app}:v1"
    build = tmp_path / "leaky"
    build.mkdir()
    (build / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n"
        'CMD ["/bin/sh", "-c", "echo \\"connecting to db with password $DB_PASSWORD\\"; sleep 1; exit 3"]\n'
    )
    path = tmp_path / "scale.yaml"
    path.write_text(f"""\
version: 1
name: {app}
model:
  image: {image}
  build: ./leaky
  secrets: {{DB_PASSWORD: env://LEAK_DB_PASSWORD}}
targets:
  local:
    provider: docker
    port: {free_port()}
    gateway_image: {GATEWAY_IMAGE}
    startup_timeout: 30s
""")
    cleanup.append(app)
    state = tmp_path / "st"
    common = ["-f", path, "--state-dir", state]
    env = {"LEAK_DB_PASSWORD": planted}
    try:
        deployed = cli("deploy", "--yes", *common, "--output", "json", env=env)
        assert deployed.exit_code == 1, deployed.stdout + deployed.stderr
        error = json.loads(deployed.stdout)["error"]
        assert f"connecting to db with password {MASK}" in error  # the log was quoted, the value masked
        outputs = [deployed.stdout, deployed.stderr]
        for command in ("history", "status"):
            for output in ("text", "json"):
                result = cli(command, *common, "--output", output, env=env)
                outputs += [result.stdout, result.stderr]
        assert MASK in "".join(outputs[2:])  # history shows the failed revision's (masked) message
        for text in outputs:
            assert planted not in text
        files = [p for p in state.rglob("*") if p.is_file()]
        assert any(p.suffix == ".sqlite" for p in files)
        for stored in files:
            assert planted.encode() not in stored.read_bytes(), stored
        gateway = engine.containers.get(f"scalectl-{app}-local-gateway")
        gateway_state = gateway.exec_run(["cat", "/etc/nginx/scalectl/state.json"]).output
        assert b"failed" in gateway_state and MASK.encode() in gateway_state
        assert planted.encode() not in gateway_state
        assert cli("destroy", "--yes", *common, env=env).exit_code == 0
    finally:
        for found in engine.images.list(name=f"scalectl-test/{app}"):
            engine.images.remove(found.id, force=True)
