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
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from scalectl.bench.client import Connection, Endpoint, ProtocolError, request_head

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

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.concurrency is None):
            raise ValueError("a load spec has either a rate or a concurrency")
        if self.duration <= 0 or self.max_requests <= 0 or not self.bodies:
            raise ValueError("a load spec needs a positive duration, a request cap and at least one body")


@dataclass
class Tally:
    """Latencies and outcomes of a set of requests (a whole run, or one revision's share)."""

    histogram: Any = field(default_factory=new_histogram)
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def record(self, micros: int, error: str | None) -> None:
        if micros >= 0:
            self.histogram.record_value(max(1, min(micros, HIGHEST_US)))
        if error is None:
            self.ok += 1
        else:
            self.errors[error] = self.errors.get(error, 0) + 1

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
    lag: Any = field(default_factory=new_histogram)  # open loop: how late a free worker sent, microseconds
    queued: int = 0  # open loop: requests whose slot came while all `connections` were in flight
    stopped_by: str = "duration"  # duration | max_requests | interrupted

    @property
    def throughput(self) -> float:
        return self.all.ok / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def error_rate(self) -> float:
        return self.all.error_count / self.all.total if self.all.total else 0.0

    def client_lag_ms(self) -> dict[str, float]:
        """How far behind schedule the client sent (open loop): large values mean the client, not the
        server, was the limit, and the offered rate was not really offered."""
        if self.lag.get_total_count() == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0}
        return {
            "p50": self.lag.get_value_at_percentile(50) / 1000,
            "p99": self.lag.get_value_at_percentile(99) / 1000,
            "max": self.lag.get_max_value() / 1000,
        }


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


def error_kind(status: int) -> str | None:
    return None if 200 <= status < 400 else f"HTTP {status}"


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


class _Run:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.endpoint = Endpoint.parse(spec.url)
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

    def _next(self, n: int) -> tuple[bytes, bytes]:
        return self.requests[n % len(self.requests)]

    async def _connection(self, deadline: float, loop: asyncio.AbstractEventLoop) -> Connection:
        while self.idle:
            conn = self.idle.pop()
            if conn.usable:
                return conn
            conn.close()
        async with _deadline(max(0.001, deadline - loop.time())):
            conn = await Connection.open(self.endpoint)
        self.connections.append(conn)
        return conn

    async def watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time requests out from here, a few times a second, instead of a timer per request."""
        period = min(0.02, self.spec.timeout / 10)
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for conn in self.connections:
                conn.expire(now)
            self.connections = [c for c in self.connections if c.usable]
            if self.spec.sign is not None and time.monotonic() - self.signed_at > RESIGN_SECONDS:
                self._build()

    async def one(self, n: int, started: float, loop: asyncio.AbstractEventLoop) -> None:
        """Send request n; its latency counts from `started` (its intended send time in open loop)."""
        head, body = self._next(n)
        conn: Connection | None = None
        error: str | None = None
        revision: str | None = None
        micros = -1
        self.in_flight += 1
        try:
            deadline = started + self.spec.timeout
            if loop.time() >= deadline:  # it waited its whole timeout for a free connection: do not send it
                raise TimeoutError()
            conn = await self._connection(deadline, loop)
            response = await conn.request(head, body, deadline)  # the watchdog enforces the deadline
            micros = int((loop.time() - started) * 1_000_000)
            error = error_kind(response.status)
            revision = response.header(self.spec.revision_header)
            if revision is None and self.spec.revision_field and response.status < 400:
                revision = _json_field(response.body, self.spec.revision_field)
            if conn.usable:
                self.idle.append(conn)
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

    async def open_loop(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        """`connections` workers share one arrival schedule: each takes the next slot, waits for its time,
        sends, and measures from the slot. When every worker is busy the next slot waits for one, and that
        wait is in its latency. No task per request, no semaphore: the client's own cost stays flat."""
        spec = self.spec
        assert spec.rate is not None
        interval = 1.0 / spec.rate
        total = min(spec.max_requests, max(1, int(spec.rate * spec.duration)))
        if total < int(spec.rate * spec.duration):
            self.result.stopped_by = "max_requests"
        slots = itertools.count()
        start = loop.time()
        lag = self.result.lag

        async def worker() -> None:
            for n in slots:
                if n >= total:
                    return
                if stop.is_set():
                    self.result.stopped_by = "interrupted"
                    return
                intended = start + n * interval
                delay = intended - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    # free before its slot: any lateness now is this process being slow, not the server
                    lag.record_value(max(1, int((loop.time() - intended) * 1_000_000)))
                elif delay < -0.001:
                    self.result.queued += 1  # every connection was busy: the server's wait, in its latency
                self.result.sent += 1
                await self.one(n, intended, loop)

        await asyncio.gather(*(worker() for _ in range(min(spec.connections, total))))

    async def closed_loop(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        spec = self.spec
        assert spec.concurrency is not None
        end = loop.time() + spec.duration

        async def worker() -> None:
            while loop.time() < end and not stop.is_set():
                if self.result.sent >= spec.max_requests:
                    self.result.stopped_by = "max_requests"
                    return
                n = self.result.sent
                self.result.sent += 1
                await self.one(n, loop.time(), loop)

        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
        if stop.is_set():
            self.result.stopped_by = "interrupted"

    async def ticker(self, loop: asyncio.AbstractEventLoop, begun: float, progress: ProgressFn) -> None:
        last_ok, last_t = 0, begun
        while True:
            await asyncio.sleep(0.25)
            now = loop.time()
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
        begun = loop.time()
        ticker = loop.create_task(self.ticker(loop, begun, progress)) if progress else None
        watchdog = loop.create_task(self.watchdog(loop))
        try:
            if self.spec.rate is not None:
                await self.open_loop(loop, stop)
            else:
                await self.closed_loop(loop, stop)
        finally:
            self.result.elapsed = loop.time() - begun
            watchdog.cancel()
            if ticker is not None:
                ticker.cancel()
            for conn in self.idle:
                conn.close()
        return self.result


def run(spec: LoadSpec, progress: ProgressFn | None = None) -> Result:
    """Run one load, blocking; returns what was measured (KeyboardInterrupt propagates).

    The collector's full passes are put off for the run (a pause of the client would be a pause in
    the offered load); the young generation still collects, and everything is collected after."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0] * 10, 1_000, 1_000)
    started = time.monotonic()
    try:
        result = asyncio.run(_Run(spec).main(progress))
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    result.started = started
    result.elapsed = result.elapsed or time.monotonic() - started
    return result
