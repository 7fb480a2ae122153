"""Adaptive waiting: poll fast at first, back off, stop at a deadline.

A SageMaker endpoint that is ready in 40 s is seen within about a second of it, not at the
next 30-second tick of a fixed waiter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from scalectl.errors import ScalectlError

T = TypeVar("T")


class WaitTimeout(ScalectlError):
    pass


_wakers: dict[int, threading.Event] = {}  # thread ident -> its waker, while an interrupt may reach it


def pause(seconds: float) -> None:
    """`time.sleep` that an interrupt ends early in a worker thread too.

    A signal ends the main thread's sleep at once; a rollout in a worker thread (several targets
    deploying at once) is interrupted by `scalectl.engine.Interrupts`, which also sets the thread's
    waker here, so the rollback starts now rather than after a backoff of up to ten seconds.
    """
    waker = _wakers.get(threading.get_ident())
    if waker is None:
        time.sleep(seconds)
    elif waker.wait(seconds):
        waker.clear()  # the interrupt is raised at the next bytecode; later pauses (the rollback's) wait again


def wakeable(ident: int, on: bool) -> None:
    """Give thread `ident` a waker for `pause` (on), or take it away."""
    if on:
        _wakers[ident] = threading.Event()
    else:
        _wakers.pop(ident, None)


def wake(ident: int) -> None:
    """End the current or next `pause` of thread `ident`."""
    waker = _wakers.get(ident)
    if waker is not None:
        waker.set()


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
    sleep: Callable[[float], None] = pause,
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
