"""Adaptive waiting: poll fast at first, back off, stop at a deadline.

A SageMaker endpoint that is ready in 40 s is seen within about a second of it, not at the
next 30-second tick of a fixed waiter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from scalectl.errors import ScalectlError

T = TypeVar("T")


class WaitTimeout(ScalectlError):
    pass


def backoff(initial: float = 0.25, factor: float = 1.5, maximum: float = 10.0) -> Callable[[int], float]:
    """Delay before poll number `n` (0-based)."""
    return lambda n: min(maximum, initial * factor**n)


def poll_until(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    delay: Callable[[int], float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `fetch` until `done(result)`; raise WaitTimeout naming `what` after `timeout` s."""
    delay = delay or backoff()
    deadline = clock() + timeout
    n = 0
    while True:
        value = fetch()
        if done(value):
            return value
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        sleep(min(delay(n), remaining))
        n += 1
