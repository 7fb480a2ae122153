"""The load engine against a local server with known latency: rate held, percentiles, no coordinated
omission when the server stalls, closed loop throughput, errors by kind, per-revision tallies."""

from __future__ import annotations

import pytest

from scalectl.bench.engine import LoadSpec, run
from tests.bench.server import Behaviour, serve
from tests.docker.helpers import free_port

BODY = (b'{"instances": [[1, 2, 3]]}',)


def spec(url: str, **kw: object) -> LoadSpec:
    args: dict[str, object] = {"url": url, "bodies": BODY, "duration": 1.5, "max_requests": 10_000}
    args.update(kw)
    return LoadSpec(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [1, 2])
def test_open_loop_holds_the_rate_and_measures_the_injected_delay(workers: int) -> None:
    """Split across two processes, the run is the same: one schedule, every slot sent once, one histogram."""
    behaviour = Behaviour(delay=0.03)
    with serve(behaviour) as url:
        result = run(spec(url, rate=200), workers=workers)
    assert result.workers == workers and result.all.histogram.get_total_count() == 300
    assert result.sent == 300 and behaviour.received == 300 and result.all.ok == 300
    assert 1.45 <= result.elapsed <= 1.8
    assert abs(result.throughput - 200) / 200 < 0.15
    latency = result.all.latency_ms()
    assert 30 <= latency["p50"] <= 45  # the injected 30 ms plus a little (a loaded CI box adds some)
    assert latency["p99"] < 150
    assert result.client_lag_ms()["p99"] < 50  # the client sent on schedule


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stall_counts_against_every_request_that_should_have_been_sent_during_it(workers: int) -> None:
    """Coordinated omission: with two connections, a 600 ms stall blocks the client from sending. Requests
    whose slot fell in the stall must carry the wait, measured from their intended send time."""
    behaviour = Behaviour(delay=0.002)
    with serve(behaviour) as url:
        behaviour.stall_after = 0.5
        behaviour.stall_for = 0.6
        result = run(spec(url, rate=100, duration=2.0, connections=2), workers=workers)
    assert result.all.ok == 200
    h = result.all.histogram
    delayed = sum(1 for v in _values(h) if v >= 200_000)  # at least 200 ms late
    # slots in the first 400 ms of the stall are >= 200 ms late: about 40 requests, not the 2 that were on the wire
    assert delayed >= 30, delayed
    assert result.all.latency_ms()["p50"] < 20  # outside the stall the server was fast
    assert result.all.latency_ms()["max"] >= 550


def _values(histogram: object) -> list[int]:
    out: list[int] = []
    for item in histogram.get_recorded_iterator():  # type: ignore[attr-defined]
        out += [item.value_iterated_to] * item.count_added_in_this_iter_step
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_closed_loop_throughput_follows_concurrency_over_service_time(workers: int) -> None:
    with serve(Behaviour(delay=0.02)) as url:
        result = run(spec(url, concurrency=4, duration=1.0), workers=workers)
    assert 150 <= result.throughput <= 205  # 4 / 20 ms = 200/s at most
    assert 20 <= result.all.latency_ms()["p50"] <= 30
    assert result.stopped_by == "duration"


def test_errors_are_counted_by_kind() -> None:
    with serve(Behaviour(status=503)) as url:
        failed = run(spec(url, rate=50, duration=0.5))
    assert failed.all.errors == {"HTTP 503": 25} and failed.all.ok == 0
    with serve(Behaviour(delay=0.5)) as url:
        slow = run(spec(url, rate=20, duration=0.5, timeout=0.1))
    assert slow.all.errors == {"timeout": 10}
    refused = run(spec(f"http://127.0.0.1:{free_port()}/x", rate=20, duration=0.5))
    assert refused.all.errors == {"connection refused": 10}
    assert refused.error_rate == 1.0


def test_the_request_cap_stops_a_run_early() -> None:
    with serve(Behaviour()) as url:
        result = run(spec(url, rate=100, duration=5, max_requests=20))
        closed = run(spec(url, concurrency=3, duration=5, max_requests=21), workers=2)
    assert result.sent == 20 and result.stopped_by == "max_requests" and result.elapsed < 1
    assert closed.sent == 21 and closed.all.ok == 21 and closed.stopped_by == "max_requests"


@pytest.mark.parametrize("workers", [1, 2])
def test_results_are_split_by_the_revision_that_served(workers: int) -> None:
    with serve(Behaviour(revisions=("1", "2", "2", "2"))) as url:
        result = run(spec(url, rate=100, duration=0.8), workers=workers)
    assert set(result.revisions) == {"1", "2"}
    assert result.revisions["1"].ok == 20 and result.revisions["2"].ok == 60


def test_a_request_that_waits_out_its_timeout_for_a_connection_is_a_timeout_and_is_not_sent() -> None:
    """One connection, a 300 ms server, 200 requests/s, 250 ms timeout: every request times out, and those
    whose deadline passed while the only connection was busy are never put on the wire."""
    behaviour = Behaviour(delay=0.3)
    with serve(behaviour) as url:
        result = run(spec(url, rate=200, duration=1.0, connections=1, timeout=0.25))
    assert result.all.errors == {"timeout": 200} and result.all.ok == 0
    assert behaviour.received < 100  # without the check all 200 would be sent, each only to time out
    assert result.queued > 150  # their slots came while the one connection was busy


def test_a_worker_that_dies_is_reported_not_waited_for() -> None:
    """A worker process that cannot run its share (here: its signer raises) fails the run with a message."""

    def sign(body: bytes) -> dict[str, str]:
        if os.getpid() != parent:
            raise RuntimeError("no credentials in this worker")
        return {}

    import os

    from scalectl.errors import ScalectlError

    parent = os.getpid()
    with serve(Behaviour()) as url, pytest.raises(ScalectlError, match=r"bench worker \d failed.*no credentials"):
        run(spec(url, rate=50, duration=0.5, sign=sign), workers=2)
