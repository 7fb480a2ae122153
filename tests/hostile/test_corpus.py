"""Hostile input for the Docker gateway and container settings, offline (no engine needed).

Every file in cases/ tries to get text into nginx.conf, a port binding or a container's
environment; each must be refused by `validate` with its position (exit 2), and `deploy` must
refuse it before it talks to any engine. Values that are legal but look like nginx syntax
(environment values) must travel as JSON data and never reach nginx.conf.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scalectl.providers.docker.provider import DockerProvider
from scalectl.providers.docker.requests import api_key_map, api_key_pattern, nginx_conf, nginx_safe

from scalectl.checks import load_checked
from scalectl.engine import release_for
from scalectl.errors import ProviderError

CASES = Path(__file__).parent / "cases"

# file -> (line:col, field, start of the message)
EXPECTED = {
    "api-key-injects-nginx.yaml": ("9:14", "targets.local.api_key", 'name "GATEWAY_KEY;\\n}'),
    "app-name-quote.yaml": ("2:7", "name", "name \"x'; return 200 'pwned\" must start with a letter"),
    "env-name-with-equals.yaml": ("5:8", "model.env", "environment variable name 'LD_PRELOAD=/tmp/evil.so\\nX'"),
    "gateway-image-newline.yaml": ("8:20", "targets.local.gateway_image", '"nginx:1.27\\n    }'),
    "host-injects-port-binding.yaml": ("8:11", "targets.local.host", '127.0.0.1"}], "9999/tcp"'),
    "model-image-injects-comment.yaml": ("4:10", "model.image", '"scalectl/quickstart:v1\\n'),
    "predict-route-injects-location.yaml": ("5:12", "model.predict", '"/invocations; }\\nlocation'),
    "secret-name-sets-path.yaml": ("5:12", "model.secrets", "secret name 'PATH=/tmp/evil:/bin' is not valid"),
    "secret-reference-closes-brace.yaml": ("5:12", "model.secrets", "secret GATEWAY_KEY: the reference after env://"),
    "target-name-brace.yaml": ("6:3", "targets", "target name 'local}\\nserver{' must be lowercase"),
}


def test_every_case_has_an_expectation() -> None:
    assert sorted(p.name for p in CASES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_file_is_refused_with_its_position(cli, name: str) -> None:
    position, field, message = EXPECTED[name]
    result = cli("validate", "-f", CASES / name)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert f"{CASES / name}:{position}: error: {field}: {message}" in result.stderr
    assert "pwned" not in result.stdout  # nothing rendered


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_deploy_refuses_it_before_any_engine_call(cli, tmp_path: Path, name: str) -> None:
    # an engine address nothing listens on: a deploy that got past validation would fail with 1, not 2
    env = {"DOCKER_HOST": "tcp://127.0.0.1:9", "KEY": "k" * 24}
    result = cli("deploy", "--yes", "-f", CASES / name, "--state-dir", tmp_path / "st", env=env)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "nothing was changed" in result.stderr
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").rglob("*.sqlite*"))


NGINXISH = "x;\n}\nserver { listen 80 default_server; return 200 'pwned'; }\n# $host \\ \" '"


def test_env_values_that_look_like_nginx_stay_json_data(tmp_path: Path) -> None:
    path = tmp_path / "scale.yaml"
    path.write_text(
        "version: 1\nname: hostile\nmodel:\n  image: scalectl/quickstart:v1\n"
        f"  env: {{BANNER: {json.dumps(NGINXISH)}}}\n"
        "  secrets: {GATEWAY_KEY: env://KEY}\n"
        "targets:\n  local: {provider: docker, api_key: GATEWAY_KEY, rate_limit: 5}\n"
    )
    files = DockerProvider().render(release_for(load_checked(path), "local"))
    assert json.loads(files["replica-0.json"])["Env"] == [f"BANNER={NGINXISH}"]  # exact, as data
    conf = files["nginx.conf"]
    assert "pwned" not in conf and "default_server" not in conf
    assert len(re.findall(r"^\s*server\s*\{", conf, re.M)) == 1
    assert len(re.findall(r"^\s*listen\b", conf, re.M)) == 1


def test_the_last_guard_refuses_what_nginx_would_parse() -> None:
    for bad in ("a;b", "a b", "a\nb", "a}", "a{", "$host", "a'b", 'a"b', "a#b", "a\\b"):
        with pytest.raises(ProviderError, match=r"cannot be written into the gateway.s nginx\.conf"):
            nginx_safe(bad, "value")
    assert nginx_safe("registry.example.com:5000/team/fraud:v1@sha256:" + "a" * 64, "image")


def test_the_key_map_matches_exactly_and_in_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "Ab.c+D/e=f-0123456789xyz"
    pattern = api_key_pattern(key)
    assert pattern.startswith("~^") and pattern.endswith("$")
    regex = re.compile(pattern[1:])  # nginx's `~` regexes are PCRE and case-sensitive, like Python's here
    assert regex.fullmatch(key)
    for near in (key.lower(), key.upper(), key.swapcase(), key.replace(".", "X"), key.replace("+", "cc"), key + "x"):
        assert not regex.fullmatch(near), near
    path = tmp_path / "scale.yaml"
    path.write_text(
        "version: 1\nname: hostile\nmodel:\n  image: scalectl/quickstart:v1\n  secrets: {GATEWAY_KEY: env://KEY}\n"
        "targets:\n  local: {provider: docker, api_key: GATEWAY_KEY}\n"
    )
    monkeypatch.setenv("KEY", key)
    release = release_for(load_checked(path), "local")
    assert api_key_map(release) == f'"{pattern}" 1;\n'
    assert key not in nginx_conf(release, [], 1)
