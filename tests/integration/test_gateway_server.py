"""The gateway's HTTP server itself: slow and idle clients cannot starve it, and its own errors
(the ones gunicorn answers before the app runs) are JSON like the app's.

A real `python -m system.gateway` (gevent, the default) on 127.0.0.1 and a real redis-server.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import pytest

from benchmarks.slowclients import attack
from tests.support.servers import Process, free_port, wait_for_gateway


@pytest.fixture
def gateway(spawn: Callable[..., Process]) -> str:
    """Two gateway processes, as deployed (GATEWAY_WORKERS defaults to 2)."""
    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_host="127.0.0.1", gateway_workers=2)
    return wait_for_gateway(f"http://127.0.0.1:{port}")


def test_half_requests_and_idle_connections_leave_health_answering(gateway: str) -> None:
    # 200 half-sent requests and 600 idle keep-alive connections (the server closes some and
    # the attack re-opens them). With gthread's 2x8 threads no probe answered within 1 s; the
    # deadline here is generous (5 s) because this is a property, not a speed benchmark.
    summary = attack(gateway, half=200, idle=600, probes=5, timeout=5.0)
    assert summary["held_at_start"] == 800, summary
    assert summary["answered_within"] == 5, summary


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], dict]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:  # the server closed with some of our request unread
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "header_too_large"),
], ids=["bad-request-line", "uri-too-long", "header-too-large"])
def test_server_errors_are_json(gateway: str, request_bytes: bytes, status: int, code: str) -> None:
    got, headers, body = _raw(gateway, request_bytes)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert body["error"]["code"] == code
    assert body["error"]["message"]


@pytest.mark.parametrize("stalled", [
    b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n",  # the headers never end
    b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{",
], ids=["headers", "body"])
def test_a_stalled_request_is_let_go_after_the_keepalive_time(spawn: Callable[..., Process],
                                                              stalled: bytes) -> None:
    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_host="127.0.0.1", gateway_workers=1,
          gateway_keepalive_s=1)
    wait_for_gateway(f"http://127.0.0.1:{port}")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(stalled)
        start = time.monotonic()
        answer = sock.recv(4096)  # closed (headers) or a 400 (body); a timeout here raises instead
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer
        assert time.monotonic() - start < 10
