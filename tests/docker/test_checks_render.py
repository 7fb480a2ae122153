"""Offline: capability checks, what render shows, traffic steps, the quickstart model. No engine needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scalectl.providers.docker.metrics import parse_line, revision_figures, stamp_ns
from scalectl.providers.docker.provider import DockerProvider
from scalectl.providers.docker.requests import Upstream, nginx_conf

from scalectl.checks import load_checked
from scalectl.engine import release_for
from scalectl.errors import ConfigError
from scalectl.rollout import traffic_steps
from tests.docker.helpers import QUICKSTART, REPO

APP = """\
version: 1
name: fraud
model:
  image: fraud:v1
{model_extra}targets:
  local:
    provider: docker
{target_extra}"""


def write(tmp_path: Path, target_extra: str = "", model_extra: str = "") -> Path:
    path = tmp_path / "scale.yaml"
    path.write_text(APP.format(target_extra=target_extra, model_extra=model_extra))
    return path


def rendered(tmp_path: Path, target_extra: str = "", model_extra: str = "") -> dict[str, str]:
    config = load_checked(write(tmp_path, target_extra, model_extra))
    return DockerProvider().render(release_for(config, "local"))


def test_the_quickstart_example_validates(cli) -> None:
    result = cli("validate", "-f", str(QUICKSTART / "scale.yaml"))
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("target_extra", "model_extra", "field", "message"),
    [
        ("    spot: true\n", "", "targets.local.spot", "spot has no meaning on a local Docker machine"),
        ("    rollout: {alarms: [high-5xx]}\n", "", "targets.local.rollout.alarms", "use rollout.max_error_rate"),
        ("    gpus: all\n    gpus_per_replica: 1\n", "", "targets.local.gpus_per_replica", "needs `gpus:` as a count"),
        (
            "    replicas: 3\n    gpus: 4\n    gpus_per_replica: 2\n",
            "",
            "targets.local.gpus_per_replica",
            "3 replicas x 2 GPUs each needs 6 GPUs but `gpus:` offers 4",
        ),
        ("    gpus: [0, 0]\n", "", "targets.local.gpus", "the same GPU id twice"),
        ("", "  secrets: {TOKEN: aws-sm://prod/token}\n", "model.secrets.TOKEN", "env:// or file:// references"),
        (
            "    api_key: KEY\n",
            "",
            "targets.local.api_key",
            "api_key names secret 'KEY', which is not in model.secrets",
        ),
        ("", "  artifact: s3://models/fraud.tar.gz\n", "model.artifact", "download s3://models/fraud.tar.gz first"),
        ("", "  build: ./nowhere\n", "model.build", "no Dockerfile in"),
    ],
)
def test_what_docker_cannot_do_is_a_validation_error(tmp_path, target_extra, model_extra, field, message) -> None:
    with pytest.raises(ConfigError) as caught:
        load_checked(write(tmp_path, target_extra, model_extra))
    found = {(d.field, d.message) for d in caught.value.diagnostics}
    assert any(f == field and message in m for f, m in found), found


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        ("all", [{"Driver": "nvidia", "Capabilities": [["gpu"]], "Count": -1}]),
        ("2", [{"Driver": "nvidia", "Capabilities": [["gpu"]], "Count": 2}]),
        ("[1, 3]", [{"Driver": "nvidia", "Capabilities": [["gpu"]], "DeviceIDs": ["1", "3"]}]),
    ],
)
def test_gpus_become_docker_device_requests(tmp_path, gpus, expected) -> None:
    files = rendered(tmp_path, f"    replicas: 2\n    gpus: {gpus}\n")
    for index in range(2):
        assert json.loads(files[f"replica-{index}.json"])["HostConfig"]["DeviceRequests"] == expected


def test_gpus_per_replica_gives_each_replica_its_own_gpus(tmp_path) -> None:
    files = rendered(tmp_path, "    replicas: 3\n    gpus: 6\n    gpus_per_replica: 2\n")
    ids = [json.loads(files[f"replica-{i}.json"])["HostConfig"]["DeviceRequests"][0]["DeviceIDs"] for i in range(3)]
    assert ids == [["0", "1"], ["2", "3"], ["4", "5"]]


def test_render_shows_the_containers_the_network_and_the_gateway(tmp_path) -> None:
    files = rendered(tmp_path, "    replicas: 2\n    port: 9000\n", "  env: {LOG_LEVEL: debug}\n")
    assert sorted(files) == ["gateway.json", "network.json", "nginx.conf", "replica-0.json", "replica-1.json"]
    replica = json.loads(files["replica-0.json"])
    assert replica["Image"] == "fraud:v1"
    assert replica["Env"] == ["LOG_LEVEL=debug"]
    assert replica["Labels"]["io.scalectl.target"] == "local"
    assert replica["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    gateway = json.loads(files["gateway.json"])
    assert gateway["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9000"}]}
    assert gateway["Image"] == "nginx:1.27-alpine"  # the public default; tests set a locally built one
    assert "server scalectl-fraud-local-rnext-0:8080" in files["nginx.conf"]
    assert "limit_req" not in files["nginx.conf"] and "X-Api-Key" not in files["nginx.conf"]


def test_secrets_render_as_references_and_the_gateway_key_stays_with_the_gateway(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FRAUD_TOKEN", "value-that-must-not-show")
    files = rendered(
        tmp_path,
        "    api_key: GATEWAY_KEY\n    rate_limit: 20\n",
        "  secrets: {TOKEN: env://FRAUD_TOKEN, GATEWAY_KEY: file://gateway.key}\n",
    )
    text = "".join(files.values())
    assert "value-that-must-not-show" not in text
    env = json.loads(files["replica-0.json"])["Env"]
    assert env == ["TOKEN=<secret env://FRAUD_TOKEN, resolved at deploy>"]  # the model never sees the gateway key
    conf = files["nginx.conf"]
    # with a key, rate_limit counts the key's requests; requests without it have their own per-address zone
    assert "limit_req_zone $scalectl_client zone=scalectl_rate:10m rate=20r/s;" in conf
    assert "limit_req_zone $scalectl_unauthenticated zone=scalectl_unauthenticated:1m rate=5r/s;" in conf
    assert conf.index("limit_req zone=scalectl_unauthenticated") < conf.index("auth_request /.scalectl/key;")
    assert "limit_req zone=scalectl_rate burst=40 nodelay;" in conf
    assert "include /etc/nginx/scalectl/api_key.map;" in conf
    assert "secret GATEWAY_KEY (file://gateway.key)" in conf


def test_the_gateway_splits_traffic_by_revision_with_the_other_as_backup(tmp_path) -> None:
    release = release_for(load_checked(write(tmp_path)), "local")
    conf = nginx_conf(
        release,
        [Upstream(1, 90, "fraud:v1", ["r1-0"], ["r2-0"]), Upstream(2, 10, "fraud:v2", ["r2-0"], ["r1-0"])],
        generation=7,
    )
    assert (
        "upstream rev1 {\n        server r1-0:8080 max_fails=1 fail_timeout=2s;\n        server r2-0:8080 backup;"
        in conf
    )
    assert 'split_clients "${request_id}" $scalectl_revision {\n        90% 1;\n        * 2;\n    }' in conf
    assert "proxy_pass http://rev$scalectl_revision;" in conf
    assert "return 200 '7\\n';" in conf


@pytest.mark.parametrize(
    ("rollout", "has_previous", "steps"),
    [
        ("{strategy: canary, percent: 10}", True, [10, 100]),
        ("{strategy: linear, percent: 25}", True, [25, 50, 75, 100]),
        ("{strategy: all_at_once}", True, [100]),
        ("{strategy: canary, percent: 10}", False, [100]),  # nothing to split with on a first deploy
    ],
)
def test_traffic_steps_per_strategy(tmp_path, rollout, has_previous, steps) -> None:
    release = release_for(load_checked(write(tmp_path, f"    rollout: {rollout}\n")), "local")
    assert traffic_steps(release.target.rollout, has_previous) == steps


def test_the_quickstart_weights_are_what_its_training_script_produces(tmp_path) -> None:
    subprocess.run(
        [sys.executable, "train.py", "--out", str(tmp_path)], cwd=QUICKSTART, check=True, capture_output=True
    )
    for version in ("v1", "v2"):
        assert json.loads((tmp_path / f"{version}.json").read_text()) == json.loads(
            (QUICKSTART / "model" / f"{version}.json").read_text()
        )
    sys.path.insert(0, str(QUICKSTART))
    try:
        from serve import Model
    finally:
        sys.path.remove(str(QUICKSTART))
    model = Model.from_dict(json.loads((QUICKSTART / "model" / "v1.json").read_text()))
    assert model.probability([900, 1, 120, 1]) > 0.9 > 0.2 > model.probability([20, 0, 3, 0])


def test_under_ci_the_docker_tests_fail_instead_of_skipping_without_an_engine(tmp_path) -> None:
    test = "tests/docker/test_errors_and_gpus.py::test_gpus_per_replica_reach_the_engine_as_device_requests"
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock", "PYTHONDONTWRITEBYTECODE": "1"}
    local = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=REPO,
        env={**env, "CI": ""},
        capture_output=True,
        text=True,
    )
    ci = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=REPO,
        env={**env, "CI": "true"},
        capture_output=True,
        text=True,
    )
    assert local.returncode == 0 and "1 skipped" in local.stdout
    assert ci.returncode == 1 and "CI=true and the Docker tests cannot run" in ci.stdout


def test_the_bake_counts_canary_failures_users_never_saw() -> None:
    canary = {"10.0.0.5:8080", "10.0.0.6:8080"}
    lines = [
        "rev=2 status=200 upstream_status=200 upstream=10.0.0.5:8080 request_time=0.001",  # the older key=value form
        '{"t":"1.0","rev":"2","status":"200","upstream_status":"502, 502, 200",'
        '"upstream":"10.0.0.5:8080, 10.0.0.6:8080, 10.0.0.3:8080","request_time":"0.010","upstream_time":"0.009"}',
        # both canary replicas failed, the old revision answered
        '{"rev":"2","status":"200","upstream_status":"200","upstream":"10.0.0.3:8080","request_time":"0.001"}',
        '{"rev":"2","status":"502","upstream_status":"502","upstream":"10.0.0.6:8080","request_time":"0.001"}',
        '{"rev":"2","status":"429","upstream_status":"","upstream":"","request_time":"0.000"}',  # the rate limit
        '{"rev":"1","status":"200","upstream_status":"502, 200","upstream":"10.0.0.3:8080, 10.0.0.4:8080",'
        '"request_time":"0.001"}',
    ]
    entries = [e for e in (parse_line(line) for line in lines) if e is not None]
    figures = revision_figures(entries, 2, canary, window=10)
    assert (figures.requests, figures.rate_5xx) == (4, 0.75)
    assert figures.p99_ms == 10.0 and figures.p50_ms == 1.0


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not a log line",
        "[1, 2]",
        '{"rev": 2, "status": "200"}',  # wrong types
        '{"rev":"2","status":"200","upstream_status":"200","upstream":"a","request_time":"nan"}',
        '{"rev":"2","status":"200","upstream_status":"200","upstream":"a","request_time":"-1"}',
        '{"rev":"2","status":"999","upstream_status":"200","upstream":"a","request_time":"0.1"}',
        '{"rev":"2","status":"200","upstream_status":"200","upstream":"a","request_time":"1e400"}',
        '{"rev":"' + "x" * 5000 + '"}',
        "{" * 3000,
    ],
)
def test_hostile_access_log_lines_are_skipped(line: str) -> None:
    assert parse_line(line) is None


def test_engine_log_timestamps_read_to_the_nanosecond() -> None:
    assert stamp_ns("2026-12-01T01:40:12.5Z") == 1796089212_500_000_000
    assert stamp_ns("2026-12-01T01:40:12Z") == 1796089212_000_000_000
    assert stamp_ns("garbage") is None


def test_capture_renders_a_sidecar_and_a_sampling_gateway(tmp_path) -> None:
    """monitoring.capture: the sidecar mounts the destination and gets no secret; the gateway samples the share."""
    files = rendered(
        tmp_path,
        "    api_key: GATEWAY_KEY\n"
        "    monitoring:\n      capture: {percent: 12.5, destination: out/captures, max_file_mb: 8}\n",
        "  secrets: {GATEWAY_KEY: file://gateway.key}\n",
    )
    sidecar = json.loads(files["capture.json"])
    assert sidecar["HostConfig"]["Mounts"] == [
        {"Type": "bind", "Source": str((tmp_path / "out" / "captures").resolve()), "Target": "/captures"}
    ]
    assert sidecar["Labels"]["io.scalectl.role"] == "capture"
    assert "GATEWAY_KEY" not in json.dumps(sidecar) and "gateway.key" not in json.dumps(sidecar)
    cmd = sidecar["Cmd"]
    assert cmd[cmd.index("--max-file-mb") + 1] == "8" and cmd[cmd.index("--percent") + 1] == "100"
    conf = files["nginx.conf"]
    assert 'split_clients "capture${request_id}" $scalectl_capture {\n        12.5% 1;' in conf
    assert "1 scalectl-fraud-local-capture:8100;" in conf
    assert "error_page 502 504 = @scalectl_direct;" in conf  # a missing sidecar never stops serving
    (tmp_path / "off").mkdir()
    plain = rendered(tmp_path / "off", "")
    assert "capture.json" not in plain and "scalectl_capture" not in plain["nginx.conf"]
