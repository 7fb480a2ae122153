"""A local HTTP server with known behaviour, for testing the load engine: a fixed service time,
an optional stall window, a capacity limit (one request at a time), failures and a revision header."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    delay: float = 0.0  # seconds of service time per request
    serial: bool = False  # one request at a time: capacity is 1/delay requests/s
    stall_from: float | None = None  # monotonic time a stall begins: requests arriving in it wait for its end
    stall_after: float | None = None  # or: the stall begins this long after the first request arrives
    stall_for: float = 0.0
    status: int = 200
    revisions: tuple[str, ...] = ()  # answer X-Scalectl-Revision round-robin
    received: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def serve(behaviour: Behaviour) -> Iterator[str]:
    """Run the server on a free port; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            b = behaviour
            with b.lock:
                b.received += 1
                n = b.received
            now = time.monotonic()
            if n == 1 and b.stall_after is not None:
                b.stall_from = now + b.stall_after  # timed from the load's start, however late the client starts
            if b.stall_from is not None and b.stall_from <= now < b.stall_from + b.stall_for:
                time.sleep(b.stall_from + b.stall_for - now)
            if b.serial:
                with b.lock:
                    time.sleep(b.delay)
            elif b.delay:
                time.sleep(b.delay)
            body = b'{"ok": true}' if b.status < 400 else b'{"error": "injected"}'
            self.send_response(b.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if b.revisions:
                self.send_header("X-Scalectl-Revision", b.revisions[n % len(b.revisions)])
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # not 5: a burst of new connections on a loaded box overflowed it (1 s SYN retry)

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that timed out and hung up: expected here, not worth a traceback

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/invocations"
    finally:
        server.shutdown()
        server.server_close()
