"""A capture sidecar: a small reverse proxy that records sampled predict calls as JSON lines.

    python -m scalectl.capture_proxy --upstream http://127.0.0.1:8000 --listen 127.0.0.1:8100 \\
        --dir captures --percent 20 --target local

Clients (or a Kubernetes Service) call the proxy instead of the endpoint; every call is forwarded
unchanged, and a sampled share of POSTs to the predict route is written by `CaptureWriter`: the
request and response bodies only, never a header, so never the API key. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from scalectl.capture import CaptureWriter

# Headers that belong to one connection, not to the request (RFC 9110 section 7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class CaptureProxy(ThreadingHTTPServer):
    """Forwards everything to `upstream`; samples POSTs to `route` into `writer`."""

    daemon_threads = True

    def __init__(self, listen: tuple[str, int], upstream: str, writer: CaptureWriter, route: str, timeout: float):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"--upstream {upstream}: expected http://host:port")
        self.upstream = parsed
        self.writer = writer
        self.route = route
        self.upstream_timeout = timeout
        self._local = threading.local()
        super().__init__(listen, _Handler)

    def connection(self) -> http.client.HTTPConnection:
        """One keep-alive connection to the upstream per proxy thread."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.upstream.scheme == "https" else http.client.HTTPConnection
            port = self.upstream.port or (443 if self.upstream.scheme == "https" else 80)
            conn = cls(self.upstream.hostname or "", port, timeout=self.upstream_timeout)
            self._local.conn = conn
        return conn

    def drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Handler(BaseHTTPRequestHandler):
    server: CaptureProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the gateway logs requests; the proxy logs only failures (send_error)."""

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self) -> None:
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        prefix = self.server.upstream.path.rstrip("/")
        try:
            for attempt in (1, 2):  # a kept-alive connection the upstream closed gets one fresh retry
                conn = self.server.connection()
                try:
                    conn.request(self.command, prefix + self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    answer = response.read()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self.server.drop_connection()
                    if attempt == 2:
                        raise
        except (OSError, http.client.HTTPException) as exc:
            self.server.drop_connection()
            self.send_error(502, f"capture proxy: upstream unavailable ({exc.__class__.__name__})")
            return
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        if self.command == "POST" and self.path.split("?")[0] == self.server.route:
            self.server.writer.write(body, answer, response.status)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scalectl.capture_proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the endpoint to forward to, e.g. http://127.0.0.1:8000")
    parser.add_argument("--listen", default="127.0.0.1:8100", help="host:port to serve on")
    parser.add_argument("--dir", required=True, type=Path, help="capture directory (monitoring.capture.destination)")
    parser.add_argument("--percent", type=float, default=100.0, help="share of predict calls captured (0-100]")
    parser.add_argument("--target", default="", help="target name written in each record")
    parser.add_argument("--route", default="/invocations", help="the predict route (model.predict)")
    parser.add_argument("--max-file-mb", type=int, default=64, help="start a new file past this size")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the upstream")
    args = parser.parse_args(argv)
    if not 0 < args.percent <= 100:
        parser.error("--percent must be in (0, 100]")
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        parser.error(f"--listen {args.listen}: expected host:port")
    writer = CaptureWriter(args.dir, args.target, args.percent, max_bytes=args.max_file_mb << 20)
    try:
        server = CaptureProxy((host or "127.0.0.1", int(port)), args.upstream, writer, args.route, args.timeout)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"capturing {args.percent:g}% of POST {args.route} to {args.dir}; listening on {args.listen}", file=sys.stderr
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
