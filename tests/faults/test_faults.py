"""Fault injection through the Docker gateway: signals mid-bake, killed gateway and replicas, idle
bakes, colliding names and broken journals, each under a bounded load (127.0.0.1 only).

One shared deployment, run in order (each scenario leaves it serving revision `good`). Asserted
every time: zero failed requests while the old revision was healthy, traffic wholly on the last
good revision after the next command, nothing orphaned, nothing of another app touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, Load, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCALE = """\
version: 1
name: {app}
model:
  image: {model_image}:${{TAG:-v1}}
  port: 8080
  health: /ping
  predict: /invocations
targets:
  {target}:
    provider: docker
    replicas: 1  # one per revision keeps the suite fast; the old revision alone carries the load
    port: {port}
    gateway_image: {gateway_image}
    keep_revisions: 2
    startup_timeout: 20s
    rollout:
      strategy: canary
      percent: 50
      bake: ${{BAKE:-1s}}
      timeout: ${{TIMEOUT:-60s}}
      min_requests: ${{MIN_REQUESTS:-0}}
      auto_rollback: ${{AUTO_ROLLBACK:-true}}
"""
FIGURES: dict[str, str] = {}  # printed at the end: failed requests per row


class Stack:
    def __init__(self, root: Path, app: str, target: str = "local") -> None:
        self.app, self.target, self.port = app, target, free_port()
        self.tag = "v1"  # the serving config's TAG: deploying it again repairs, never rolls out
        self.procs: list[subprocess.Popen[str]] = []  # killed after each test, whatever happened
        root.mkdir(parents=True, exist_ok=True)
        self.file = root / "scale.yaml"
        self.file.write_text(
            SCALE.format(app=app, target=target, port=self.port, model_image=MODEL_IMAGE, gateway_image=GATEWAY_IMAGE)
        )
        self.state = root / "state"

    def start(self, *args: str, state: Path | None = None, **env: str) -> subprocess.Popen[str]:
        """`python -m scalectl <command> ...` as a user or CI job runs it."""
        cmd = [sys.executable, "-m", "scalectl", args[0], "-f", str(self.file)]
        cmd += ["--state-dir", str(state or self.state), "--output", "json", *args[1:]]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env}
        )
        self.procs.append(proc)
        return proc

    def reap(self) -> None:
        """Kill commands a failed test left running, so they hold no lock over the next test."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.procs.clear()

    def run(self, *args: str, state: Path | None = None, **env: str) -> tuple[int, dict[str, Any], str]:
        """In-process (fast) for commands nobody signals; (exit code, JSON document, stderr)."""
        env = {"TAG": self.tag, **env}
        cmd = [args[0], "-f", str(self.file), "--state-dir", str(state or self.state), "--output", "json", *args[1:]]
        result = Cli()(*cmd, env=env)
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr

    def containers(self, engine: Any, role: str = "replica") -> list[Any]:
        labels = [f"io.scalectl.app={self.app}", f"io.scalectl.target={self.target}", f"io.scalectl.role={role}"]
        return engine.containers.list(all=True, filters={"label": labels}, ignore_removed=True)

    def revisions_running(self, engine: Any) -> set[int]:
        return {int(c.labels["io.scalectl.revision"]) for c in self.containers(engine)}

    def gateway_state(self, engine: Any) -> dict[str, Any]:
        from scalectl.providers.docker import api as eng

        holder = self.containers(engine, "state")
        return (eng.read_state(holder[0]) if holder else None) or {}


def wait_for_new_replicas(stack: Stack, engine: Any, proc: subprocess.Popen[str], good: int) -> None:
    """Until the new revision's containers exist (they are starting, not yet healthy)."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        assert proc.poll() is None, f"deploy ended early: {proc.communicate()}"
        if any(n > good for n in stack.revisions_running(engine)):
            return
        time.sleep(0.02)
    pytest.fail("the new revision's containers never appeared")


def wait_for_split(stack: Stack, engine: Any, proc: subprocess.Popen[str], timeout: float = 40) -> None:
    """Until the gateway splits traffic between two revisions (the canary is baking)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, f"deploy ended early: {proc.communicate()}"
        if len(stack.gateway_state(engine).get("traffic", {})) == 2:
            time.sleep(0.5)  # some requests reach the canary
            return
        time.sleep(0.1)
    pytest.fail("the canary never took traffic")


def serves_cleanly(stack: Stack, row: str, count: int = 50) -> None:
    """A bounded burst through the gateway after the repairing command: every request answered by the serving tag."""
    load = Load(stack.port, limit=count)
    load._run()  # on this thread: exactly `count` requests
    FIGURES[row] = f"{len(load.failures)}/{load.sent}"
    assert load.failures == [] and load.sent == count
    assert set(load.versions) == {stack.tag}


def assert_settled(stack: Stack, engine: Any, good: int) -> None:
    state = stack.gateway_state(engine)
    assert state["active"] == good
    assert state["traffic"] == {str(good): 100}
    assert stack.revisions_running(engine) <= {good, good - 1, *range(1, good)}  # nothing newer than good
    assert max(stack.revisions_running(engine)) == good
    assert all(r["status"] != "pending" for r in state["revisions"])


@pytest.fixture(autouse=True)
def _reap(request: pytest.FixtureRequest) -> Any:
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").reap()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, engine: Any) -> Any:
    from tests.docker.helpers import remove_target

    app = f"flt{uuid.uuid4().hex[:6]}"
    stack = Stack(tmp_path_factory.mktemp("faults"), app)
    code, doc, err = stack.run("deploy", "--yes")
    assert code == 0, (doc, err)
    yield stack
    stack.reap()
    remove_target(engine, app)
    print("\nfault figures (failed requests / sent):", json.dumps(FIGURES, indent=1))


# SIGTERM's clean rollback (143) runs in test_cloud_interrupts and, twice, below: one real-engine case keeps this fast
@pytest.mark.parametrize("sig", [signal.SIGINT])
def test_a_signal_mid_bake_rolls_the_canary_back_before_exiting(stack: Stack, engine: Any, sig: int) -> None:
    good = stack.gateway_state(engine)["active"]
    with Load(stack.port, limit=400) as load:
        proc = stack.start("deploy", "--yes", TAG="v2", BAKE="30s")
        wait_for_split(stack, engine, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    FIGURES[signal.Signals(sig).name] = f"{len(load.failures)}/{load.sent}"
    assert proc.returncode == 128 + sig, (out, err)
    assert "rolled back" in json.loads(out)["error"]
    assert load.failures == []
    assert_settled(stack, engine, good)
    assert stack.run("status")[0] == 0


def test_after_sigkill_mid_bake_the_next_status_finishes_the_rollback(stack: Stack, engine: Any) -> None:
    good = stack.gateway_state(engine)["active"]
    with Load(stack.port, limit=400) as load:
        proc = stack.start("deploy", "--yes", TAG="v2", BAKE="30s")
        wait_for_split(stack, engine, proc)
        proc.kill()
        proc.wait()
        killed = stack.gateway_state(engine)
        assert len(killed["traffic"]) == 2  # the split a SIGKILL leaves
        code, doc, err = stack.run("status")
    FIGURES["SIGKILL"] = f"{len(load.failures)}/{load.sent}"
    assert code == 0, (doc, err)
    assert any("removed unfinished revision" in line for line in doc["targets"]["local"]["recovered"])
    assert load.failures == []
    assert_settled(stack, engine, good)
    # the unfinished revision is history's failure, never active, and holds no keep_revisions slot
    code, doc, _ = stack.run("history")
    statuses = {r["number"]: r["status"] for r in doc["targets"]["local"]}
    assert [n for n, st in statuses.items() if st == "active"] == [good]
    assert all(st == "failed" for n, st in statuses.items() if n > good)
    # the serving config is "up to date" again, and plain rollback would go to a real earlier revision
    code, doc, _ = stack.run("plan")
    assert code == 0 and doc["targets"]["local"]["changes"][0]["action"] == "keep"


def test_a_second_signal_exits_at_once_and_the_next_rollback_finishes_the_job(stack: Stack, engine: Any) -> None:
    good = stack.gateway_state(engine)["active"]
    with Load(stack.port, limit=400) as load:
        proc = stack.start("deploy", "--yes", TAG="v2", BAKE="30s")
        wait_for_split(stack, engine, proc)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 143, (out, err)
        assert "second signal (SIGTERM)" in err and "finishes the rollback" in err
        code, doc, err = stack.run("rollback", "--yes")  # plain rollback: finishes the interrupted one, no further
    FIGURES["SIGTERM twice, then rollback"] = f"{len(load.failures)}/{load.sent}"
    assert code == 0, (doc, err)
    assert doc["targets"]["local"]["revision"]["number"] == good
    assert load.failures == []
    assert_settled(stack, engine, good)


def test_sigkill_while_new_replicas_start_is_finished_by_the_next_deploy(stack: Stack, engine: Any) -> None:
    good = stack.gateway_state(engine)["active"]
    with Load(stack.port, limit=300) as load:
        proc = stack.start("deploy", "--yes", TAG="v2", BAKE="30s")
        wait_for_new_replicas(stack, engine, proc, good)
        proc.kill()
        proc.wait()
        assert any(n > good for n in stack.revisions_running(engine))  # the orphans a SIGKILL leaves
        code, doc, err = stack.run("deploy", "--yes")  # the serving config again
    FIGURES["SIGKILL while replicas start, then deploy"] = f"{len(load.failures)}/{load.sent}"
    assert code == 0, (doc, err)
    events = " | ".join(e.get("message", "") for e in doc["targets"]["local"].get("events", []))
    assert "unfinished rollout" in events or doc["targets"]["local"]["changed"] is False
    assert load.failures == []
    assert_settled(stack, engine, good)
    assert stack.run("status")[0] == 0


def test_an_interrupted_crashing_canary_plus_a_lost_gateway_never_serves_the_canary(stack: Stack, engine: Any) -> None:
    good = stack.gateway_state(engine)["active"]
    proc = stack.start("deploy", "--yes", TAG="crashy", BAKE="30s")
    wait_for_split(stack, engine, proc)
    proc.kill()
    proc.wait()
    stack.containers(engine, "gateway")[0].remove(force=True)
    code, doc, _ = stack.run("history")
    statuses = {r["number"]: r["status"] for r in doc["targets"]["local"]}
    assert [n for n, st in statuses.items() if st == "active"] == [good]  # not the unbaked canary
    code, doc, err = stack.run("deploy", "--yes")
    assert code == 0, (doc, err)
    serves_cleanly(stack, "crashing canary SIGKILLed + gateway removed, after deploy")
    assert_settled(stack, engine, good)


def test_a_crashing_canary_plus_a_lost_gateway_and_state_holder_is_never_taken_for_active(
    stack: Stack, engine: Any
) -> None:
    """Both copies of state.json gone: the promotion markers (labelled volumes) still say which
    revision was promoted last, so the unbaked canary is pending and the next deploy removes it."""
    good = stack.gateway_state(engine)["active"]
    proc = stack.start("deploy", "--yes", TAG="crashy", BAKE="30s")
    wait_for_split(stack, engine, proc)
    proc.kill()
    proc.wait()
    for role in ("gateway", "state"):
        stack.containers(engine, role)[0].remove(force=True)
    code, doc, _ = stack.run("history")
    statuses = {r["number"]: r["status"] for r in doc["targets"]["local"]}
    assert [n for n, st in statuses.items() if st == "active"] == [good]  # not the unbaked canary
    assert statuses[max(statuses)] == "pending"
    started = time.monotonic()
    code, doc, err = stack.run("deploy", "--yes")
    assert code == 0, (doc, err)
    FIGURES["gateway + state holder removed: time to recover"] = f"{time.monotonic() - started:.1f}s"
    serves_cleanly(stack, "crashing canary SIGKILLed + gateway and state holder removed, after deploy")
    assert_settled(stack, engine, good)


def test_a_killed_gateway_is_reported_and_repaired_by_deploy(stack: Stack, engine: Any) -> None:
    good = stack.gateway_state(engine)["active"]
    stack.containers(engine, "gateway")[0].kill()
    code, doc, _ = stack.run("status")
    assert code == 6 and any("gateway" in p for p in doc["targets"]["local"]["problems"])
    code, doc, _ = stack.run("plan", "--detailed-exitcode")
    assert code == 3
    code, doc, err = stack.run("deploy", "--yes")
    assert code == 0, (doc, err)
    serves_cleanly(stack, "gateway killed, after deploy")
    assert_settled(stack, engine, good)
    assert stack.run("status")[0] == 0
    # someone hand-edits the gateway's nginx.conf and reloads it: drift with the same config digest
    gateway = stack.containers(engine, "gateway")[0]
    edit = "sed -i \"s/return 200 '[0-9]*/return 200 '999/\" /etc/nginx/scalectl/nginx.conf && kill -HUP 1"
    assert gateway.exec_run(["sh", "-c", edit]).exit_code == 0
    time.sleep(0.5)
    code, doc, _ = stack.run("status")
    assert code == 6 and any("generation 999" in p for p in doc["targets"]["local"]["problems"]), doc
    assert stack.run("deploy", "--yes")[0] == 0
    assert stack.run("status")[0] == 0
    # removed altogether (with a crashing canary left mid-bake): see the crashing-canary test above


def test_dead_serving_replicas_are_reported_and_replaced(stack: Stack, engine: Any) -> None:
    good = stack.gateway_state(engine)["active"]
    victim = next(c for c in stack.containers(engine) if c.labels["io.scalectl.revision"] == str(good))
    victim.remove(force=True)
    code, doc, _ = stack.run("status")
    assert code == 6 and any("0 of 1 replica" in p for p in doc["targets"]["local"]["problems"])
    code, doc, err = stack.run("deploy", "--yes")
    assert code == 0, (doc, err)
    serves_cleanly(stack, "replica killed, after deploy")
    assert len([c for c in stack.containers(engine) if c.labels["io.scalectl.revision"] == str(good)]) == 1
    assert stack.run("status")[0] == 0


def test_an_idle_bake_is_rolled_back_unless_explicitly_allowed(stack: Stack, engine: Any) -> None:
    good = stack.gateway_state(engine)["active"]
    code, doc, _ = stack.run("deploy", "--yes", TAG="crashy", MIN_REQUESTS="20", TIMEOUT="3s")
    assert code == 1 and "min_requests" in doc["error"], doc
    assert_settled(stack, engine, good)
    code, doc, err = stack.run("deploy", "--yes", "--allow-idle-bake", TAG="v2", MIN_REQUESTS="20", TIMEOUT="5s")
    assert code == 0, (doc, err)
    stack.tag = "v2"
    assert any("--allow-idle-bake" in e.get("message", "") for e in doc["targets"]["local"]["events"])
    assert_settled(stack, engine, doc["targets"]["local"]["revision"]["number"])


def test_a_halted_rollout_is_degraded_and_left_for_rollback_to_undo(stack: Stack, engine: Any) -> None:
    good = stack.gateway_state(engine)["active"]
    code, doc, _ = stack.run("deploy", "--yes", TAG="v1", BAKE="30s", TIMEOUT="3s", AUTO_ROLLBACK="false")
    assert code == 1 and "auto_rollback is off" in doc["error"], doc
    code, doc, _ = stack.run("status", AUTO_ROLLBACK="false")
    assert code == 6 and doc["targets"]["local"]["halted"] and not doc["targets"]["local"]["recovered"]
    assert len(stack.gateway_state(engine)["traffic"]) == 2  # status did not undo a split left on purpose
    with Load(stack.port, limit=100) as load:
        code, doc, err = stack.run("rollback", "--yes", AUTO_ROLLBACK="false")
    FIGURES["halted rollout, then rollback"] = f"{len(load.failures)}/{load.sent}"
    assert code == 0, (doc, err)
    assert doc["targets"]["local"]["revision"]["number"] == good
    assert load.failures == []
    assert_settled(stack, engine, good)


def test_colliding_names_are_refused_and_the_other_app_is_untouched(
    stack: Stack, engine: Any, tmp_path: Path, cleanup: list[str]
) -> None:
    first = Stack(tmp_path / "first", f"{stack.app}x-a", "b")
    second = Stack(tmp_path / "second", f"{stack.app}x", "a-b")  # same name prefix scalectl-<..>x-a-b
    cleanup += [first.app, second.app]
    assert first.run("deploy", "--yes")[0] == 0
    code, doc, _ = second.run("deploy", "--yes")
    assert code == 1 and "collide" in doc["error"]
    assert second.run("destroy", "--yes")[0] == 0
    assert engine.networks.get(f"scalectl-{first.app}-b").attrs["Labels"]["io.scalectl.app"] == first.app
    assert len(first.containers(engine)) == 1 and first.run("status")[0] == 0


def test_an_unusable_journal_is_a_clear_error_and_status_and_rollback_still_work(
    stack: Stack, engine: Any, tmp_path: Path
) -> None:
    state = stack.gateway_state(engine)
    good = state["active"]
    earlier = max(int(r["number"]) for r in state["revisions"] if r["status"] == "superseded")
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    code, doc, _ = stack.run("deploy", "--yes", state=a_file, TAG="v1")
    assert code == 1 and "is a file" in doc["error"] and "internal" not in doc["error"]
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "journal.sqlite").write_text("not sqlite " * 100)
    code, doc, _ = stack.run("deploy", "--yes", state=corrupt, TAG="v1")
    assert code == 1 and "corrupt" in doc["error"]
    assert stack.run("status", state=corrupt)[0] == 0
    with Load(stack.port, limit=200) as load:
        code, doc, err = stack.run("rollback", "--yes", state=a_file)
    FIGURES["rollback with unusable journal"] = f"{len(load.failures)}/{load.sent}"
    assert code == 0, (doc, err)
    assert load.failures == []
    assert stack.gateway_state(engine)["traffic"] == {str(earlier): 100} and earlier < good
    # the gateway removed by hand: rollback recreates it from the state holder's history
    stack.containers(engine, "gateway")[0].remove(force=True)
    code, doc, err = stack.run("rollback", "--yes", "--to", str(good))
    assert code == 0, (doc, err)
    serves_cleanly(stack, "gateway removed, after rollback --to")
    assert_settled(stack, engine, good)
