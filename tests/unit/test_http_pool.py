"""The load generator's HTTP client: answer framing (pure) and the pool's edge cases against a
scripted TCP peer on 127.0.0.1 (chunked, close-framed, malformed, silent, closing early). The
real gateway is tests/integration/test_load_generator.py's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from harness.http_pool import CLOSE_FRAMED, HttpError, KeepAlivePool, parse_head, take_chunked

OK = b'HTTP/1.1 202 ACCEPTED\r\nContent-Length: 11\r\n\r\n{"id":"t1"}'


def test_parse_head_frames_by_length_chunks_or_close() -> None:
    assert parse_head(b"HTTP/1.1 202 ACCEPTED\r\nContent-Length: 11") == (202, 11, True)
    assert parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked") == (200, None, True)
    assert parse_head(b"HTTP/1.1 400 Bad\r\nConnection: close\r\nContent-Length: 0")[2] is False
    assert parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 2")[2] is False
    assert parse_head(b"HTTP/1.1 500 Oops") == (500, CLOSE_FRAMED, False)
    with pytest.raises(HttpError, match="not an HTTP answer"):
        parse_head(b"SSH-2.0-OpenSSH")
    with pytest.raises(HttpError, match="bad Content-Length"):
        parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: many")


def test_take_chunked_waits_for_the_whole_body_and_keeps_what_follows() -> None:
    whole = b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n"
    for cut in range(len(whole)):
        assert take_chunked(bytearray(whole[:cut])) is None
    buffer = bytearray(whole + b"HTTP/1.1")
    assert take_chunked(buffer) == b"Wikipedia" and buffer == b"HTTP/1.1"
    with pytest.raises(HttpError, match="bad chunk size"):
        take_chunked(bytearray(b"zz\r\n"))


def serve(answer: Callable[[int], bytes | None]) -> Callable[[], object]:
    """A TCP peer: for its n-th request (counted over all connections) it writes answer(n);
    None keeps silent; b"" closes the connection."""
    count = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)  # every request here has the body b"{}"
                count[0] += 1
                data = answer(count[0])
                if data == b"":
                    return
                if data is not None:
                    writer.write(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def start() -> tuple[asyncio.AbstractServer, str]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        return server, f"http://127.0.0.1:{port}"
    return start


def run_posts(answer: Callable[[int], bytes | None], n: int, **pool_kw: object) -> list[object]:
    """n requests over the pool; each result is (status, body) or the exception raised."""
    async def main() -> list[object]:
        server, url = await serve(answer)()
        pool = KeepAlivePool(url, size=2, **pool_kw)  # type: ignore[arg-type]
        try:
            return await asyncio.gather(*(pool.post("/tasks", b"{}", {"X": str(i)}) for i in range(n)),
                                        return_exceptions=True)
        finally:
            await pool.close()
            server.close()
            await server.wait_closed()
    return asyncio.run(main())


def test_answers_arrive_over_kept_alive_connections_in_any_framing() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    results = run_posts(lambda n: OK if n % 2 else chunked, 6)
    assert sorted(results) == [(200, b"abc")] * 3 + [(202, b'{"id":"t1"}')] * 3  # type: ignore[type-var]


def test_a_close_framed_answer_ends_with_the_connection() -> None:
    async def main() -> object:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 503 Busy\r\n\r\nbusy")
            writer.close()
            await writer.wait_closed()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        pool = KeepAlivePool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", size=1)
        try:
            return await pool.post("/tasks", b"{}", {})
        finally:
            await pool.close()
            server.close()
            await server.wait_closed()
    assert asyncio.run(main()) == (503, b"busy")


def test_no_answer_is_an_error_not_a_hang_and_the_pool_goes_on() -> None:
    # 1: closed before answering; 2: silent past the timeout; 3: garbage; then answers again
    answers = {1: b"", 2: None, 3: b"garbage\r\n\r\n"}
    results = run_posts(lambda n: answers.get(n, OK), 5, timeout=0.3)
    errors = sorted(type(r).__name__ for r in results if isinstance(r, BaseException))
    assert errors == ["HttpError", "HttpError", "TimeoutError"]
    assert results.count((202, b'{"id":"t1"}')) == 2


def test_a_refused_connection_is_an_error() -> None:
    async def main() -> object:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        server.close()
        await server.wait_closed()
        pool = KeepAlivePool(url, size=1)
        try:
            return await pool.post("/tasks", b"{}", {})
        except OSError as exc:
            return exc
        finally:
            await pool.close()
    assert isinstance(asyncio.run(main()), ConnectionRefusedError)


def test_a_bad_url_is_refused_with_the_form_expected() -> None:
    with pytest.raises(ValueError, match="expected http://host:port"):
        KeepAlivePool("https://example.invalid", size=1)
