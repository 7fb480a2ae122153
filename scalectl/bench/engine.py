"""The load engine: open loop at a fixed arrival rate, or closed loop at a fixed concurrency.

Open loop measures each request's latency from the moment it was *meant* to be sent (its slot in the
arrival schedule), not from when a connection became free: when the server stalls, the requests that
queue behind it carry the stall in their latency, so there is no coordinated omission. Closed loop
measures from the send, as wrk does; it answers "how fast can N clients go", not "how slow is it at R/s".

Bounded by design: every run has a duration and a request cap, and in-flight requests are capped by
`connections`; whatever is still in flight when the run ends is waited for at most `timeout` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from scalectl.bench.client import Connection, Endpoint, ProtocolError, Tls, request_head, tls_context

HIGHEST_US = 3_600_000_000  # an hour, in microseconds: the histogram's range
REVISION_HEADER = "x-scalectl-revision"  # the Docker gateway names the revision that served each request
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
CLIENT_LATE_MS = 10.0  # a free worker sending this late (p99) means this machine, not the server, limited the rate
RESIGN_SECONDS = 240  # SigV4 signatures are accepted for 5 minutes after their X-Amz-Date


def new_histogram() -> Any:
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(1, HIGHEST_US, 3)


@dataclass(frozen=True)
class LoadSpec:
    """One run: where, what, and how hard. Exactly one of `rate` and `concurrency` is set."""

    url: str
    bodies: tuple[bytes, ...]
    duration: float  # seconds; always bounded
    max_requests: int
    rate: float | None = None
    concurrency: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    timeout: float = 10.0  # per request, from its intended send time
    connections: int = 512  # open loop: at most this many requests in flight
    sign: Callable[[bytes], dict[str, str]] | None = None  # per-body auth headers (SigV4), renewed every 4 minutes
    revision_header: str = REVISION_HEADER  # the response header that names what served the request
    revision_field: str | None = None  # or a top-level field of the JSON response (Vertex: deployedModelId)
    tls: Tls | None = None  # https: the CA and client certificate to use (a kubeconfig's), else the system's

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.concurrency is None):
            raise ValueError("a load spec has either a rate or a concurrency")
        if self.duration <= 0 or self.max_requests <= 0 or not self.bodies:
            raise ValueError("a load spec needs a positive duration, a request cap and at least one body")


@dataclass
class Tally:
    """Latencies and outcomes of a set of requests (a whole run, or one revision's share).

    Latencies are appended to a list and put in the HDR histogram in batches, counted by value: a
    histogram insert is a dozen Python operations, and a run's latencies repeat (microseconds at a
    few hundred distinct values), so the batch costs far less per request than recording each."""

    _histogram: Any = field(default_factory=new_histogram)
    pending: list[int] = field(default_factory=list)
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def record(self, micros: int, error: str | None) -> None:
        if micros >= 0:
            self.pending.append(micros)
        if error is None:
            self.ok += 1
        else:
            self.errors[error] = self.errors.get(error, 0) + 1

    @property
    def histogram(self) -> Any:
        """The HDR histogram with every latency recorded so far."""
        if self.pending:
            pending, self.pending = self.pending, []
            record = self._histogram.record_value
            for micros, count in Counter(pending).items():
                record(max(1, min(micros, HIGHEST_US)), count)
        return self._histogram

    def merge(self, other: Tally) -> None:
        """Add another process's tally of the same run (the workers' shares)."""
        self.histogram.add(other.histogram)
        self.ok += other.ok
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count

    def freeze(self) -> dict[str, Any]:
        """A picklable, compact form to send between processes (the histogram HDR-encoded)."""
        return {"histogram": self.histogram.encode(), "ok": self.ok, "errors": self.errors}

    @classmethod
    def thaw(cls, data: dict[str, Any]) -> Tally:
        from hdrh.histogram import HdrHistogram

        return cls(HdrHistogram.decode(data["histogram"]), ok=data["ok"], errors=dict(data["errors"]))

    @property
    def total(self) -> int:
        return self.ok + sum(self.errors.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def latency_ms(self) -> dict[str, float | None]:
        """p50..p99.9 and max in milliseconds, of every answered request; None when nothing answered."""
        h = self.histogram
        if h.get_total_count() == 0:
            return {**{label(p): None for p in PERCENTILES}, "max": None, "mean": None}
        out: dict[str, float | None] = {label(p): h.get_value_at_percentile(p) / 1000 for p in PERCENTILES}
        out["max"] = h.get_max_value() / 1000
        out["mean"] = round(h.get_mean_value() / 1000, 3)
        return out


def label(p: float) -> str:
    return f"p{p:g}".replace(".", "")  # 99.9 -> p999


@dataclass
class Result:
    """What one run measured."""

    spec: LoadSpec
    started: float = 0.0  # time.monotonic() when the run began
    elapsed: float = 0.0
    sent: int = 0
    all: Tally = field(default_factory=Tally)
    revisions: dict[str, Tally] = field(default_factory=dict)
    lag: Tally = field(default_factory=Tally)  # open loop: how late a free worker sent, microseconds
    queued: int = 0  # open loop: requests whose slot came while all `connections` were in flight
    stopped_by: str = "duration"  # duration | max_requests | interrupted
    workers: int = 1  # processes that sent the load
    event_loop: str = "asyncio"  # or uvloop

    @property
    def throughput(self) -> float:
        return self.all.ok / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def error_rate(self) -> float:
        return self.all.error_count / self.all.total if self.all.total else 0.0

    def client_lag_ms(self) -> dict[str, float]:
        """How far behind schedule the client sent (open loop): large values mean the client, not the
        server, was the limit, and the offered rate was not really offered."""
        lag = self.lag.histogram
        if lag.get_total_count() == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0}
        return {
            "p50": lag.get_value_at_percentile(50) / 1000,
            "p99": lag.get_value_at_percentile(99) / 1000,
            "max": lag.get_max_value() / 1000,
        }

    def freeze(self) -> dict[str, Any]:
        """What a worker process sends back: counters and HDR-encoded histograms."""
        return {
            "elapsed": self.elapsed,
            "sent": self.sent,
            "all": self.all.freeze(),
            "revisions": {rev: t.freeze() for rev, t in self.revisions.items()},
            "lag": self.lag.freeze(),
            "queued": self.queued,
            "stopped_by": self.stopped_by,
        }

    @classmethod
    def thaw(cls, spec: LoadSpec, data: dict[str, Any]) -> Result:
        return cls(
            spec,
            elapsed=data["elapsed"],
            sent=data["sent"],
            all=Tally.thaw(data["all"]),
            revisions={rev: Tally.thaw(t) for rev, t in data["revisions"].items()},
            lag=Tally.thaw(data["lag"]),
            queued=data["queued"],
            stopped_by=data["stopped_by"],
        )

    def merge(self, other: Result) -> None:
        """Add a worker process's share of the same run: histograms added, counters summed, the
        run as long as its longest share."""
        self.elapsed = max(self.elapsed, other.elapsed)
        self.sent += other.sent
        self.all.merge(other.all)
        for rev, tally in other.revisions.items():
            self.revisions.setdefault(rev, Tally()).merge(tally)
        self.lag.merge(other.lag)
        self.queued += other.queued
        if other.stopped_by != "duration":
            self.stopped_by = other.stopped_by


@dataclass(frozen=True)
class Progress:
    elapsed: float
    duration: float
    sent: int
    ok: int
    errors: int
    in_flight: int
    rps: float  # completions per second over the last tick


ProgressFn = Callable[[Progress], None]


def _json_field(body: bytes, name: str) -> str | None:
    try:
        value = json.loads(body).get(name)
    except (ValueError, AttributeError):
        return None
    return None if value is None else str(value)


if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    @contextlib.asynccontextmanager
    async def _deadline(seconds: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        handle = asyncio.get_running_loop().call_later(seconds, task.cancel)
        try:
            yield
        except asyncio.CancelledError:
            raise asyncio.TimeoutError() from None
        finally:
            handle.cancel()


@dataclass(frozen=True)
class Share:
    """This process's part of a run split across `count` worker processes: open loop, the slots
    index, index + count, ... of the one arrival schedule; closed loop, its part of the concurrency and
    of the request cap. `start` (time.monotonic(), the same clock in every process) lines them up."""

    index: int = 0
    count: int = 1
    start: float | None = None

    def part(self, total: int) -> int:
        """This process's part of `total`, split as evenly as whole numbers allow."""
        return total // self.count + (1 if self.index < total % self.count else 0)


clock = time.monotonic  # latencies and the schedule: one clock for every process (uvloop's loop.time() is in ms)


class _Run:
    def __init__(self, spec: LoadSpec, share: Share = Share()) -> None:
        self.spec = spec
        self.share = share
        self.endpoint = Endpoint.parse(spec.url)
        self.context = tls_context(spec.tls) if self.endpoint.scheme == "https" else None
        self.requests: list[tuple[bytes, bytes]] = []
        self.signed_at = 0.0
        self._build()
        self.result = Result(spec)
        self.idle: list[Connection] = []
        self.connections: list[Connection] = []  # every open one, for the watchdog
        self.in_flight = 0

    def _build(self) -> None:
        """Each body's request head; signed requests are signed again before their signature ages out."""
        spec = self.spec
        base = {"Content-Type": "application/json", "Accept": "*/*", **spec.headers}
        self.requests = [
            (request_head(spec.method, self.endpoint, {**base, **(spec.sign(b) if spec.sign else {})}, len(b)), b)
            for b in spec.bodies
        ]
        self.signed_at = time.monotonic()

    async def _connect(self, deadline: float) -> Connection:
        async with _deadline(max(0.001, deadline - clock())):
            conn = await Connection.open(self.endpoint, self.context)
        self.connections.append(conn)
        return conn

    async def watchdog(self) -> None:
        """Time requests out from here, a few times a second, instead of a timer per request."""
        period = min(0.02, self.spec.timeout / 10)
        while True:
            await asyncio.sleep(period)
            now = clock()
            for conn in self.connections:
                conn.expire(now)
            self.connections = [c for c in self.connections if c.usable]
            if self.spec.sign is not None and time.monotonic() - self.signed_at > RESIGN_SECONDS:
                self._build()

    async def one(self, n: int, started: float) -> None:
        """Send request n; its latency counts from `started` (its intended send time in open loop).

        The per-request path: no task, no timer (the watchdog times out), no header dict; an idle
        keep-alive connection is taken without awaiting anything."""
        requests = self.requests
        head, body = requests[n % len(requests)]
        spec = self.spec
        conn: Connection | None = None
        error: str | None = None
        revision: str | None = None
        micros = -1
        self.in_flight += 1
        try:
            deadline = started + spec.timeout
            if clock() >= deadline:  # it waited its whole timeout for a free connection: do not send it
                raise TimeoutError()
            idle = self.idle
            while idle and not idle[-1].usable:
                idle.pop().close()
            conn = idle.pop() if idle else await self._connect(deadline)
            response = await conn.request(head, body, deadline)  # the watchdog enforces the deadline
            micros = int((clock() - started) * 1_000_000)
            status = response.status
            error = None if 200 <= status < 400 else f"HTTP {status}"
            revision = response.header(spec.revision_header)
            if revision is None and spec.revision_field and status < 400:
                revision = _json_field(response.body, spec.revision_field)
            if conn.usable:
                idle.append(conn)
                conn = None
        except (asyncio.TimeoutError, TimeoutError):
            error = "timeout"
        except ConnectionRefusedError:
            error = "connection refused"
        except (OSError, ProtocolError, ValueError):
            error = "connection error"
        finally:
            self.in_flight -= 1
            if conn is not None:
                conn.close()
        self.result.all.record(micros, error)
        if revision is not None:
            self.result.revisions.setdefault(revision, Tally()).record(micros, error)

    async def open_loop(self, start: float, stop: asyncio.Event) -> None:
        """`connections` workers share one arrival schedule: each takes the next slot, waits for its time,
        sends, and measures from the slot. When every worker is busy the next slot waits for one, and that
        wait is in its latency. No task per request, no semaphore: the client's own cost stays flat."""
        spec, share = self.spec, self.share
        assert spec.rate is not None
        interval = 1.0 / spec.rate
        total = min(spec.max_requests, max(1, int(spec.rate * spec.duration)))
        if total < int(spec.rate * spec.duration):
            self.result.stopped_by = "max_requests"
        slots = itertools.count(share.index, share.count)  # this process's slots of the one schedule
        lag = self.result.lag

        async def worker() -> None:
            for n in slots:
                if n >= total:
                    return
                if stop.is_set():
                    self.result.stopped_by = "interrupted"
                    return
                intended = start + n * interval
                delay = intended - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                    # free before its slot: any lateness now is this process being slow, not the server
                    now = clock()
                    lag.record(int((now - intended) * 1_000_000), None)
                    intended = min(intended, now)  # a timer that fired early: measure from the real send
                elif delay < -0.001:
                    self.result.queued += 1  # every connection was busy: the server's wait, in its latency
                self.result.sent += 1
                await self.one(n, intended)

        mine = share.part(total)
        await asyncio.gather(*(worker() for _ in range(max(1, min(share.part(spec.connections), mine)))))

    async def closed_loop(self, start: float, stop: asyncio.Event) -> None:
        spec, share = self.spec, self.share
        assert spec.concurrency is not None
        end = start + spec.duration
        cap = share.part(spec.max_requests)

        async def worker() -> None:
            while clock() < end and not stop.is_set():
                if self.result.sent >= cap:
                    self.result.stopped_by = "max_requests"
                    return
                n = self.result.sent
                self.result.sent += 1
                await self.one(n, clock())

        await asyncio.gather(*(worker() for _ in range(share.part(spec.concurrency))))
        if stop.is_set():
            self.result.stopped_by = "interrupted"

    async def ticker(self, begun: float, progress: ProgressFn) -> None:
        last_ok, last_t = 0, begun
        while True:
            await asyncio.sleep(0.25)
            now = clock()
            total = self.result.all.total
            rps = (total - last_ok) / (now - last_t) if now > last_t else 0.0
            last_ok, last_t = total, now
            progress(
                Progress(
                    now - begun,
                    self.spec.duration,
                    self.result.sent,
                    self.result.all.ok,
                    self.result.all.error_count,
                    self.in_flight,
                    rps,
                )
            )

    async def main(self, progress: ProgressFn | None) -> Result:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        begun = self.share.start or clock()
        ticker = loop.create_task(self.ticker(begun, progress)) if progress else None
        watchdog = loop.create_task(self.watchdog())
        try:
            if self.spec.rate is not None:
                await self.open_loop(begun, stop)
            else:
                await self.closed_loop(begun, stop)
        finally:
            self.result.elapsed = clock() - begun
            watchdog.cancel()
            if ticker is not None:
                ticker.cancel()
            for conn in self.idle:
                conn.close()
        return self.result


def event_loop_name() -> str:
    """uvloop when it is installed (about a third less CPU per request, measured in
    benchmarks/bench_client.py) unless SCALECTL_BENCH_LOOP=asyncio; else asyncio's own loop."""
    if os.environ.get("SCALECTL_BENCH_LOOP", "").lower() != "asyncio":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            pass
        else:
            return "uvloop"
    return "asyncio"


def _run_loop(main: Coroutine[Any, Any, Result]) -> Result:
    """Run `main` to completion on a new event loop of the chosen kind."""
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if event_loop_name() == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    loop = factory()  # pragma: no cover - Python 3.10
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


RATE_PER_WORKER = 2000.0  # open loop: requests/s one worker offers on time (it tops out near 5,000/s a core)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(spec: LoadSpec) -> int:
    """Closed loop: one worker per core, to go as fast as the machine allows. Open loop: as few as the rate
    needs, up to one per core. Below that rate more processes only split the connection pool and add
    wake-ups competing for the cores: measured at 400/s through 16 connections to a 20 ms server on a
    loaded 2-core machine, P99 was 39-59 ms with one worker (autocannon: 60-70 ms) and 134-220 ms with two."""
    if spec.rate is None:
        return cores()
    return max(1, min(cores(), math.ceil(spec.rate / RATE_PER_WORKER)))


def run(spec: LoadSpec, progress: ProgressFn | None = None, workers: int = 1) -> Result:
    """Run one load, blocking; returns what was measured (KeyboardInterrupt propagates).

    With `workers` > 1 the load is split across that many processes, one event loop each (a Python
    event loop is one core's worth of client), and their HDR histograms are merged: the same
    percentiles as one process would measure, at several times the rate.

    The collector's full passes are put off for the run (a pause of the client would be a pause in
    the offered load); the young generation still collects, and everything is collected after."""
    workers = min(workers, spec.concurrency or spec.connections, spec.max_requests)
    if workers > 1 and "fork" not in _mp_methods():
        workers = 1  # pragma: no cover - Windows: one process
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0] * 10, 1_000, 1_000)
    started = time.monotonic()
    try:
        result = _run_workers(spec, progress, workers) if workers > 1 else _run_loop(_Run(spec).main(progress))
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    result.started = started
    result.elapsed = result.elapsed or time.monotonic() - started
    result.workers = workers
    result.event_loop = event_loop_name()
    return result


def _mp_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


READY_TIMEOUT = 30.0  # seconds for a worker process to start and say it is ready


def _worker(spec: LoadSpec, share: Share, pipe: Any) -> None:
    """One worker process: wait for the common start time, run its share, send back what it measured.
    Ctrl-C is the parent's to handle: it stops the workers."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pipe.send(("ready",))
        start = pipe.recv()
        job = _Run(spec, Share(share.index, share.count, start))

        def report(p: Progress) -> None:
            pipe.send(("progress", p.sent, p.ok, p.errors, p.in_flight))

        result = _run_loop(job.main(report))
        pipe.send(("done", result.freeze()))
    except BaseException as exc:  # the parent reports it; a traceback from a child would be noise
        with contextlib.suppress(OSError):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


def _run_workers(spec: LoadSpec, progress: ProgressFn | None, count: int) -> Result:
    """Fork `count` workers, start them together, relay their progress, merge their results."""
    import multiprocessing
    from multiprocessing.connection import wait

    from scalectl.errors import ScalectlError

    context = multiprocessing.get_context("fork")  # the spec (and its signer) is inherited, not pickled
    pipes: list[Any] = []
    procs: list[Any] = []
    try:
        for index in range(count):
            mine, theirs = context.Pipe()
            proc = context.Process(target=_worker, args=(spec, Share(index, count), theirs), daemon=True)
            proc.start()
            theirs.close()
            pipes.append(mine)
            procs.append(proc)
        for index, pipe in enumerate(pipes):
            if not pipe.poll(READY_TIMEOUT) or pipe.recv()[0] != "ready":
                raise ScalectlError(f"bench worker {index} did not start")
        start = clock() + 0.005
        for pipe in pipes:
            pipe.send(start)
        counters = [(0, 0, 0, 0)] * count
        frozen: dict[int, dict[str, Any]] = {}
        last_done, last_t = 0, start
        while len(frozen) < count:
            waiting = [p for i, p in enumerate(pipes) if i not in frozen]
            for ready in wait(waiting, timeout=0.25):
                index = pipes.index(ready)
                pipe = pipes[index]
                try:
                    message = pipe.recv()
                except EOFError:
                    raise ScalectlError(
                        f"bench worker {index} exited (code {procs[index].exitcode}) before reporting"
                    ) from None
                if message[0] == "progress":
                    counters[index] = message[1:]
                elif message[0] == "done":
                    frozen[index] = message[1]
                else:
                    raise ScalectlError(f"bench worker {index} failed: {message[1]}")
            now = clock()
            if progress is not None and now - last_t >= 0.25:
                sent, ok, errors, in_flight = (sum(c[i] for c in counters) for i in range(4))
                rps = (ok + errors - last_done) / (now - last_t)
                progress(Progress(now - start, spec.duration, sent, ok, errors, in_flight, rps))
                last_done, last_t = ok + errors, now
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(5)
        for pipe in pipes:
            pipe.close()
    result = Result(spec)
    for index in range(count):
        result.merge(Result.thaw(spec, frozen[index]))
    return result
