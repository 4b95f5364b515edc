"""The HTTP API end to end: a real gunicorn gateway, real worker processes, a real redis-server.

Starts with the seed's curl walkthrough, then each endpoint of docs/contracts.md.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from system.broker import Broker
from system.config import Settings
from system.gateway import create_app
from tests.support.servers import Process, RedisServer, free_port, wait_for_gateway, wait_until

WORKER_FIELDS = {"id", "host", "pid", "started_at", "last_heartbeat", "concurrency", "current", "processed",
                 "leader"}


@pytest.fixture(scope="module")
def shared_gateway(redis_server: RedisServer) -> Iterator[str]:
    """One gunicorn gateway for the module (starting one per test costs seconds on a busy machine).
    It only holds a connection pool, so the per-test FLUSHALL of the `broker` fixture isolates tests."""
    port = free_port()
    env = Settings(redis_url=redis_server.url, gateway_host="127.0.0.1", gateway_port=port, gateway_workers=1).env()
    proc = Process("system.gateway", env, name="gateway-api")
    url = f"http://127.0.0.1:{port}"
    try:
        yield wait_for_gateway(url)
        assert proc.proc.poll() is None and "Traceback" not in proc.output(), proc.output()[-3000:]
    finally:
        proc.stop()


@pytest.fixture
def url(broker: Broker, shared_gateway: str) -> str:
    """The shared gateway, on a flushed Redis."""
    return shared_gateway


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def submit(http: requests.Session, url: str, body: dict, **headers: str) -> dict:
    response = http.post(url + "/tasks", json=body, headers=headers, timeout=5)
    assert response.status_code in (200, 202), response.text
    return response.json()


def task(http: requests.Session, url: str, task_id: str) -> dict:
    response = http.get(f"{url}/tasks/{task_id}", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def wait_status(http: requests.Session, url: str, task_id: str, *statuses: str, timeout: float = 10) -> dict:
    return wait_until(lambda: (r := task(http, url, task_id))["status"] in statuses and r, timeout=timeout,
                      message=f"task {task_id} to be {'/'.join(statuses)}")


def start_workers(spawn: Callable[..., Process], http: requests.Session, url: str, n: int) -> list[Process]:
    procs = [spawn("system.worker", name=f"worker-{i}", worker_id=f"worker-{i}") for i in range(1, n + 1)]
    wait_until(lambda: (b := http.get(url + "/workers", timeout=2).json())["count"] == n and b["leader"],
               timeout=15, message=f"{n} workers and a leader in /workers")
    return procs


def test_seed_walkthrough(url: str, spawn: Callable[..., Process],
                          http: requests.Session) -> None:
    procs = start_workers(spawn, http, url, 3)

    accepted = http.post(url + "/tasks", json={"type": "process", "data": "Hello World"}, timeout=5)
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "queued" and body["created"] is True and body["priority"] == "normal"
    task_id = body["id"]

    record = wait_status(http, url, task_id, "succeeded")
    assert record["result"]["upper"] == "HELLO WORLD" and record["result"]["length"] == 11
    assert record["worker"] in {"worker-1", "worker-2", "worker-3"}
    assert record["attempts"] == 1 and record["error"] is None and record["data"] == "Hello World"
    assert record["submitted_at"] <= record["claimed_at"] <= record["started_at"] <= record["finished_at"]
    assert abs(record["submitted_at"] - time.time()) < 60  # epoch seconds, not ms
    assert [e["event"] for e in record["events"]] == ["submitted", "claimed", "started", "succeeded"]
    assert record["events"][1]["worker"] == record["worker"]

    health = http.get(url + "/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["workers"] == 3
    assert health.json()["redis"]["ok"] is True
    assert set(health.json()["queues"]) == {"high", "normal", "low", "leased", "delayed", "dead"}

    listed = http.get(url + "/tasks", timeout=5).json()
    assert [t["id"] for t in listed["tasks"]] == [task_id]
    assert listed["tasks"][0]["status"] == "succeeded"

    workers = http.get(url + "/workers", timeout=5).json()
    assert {w["id"] for w in workers["workers"]} == {"worker-1", "worker-2", "worker-3"}
    assert {w["pid"] for w in workers["workers"]} == {p.pid for p in procs}
    for worker in workers["workers"]:
        assert set(worker) >= WORKER_FIELDS
        assert isinstance(worker["current"], list) and worker["concurrency"] == 8
        assert worker["started_at"] <= worker["last_heartbeat"] <= time.time() + 1
    assert [w["id"] for w in workers["workers"] if w["leader"]] == [workers["leader"]]
    wait_until(lambda: sum(w["processed"] for w in http.get(url + "/workers", timeout=2).json()["workers"]) == 1,
               timeout=5, message="the processed count to reach /workers")


def test_submit_options_are_stored(url: str, http: requests.Session) -> None:
    body = submit(http, url, {"type": "sleep", "data": {"ms": 5}, "priority": "high", "max_retries": 0,
                                      "timeout": 2.5})
    assert body["priority"] == "high"
    record = task(http, url, body["id"])
    assert (record["type"], record["data"], record["priority"], record["max_retries"], record["timeout"]) == \
        ("sleep", {"ms": 5}, "high", 0, 2.5)
    assert record["status"] == "queued" and record["started_at"] is None and record["worker"] is None
    assert http.get(url + "/queues", timeout=5).json()["high"] == 1
    defaults = task(http, url, submit(http, url, {"type": "echo"})["id"])
    assert (defaults["priority"], defaults["max_retries"], defaults["timeout"]) == ("normal", 3, 300.0)
    assert "POST /tasks" in http.get(url + "/", timeout=5).json()["endpoints"]
    assert {"process", "sleep", "cpu", "fail", "echo"} <= set(http.get(url + "/types", timeout=5).json())


def test_idempotency_key_gives_the_same_task_and_no_second_copy(url: str,
                                                                 http: requests.Session) -> None:
    first = http.post(url + "/tasks", json={"type": "echo", "data": 1},
                      headers={"Idempotency-Key": "order-42"}, timeout=5)
    again = http.post(url + "/tasks", json={"type": "echo", "data": 1},
                      headers={"Idempotency-Key": "order-42"}, timeout=5)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["created"] is True and again.json()["created"] is False
    assert again.json()["id"] == first.json()["id"]
    other = submit(http, url, {"type": "echo", "data": 1}, **{"Idempotency-Key": "order-43"})
    assert other["id"] != first.json()["id"]
    assert http.get(url + "/queues", timeout=5).json()["normal"] == 2
    assert http.get(url + "/stats", timeout=5).json()["submitted"] == 2
    assert task(http, url, first.json()["id"])["idempotency_key"] == "order-42"


def test_batch_submit(url: str, http: requests.Session) -> None:
    priorities = ["high", "normal", "low"]
    tasks: list[dict[str, Any]] = [{"type": "echo", "data": i, "priority": priorities[i % 3]} for i in range(30)]
    tasks += [{"type": "echo", "data": "a", "idempotency_key": "dup"}] * 2
    response = http.post(url + "/tasks/batch", json={"tasks": tasks}, timeout=5)
    assert response.status_code == 202
    results = response.json()["tasks"]
    assert len(results) == 32
    assert len({r["id"] for r in results[:30]}) == 30 and all(r["created"] for r in results[:31])
    assert results[31] == {"id": results[30]["id"], "status": "exists", "created": False}
    assert http.get(url + "/queues", timeout=5).json() == \
        {"high": 10, "normal": 11, "low": 10, "leased": 0, "delayed": 0, "dead": 0}
    assert http.get(url + "/stats", timeout=5).json()["submitted"] == 31
    assert task(http, url, results[7]["id"])["data"] == 7


def test_list_filters_and_pagination(url: str, http: requests.Session) -> None:
    echo = [submit(http, url, {"type": "echo", "data": i})["id"] for i in range(7)]
    sleep = [submit(http, url, {"type": "sleep", "data": {"ms": 1}})["id"] for _ in range(3)]
    for task_id in echo[:2]:
        assert http.delete(f"{url}/tasks/{task_id}", timeout=5).status_code == 200

    def ids(query: str) -> list[str]:
        body = http.get(f"{url}/tasks?{query}", timeout=5).json()
        assert body["count"] == len(body["tasks"])
        return [t["id"] for t in body["tasks"]]

    assert set(ids("type=sleep")) == set(sleep)
    assert set(ids("status=cancelled")) == set(echo[:2])
    assert set(ids("status=queued&type=echo")) == set(echo[2:])
    assert ids("status=succeeded") == []
    everything = ids("limit=1000")
    assert set(everything) == set(echo + sleep) and len(everything) == 10
    assert everything[0] == sleep[-1]  # newest first

    pages, cursor = [], 0
    for _ in range(20):
        body = http.get(f"{url}/tasks?limit=3&cursor={cursor}", timeout=5).json()
        assert len(body["tasks"]) <= 3
        pages += [t["id"] for t in body["tasks"]]
        if body["next_cursor"] is None or not body["tasks"]:
            break
        cursor = body["next_cursor"]
    assert pages == everything  # every task exactly once, in the same order

    filtered, cursor = [], 0
    while cursor is not None:
        body = http.get(f"{url}/tasks?type=echo&status=queued&limit=2&cursor={cursor}", timeout=5).json()
        filtered += [t["id"] for t in body["tasks"]]
        cursor = body["next_cursor"] if body["tasks"] else None
    assert sorted(filtered) == sorted(echo[2:]) and len(filtered) == 5


def test_cancel(url: str, spawn: Callable[..., Process], http: requests.Session) -> None:
    queued = submit(http, url, {"type": "echo", "data": "x"})["id"]
    response = http.delete(f"{url}/tasks/{queued}", timeout=5)
    assert response.status_code == 200 and response.json() == {"id": queued, "status": "cancelled"}
    record = task(http, url, queued)
    assert record["status"] == "cancelled" and record["events"][-1]["event"] == "cancelled"
    assert record["finished_at"] is not None
    assert http.get(url + "/queues", timeout=5).json()["normal"] == 0
    again = http.delete(f"{url}/tasks/{queued}", timeout=5)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert "cancelled" in again.json()["error"]["message"]
    assert http.delete(f"{url}/tasks/{'0' * 32}", timeout=5).status_code == 404

    start_workers(spawn, http, url, 1)
    running = submit(http, url, {"type": "sleep", "data": {"ms": 3000}})["id"]
    wait_status(http, url, running, "running")
    late = http.delete(f"{url}/tasks/{running}", timeout=5)
    assert late.status_code == 409 and "running" in late.json()["error"]["message"]
    assert http.get(url + "/stats", timeout=5).json()["cancelled"] == 1


def test_dead_letter_queue_and_redrive(url: str, spawn: Callable[..., Process],
                                       http: requests.Session) -> None:
    start_workers(spawn, http, url, 1)
    # fails attempts 1 and 2; with max_retries 1 that is dead, and a re-drive (attempt 3) succeeds
    poison = submit(http, url, {"type": "fail", "data": {"times": 2}, "max_retries": 1})["id"]
    dead = wait_status(http, url, poison, "dead")
    assert dead["attempts"] == 2 and "attempt 2" in dead["error"]
    assert [e["event"] for e in dead["events"]] == ["submitted", "claimed", "started", "failed", "retry_scheduled",
                                                    "requeued", "claimed", "started", "failed", "dead"]
    dlq = http.get(url + "/dlq", timeout=5).json()
    assert dlq["total"] == 1 and [t["id"] for t in dlq["tasks"]] == [poison]
    assert http.get(url + "/queues", timeout=5).json()["dead"] == 1

    redriven = http.post(f"{url}/dlq/{poison}/retry", json={}, timeout=5)
    assert redriven.status_code == 202 and redriven.json() == {"id": poison, "status": "queued"}
    done = wait_status(http, url, poison, "succeeded")
    assert done["result"] == {"attempt": 3}
    assert "redriven" in [e["event"] for e in done["events"]]
    assert http.get(url + "/dlq", timeout=5).json()["total"] == 0
    stats = http.get(url + "/stats", timeout=5).json()
    assert (stats["dead"], stats["redriven"], stats["failed"], stats["completed"]) == (1, 1, 2, 1)

    not_dead = http.post(f"{url}/dlq/{poison}/retry", json={}, timeout=5)
    assert not_dead.status_code == 409 and "succeeded" in not_dead.json()["error"]["message"]
    assert http.post(f"{url}/dlq/{'f' * 32}/retry", json={}, timeout=5).status_code == 404


def test_metrics_are_prometheus_text(url: str, spawn: Callable[..., Process],
                                     http: requests.Session) -> None:
    start_workers(spawn, http, url, 1)
    ok = [submit(http, url, {"type": "echo", "data": i})["id"] for i in range(5)]
    poison = submit(http, url, {"type": "fail", "data": {"always": True}, "max_retries": 0})["id"]
    for task_id in ok:
        wait_status(http, url, task_id, "succeeded")
    wait_status(http, url, poison, "dead")
    response = http.get(url + "/metrics", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    def value(name: str, **labels: str) -> float:
        [sample] = [s for s in families[name].samples
                    if s.name in (name, name + "_total") and all(s.labels.get(k) == v for k, v in labels.items())]
        return sample.value

    assert families["taskqueue_submitted"].type == "counter"
    assert value("taskqueue_submitted") == 6
    assert value("taskqueue_completed") == 5
    assert (value("taskqueue_failed"), value("taskqueue_dead"), value("taskqueue_retried")) == (1, 1, 0)
    assert value("taskqueue_queue_depth", queue="dead") == 1
    assert value("taskqueue_workers") == 1

    latency = families["taskqueue_latency_seconds"]
    assert latency.type == "histogram"
    buckets = [(float(s.labels["le"]), s.value) for s in latency.samples if s.name.endswith("_bucket")]
    counts = [count for _, count in buckets]
    assert counts == sorted(counts) and buckets[-1][0] == float("inf")
    [count] = [s.value for s in latency.samples if s.name.endswith("_count")]
    [total] = [s.value for s in latency.samples if s.name.endswith("_sum")]
    assert count == counts[-1] == value("taskqueue_completed")
    assert 0 < total < count * 5  # seconds, not milliseconds


def test_health_is_503_without_workers(url: str, http: requests.Session) -> None:
    response = http.get(url + "/health", timeout=5)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["workers"] == 0 and "no live workers" in body["reason"]
    assert body["redis"]["ok"] is True


def ping(port: int) -> bool:
    with redis.Redis(port=port, socket_timeout=1) as client:
        return bool(client.ping())


class TestRedisOutage:
    """A gateway on its own redis-server, which the test stops and starts again on the same port."""

    @pytest.fixture
    def own_redis(self) -> Iterator[RedisServer]:
        server = RedisServer()
        yield server
        server.stop()

    @pytest.fixture
    def settings(self, settings: Settings, own_redis: RedisServer) -> Settings:
        return settings.with_overrides(redis_url=own_redis.url, redis_socket_timeout=1.0)

    def test_503_while_redis_is_down_and_recovery_when_it_returns(
            self, own_redis: RedisServer, gateway_url: str, http: requests.Session) -> None:
        url = gateway_url
        before = submit(http, url, {"type": "echo", "data": "before"})["id"]
        own_redis.proc.kill()
        own_redis.proc.wait()

        started = time.monotonic()
        health = http.get(url + "/health", timeout=10)
        assert health.status_code == 503
        assert health.json()["status"] == "down" and health.json()["redis"]["ok"] is False
        for method, path, body in [("POST", "/tasks", {"type": "echo"}), ("GET", "/tasks", None),
                                   ("GET", f"/tasks/{before}", None), ("GET", "/queues", None),
                                   ("GET", "/workers", None), ("GET", "/metrics", None), ("GET", "/dlq", None),
                                   ("POST", "/tasks/batch", {"tasks": [{"type": "echo"}]})]:
            response = http.request(method, url + path, json=body, timeout=10)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"]["code"] == "redis_unavailable"
            assert "Redis" in response.json()["error"]["message"]
        assert time.monotonic() - started < 10  # fails fast, does not hang

        restarted = subprocess.Popen(["redis-server", "--port", str(own_redis.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", own_redis.dir.name],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: ping(own_redis.port), timeout=10, message="redis-server to restart")
            wait_until(lambda: http.get(url + "/queues", timeout=5).status_code == 200, timeout=10,
                       message="the gateway to reconnect by itself")
            assert http.get(url + "/health", timeout=5).json()["status"] == "degraded"  # up, no workers
            after = http.post(url + "/tasks", json={"type": "echo", "data": "after"}, timeout=5)
            assert after.status_code == 202
            assert task(http, url, after.json()["id"])["data"] == "after"
        finally:
            restarted.terminate()
            restarted.wait(5)


class TestDurableAck:
    """DURABLE_ACK: 202 only once WAIT saw a replica hold the task; else 503 and a safe retry."""

    @pytest.fixture
    def primary(self) -> Iterator[RedisServer]:
        server = RedisServer("--repl-diskless-sync-delay", "0")  # the default waits 5 s for more replicas
        yield server
        server.stop()

    @pytest.fixture
    def settings(self, settings: Settings, primary: RedisServer) -> Settings:
        return settings.with_overrides(redis_url=primary.url)

    def test_503_without_a_replica_then_202_with_one(self, primary: RedisServer, broker: Broker,
                                                     settings: Settings) -> None:
        durable = settings.with_overrides(durable_ack=True, durable_ack_timeout_ms=100)
        client = create_app(durable, broker=Broker(durable)).test_client()
        lonely = client.post("/tasks", json={"type": "echo", "data": 1}, headers={"Idempotency-Key": "d1"})
        assert lonely.status_code == 503
        assert lonely.get_json()["error"]["code"] == "not_replicated"
        assert "Idempotency-Key" in lonely.get_json()["error"]["message"]

        replica = RedisServer("--replicaof", "127.0.0.1", str(primary.port))
        try:
            # Right after a full sync Redis counts the replica for WAIT only once it sent its first
            # periodic ACK (up to ~1 s): until then durable submits are correctly refused.
            wait_until(lambda: broker.client.set("probe", 1) and broker.client.wait(1, 100) == 1, timeout=10,
                       message="the replica to acknowledge writes")
            broker.client.delete("probe")
            # the retry with the same key finds the task the first attempt stored: no second copy
            retried = client.post("/tasks", json={"type": "echo", "data": 1}, headers={"Idempotency-Key": "d1"})
            assert retried.status_code == 200 and retried.get_json()["created"] is False
            fresh = client.post("/tasks", json={"type": "echo", "data": 2})
            assert fresh.status_code == 202 and fresh.get_json()["created"] is True
            assert broker.stats()["submitted"] == 2
        finally:
            replica.stop()
