"""The scenarios every provider must pass, written once and run against each platform's Harness.

They are one story, run in this order on one app per platform: deploy revision 1, deploy it
again (nothing to do), canary revision 2, a broken canary rolled back by itself, a rollback from
a machine that never deployed, destroy, then a rollout interrupted mid-bake, one that crashed
there finished by the next command, and a second deployer refused while another holds the lease.
Each is also an example of driving scalectl from Python:
`load_checked` a scale.yaml, hand it to an `Engine`, and call plan / deploy / rollback / history /
destroy for a target.
"""

from __future__ import annotations

import signal

import pytest

from scalectl.errors import DeployFailed, ExitCode, Interrupted, LockedError
from scalectl.events import Events
from scalectl.lease import hold, store_for
from scalectl.provider import Revision
from tests.conformance.conftest import NOT_APPLICABLE, App

CANARY = "{strategy: canary, percent: 50, bake: 1s}"


def numbered(history: list[Revision]) -> list[tuple[int, str]]:
    return [(r.number, r.status) for r in history]


def test_1_first_deploy_makes_revision_1_active_with_all_traffic(app: App) -> None:
    engine = app.engine(image=app.harness.images[0])
    assert engine.observe(app.target).exists is False

    plan, revision = engine.deploy(app.target, Events())

    assert plan.has_changes
    assert revision is not None and (revision.number, revision.status) == (1, "active")
    assert revision.image == app.harness.images[0]
    live = engine.observe(app.target)
    assert (live.exists, live.active, live.traffic) == (True, 1, {1: 100})
    assert numbered(engine.history(app.target)) == [(1, "active")]


def test_2_deploying_the_same_config_again_changes_nothing(app: App) -> None:
    engine = app.engine()  # the same scale.yaml as scenario 1
    assert not engine.plan(app.target).has_changes

    plan, revision = engine.deploy(app.target, Events())

    assert revision is None and not plan.has_changes
    assert [c.action for c in plan.changes] == ["keep"]
    assert numbered(engine.history(app.target)) == [(1, "active")]


def test_3_a_canary_rolls_the_changed_config_out_to_all_traffic(app: App) -> None:
    engine = app.engine(image=app.harness.images[1], rollout=CANARY)
    assert engine.plan(app.target).has_changes

    _, revision = engine.deploy(app.target, Events())

    assert revision is not None and (revision.number, revision.image) == (2, app.harness.images[1])
    live = engine.observe(app.target)
    assert (live.active, live.traffic) == (2, {2: 100})
    assert numbered(engine.history(app.target)) == [(1, "superseded"), (2, "active")]


def test_4_a_failing_canary_is_rolled_back_and_the_previous_revision_keeps_all_traffic(app: App) -> None:
    engine = app.engine(image=app.harness.broken(), rollout=CANARY)

    with pytest.raises(DeployFailed) as failed:
        engine.deploy(app.target, Events())

    assert failed.value.exit_code == ExitCode.FAILED  # `scalectl deploy` exits 1
    live = engine.observe(app.target)
    assert (live.active, live.traffic) == (2, {2: 100})
    history = engine.history(app.target)
    assert numbered(history)[-2:] == [(2, "active"), (3, "failed")]


def test_4b_a_canary_over_max_error_rate_is_rolled_back_naming_the_figure(app: App) -> None:
    if app.harness.erroring is None:
        pytest.skip(f"{NOT_APPLICABLE} no canary answering 5xx under traffic is set up for {app.harness.provider}")
    gated = CANARY.replace("}", ", max_error_rate: 0.05}")
    engine = app.engine(image=app.harness.erroring(), rollout=gated)

    with pytest.raises(DeployFailed) as failed:
        engine.deploy(app.target, Events())

    share = f"5xx rate {app.harness.error_share:.1%} of revision 4"
    assert share in failed.value.message and "over rollout.max_error_rate 5.0%" in failed.value.message
    live = engine.observe(app.target)
    assert (live.active, live.traffic) == (2, {2: 100})
    history = numbered(engine.history(app.target))
    assert (2, "active") in history and history[-1] == (4, "failed")


def test_5_a_machine_with_no_local_state_sees_the_history_and_rolls_back(
    app: App, tmp_path_factory: pytest.TempPathFactory
) -> None:
    here = app.engine(image=app.harness.images[1])  # back to revision 2's config
    empty = tmp_path_factory.mktemp("another-machine")
    assert not list(empty.iterdir())
    elsewhere = app.engine(state_dir=empty)

    assert numbered(elsewhere.history(app.target)) == numbered(here.history(app.target))
    now_serving, replaced = elsewhere.rollback(app.target, None, Events())

    assert (now_serving.number, replaced is not None and replaced.number) == (1, 2)
    live = here.observe(app.target)
    assert (live.active, live.traffic) == (1, {1: 100})
    assert live.active_revision is not None and live.active_revision.image == app.harness.images[0]
    assert numbered(here.history(app.target))[:2] == [(1, "active"), (2, "rolled_back")]


def test_6_destroy_leaves_nothing_behind(app: App) -> None:
    engine = app.engine()
    assert app.harness.leftovers(app.name), "nothing deployed to destroy"

    removed = engine.destroy(app.target, Events())

    assert removed
    assert engine.observe(app.target).exists is False
    assert app.harness.leftovers(app.name) == []


BAKING = "{strategy: canary, percent: 50, bake: 10s}"  # interrupted at its first bake: never waited out


class Killed(BaseException):
    """Stands in for SIGKILL: the process stops where it is, nothing of scalectl runs after."""


def test_7_sigint_during_a_bake_leaves_traffic_on_the_previous_revision_and_removes_the_new_one(app: App) -> None:
    assert app.harness.interrupt is not None, f"the {app.harness.provider} harness says nothing about its bake"
    engine = app.engine(image=app.harness.images[0], rollout="{strategy: all_at_once, bake: 0s}")
    _, first = engine.deploy(app.target, Events())
    assert first is not None
    engine = app.engine(image=app.harness.images[1], rollout=BAKING)

    with pytest.MonkeyPatch.context() as patch, pytest.raises(Interrupted) as stopped:
        app.harness.interrupt(patch, Interrupted(signal.SIGINT))
        engine.deploy(app.target, Events())

    assert stopped.value.signum == signal.SIGINT  # `scalectl deploy` exits 130
    said = stopped.value.message.lower()  # each platform words it its own way
    assert f"revision {first.number + 1}" in said and "rolled back" in said, said
    live = engine.observe(app.target)
    assert (live.active, live.traffic, live.unfinished) == (first.number, {first.number: 100}, [])
    statuses = dict(numbered(engine.history(app.target)))
    assert statuses[first.number] == "active" and statuses.get(first.number + 1, "failed") == "failed"


def test_8_a_rollout_that_crashed_mid_bake_is_rolled_back_by_the_next_command(app: App) -> None:
    engine = app.engine(image=app.harness.images[1], rollout=BAKING)
    serving = engine.observe(app.target).active
    assert serving is not None and app.harness.interrupt is not None

    with pytest.MonkeyPatch.context() as patch, pytest.raises(Killed):
        app.harness.interrupt(patch, Killed())
        engine.deploy(app.target, Events())

    left = engine.observe(app.target)
    assert left.unfinished, "a crashed rollout must be visible to the next command"
    crashed = max(r.number for r in engine.history(app.target))
    assert dict(numbered(engine.history(app.target)))[crashed] in ("pending", "failed")  # never "active"
    assert left.active == serving

    _, recovered = engine.status(app.target, Events())

    assert recovered, "status finishes the rollback and says what it did"
    live = engine.observe(app.target)
    assert (live.active, live.traffic, live.unfinished) == (serving, {serving: 100}, [])


def test_9_a_second_deployer_is_refused_with_exit_5_naming_the_holder(
    app: App, tmp_path_factory: pytest.TempPathFactory
) -> None:
    first = app.engine(image=app.harness.images[0])
    release = first.release(app.target)
    store, _ = store_for(release)
    if store is None:
        pytest.skip(f"{NOT_APPLICABLE} the {app.harness.provider} harness has no lease store (`lock:`)")
    elsewhere = app.engine(state_dir=tmp_path_factory.mktemp("second-runner"))
    before = sorted(app.harness.leftovers(app.name))

    with hold(release, "scalectl deploy"), pytest.raises(LockedError) as locked:  # the first runner, mid-rollout
        elsewhere.deploy(app.target, Events())

    assert locked.value.exit_code == ExitCode.LOCKED  # `scalectl deploy` exits 5
    assert "is locked by" in locked.value.message and "`scalectl deploy`" in locked.value.message
    assert store.where in locked.value.message
    assert sorted(app.harness.leftovers(app.name)) == before  # the refused runner changed nothing
    assert store.current() is None  # released when the first runner finished
