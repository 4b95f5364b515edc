"""Workers survive every broker error, and a stuck loop shows in /health.

Each test runs its own redis-server, because it breaks it for real: `maxmemory` with
noeviction (OOM), or a failed BGSAVE with `stop-writes-on-bgsave-error` (MISCONF, made by
removing the server's directory from under it, which stops even root). A worker process
runs tasks through the fault; after the fault is lifted every task must complete, no thread
may have died, and submits during the fault got 507 / 503 with Retry-After, never 500.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests

from system.broker import Broker
from system.config import Settings
from system.model import parse_task
from tests.support.outcomes import assert_delivered, wait_final
from tests.support.servers import Process, RedisServer, free_port, wait_for_gateway, wait_until

SUBMIT = {"type": "echo", "data": "during the fault"}


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    os.makedirs(server.dir.name, exist_ok=True)  # the MISCONF test removed it
    server.stop()


@pytest.fixture
def system(own_redis: RedisServer) -> Iterator[tuple[Settings, Broker, Callable[..., Process]]]:
    settings = Settings(redis_url=own_redis.url, lease_ttl_ms=1500, heartbeat_interval_ms=300,
                        worker_ttl_ms=1500, reaper_interval_ms=200, leader_ttl_ms=1000,
                        retry_base_ms=50, retry_max_ms=400, shutdown_grace_s=3.0, worker_stall_ms=2500)
    broker = Broker(settings)
    started: list[Process] = []

    def spawn(module: str, name: str, extra_env: dict[str, str] | None = None, **overrides: Any) -> Process:
        proc = Process(module, {**settings.with_overrides(**overrides).env(), **(extra_env or {})}, name=name)
        started.append(proc)
        return proc

    yield settings, broker, spawn
    for proc in started:
        proc.stop()
    broker.client.close()


def _gateway(spawn: Callable[..., Process]) -> str:
    port = free_port()
    # back-pressure off (gateway-capacity): these tests reach Redis's own refusal and its mapping
    spawn("system.gateway", "gateway", gateway_port=port, gateway_host="127.0.0.1", gateway_workers=1,
          submit_memory_budget=0)
    return wait_for_gateway(f"http://127.0.0.1:{port}")


def _submit_sleeps(broker: Broker, n: int, ms: int) -> list[str]:
    specs = [parse_task({"type": "sleep", "data": {"ms": ms}}, default_max_retries=3, default_timeout=30.0)
             for _ in range(n)]
    return [task_id for task_id, _ in broker.submit(specs)]


def _through_fault(system: tuple[Settings, Broker, Callable[..., Process]], break_redis: Callable[[redis.Redis], None],
                   heal: Callable[[redis.Redis], None], status: int, code: str) -> None:
    """Tasks run while Redis refuses writes; then heal: all complete, no thread died."""
    settings, broker, spawn = system
    url = _gateway(spawn)
    worker = spawn("system.worker", "w1", worker_id="w1", worker_concurrency=4)
    wait_until(lambda: requests.get(url + "/health", timeout=2).status_code == 200, timeout=20,
               message="the worker to register")
    ids = _submit_sleeps(broker, 40, 100)
    wait_until(lambda: broker.stats()["completed"] >= 4, timeout=20, message="tasks to start completing")
    admin = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        break_redis(admin)
        # "Exception in thread" is how the acker died before it caught every broker error
        wait_until(lambda: any(s in worker.output() for s in ("ack failed", "Exception in thread")), timeout=20,
                   message="an ack to hit the fault")
        answer = requests.post(url + "/tasks", json=SUBMIT, timeout=5)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == code
        assert int(answer.headers["Retry-After"]) >= 1
        health = requests.get(url + "/health", timeout=5)
        assert health.status_code != 500, health.text
    finally:
        heal(admin)
        admin.close()
    records = wait_final(broker, ids, timeout=40, statuses=("succeeded",))
    assert_delivered(records, statuses=("succeeded",))
    after = requests.post(url + "/tasks", json=SUBMIT, timeout=5)
    assert after.status_code == 202, after.text
    wait_until(lambda: requests.get(url + "/health", timeout=2).status_code == 200, timeout=20,
               message="/health to be ok again")
    assert worker.proc.poll() is None, worker.output()[-3000:]
    log = worker.output()
    assert "Exception in thread" not in log and "Traceback" not in log, log[-3000:]


def test_workers_survive_redis_out_of_memory(system: tuple[Settings, Broker, Callable[..., Process]]) -> None:
    def squeeze(admin: redis.Redis) -> None:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)  # below what is used: every write that needs memory fails

    _through_fault(system, squeeze, lambda admin: admin.config_set("maxmemory", 0), 507, "redis_out_of_memory")


def test_workers_survive_redis_refusing_writes(system: tuple[Settings, Broker, Callable[..., Process]],
                                               own_redis: RedisServer) -> None:
    def misconf(admin: redis.Redis) -> None:
        admin.config_set("save", "3600 1")
        admin.config_set("stop-writes-on-bgsave-error", "yes")
        shutil.rmtree(own_redis.dir.name)  # the snapshot cannot be written, whoever runs Redis
        admin.bgsave()
        wait_until(lambda: admin.info("persistence")["rdb_last_bgsave_status"] == "err", timeout=10,
                   message="the BGSAVE to fail")

    def heal(admin: redis.Redis) -> None:
        admin.config_set("stop-writes-on-bgsave-error", "no")

    _through_fault(system, misconf, heal, 503, "redis_refuses_writes")


def test_a_stuck_acker_degrades_health_and_its_tasks_run_elsewhere(
        system: tuple[Settings, Broker, Callable[..., Process]]) -> None:
    settings, broker, spawn = system
    url = _gateway(spawn)
    spawn("system.worker", "stuck", {"TQ_STALL_LOOP": "ack"}, worker_id="stuck", worker_concurrency=2)
    wait_until(lambda: requests.get(url + "/health", timeout=2).status_code == 200, timeout=20,
               message="the worker to register")
    ids = _submit_sleeps(broker, 4, 10)

    def degraded() -> dict[str, Any] | None:
        answer = requests.get(url + "/health", timeout=2)
        return answer.json() if answer.status_code == 503 else None

    body = wait_until(degraded, timeout=20, message="/health to report the stuck acker")
    assert body["status"] == "degraded" and body["stalled"] == {"stuck": ["ack"]}, body
    assert "stuck (ack)" in body["reason"]
    stuck, = requests.get(url + "/workers", timeout=2).json()["workers"]
    assert stuck["stalled"] == ["ack"] and stuck["loops"]["ack"] > 2.5 and stuck["loops"]["claim"] < 2.5
    assert stuck["status"] == "degraded"
    # its leases are no longer extended: a healthy node runs the tasks
    spawn("system.worker", "w2", worker_id="w2", worker_concurrency=2)
    records = wait_final(broker, ids, timeout=30, statuses=("succeeded",))
    assert {r["worker"] for r in records} == {"w2"}
    assert all(any(e["event"] == "lease_expired" and e["worker"] == "stuck" for e in r["events"])
               for r in records)


def test_long_tasks_are_not_prefetched_behind_a_busy_node_while_another_is_idle(
        system: tuple[Settings, Broker, Callable[..., Process]]) -> None:
    settings, broker, spawn = system
    # a deep prefetch, and a running mean learned from short tasks: the case that held 8 + 32
    spawn("system.worker", "a", worker_id="a", worker_concurrency=2, worker_prefetch_ms=500)
    warm = broker.submit([parse_task({"type": "echo", "data": i}, default_max_retries=0, default_timeout=30.0)
                          for i in range(30)])
    wait_final(broker, [task_id for task_id, _ in warm], timeout=20)
    ids = _submit_sleeps(broker, 8, 4000)

    def held_by(worker: str) -> list[dict[str, Any]]:
        return [r for r in broker.get_many(ids) if r["status"] in ("reserved", "running") and r["worker"] == worker]

    wait_until(lambda: len(held_by("a")) > 2, timeout=10, message="a to prefetch sleeps behind its 2 slots")
    spawn("system.worker", "b", worker_id="b", worker_concurrency=2)
    # well before a's first sleeps end (4 s), b runs two of them: a handed back what waited
    wait_until(lambda: [r["status"] for r in held_by("b")] == ["running", "running"], timeout=3,
               message="the idle node to get work while the busy one holds prefetched tasks")
    assert [r["status"] for r in held_by("a")] == ["running", "running"]
    records = wait_final(broker, ids, timeout=40, statuses=("succeeded",))
    assert_delivered(records, statuses=("succeeded",))
    released = [e for r in broker.get_many(ids, events=True) for e in r["events"] if e["event"] == "released"]
    assert released and all(e["worker"] == "a" and e["detail"] == "prefetched behind busy slots" for e in released)
