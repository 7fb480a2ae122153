"""A replica with a known capacity: it completes at most MAX_RPS requests a second.

Each POST is given the next completion slot, 1/MAX_RPS after the previous one (or one service time from
now when idle), and is answered at its slot. Below MAX_RPS a request takes one service time; above it
the slots run ahead of the clock and latency grows without bound, as a saturated server's does. The
capacity is exact because the service time is a schedule, not work whose cost depends on the machine.
GET /ping answers 200; every answer names the replica's REVISION_NAME env (if set) in the body.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INTERVAL = 1.0 / float(os.environ.get("MAX_RPS", "40"))
lock = threading.Lock()
next_free = 0.0


def slot() -> float:
    """The monotonic time this request completes."""
    global next_free
    with lock:
        now = time.monotonic()
        done = max(now, next_free) + INTERVAL
        next_free = done
    return done


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._answer(200, {"status": "ok"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        done = slot()
        time.sleep(max(0.0, done - time.monotonic()))
        self._answer(200, {"predictions": [0.5], "served_by": os.environ.get("REVISION_NAME", "")})

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = True
    server.serve_forever()
