"""The quickstart server with faults from the environment: slower, or answering 500 on a share of predictions.

Deterministic on purpose: with FAULT_ERROR_SHARE=0.5 every second prediction fails, so a test's
figures do not depend on luck. /ping stays healthy: only the gate's figures can catch these.
"""

from __future__ import annotations

import os
import sys
import threading
import time

sys.path.insert(0, "/opt/program")
import serve

LATENCY = float(os.environ.get("FAULT_LATENCY_MS", "0")) / 1000
SHARE = float(os.environ.get("FAULT_ERROR_SHARE", "0"))
_lock = threading.Lock()
_count = [0]
_original = serve.Handler.do_POST


def do_post(self: serve.Handler) -> None:
    with _lock:
        _count[0] += 1
        n = _count[0]
    fail = int(n * SHARE) > int((n - 1) * SHARE)
    if LATENCY:
        time.sleep(LATENCY)
    if fail:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._send(500, {"error": "injected fault (FAULT_ERROR_SHARE)"})
        return
    _original(self)


serve.Handler.do_POST = do_post  # type: ignore[method-assign]

if __name__ == "__main__":
    serve.main()
