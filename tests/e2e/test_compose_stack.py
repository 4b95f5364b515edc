"""The compose stack as a user meets it: the seed's curl walkthrough, health, proxies, scaling."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.stack import Stack, succeeded_events, wait_for

pytestmark = pytest.mark.docker


def test_seed_walkthrough_and_every_redis_link_through_its_own_proxy(stack: Stack) -> None:
    # curl -X POST localhost:5000/tasks -H 'Content-Type: application/json' -d '{...}'
    resp = stack.submit("process", "Hello World", priority="high")
    assert resp.status_code == 202, resp.text
    task_id = resp.json()["id"]
    assert resp.json()["status"] == "queued"

    health = stack.get("/health")
    assert health["status"] == "ok" and health["redis"]["ok"] is True
    assert health["redis"]["connected_replicas"] >= 1

    assert task_id in [t["id"] for t in stack.get("/tasks")["tasks"]]
    record = stack.wait_finished([task_id], timeout=30)[task_id]
    assert record["status"] == "succeeded" and len(succeeded_events(record)) == 1

    workers = stack.workers()
    assert set(workers) == {"worker-1", "worker-2", "worker-3"}, workers
    assert record["worker"] in workers

    proxies = stack.proxies()
    assert {"redis-gateway", "redis-worker-1", "redis-worker-2", "redis-worker-3"} <= set(proxies)
    primary = f"{stack.ip_of('redis')}:6379"
    assert all(p["upstream"] == primary for p in proxies.values()), proxies

    # The gateway really talks to Redis through `redis-gateway`: cut it, submits fail; heal, they work.
    stack.set_proxy_enabled("redis-gateway", False)
    try:
        assert stack.submit("echo", {"n": 1}).status_code == 503
    finally:
        stack.set_proxy_enabled("redis-gateway", True)
    wait_for("submits to work again after healing the gateway's proxy",
             lambda: stack.submit("echo", {"n": 2}).status_code == 202, timeout=15)


def test_scale_to_five_workers_adds_workers_that_take_tasks(stack: Stack) -> None:
    stack.up("--scale", "worker=5", "--no-recreate")
    wait_for("worker-4 and worker-5 in /workers",
             lambda: {"worker-4", "worker-5"} <= set(stack.workers()), timeout=30)
    assert {"redis-worker-4", "redis-worker-5"} <= set(stack.proxies())

    ids = [stack.submit("sleep", {"ms": 300}).json()["id"] for _ in range(120)]
    records = stack.wait_finished(ids, timeout=60)
    assert all(r["status"] == "succeeded" for r in records.values())
    by_worker: dict[str, int] = {}
    for record in records.values():
        by_worker[record["worker"]] = by_worker.get(record["worker"], 0) + 1
    assert {"worker-4", "worker-5"} <= set(by_worker), f"tasks per worker: {by_worker}"


def test_secrets_stay_out_of_docker_inspect_and_redis_runs_as_non_root(stack: Stack) -> None:
    import requests

    secrets = set(stack.secrets.values())
    for service in ("redis", "redis-replica", "sentinel-1", "gateway", "worker"):
        inspected = stack.docker("inspect", stack.container(service))
        assert not [s for s in secrets if s in inspected], f"a secret shows in docker inspect {service}"
    for service, program in (("redis", "redis-server"), ("sentinel-1", "redis-sentinel")):
        rows = [line.split() for line in stack.docker("top", stack.container(service), "-eo", "pid,user,comm")
                .splitlines() if program in line]
        assert rows and all(row[1] != "root" for row in rows), rows
    refused = requests.get(f"{stack.gateway}/tasks", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert set(requests.get(f"{stack.gateway}/health", timeout=10).json()) <= {"status", "redis", "workers", "reason"}
    # Sentinels refuse commands without their password
    out = subprocess.run(["docker", "exec", stack.container("sentinel-1"), "redis-cli", "-p", "26379", "sentinel",
                          "masters"], capture_output=True, text=True, timeout=30).stdout
    assert "NOAUTH" in out, out
