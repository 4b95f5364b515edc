"""A minimal HTTP/1.1 client for the load generator: kept-alive connections as asyncio protocols.

It only sends `POST` with a JSON body to one server and reads answers framed by
`Content-Length` or chunked encoding, which is all the gateway (gunicorn) sends. Why so bare:
the generator shares the machine's cores with the gateway it measures, so every microsecond it
spends per request is taken from the gateway (docs/benchmarks.md, section 5a). A request is
bytes written to an idle connection and a callback run from `data_received` when its answer is
complete: no task, stream, future or timer per request (timeouts are swept every
`SWEEP_S`). Idle connections are reused first-in first-out, so the load spreads over all of
them (and the gunicorn processes they landed on share it). Nothing is retried: a request whose
answer did not arrive is the caller's `info` outcome. `post` is the awaitable form, for the
rare requests (re-sends) that are not worth a callback.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

SWEEP_S = 0.05  # how often requests are checked against their timeout
CLOSE_FRAMED = -1  # parse_head's length of an answer that ends when the server closes

# (status, body, error): error is None when an answer arrived, else why none did (status 0).
Done = Callable[[int, bytes, "BaseException | None"], None]


class HttpError(Exception):
    """The server's answer could not be read (closed early, malformed)."""


class KeepAlivePool:
    """Up to `size` connections to one `http://host:port`, each carrying one request at a time."""

    def __init__(self, base_url: str, *, size: int, timeout: float = 2.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{base_url!r}: expected http://host:port")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self._line_end = f" HTTP/1.1\r\nHost: {parts.hostname}:{self.port}\r\n"
        self.size, self.timeout = max(1, size), timeout
        self._idle: deque[_Connection] = deque()
        self._busy: set[_Connection] = set()
        self._opening = 0
        self._room: asyncio.Future[None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def request(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        """The bytes of one `POST` (built apart from sending so callers can time them apart)."""
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (f"POST {self.prefix}{path}{self._line_end}{head}Content-Length: {len(body)}\r\n\r\n".encode()
                + body)

    def has_room(self) -> bool:
        """Whether `send` can start a request now (an idle connection, or room for a new one)."""
        return bool(self._idle) or len(self._busy) + self._opening < self.size

    async def room(self) -> None:
        """Wait until `has_room()`."""
        while not self.has_room():
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            await self._room

    @property
    def in_flight(self) -> int:
        return len(self._busy) + self._opening

    def send(self, request: bytes, done: Done) -> None:
        """Start one request; `done` runs once with its answer or error. Needs `has_room()`."""
        if self._sweeper is None:
            self._sweep()
        if self._idle:
            conn = self._idle.popleft()
            self._busy.add(conn)
            conn.start(request, done)
        elif len(self._busy) + self._opening < self.size:
            self._opening += 1
            asyncio.get_running_loop().create_task(self._open_and_send(request, done))
        else:
            raise RuntimeError("KeepAlivePool.send without room: await room() first")

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Send one request and wait for its answer: (status, body); raises when none came."""
        await self.room()
        answer: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

        def done(status: int, data: bytes, error: BaseException | None) -> None:
            if not answer.done():
                answer.set_exception(error) if error else answer.set_result((status, data))
        self.send(self.request(path, body, headers), done)
        return await answer

    async def drain(self) -> None:
        """Wait until no request is in flight."""
        while self.in_flight:
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            await self._room

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in [*self._idle, *self._busy]:
            conn.transport.close()
        self._idle.clear()
        await asyncio.sleep(0)  # their sockets close in the loop's next step

    async def _open_and_send(self, request: bytes, done: Done) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self), self.host, self.port), self.timeout)
        except (TimeoutError, OSError) as exc:
            self._opening -= 1
            self._wake()
            done(0, b"", exc)
            return
        self._opening -= 1
        self._busy.add(conn)
        conn.start(request, done)

    def _finished(self, conn: _Connection, reusable: bool) -> None:
        """A connection's request is over: back to the idle queue, or gone."""
        self._busy.discard(conn)
        if reusable:
            self._idle.append(conn)
        else:
            conn.transport.close()
        self._wake()

    def _lost(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        self._wake()

    def _wake(self) -> None:
        if self._room is not None and not self._room.done():
            self._room.set_result(None)

    def _sweep(self) -> None:
        """Abort requests older than the timeout; runs every SWEEP_S while the pool is used."""
        limit = time.monotonic() - self.timeout
        for conn in [c for c in self._busy if c.started < limit]:
            conn.expire()
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_S, self._sweep)


class _Connection(asyncio.Protocol):
    """One kept-alive connection; parses the answer to its one request as bytes arrive."""

    def __init__(self, pool: KeepAlivePool) -> None:
        self.pool = pool
        self.buffer = bytearray()
        self.done: Done | None = None
        self.head: tuple[int, int | None, bool] | None = None  # parse_head's answer
        self.started = 0.0
        self.expired = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def start(self, request: bytes, done: Done) -> None:
        self.done, self.head, self.started = done, None, time.monotonic()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.done is None:
            return
        try:
            answer = self._answer()
        except HttpError as exc:
            self._fail(exc)
            self.transport.close()
            return
        if answer is not None:
            done, self.done = self.done, None
            self.pool._finished(self, self.head[2])  # type: ignore[index]
            done(self.head[0], answer, None)  # type: ignore[index]

    def _answer(self) -> bytes | None:
        """The whole body once it is in the buffer (taken out of it), else None."""
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            self.head = parse_head(bytes(self.buffer[:end]))
            del self.buffer[:end + 4]
        length = self.head[1]
        if length is None:
            return take_chunked(self.buffer)
        if length == CLOSE_FRAMED or len(self.buffer) < length:
            return None
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body

    def expire(self) -> None:
        self.expired = True
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and self.head is not None and self.head[1] == CLOSE_FRAMED:
            done, self.done = self.done, None
            self.pool._busy.discard(self)
            done(self.head[0], bytes(self.buffer), None)
        self._fail(TimeoutError("no answer within the timeout") if self.expired
                   else HttpError("connection closed before an answer"))
        self.pool._lost(self)

    def _fail(self, error: BaseException) -> None:
        done, self.done = self.done, None
        if done is not None:
            self.pool._busy.discard(self)
            done(0, b"", error)


def parse_head(head: bytes) -> tuple[int, int | None, bool]:
    """(status, Content-Length: None when chunked, CLOSE_FRAMED when neither, whether the
    connection can be reused)."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        version, code = lines[0].split(" ", 2)[:2]
        status = int(code)
    except ValueError as exc:
        raise HttpError(f"not an HTTP answer: {lines[0][:80]!r}") from exc
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    keep = fields.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    if fields.get("transfer-encoding", "").lower() == "chunked":
        return status, None, keep
    if "content-length" not in fields:
        return status, CLOSE_FRAMED, False
    try:
        return status, int(fields["content-length"]), keep
    except ValueError as exc:
        raise HttpError(f"bad Content-Length {fields['content-length'][:20]!r}") from exc


def take_chunked(buffer: bytearray) -> bytes | None:
    """A whole chunked body (no trailers, as gunicorn sends) taken out of `buffer`, else None."""
    parts, pos = [], 0
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buffer[pos:eol]).split(b";")[0], 16)
        except ValueError as exc:
            raise HttpError(f"bad chunk size {bytes(buffer[pos:eol])[:20]!r}") from exc
        if size == 0:
            if len(buffer) < eol + 4:
                return None
            del buffer[:eol + 4]
            return b"".join(parts)
        if len(buffer) < eol + 2 + size + 2:
            return None
        parts.append(bytes(buffer[eol + 2:eol + 2 + size]))
        pos = eol + 2 + size + 2
