"""Every endpoint against bad input: a JSON error that names the problem, nothing stored, no crash.

Most cases go through Flask's test client on a real Redis (fast); a few go through a real
gunicorn gateway to show the same holds on the wire and that the process survives them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from system.broker import Broker
from system.config import Settings
from system.gateway import create_app
from system.handlers import REGISTRY
from tests.support.servers import ROOT, Process, free_port, wait_for_gateway

JSON = "application/json"
KNOWN_TYPES = ", ".join(REGISTRY)
DEEP = '{"type": "echo", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"


@pytest.fixture
def client(broker: Broker, settings: Settings) -> FlaskClient:
    return create_app(settings.with_overrides(max_batch=5), broker=broker).test_client()


def snapshot(broker: Broker) -> tuple[Any, ...]:
    """Everything a rejected request could have touched."""
    keys = sorted(broker.client.scan_iter(count=1000))
    return keys, broker.stats(), broker.queue_depths()


def assert_error(response: Any, status: int, code: str | None = None, *fragments: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == JSON
    error = response.get_json()["error"]
    assert set(error) >= {"code", "message"} and error["message"]
    if code:
        assert error["code"] == code, error
    for fragment in fragments:
        assert fragment in error["message"], error
    return error


# (method, path, request kwargs, status, code, fragments in the message)
CASES: list[tuple[str, str, dict[str, Any], int, str, tuple[str, ...]]] = [
    # --- POST /tasks: the body ---
    ("POST", "/tasks", {"data": "{", "content_type": JSON}, 400, "malformed_json", ("malformed JSON",)),
    ("POST", "/tasks", {"data": "", "content_type": JSON}, 400, "malformed_json", ("malformed JSON",)),
    ("POST", "/tasks", {"data": b"\xff\xfe\x00", "content_type": JSON}, 400, "malformed_json", ()),
    ("POST", "/tasks", {"data": '{"type": "echo", "data": NaN}', "content_type": JSON}, 400, "malformed_json",
     ("NaN",)),
    ("POST", "/tasks", {"data": '{"type": "echo", "data": -Infinity}', "content_type": JSON}, 400,
     "malformed_json", ("Infinity",)),
    ("POST", "/tasks", {"data": '{"type": "echo"} trailing', "content_type": JSON}, 400, "malformed_json", ()),
    ("POST", "/tasks", {"data": DEEP, "content_type": JSON}, 400, "malformed_json", ("deeply",)),
    ("POST", "/tasks", {"data": '{"type": "process", "data": "x"}', "content_type": "text/plain"}, 415,
     "unsupported_media_type", ("application/json", "text/plain")),
    ("POST", "/tasks", {"data": '{"type": "process", "data": "x"}'}, 415, "unsupported_media_type",
     ("Content-Type",)),
    ("POST", "/tasks", {"data": {"type": "process", "data": "x"}}, 415, "unsupported_media_type",
     ("application/x-www-form-urlencoded",)),
    ("POST", "/tasks", {"json": ["process"]}, 400, "invalid_request", ("JSON object",)),
    ("POST", "/tasks", {"data": "null", "content_type": JSON}, 400, "invalid_request", ("JSON object",)),
    ("POST", "/tasks", {"json": {"data": "Hello"}}, 400, "missing_type", ("known types: " + KNOWN_TYPES,)),
    ("POST", "/tasks", {"json": {"type": "launch", "data": 1}}, 400, "unknown_type",
     ("'launch'", "known types: " + KNOWN_TYPES)),
    ("POST", "/tasks", {"json": {"type": 7}}, 400, "unknown_type", ("known types",)),
    ("POST", "/tasks", {"json": {"type": "echo", "retries": 3}}, 400, "unknown_field", ("retries",)),
    ("POST", "/tasks", {"json": {"type": "echo", "priority": "urgent"}}, 400, "bad_priority",
     ("high, normal, low", "'urgent'")),
    ("POST", "/tasks", {"json": {"type": "echo", "priority": None}}, 400, "bad_priority", ()),
    ("POST", "/tasks", {"json": {"type": "echo", "max_retries": -1}}, 400, "bad_max_retries", ("0 to 100",)),
    ("POST", "/tasks", {"json": {"type": "echo", "max_retries": "3"}}, 400, "bad_max_retries", ()),
    ("POST", "/tasks", {"json": {"type": "echo", "max_retries": 2.5}}, 400, "bad_max_retries", ()),
    ("POST", "/tasks", {"json": {"type": "echo", "max_retries": 10**30}}, 400, "bad_max_retries", ()),
    ("POST", "/tasks", {"json": {"type": "echo", "timeout": 0}}, 400, "bad_timeout", ("above 0",)),
    ("POST", "/tasks", {"json": {"type": "echo", "timeout": "5s"}}, 400, "bad_timeout", ()),
    ("POST", "/tasks", {"data": '{"type": "echo", "timeout": 1e999}', "content_type": JSON}, 400, "bad_timeout",
     ()),
    ("POST", "/tasks", {"json": {"type": "process"}}, 400, "bad_data", ("process needs data",)),
    ("POST", "/tasks", {"json": {"type": "sleep", "data": {"ms": "500"}}}, 400, "bad_data", ("data.ms",)),
    ("POST", "/tasks", {"json": {"type": "sleep", "data": {"ms": -1}}}, 400, "bad_data", ("data.ms",)),
    ("POST", "/tasks", {"json": {"type": "cpu", "data": [20]}}, 400, "bad_data", ("object",)),
    ("POST", "/tasks", {"json": {"type": "fail", "data": {"p": 3}}}, 400, "bad_data", ("probability",)),
    ("POST", "/tasks", {"json": {"type": "fail", "data": {"times": "2"}}}, 400, "bad_data", ("data.times",)),
    ("POST", "/tasks", {"json": {"type": "fail", "data": {"never": True}}}, 400, "bad_data", ("never",)),
    ("POST", "/tasks", {"data": '{"type": "echo", "data": ' + "[" * 70 + "]" * 70 + "}", "content_type": JSON},
     400, "bad_data", ("deeper than 64",)),
    ("POST", "/tasks", {"json": {"type": "echo"}, "headers": {"Idempotency-Key": "k" * 201}}, 400,
     "bad_idempotency_key", ("200",)),
    ("POST", "/tasks", {"json": {"type": "echo", "idempotency_key": 12}}, 400, "bad_idempotency_key", ()),
    ("POST", "/tasks", {"data": "x" * (1024 * 1024 + 1), "content_type": JSON}, 413, "payload_too_large",
     ("1048576", "MAX_PAYLOAD_BYTES")),
    # --- POST /tasks/batch ---
    ("POST", "/tasks/batch", {"data": "[", "content_type": JSON}, 400, "malformed_json", ()),
    ("POST", "/tasks/batch", {"data": "{}", "content_type": "text/csv"}, 415, "unsupported_media_type", ()),
    ("POST", "/tasks/batch", {"json": [{"type": "echo"}]}, 400, "invalid_request", ('{"tasks"',)),
    ("POST", "/tasks/batch", {"json": {}}, 400, "invalid_request", ('{"tasks"',)),
    ("POST", "/tasks/batch", {"json": {"tasks": []}}, 400, "invalid_request", ("at least one",)),
    ("POST", "/tasks/batch", {"json": {"tasks": {"type": "echo"}}}, 400, "invalid_request", ()),
    ("POST", "/tasks/batch", {"json": {"tasks": [{"type": "echo"}] * 6}}, 413, "batch_too_large",
     ("at most 5", "MAX_BATCH", "got 6")),
    # --- GET /tasks query parameters ---
    ("GET", "/tasks?status=finished", {}, 400, "invalid_request", ("status must be one of", "succeeded")),
    ("GET", "/tasks?status=", {}, 400, "invalid_request", ("status",)),
    ("GET", "/tasks?type=launch", {}, 400, "invalid_request", ("type must be one of", "process")),
    ("GET", "/tasks?limit=0", {}, 400, "invalid_request", ("limit", "1 to 1000")),
    ("GET", "/tasks?limit=1001", {}, 400, "invalid_request", ("limit",)),
    ("GET", "/tasks?limit=-1", {}, 400, "invalid_request", ("limit",)),
    ("GET", "/tasks?limit=ten", {}, 400, "invalid_request", ("limit",)),
    ("GET", "/tasks?limit=2.5", {}, 400, "invalid_request", ("limit",)),
    ("GET", "/tasks?limit=%C2%B2", {}, 400, "invalid_request", ("limit",)),  # '²' is a digit to str.isdigit
    ("GET", "/tasks?cursor=-5", {}, 400, "invalid_request", ("cursor",)),
    ("GET", "/tasks?cursor=abc", {}, 400, "invalid_request", ("cursor",)),
    ("GET", "/dlq?limit=0", {}, 400, "invalid_request", ("limit",)),
    ("GET", "/dlq?offset=-1", {}, 400, "invalid_request", ("offset",)),
    # --- unknown ids ---
    ("GET", "/tasks/0123456789abcdef0123456789abcdef", {}, 404, "not_found", ("no task with id",)),
    ("GET", "/tasks/%20", {}, 404, "not_found", ()),
    ("DELETE", "/tasks/nope", {}, 404, "not_found", ("'nope'",)),
    ("POST", "/dlq/nope/retry", {"json": {}}, 404, "not_found", ("'nope'",)),
    ("GET", "/tasks/batch", {}, 404, "not_found", ()),
    # --- unknown routes and wrong methods ---
    ("GET", "/nope", {}, 404, "not_found", ("/nope", "GET /")),
    ("POST", "/task", {"json": {"type": "echo"}}, 404, "not_found", ("POST /task",)),
    ("GET", "/tasks/a/b", {}, 404, "not_found", ()),
    ("PUT", "/tasks", {"json": {"type": "echo"}}, 405, "method_not_allowed", ("PUT", "GET", "POST")),
    ("DELETE", "/tasks", {}, 405, "method_not_allowed", ()),
    ("PATCH", "/tasks/abc", {"json": {}}, 405, "method_not_allowed", ("DELETE",)),
    ("GET", "/tasks/batch/", {}, 404, "not_found", ()),
    ("GET", "/dlq/abc/retry", {}, 405, "method_not_allowed", ("POST",)),
    ("POST", "/health", {}, 405, "method_not_allowed", ()),
    ("POST", "/metrics", {}, 405, "method_not_allowed", ()),
    ("DELETE", "/workers", {}, 405, "method_not_allowed", ()),
    ("PUT", "/queues", {}, 405, "method_not_allowed", ()),
    ("POST", "/stats", {}, 405, "method_not_allowed", ()),
    ("DELETE", "/dlq", {}, 405, "method_not_allowed", ()),
]


@pytest.mark.parametrize("method, path, kwargs, status, code, fragments", CASES,
                         ids=[f"{m} {p[:40]} {i}" for i, (m, p, *_) in enumerate(CASES)])
def test_rejected_request_names_the_problem_and_stores_nothing(
        client: FlaskClient, broker: Broker, method: str, path: str, kwargs: dict, status: int, code: str,
        fragments: tuple[str, ...]) -> None:
    client.post("/tasks", json={"type": "echo", "data": "already there"})  # state to compare against
    before = snapshot(broker)
    response = client.open(path, method=method, **kwargs)
    error = assert_error(response, status, code, *fragments)
    assert snapshot(broker) == before, f"{method} {path} was rejected but changed Redis"
    if status == 405:
        assert response.headers["Allow"], error


def test_batch_with_invalid_tasks_is_rejected_whole_naming_each_index(client: FlaskClient,
                                                                     broker: Broker) -> None:
    before = snapshot(broker)
    tasks = [{"type": "sleep", "data": {"ms": 10}}, {"type": "nope"}, {"type": "echo", "priority": "urgent"},
             "not an object", {"type": "echo", "idempotency_key": "k1"}]
    error = assert_error(client.post("/tasks/batch", json={"tasks": tasks}), 400, "invalid_batch",
                         "3 of 5", "1, 2, 3", "nothing was stored")
    assert [d["index"] for d in error["details"]] == [1, 2, 3]
    assert [d["code"] for d in error["details"]] == ["unknown_type", "bad_priority", "invalid_request"]
    assert "known types" in error["details"][0]["message"]
    assert snapshot(broker) == before
    # the valid idempotency key of index 4 was not claimed by the rejected batch
    ok = client.post("/tasks", json={"type": "echo", "idempotency_key": "k1"})
    assert ok.status_code == 202 and ok.get_json()["created"] is True


def test_ids_that_name_other_keys_are_unknown_not_server_errors(client: FlaskClient, broker: Broker) -> None:
    """task:<id>:events is a list; reading it as a task hash must be a 404, not WRONGTYPE (500)."""
    task_id = client.post("/tasks", json={"type": "echo"}).get_json()["id"]
    before = snapshot(broker)
    for method, path in [("GET", f"/tasks/{task_id}:events"), ("DELETE", f"/tasks/{task_id}:events"),
                         ("POST", f"/dlq/{task_id}:events/retry")]:
        assert_error(client.open(path, method=method, json={}), 404, "not_found", "no task with id")
    assert snapshot(broker) == before


def test_valid_requests_after_the_rejected_ones_still_work(client: FlaskClient, broker: Broker) -> None:
    for method, path, kwargs, *_ in CASES:
        client.open(path, method=method, **kwargs)
    response = client.post("/tasks", json={"type": "process", "data": "Hello World"})
    assert response.status_code == 202
    assert broker.stats()["submitted"] == 1


# --- the same through a real gunicorn gateway ---------------------------------------------------

@pytest.fixture
def small_gateway(broker: Broker, spawn: Callable[..., Process]) -> Iterator[tuple[str, Process]]:
    """A gunicorn gateway with a 4 KiB payload limit and batches of at most 5."""
    port = free_port()
    proc = spawn("system.gateway", name="gateway-small", gateway_port=port, gateway_host="127.0.0.1",
                 gateway_workers=1, max_payload_bytes=4096, max_batch=5)
    yield wait_for_gateway(f"http://127.0.0.1:{port}"), proc


def test_real_gateway_rejects_bad_input_and_survives(small_gateway: tuple[str, Process], broker: Broker) -> None:
    url, proc = small_gateway
    before = snapshot(broker)
    with requests.Session() as http:
        cases = [
            (http.post(url + "/tasks", data="{oops", headers={"Content-Type": JSON}), 400, "malformed_json"),
            (http.post(url + "/tasks", data='{"type":"echo"}', headers={"Content-Type": "text/plain"}), 415,
             "unsupported_media_type"),
            (http.post(url + "/tasks", json={"type": "echo", "data": "x" * 5000}), 413, "payload_too_large"),
            (http.post(url + "/tasks/batch", json={"tasks": [{"type": "echo"}] * 6}), 413, "batch_too_large"),
            (http.post(url + "/tasks/batch", json={"tasks": [{"type": "echo"}, {"type": "x"}]}), 400,
             "invalid_batch"),
            (http.post(url + "/tasks", json={"type": "warp"}), 400, "unknown_type"),
            (http.get(url + "/tasks/ffff"), 404, "not_found"),
            (http.get(url + "/no/such/route"), 404, "not_found"),
            (http.delete(url + "/queues"), 405, "method_not_allowed"),
            (http.get(url + "/tasks?limit=%C2%B2"), 400, "invalid_request"),
            (http.post(url + "/tasks", data=DEEP[:4000] + "]" * 3000, headers={"Content-Type": JSON}), 413,
             "payload_too_large"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, (response.request.method, response.request.url,
                                                    response.text[:300])
            assert response.headers["Content-Type"].startswith(JSON)
            assert response.json()["error"]["code"] == code
        assert "4096 bytes" in cases[2][0].json()["error"]["message"]
        assert snapshot(broker) == before
        # a chunked body has no Content-Length; it must be refused too, not silently cut at the limit
        chunked = http.post(url + "/tasks", data=iter([b'{"type": "echo", "data": "', b"x" * 5000, b'"}']),
                            headers={"Content-Type": JSON})
        assert chunked.status_code == 413, chunked.text
        assert snapshot(broker) == before
        # exactly at the limit is accepted, one byte more is not, with or without Content-Length
        def body(size: int) -> bytes:
            return b'{"type": "echo", "data": "' + b"x" * (size - 28) + b'"}'
        assert len(body(4096)) == 4096
        assert http.post(url + "/tasks", data=body(4097), headers={"Content-Type": JSON}).status_code == 413
        assert http.post(url + "/tasks", data=iter([body(4097)]), headers={"Content-Type": JSON}).status_code == 413
        assert http.post(url + "/tasks", data=body(4096), headers={"Content-Type": JSON}).status_code == 202
        assert http.post(url + "/tasks", data=iter([body(4096)]), headers={"Content-Type": JSON}).status_code == 202
    assert proc.proc.poll() is None, "the gateway exited"
    assert "Traceback" not in proc.output(), proc.output()[-3000:]


@pytest.mark.parametrize("module", ["system.gateway", "system.worker"])
def test_bad_configuration_exits_2_naming_the_variable(module: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GATEWAY_PORT": "http", "LEASE_TTL_MS": "-5"}
    done = subprocess.run([sys.executable, "-m", module], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert "GATEWAY_PORT='http'" in done.stderr and "expected a whole number" in done.stderr
    assert "LEASE_TTL_MS must be a positive number" in done.stderr
    assert "Traceback" not in done.stderr
