"""A minimal HTTP/1.1 client for the load generator: kept-alive connections over asyncio streams.

It only sends `POST` with a JSON body to one server and reads answers framed by
`Content-Length` or chunked encoding, which is all the gateway (gunicorn) sends. Why not
aiohttp (also supported, `transport="aiohttp"`): on this 2-core machine a request through it
cost 1.5-3 times the client CPU of this one, and the generator shares the cores with the gateway
it is measuring (docs/benchmarks.md, section 5a). Nothing is retried: a request whose answer
did not arrive is the caller's `info` outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit


class HttpError(Exception):
    """The server's answer could not be read (closed early, malformed)."""


class KeepAlivePool:
    """Up to `size` connections to one `http://host:port`; idle ones are reused (LIFO)."""

    def __init__(self, base_url: str, *, size: int) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{base_url!r}: expected http://host:port")
        self.host, self.port = parts.hostname, parts.port or 80
        self.host_header = f"{parts.hostname}:{self.port}"
        self.prefix = parts.path.rstrip("/")
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(size)

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Send one request and read its answer: (status, body)."""
        async with self._slots:
            reader, writer = await self._connection()
            try:
                head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                writer.write(f"POST {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n{head}"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                status, answer, keep = await _read_answer(reader)
            except BaseException:
                writer.close()
                raise
            if keep:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return status, answer

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():  # the server may have timed it out
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection can be reused)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise HttpError("connection closed before an answer") from exc
    lines = head.decode("latin-1").split("\r\n")
    try:
        version, code = lines[0].split(" ", 2)[:2]
        status = int(code)
    except ValueError as exc:
        raise HttpError(f"not an HTTP answer: {lines[0][:80]!r}") from exc
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    elif "content-length" in fields:
        body = await reader.readexactly(int(fields["content-length"]))
    else:  # framed by the close
        return status, await reader.read(), False
    keep = fields.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    return status, body, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers from gunicorn: the final empty line
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
