"""A bounded load client that measures what the gateway should report, and the faulty model image.

Shared by tests/metrics and benchmarks/gate_bench.py. The client keeps one keep-alive connection
per thread and records, per request, when it ended, the status, the revision the gateway says
answered (X-Scalectl-Revision) and the latency it waited, so a test can compare `status` figures
with its own, and tell which revision's requests failed.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAULTY_DIR = Path(__file__).resolve().parent / "faulty"
FAULTY_IMAGE = "scalectl-test/quickstart-faulty:gates"
GOOD = json.dumps({"instances": [[20, 0, 3, 0]]}).encode()
BAD = json.dumps({"instances": [[1, 2]]}).encode()  # wrong feature count: the model answers 400


def build_faulty_image(client: Any) -> str:
    """The quickstart image plus faults from the environment (FAULT_LATENCY_MS, FAULT_ERROR_SHARE)."""
    base = os.environ.get("SCALECTL_QUICKSTART_IMAGE", "scalectl/quickstart") + ":v1"
    client.images.build(path=str(FAULTY_DIR), tag=FAULTY_IMAGE, buildargs={"BASE": base}, rm=True)
    return FAULTY_IMAGE


@dataclass(frozen=True)
class Sample:
    ended: float  # epoch seconds
    status: int  # 0: no HTTP answer at all
    revision: str  # X-Scalectl-Revision, "" when absent
    ms: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


@dataclass
class Client:
    """`threads` loops POSTing predictions to 127.0.0.1:port until stopped; every `bad_every`-th is a bad request."""

    port: int
    threads: int = 2
    bad_every: int = 0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        n = 0
        while not self._stop.is_set():
            n += 1
            body = BAD if self.bad_every and n % self.bad_every == 0 else GOOD
            began = time.perf_counter()
            status, revision = 0, ""
            for fresh in (False, True):
                try:
                    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    status, revision = response.status, response.getheader("X-Scalectl-Revision") or ""
                    break
                except (OSError, http.client.HTTPException):
                    # a keep-alive connection the gateway closed (a graceful reload retires its workers)
                    # fails before any answer: like any HTTP client, try once more on a new connection
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    if fresh:
                        status, revision = 0, ""
            sample = Sample(time.time(), status, revision, (time.perf_counter() - began) * 1000)
            with self._lock:
                self.samples.append(sample)
        conn.close()

    def __enter__(self) -> Client:
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for w in self._workers:
            w.join(timeout=30)

    def failed(self) -> list[Sample]:
        """Requests that got no answer or a 5xx (a 400 for a bad body is the client's own doing)."""
        return [s for s in self.samples if s.status == 0 or s.status >= 500]
