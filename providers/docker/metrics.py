"""Live figures per revision on Docker, from the gateway's own access log and the engine's stats.

No metrics stack: nginx writes one JSON object per request (revision, status, each upstream
attempt, request time) to the gateway's stdout, and the engine keeps it. `AccessLog` reads it
incrementally (only lines newer than its cursor, by the engine's nanosecond timestamps), so a
bake that looks every half second does not re-read what it has seen. `revision_figures` is the
one place a request is judged failed for a revision, for `status`, `top` and every bake alike.

Percentiles are exact (nearest rank over the window's request times), not a histogram: the
window's requests are in memory anyway, sorting tens of thousands of floats takes milliseconds,
nginx measures to the millisecond, and the docker extra then needs no `hdrhistogram`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from scalectl.metrics import RevisionMetrics

if TYPE_CHECKING:
    from docker.models.containers import Container

SOURCE = "gateway access log, docker stats"
MAX_LINE = 4096  # nginx's lines are ~250 bytes; anything longer is not one of them
# the gateway's log format before it was JSON; still read, so a gateway from an older scalectl is measured too
_KEY_VALUE = re.compile(
    r"rev=(\S{1,32}) status=(\d{3}) upstream_status=(.{0,512}?) upstream=(.{0,1024}?) "
    r"request_time=(\d{1,9}(?:\.\d{1,6})?)"
)
_ATTEMPTS = re.compile(r"\s*[,:]\s+")  # nginx separates attempts with ", " and upstream groups with " : "
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


@dataclass(frozen=True)
class Access:
    """One request the gateway logged."""

    at_ns: int  # when the engine received the line (epoch nanoseconds)
    revision: str  # the split's pick ("4"), or "none" when nothing serves
    status: int  # what the client got
    attempts: tuple[tuple[str, str], ...]  # (upstream address, its status) per try, in order; () = gateway answered
    seconds: float  # request_time: first byte read to last byte sent, as the client waited


def parse_line(line: str, at_ns: int = 0) -> Access | None:
    """One access-log line (JSON, or the older key=value form) -> Access; None for anything else.

    The gateway's stdout is text an attacker's requests can influence only through nginx's JSON
    escaping, but nothing here trusts it: bounded length, types checked, finite non-negative times.
    """
    if len(line) > MAX_LINE:
        return None
    line = line.strip()
    if line.startswith("{"):
        try:
            doc = json.loads(line)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        rev, status, ups, addrs, took = (
            doc.get(k) for k in ("rev", "status", "upstream_status", "upstream", "request_time")
        )
        if not all(isinstance(v, str) for v in (rev, status, ups, addrs, took)):
            return None
    else:
        match = _KEY_VALUE.search(line)
        if match is None:
            return None
        rev, status, ups, addrs, took = match.groups()
    assert isinstance(rev, str) and isinstance(status, str) and isinstance(ups, str) and isinstance(addrs, str)
    assert isinstance(took, str)
    try:
        code, seconds = int(status), float(took)
    except ValueError:
        return None
    if not (100 <= code <= 599) or not math.isfinite(seconds) or seconds < 0 or len(rev) > 32:
        return None
    attempts: tuple[tuple[str, str], ...] = ()
    if addrs.strip() not in ("", "-"):
        hosts = _ATTEMPTS.split(addrs.strip())
        codes = _ATTEMPTS.split(ups.strip())
        attempts = tuple((h, codes[i] if i < len(codes) else "-") for i, h in enumerate(hosts))
    return Access(at_ns, rev, code, attempts, seconds)


def stamp_ns(stamp: str) -> int | None:
    """The engine's RFC 3339 log timestamp (`2026-12-01T01:40:12.123456789Z`) as epoch nanoseconds."""
    match = _STAMP.match(stamp)
    if match is None:
        return None
    whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(whole.timestamp()) * 1_000_000_000 + int((match.group(2) or "0").ljust(9, "0"))


class AccessLog:
    """The gateway's access log from `since` (epoch seconds) on, read a little more at each `read`."""

    def __init__(self, gateway: Container, since: float) -> None:
        self.gateway = gateway
        self.cursor_ns = int(since * 1e9)  # lines at or before this were read (or are before the window)
        self.entries: list[Access] = []

    def read(self) -> list[Access]:
        """Every entry since `since` (or the last `drop_before`), after fetching the new lines."""
        try:
            raw = self.gateway.logs(since=max(self.cursor_ns / 1e9, 1.0), stdout=True, stderr=False, timestamps=True)
        except Exception:  # the gateway is gone or restarting: what was read stays, `status` says the rest
            return self.entries
        for line in raw.decode(errors="replace").splitlines():
            stamp, _, text = line.partition(" ")
            at = stamp_ns(stamp)
            if at is None or at <= self.cursor_ns:
                continue
            entry = parse_line(text, at)
            if entry is not None:
                self.entries.append(entry)
            self.cursor_ns = max(self.cursor_ns, at)
        return self.entries

    def drop_before(self, since: float) -> None:
        """Forget entries older than `since` (a moving window, as `top` keeps)."""
        cut = int(since * 1e9)
        self.entries = [e for e in self.entries if e.at_ns >= cut]


def failed_on(entry: Access, addresses: set[str]) -> bool:
    """Did this request fail for the revision whose replicas are `addresses` (ip:port)?

    Yes when the client saw a 5xx, when a try on one of those replicas failed, or when another
    revision had to answer it: nginx retries the other revision's replicas (and skips replicas it
    marked down), so users may never see the failure; the log does.
    """
    if entry.status >= 500:
        return True
    if any(addr in addresses and code.startswith("5") for addr, code in entry.attempts):
        return True
    return not entry.attempts or entry.attempts[-1][0] not in addresses


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values (q in 0..100); None when there are none."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def revision_figures(entries: Iterable[Access], revision: int, addresses: set[str], window: float) -> RevisionMetrics:
    """Requests, latency percentiles, 4xx and 5xx shares of one revision over `window` seconds.

    Counted: requests the split sent to the revision and an upstream answered (the gateway's own
    401 and 429 answers are not the model's). `rate_5xx` is the share that failed for the
    revision (see `failed_on`), `rate_4xx` the share answered 4xx; latency is the request time
    clients waited, failed requests included.
    """
    mine = [e for e in entries if e.revision == str(revision) and (e.attempts or e.status >= 500)]
    times = sorted(e.seconds * 1000 for e in mine)
    failed = sum(1 for e in mine if failed_on(e, addresses))
    client_4xx = sum(1 for e in mine if 400 <= e.status < 500)
    n = len(mine)
    return RevisionMetrics(
        revision=revision,
        window=window,
        requests=n,
        p50_ms=percentile(times, 50),
        p95_ms=percentile(times, 95),
        p99_ms=percentile(times, 99),
        rate_4xx=client_4xx / n if n else None,
        rate_5xx=failed / n if n else None,
        source=SOURCE,
    )


def _stats(container: Container) -> tuple[float | None, float | None]:
    """(CPU %, memory %) of one running container from one `docker stats` sample pair (about a second)."""
    try:
        s: dict[str, Any] = container.stats(stream=False)
    except Exception:
        return None, None
    cpu = pre = None
    try:
        cpu_delta = s["cpu_stats"]["cpu_usage"]["total_usage"] - s["precpu_stats"]["cpu_usage"]["total_usage"]
        system_delta = s["cpu_stats"]["system_cpu_usage"] - s["precpu_stats"]["system_cpu_usage"]
        online = s["cpu_stats"].get("online_cpus") or len(s["cpu_stats"]["cpu_usage"].get("percpu_usage") or [1])
        if system_delta > 0:
            cpu = max(0.0, cpu_delta / system_delta * online * 100)  # 100% = one core, as `docker stats` says
    except (KeyError, TypeError):
        pass
    try:
        memory = s["memory_stats"]
        inner = memory.get("stats") or {}
        used = memory["usage"] - inner.get("inactive_file", inner.get("total_inactive_file", inner.get("cache", 0)))
        pre = max(0.0, used / memory["limit"] * 100) if memory.get("limit") else None
    except (KeyError, TypeError):
        pass
    return cpu, pre


def usage(containers: list[Container]) -> dict[str, tuple[float | None, float | None]]:
    """(CPU %, memory %) per container name, sampled side by side (each sample takes about a second)."""
    running = [c for c in containers if c.status == "running"]
    if not running:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(running))) as pool:
        return dict(zip((c.name for c in running), pool.map(_stats, running), strict=True))


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


NOTES = [
    "5xx: requests that failed on the revision, including those another revision answered after a retry",
    "CPU and memory: mean per replica (CPU 100% = one core; memory of the container's limit, or of the host)",
    "GPU: not reported (the Docker engine exposes no GPU use)",
]
