"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the load generator.

Why not urllib or http.client: they block a thread per request, and the GIL makes a thread pool the
bottleneck at a few thousand requests/s. One event loop with a connection per in-flight request does
several times more on one core. It speaks only what a model endpoint answers: Content-Length or chunked
bodies, keep-alive unless the server says `Connection: close`.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from scalectl.errors import UsageError


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: scheme, host, port and path of one URL."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--url {url}: expected http://host[:port]/path or https://...")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, path)

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@dataclass
class Response:
    status: int
    head: bytes  # status line and headers, as received
    body: bytes

    def header(self, name: str) -> str | None:
        """One header's value (case-insensitive name); read on demand, not parsed into a dict per response."""
        return _header(self.head, self.head.lower(), name.lower().encode("latin-1"))


def _header(head: bytes, lower: bytes, name: bytes) -> str | None:
    at = lower.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    end = lower.find(b"\r\n", at + 2)
    return head[at + 3 + len(name) : end if end >= 0 else len(head)].strip().decode("latin-1")


class ProtocolError(Exception):
    """The server answered something that is not HTTP/1.1 as this client reads it."""


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request` sends one request and waits for its whole response.

    A protocol, not streams: the response is parsed as bytes arrive and one future per request is
    resolved, which costs about a third less per request than StreamReader's readuntil + readexactly.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.usable = True
        self.to_eof = False
        self.deadline = 0.0  # the response body runs to the end of the connection

    @classmethod
    async def open(cls, endpoint: Endpoint, context: ssl.SSLContext | None = None) -> Connection:
        """Connect; https uses `context` (built once per run by `tls_context`)."""
        if endpoint.scheme == "https" and context is None:
            context = ssl.create_default_context()
        elif endpoint.scheme != "https":
            context = None
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(
            cls, endpoint.host, endpoint.port, ssl=context, server_hostname=endpoint.host if context else None
        )
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        if self.waiter is not None and not self.waiter.done():
            if self.to_eof:
                self._complete()
            else:
                self.waiter.set_exception(exc or ConnectionResetError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            if self.waiter is None:
                self.usable = False  # bytes nobody asked for: do not reuse this connection
            return
        try:
            self._complete()
        except (ProtocolError, ValueError) as exc:
            self.waiter.set_exception(ProtocolError(str(exc)))

    def _complete(self) -> None:
        """Resolve the waiter if the buffer holds a whole response."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end])
        if not head.startswith(b"HTTP/1.") or len(head) < 12:
            raise ProtocolError(f"bad status line {head[:40]!r}")
        status = int(head[9:12])
        lower = head.lower()
        start = end + 4
        length = _header(head, lower, b"content-length")
        if (
            b"\r\ntransfer-encoding:" in lower
            and (_header(head, lower, b"transfer-encoding") or "").lower() == "chunked"
        ):
            found = _dechunk(buffer, start)
            if found is None:
                return
            content, used = found
        elif length is not None:
            used = start + int(length)
            if len(buffer) < used:
                return
            content = bytes(buffer[start:used])
        elif status in (204, 304) or 100 <= status < 200:
            content, used = b"", start
        else:
            self.to_eof = True
            if self.transport is not None and not self.transport.is_closing():
                return  # wait for the server to close
            content, used = bytes(buffer[start:]), len(buffer)
        del buffer[:used]
        if self.to_eof or head.startswith(b"HTTP/1.0") or b"\r\nconnection: close" in lower:
            self.usable = False
        assert self.waiter is not None
        self.waiter.set_result(Response(status, head, content))

    def expire(self, now: float) -> None:
        """Fail the request in flight if it is past its deadline (the engine's watchdog calls this)."""
        if self.waiter is not None and not self.waiter.done() and now > self.deadline:
            self.waiter.set_exception(TimeoutError())
            self.close()

    async def request(self, head: bytes, body: bytes, deadline: float) -> Response:
        """Send and wait for the response; `expire` fails it after `deadline` (loop time)."""
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        self.deadline = deadline
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            self.transport.write(head + body)
            return await self.waiter
        except BaseException:
            self.usable = False
            raise
        finally:
            self.waiter = None

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.close()


@dataclass(frozen=True)
class Tls:
    """How to trust the server and who the client is: a CA bundle, a client certificate and key (files, as
    a kubeconfig's credentials are), or no verification when the credentials say so."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


def tls_context(tls: Tls | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls.ca_file if tls else None)
    if tls is not None:
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        if not tls.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return context


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body from `start`: (content, end offset), or None until all of it has arrived."""
    out = bytearray()
    pos = start
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buffer[pos:eol]).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            if len(buffer) < eol + 4:
                return None
            return bytes(out), eol + 4  # no trailers expected: the blank line
        if len(buffer) < eol + 2 + size + 2:
            return None
        out += buffer[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


def request_head(method: str, endpoint: Endpoint, headers: dict[str, str], length: int) -> bytes:
    """The request line and headers, built once per distinct body length."""
    lines = [f"{method} {endpoint.path} HTTP/1.1", f"Host: {endpoint.host_header}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if method not in ("GET", "HEAD") or length:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
