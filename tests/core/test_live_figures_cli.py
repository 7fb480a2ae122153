"""status figures, top, the bake countdown and structured logs, with the in-memory provider (no engine)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from scalectl import log, registry
from scalectl.events import Events
from scalectl.metrics import RevisionMetrics
from scalectl.provider import Live, Release
from scalectl.redact import remember
from scalectl.ui import OutputFormat, Ui
from tests.memory_provider import MemoryProvider

APP = """\
version: 1
name: fraud
model:
  image: fraud:${TAG:-v1}
targets:
  local: {provider: docker, replicas: 2}
"""


class MeasuredProvider(MemoryProvider):
    """The memory provider plus `Metrics`: fixed figures per serving revision."""

    def metrics(self, release: Release, live: Live, window: float) -> list[RevisionMetrics]:
        return [
            RevisionMetrics(
                revision=n,
                window=window,
                requests=int(window * 10),
                p50_ms=12.0,
                p95_ms=30.0,
                p99_ms=48.0,
                rate_4xx=0.01,
                rate_5xx=0.0,
                replicas_desired=2,
                replicas_ready=2,
                source="test",
                notes=["GPU: not reported"],
            )
            for n in sorted(live.traffic)
        ]


@pytest.fixture
def measured(tmp_path: Path) -> Any:
    instance = MeasuredProvider(tmp_path / "platform.json")
    registry.register("docker", lambda: instance)
    yield instance
    registry.unregister("docker")


def run(cli: Any, path: Path, *args: str) -> Any:
    return cli(args[0], "-f", str(path), *args[1:])


def test_status_json_carries_the_figures_over_the_window(cli, measured, scale_file) -> None:
    path = scale_file(APP)
    assert run(cli, path, "deploy", "--yes").exit_code == 0
    result = run(cli, path, "status", "--window", "2m", "--output", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["window"] == 120
    (figures,) = doc["targets"]["local"]["metrics"]
    assert (figures["revision"], figures["requests"], figures["rps"], figures["p99_ms"]) == (1, 1200, 10.0, 48.0)
    text = run(cli, path, "status")
    assert "local live (last 5m)" in text.stderr and "48 ms" in text.stderr and "2/2" in text.stderr


def test_status_without_metrics_says_null_and_a_bad_window_is_exit_2(cli, memory, scale_file) -> None:
    path = scale_file(APP)
    assert run(cli, path, "deploy", "--yes").exit_code == 0
    doc = json.loads(run(cli, path, "status", "--output", "json").stdout)
    assert doc["targets"]["local"]["metrics"] is None
    bad = run(cli, path, "status", "--window", "soon")
    assert bad.exit_code == 2 and "--window" in bad.stderr


def test_top_refuses_a_provider_without_metrics(cli, memory, scale_file) -> None:
    path = scale_file(APP)
    result = run(cli, path, "top", "--once")
    assert result.exit_code == 2
    assert "does not report live figures" in result.stderr


def test_top_once_prints_the_table_and_needs_a_terminal_otherwise(cli, measured, scale_file) -> None:
    path = scale_file(APP)
    assert run(cli, path, "deploy", "--yes").exit_code == 0
    once = run(cli, path, "top", "--once", "--window", "30s")
    assert once.exit_code == 0
    assert "p99" in once.stderr and "48 ms" in once.stderr and "source: test" in once.stderr
    doc = json.loads(run(cli, path, "top", "--output", "json").stdout)
    assert doc["targets"]["local"]["metrics"][0]["requests"] == 600  # the default window is 1m
    refused = run(cli, path, "top")
    assert refused.exit_code == 2 and "--once" in refused.stderr


def test_countdown_ticks_are_live_only_and_json_progress_is_throttled(capsys: pytest.CaptureFixture[str]) -> None:
    ui = Ui(OutputFormat.json)
    events = Events(ui.event)
    with events.countdown("baking revision 5") as tick:
        for left in (30.0, 29.5, 29.0):
            tick(left, "rev 5: 12 req, p99 48 ms, 5xx 0.0%")
    events.step("next")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    progress = [e for e in lines if e["kind"] == "progress"]
    assert len(progress) == 1  # three looks within two seconds: one line
    assert progress[0]["seconds_left"] == 30.0 and progress[0]["figures"].startswith("rev 5: 12 req")
    assert progress[0]["message"] == "baking revision 5: 30s left | rev 5: 12 req, p99 48 ms, 5xx 0.0%"
    assert [e["kind"] for e in events.to_list()] == ["step"]  # the result's event list stays short


def test_structured_log_traces_a_deploy_in_a_file(cli, measured, scale_file, tmp_path: Path) -> None:
    path = scale_file(APP)
    trace = tmp_path / "trace.jsonl"
    result = cli("--log-format", "json", "--log-file", str(trace), "deploy", "-f", str(path), "--yes")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert lines[0]["step"] == "start" and lines[0]["command"] == "deploy"
    assert lines[-1]["step"] == "end" and lines[-1]["exit_code"] == 0
    inner = [e for e in lines if e.get("target") == "local"]
    assert inner and all(e["revision"] == 1 for e in inner if e["step"] in ("step", "state"))
    assert all(isinstance(e["elapsed"], float) and e["ts"].endswith("Z") for e in lines)
    assert "apply" in measured.calls


def test_structured_log_never_writes_a_secret() -> None:
    stream = io.StringIO()
    log.configure("json")
    log._stream = stream  # stderr stand-in
    try:
        remember("hunter2-very-secret")
        with log.bind(command="deploy", target="prod"):
            Events().warn("container said PASSWORD=hunter2-very-secret before it died")
    finally:
        log.configure("text")
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert "hunter2" not in stream.getvalue()
    assert line["message"].endswith("PASSWORD=*** before it died")
    assert (line["command"], line["target"], line["step"]) == ("deploy", "prod", "warn")


def test_log_file_that_cannot_be_opened_is_a_usage_error(cli, tmp_path: Path) -> None:
    result = cli("--log-file", str(tmp_path / "missing" / "x.log"), "validate", "-f", str(tmp_path / "none.yaml"))
    assert result.exit_code == 2
    assert "--log-file" in result.output


def test_log_flags_are_global_with_env_vars() -> None:
    import typer.main

    from scalectl.cli import app

    root: Any = typer.main.get_command(app)
    flags = {p.opts[0]: p.envvar for p in root.params}
    assert flags["--log-format"] == "SCALECTL_LOG_FORMAT" and flags["--log-file"] == "SCALECTL_LOG_FILE"


def test_targets_deploying_in_parallel_log_under_their_own_names(cli, measured, scale_file, tmp_path: Path) -> None:
    path = scale_file(
        APP.replace("  local: {provider: docker, replicas: 2}", "  a: {provider: docker}\n  b: {provider: docker}")
    )
    trace = tmp_path / "trace.jsonl"
    result = cli(
        "--log-file", str(trace), "--log-format", "json", "deploy", "-f", str(path), "--yes", "--parallel", "2"
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    events = [e for e in lines if e["step"] not in ("start", "end")]
    assert {e.get("target") for e in events} == {"a", "b"}
    per_target = {name: sorted(e["message"] for e in events if e["target"] == name) for name in ("a", "b")}
    assert per_target["a"] == per_target["b"] and len(per_target["a"]) >= 2, per_target  # each its own, whole
    assert all(e["revision"] == 1 for e in events)
