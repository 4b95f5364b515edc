"""Access control and hostile input against a real gunicorn gateway and a real redis-server:
bearer tokens (full and read-only, from env or file), the Host allow-list, loopback-only without
a token, JSON-only state changes, and the small inputs that used to answer 500 or store garbage."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from system.broker import Broker
from system.config import Settings
from tests.support.servers import Process, RedisServer, free_port, wait_for_gateway, wait_until

TOKEN = "write-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"


@pytest.fixture(scope="module")
def guarded(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Process]]:
    """One gateway with both tokens, the write token read from a file (as a Docker secret would be)."""
    secret = tmp_path_factory.mktemp("secrets") / "token"
    secret.write_text(TOKEN + "\n")
    port = free_port()
    env = Settings(redis_url=redis_server.url, gateway_port=port, gateway_workers=1, gateway_api_token_file=str(secret),
                   gateway_read_token=READ_TOKEN, gateway_allowed_hosts="gateway,api.example").env()
    proc = Process("system.gateway", env, name="gateway-guard")
    try:
        yield wait_for_gateway(f"http://127.0.0.1:{port}", token=TOKEN), proc
    finally:
        proc.stop()


@pytest.fixture
def url(broker: Broker, guarded: tuple[str, Process]) -> str:
    return guarded[0]


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield session


def anonymous(method: str, url: str, **kwargs: object) -> requests.Response:
    return requests.request(method, url, timeout=5, **kwargs)  # type: ignore[arg-type]


def error_code(response: requests.Response) -> str:
    return response.json()["error"]["code"]


def raw_request(url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Bytes no HTTP library would send (bad chunking, control characters in headers)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head + b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer.split(b"\r\n\r\n", 1)[-1]


# --- tokens -----------------------------------------------------------------------------------
def test_every_endpoint_but_the_open_ones_needs_the_token(url: str, broker: Broker) -> None:
    for method, path in [("GET", "/tasks"), ("GET", "/workers"), ("GET", "/queues"), ("GET", "/metrics"),
                         ("GET", "/dlq"), ("GET", "/stats"), ("GET", "/types"), ("DELETE", "/tasks/abc"),
                         ("POST", "/tasks"), ("POST", "/tasks/batch"), ("POST", "/dlq/abc/retry")]:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}):
            response = anonymous(method, url + path, headers=headers, json={"type": "echo"})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert error_code(response) == "unauthorized" and "Bearer" in response.headers["WWW-Authenticate"]
            assert TOKEN not in response.text
    assert broker.client.dbsize() == 0, "a refused request stored something"
    for path in ("/", "/openapi.json", "/health"):
        assert anonymous("GET", url + path).status_code in (200, 503)


def test_the_write_token_from_a_file_works_and_the_read_token_only_reads(url: str, http: requests.Session) -> None:
    created = http.post(url + "/tasks", json={"type": "echo", "data": 1}, timeout=5)
    assert created.status_code == 202
    reader = {"Authorization": f"Bearer {READ_TOKEN}"}
    assert anonymous("GET", f"{url}/tasks/{created.json()['id']}", headers=reader).status_code == 200
    assert anonymous("GET", url + "/metrics", headers=reader).status_code == 200
    for method, path in [("POST", "/tasks"), ("DELETE", f"/tasks/{created.json()['id']}"),
                         ("POST", f"/dlq/{created.json()['id']}/retry")]:
        refused = anonymous(method, url + path, headers=reader, json={"type": "echo"})
        assert (refused.status_code, error_code(refused)) == (403, "forbidden"), refused.text
    assert http.get(url + "/queues", timeout=5).json()["normal"] == 1


def test_health_without_a_token_says_how_but_not_where(url: str, http: requests.Session,
                                                        guarded: tuple[str, Process]) -> None:
    public = anonymous("GET", url + "/health").json()
    assert set(public) <= {"status", "redis", "workers", "reason"} and public["redis"] == {"ok": True}
    full = http.get(url + "/health", timeout=5).json()
    assert {"leader", "queues"} <= set(full) and "version" in full["redis"]
    assert TOKEN not in guarded[1].output() and READ_TOKEN not in guarded[1].output()
    assert "a bearer token and a read-only token is required" in guarded[1].output()


def test_hosts_outside_the_allow_list_are_refused(url: str, http: requests.Session) -> None:
    for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example"):
        refused = http.get(url + "/queues", headers={"Host": host}, timeout=5)
        assert (refused.status_code, error_code(refused)) == (400, "host_not_allowed"), host
        assert anonymous("GET", url + "/openapi.json", headers={"Host": host}).status_code == 400
        assert anonymous("GET", url + "/health", headers={"Host": host}).status_code in (200, 503)  # probes
    for host in ("gateway:5000", "api.example", "localhost", "127.0.0.1:1"):
        assert http.get(url + "/queues", headers={"Host": host}, timeout=5).status_code == 200, host


def test_state_changes_need_a_json_body_so_a_cross_site_form_cannot_send_them(
        url: str, http: requests.Session, broker: Broker) -> None:
    task_id = http.post(url + "/tasks", json={"type": "fail", "data": {"always": True}, "max_retries": 0},
                        timeout=5).json()["id"]
    broker.client.hset(broker.keys.task(task_id), "status", "dead")
    broker.client.zadd(broker.keys.dead, {task_id: 1})
    for kwargs in ({}, {"data": {"a": "b"}}, {"data": "{}", "headers": {"Content-Type": "text/plain"}}):
        refused = http.post(f"{url}/dlq/{task_id}/retry", timeout=5, **kwargs)  # type: ignore[arg-type]
        assert (refused.status_code, error_code(refused)) == (415, "unsupported_media_type"), refused.text
    assert http.post(f"{url}/dlq/{task_id}/retry", json={"x": 1}, timeout=5).status_code == 400
    assert broker.get(task_id)["status"] == "dead"
    assert http.post(f"{url}/dlq/{task_id}/retry", json={}, timeout=5).status_code == 202


# --- without a token ------------------------------------------------------------------------
def test_without_a_token_the_gateway_binds_loopback_only_and_says_so(spawn: Callable[..., Process]) -> None:
    port = free_port()
    proc = spawn("system.gateway", name="open-gateway", gateway_port=port, gateway_host="", gateway_workers=1)
    wait_for_gateway(f"http://127.0.0.1:{port}")
    assert "WITHOUT access control" in proc.output() and f"127.0.0.1:{port}" in proc.output()
    outside = [a for a in _own_addresses() if not a.startswith("127.")]
    for address in outside:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=1).close()


def test_without_a_token_a_public_bind_address_is_refused_at_start(spawn: Callable[..., Process]) -> None:
    proc = spawn("system.gateway", name="refused", gateway_port=free_port(), gateway_host="0.0.0.0")
    wait_until(lambda: proc.proc.poll() is not None, timeout=20, message="the gateway to exit")
    assert proc.proc.returncode == 2 and "GATEWAY_API_TOKEN" in proc.output()


def test_bad_token_settings_are_named_without_their_value(spawn: Callable[..., Process], tmp_path: Path) -> None:
    proc = spawn("system.gateway", name="bad", gateway_api_token="short-secret",
                 redis_password_file=str(tmp_path / "missing"))
    wait_until(lambda: proc.proc.poll() is not None, timeout=20, message="the gateway to exit")
    out = proc.output()
    assert proc.proc.returncode == 2 and "GATEWAY_API_TOKEN must be at least 16" in out
    assert "REDIS_PASSWORD_FILE" in out and "short-secret" not in out


def _own_addresses() -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)})
    except OSError:
        return []


# --- hostile input ----------------------------------------------------------------------------
@pytest.mark.parametrize("body, code", [
    (b'{"type": "echo", "timeout": 1' + b"0" * 400 + b"}", "bad_timeout"),
    (b'{"type": "echo", "max_retries": 1' + b"0" * 400 + b"}", "bad_max_retries"),
    (b'{"type": "echo", "idempotency_key": "a\\ud800b"}', "bad_idempotency_key"),
    (b'{"type": "echo", "idempotency_key": "a\\r\\nSet-Cookie: x"}', "bad_idempotency_key"),
    (b'{"type": "echo", "idempotency_key": "a\\u0000"}', "bad_idempotency_key"),
    (b'{"type": "echo", "data": "x\\udc00y"}', "bad_data"),
    (b'{"type": "echo", "data": {"\\ud83d": 1}}', "bad_data"),
])
def test_hostile_values_are_400_and_store_nothing(url: str, http: requests.Session, broker: Broker,
                                                  body: bytes, code: str) -> None:
    for path, payload in (("/tasks", body), ("/tasks/batch", b'{"tasks": [' + body + b"]}")):
        response = http.post(url + path, data=payload, headers={"Content-Type": "application/json"}, timeout=5)
        assert response.status_code == 400, response.text
        assert code in (error_code(response), *(d["code"] for d in response.json()["error"].get("details", [])))
    assert broker.client.dbsize() == 0


@pytest.mark.parametrize("key", [b"a\tb", b"a\x7fb", b"\x1b[31mred"])  # whitespace around a value is not in it
def test_control_characters_in_the_idempotency_key_header_are_400(url: str, broker: Broker, key: bytes) -> None:
    body = b'{"type":"echo"}'
    status, answer = raw_request(url, b"POST /tasks HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                                 b"Authorization: Bearer " + TOKEN.encode() + b"\r\nIdempotency-Key: " + key +
                                 b"\r\nContent-Type: application/json\r\nContent-Length: 15\r\n", body)
    assert status == 400, answer  # gunicorn itself refuses some; the gateway refuses the rest
    assert broker.client.dbsize() == 0


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{\"type\r\n0\r\n\r\n",
                                    b"-1\r\n{}\r\n0\r\n\r\n", b"1;\r\n{}\r\n0\r\n\r\n"])
def test_a_bad_chunked_body_is_400(url: str, broker: Broker, chunks: bytes) -> None:
    status, answer = raw_request(url, b"POST /tasks HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                                 b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                                 b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunks)
    assert status == 400, answer
    assert broker.client.dbsize() == 0


def test_a_reused_idempotency_key_with_another_body_is_422(url: str, http: requests.Session, broker: Broker) -> None:
    key = {"Idempotency-Key": "order-1"}
    first = http.post(url + "/tasks", json={"type": "echo", "data": 1}, headers=key, timeout=5)
    same = http.post(url + "/tasks", json={"type": "echo", "data": 1}, headers=key, timeout=5)
    assert (first.status_code, same.status_code) == (202, 200) and same.json()["id"] == first.json()["id"]
    for other in ({"type": "echo", "data": 2}, {"type": "echo", "data": 1, "priority": "high"},
                  {"type": "process", "data": 1}):
        conflict = http.post(url + "/tasks", json=other, headers=key, timeout=5)
        assert (conflict.status_code, error_code(conflict)) == (422, "idempotency_key_reused"), conflict.text
        assert first.json()["id"] in conflict.json()["error"]["message"]
    batch = http.post(url + "/tasks/batch", json={"tasks": [{"type": "echo"}, {"type": "echo", "data": 2,
                                                                                "idempotency_key": "order-1"}]},
                      timeout=5)
    assert batch.status_code == 422
    twice = http.post(url + "/tasks/batch", json={"tasks": [{"type": "echo", "idempotency_key": "k"},
                                                            {"type": "echo", "data": 9, "idempotency_key": "k"}]},
                      timeout=5)
    assert twice.status_code == 422
    assert broker.queue_depths()["normal"] == 1 and broker.stats()["submitted"] == 1


class TestUnknownOutcome:
    """A frozen Redis (SIGSTOP) may have applied a write whose reply never came; a Redis that is
    gone surely stored nothing. The 503s say which."""

    @pytest.fixture
    def own_redis(self) -> Iterator[RedisServer]:
        server = RedisServer()
        yield server
        if server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()

    @pytest.fixture
    def settings(self, settings: Settings, own_redis: RedisServer) -> Settings:
        return settings.with_overrides(redis_url=own_redis.url, redis_socket_timeout=0.5)

    def test_a_lost_reply_is_outcome_unknown_and_a_refused_connection_is_not(
            self, own_redis: RedisServer, gateway_url: str) -> None:
        http = requests.Session()
        key = {"Idempotency-Key": "frozen-1"}
        assert http.post(gateway_url + "/tasks", json={"type": "echo"}, timeout=5).status_code == 202
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        frozen = http.post(gateway_url + "/tasks", json={"type": "echo", "data": "f"}, headers=key, timeout=10)
        assert (frozen.status_code, error_code(frozen)) == (503, "outcome_unknown"), frozen.text
        assert "same Idempotency-Key" in frozen.json()["error"]["message"]
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        retried = http.post(gateway_url + "/tasks", json={"type": "echo", "data": "f"}, headers=key, timeout=10)
        assert retried.status_code in (200, 202)
        own_redis.proc.kill()
        own_redis.proc.wait()
        started = time.monotonic()
        gone = http.post(gateway_url + "/tasks", json={"type": "echo"}, timeout=10)
        assert (gone.status_code, error_code(gone)) == (503, "redis_unavailable"), gone.text
        assert time.monotonic() - started < 5
