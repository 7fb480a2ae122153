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
    headers: dict[str, str]  # lower-case names
    body: bytes


class ProtocolError(Exception):
    """The server answered something that is not HTTP/1.1 as this client reads it."""


class Connection:
    """One keep-alive connection; `request` sends one request and reads its whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.usable = True

    @classmethod
    async def open(cls, endpoint: Endpoint) -> Connection:
        context = ssl.create_default_context() if endpoint.scheme == "https" else None
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port, ssl=context, limit=1 << 20)
        return cls(reader, writer)

    async def request(self, head: bytes, body: bytes) -> Response:
        try:
            self.writer.write(head + body)
            raw = await self.reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
                raise ProtocolError(f"bad status line {lines[0]!r}")
            status = int(parts[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                content = await self._chunked()
            elif "content-length" in headers:
                content = await self.reader.readexactly(int(headers["content-length"]))
            elif status in (204, 304) or 100 <= status < 200:
                content = b""
            else:  # the body runs to the end of the connection
                content = await self.reader.read()
                self.usable = False
            if headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
                self.usable = False
            return Response(status, headers, content)
        except BaseException:
            self.usable = False
            raise

    async def _chunked(self) -> bytes:
        out = bytearray()
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers expected: the blank line
                return bytes(out)
            out += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.usable = False
        self.writer.close()


def request_head(method: str, endpoint: Endpoint, headers: dict[str, str], length: int) -> bytes:
    """The request line and headers, built once per distinct body length."""
    lines = [f"{method} {endpoint.path} HTTP/1.1", f"Host: {endpoint.host_header}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if method not in ("GET", "HEAD") or length:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
