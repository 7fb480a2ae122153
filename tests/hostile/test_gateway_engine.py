"""The gateway against hostile clients on a real engine (127.0.0.1 only, bounded load).

One deployment, three properties: the API key matches exactly (case and regex metacharacters
included), requests without it are throttled before their 401 (key guessing is slow), and that
throttle is separate from the key's own rate limit, so guessing does not starve key holders.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest

from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, free_port, predict

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# mixed case and the characters a regex would treat as wildcards: `.` and `+`
KEY = "Hostile.Key+" + secrets.token_hex(8) + "AbC"


def test_key_is_exact_and_guessing_is_throttled(cli, engine, tmp_path: Path, cleanup) -> None:
    app = f"hg{os.getpid()}{secrets.token_hex(2)}"
    port = free_port()
    path = tmp_path / "scale.yaml"
    path.write_text(f"""\
version: 1
name: {app}
model:
  image: {MODEL_IMAGE}:v1
  secrets: {{GATEWAY_KEY: env://HOSTILE_KEY}}
targets:
  local:
    provider: docker
    port: {port}
    gateway_image: {GATEWAY_IMAGE}
    api_key: GATEWAY_KEY
    rate_limit: 3
""")
    cleanup.append(app)
    common = ["-f", path, "--state-dir", tmp_path / "st"]
    deployed = cli("deploy", "--yes", *common, env={"HOSTILE_KEY": KEY})
    assert deployed.exit_code == 0, deployed.stdout + deployed.stderr
    row = [[20, 0, 3, 0]]

    # exact: the real key in another case, or with its `.`/`+` replaced by what a regex would accept, is refused
    status, body = predict(port, row, {"X-Api-Key": KEY})
    assert (status, body["model_version"]) == (200, "v1")
    status, body = predict(port, row, {"X-Api-Key": KEY.lower()})
    assert (status, body) == (401, {"error": "missing or wrong X-Api-Key header"})
    for near in (KEY.upper(), KEY.swapcase(), KEY.replace(".", "x"), KEY.replace("+", "yy")):
        assert predict(port, row, {"X-Api-Key": near})[0] == 401, near  # within the burst of 10
    # (the guesses above counted against the unauthenticated limit: 5 r/s, burst 10)

    # unauthenticated: 60 quick guesses, most turned away with 429 before the key is even checked
    started = time.monotonic()
    guesses = [predict(port, row, {"X-Api-Key": f"guess-{i:04d}-{'z' * 12}"})[0] for i in range(60)]
    elapsed = time.monotonic() - started
    assert set(guesses) <= {401, 429} and 429 in guesses
    # at most the burst (10) plus 5/s of the time it took were even checked
    assert guesses.count(401) <= 10 + 5 * elapsed + 1, (guesses, elapsed)
    no_header = [predict(port, row)[0] for _ in range(10)]
    assert 429 in no_header and set(no_header) <= {401, 429}

    # the key's own limit (3 r/s, burst 6) is untouched by the guessing, then applies to its holders
    assert predict(port, row, {"X-Api-Key": KEY})[0] == 200
    started = time.monotonic()
    burst = [predict(port, row, {"X-Api-Key": KEY})[0] for _ in range(20)]
    elapsed = time.monotonic() - started
    assert set(burst) <= {200, 429} and 429 in burst
    assert 3 <= burst.count(200) <= 6 + 3 * elapsed + 1, (burst, elapsed)

    destroyed = cli("destroy", "--yes", *common)
    assert destroyed.exit_code == 0, destroyed.stdout + destroyed.stderr
