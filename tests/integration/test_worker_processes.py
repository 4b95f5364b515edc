"""Real `python -m system.worker` processes killed, frozen and stopped (issue 2, "Tests").

Timings come from the `settings` fixture (lease 1.5 s, reaper 0.2 s, leader 1 s, worker TTL
1.5 s, grace 3 s); every bound below is stated in those terms plus a margin for this machine.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from system.broker import Broker
from system.config import Settings
from system.model import TaskSpec, parse_task
from tests.support.outcomes import assert_delivered, events, wait_final
from tests.support.servers import Process, wait_until

MARGIN = 1.5  # seconds: process scheduling on a busy 2-core machine


def sleep_task(ms: int, **fields: Any) -> TaskSpec:
    return parse_task({"type": "sleep", "data": {"ms": ms}, **fields}, default_max_retries=3,
                      default_timeout=30.0)


def start_workers(spawn: Callable[..., Process], broker: Broker, *names: str,
                  concurrency: int = 4) -> dict[str, Process]:
    procs = {n: spawn("system.worker", name=n, worker_id=n, worker_concurrency=concurrency) for n in names}
    wait_until(lambda: {w["id"] for w in broker.workers()[0]} >= set(names), timeout=10,
               message=f"workers {names} to register")
    return procs


def running_on(broker: Broker, ids: list[str], worker: str) -> list[str]:
    return [r["id"] for r in broker.get_many(ids) if r["status"] in ("reserved", "running") and r["worker"] == worker]


def redis_now(broker: Broker) -> float:
    seconds, micros = broker.client.time()
    return seconds + micros / 1e6


def live_ids(broker: Broker) -> set[str]:
    return {w["id"] for w in broker.workers()[0]}


def test_sigkill_mid_task_reruns_its_tasks_elsewhere_in_time(
        spawn: Callable[..., Process], broker: Broker, settings: Settings) -> None:
    procs = start_workers(spawn, broker, "w1", "w2", "w3")
    ids = [i for i, _ in broker.submit([sleep_task(400) for _ in range(30)])]
    held = wait_until(lambda: running_on(broker, ids, "w1"), timeout=10, message="w1 to run a task")
    procs["w1"].signal(signal.SIGKILL)
    killed_at = redis_now(broker)

    records = wait_final(broker, ids, timeout=20)
    assert_delivered(records, statuses=("succeeded",))
    by_id = {r["id"]: r for r in records}
    bound = (settings.lease_ttl_ms + settings.reaper_interval_ms) / 1000 + MARGIN
    for task_id in held:
        expired = [e for e in events(by_id[task_id], "lease_expired") if e["worker"] == "w1"]
        assert expired, f"{task_id} was running on w1 when it died but no lease expired"
        assert expired[0]["t"] - killed_at <= bound
        assert by_id[task_id]["worker"] in ("w2", "w3")
    # the dead worker leaves the registry within its TTL, and workers:active at the next prune
    wait_until(lambda: "w1" not in live_ids(broker), timeout=settings.worker_ttl_ms / 1000 + MARGIN,
               message="w1 to disappear from the registry")
    wait_until(lambda: "w1" not in broker.client.smembers(broker.keys.workers_active),
               timeout=2 * settings.worker_ttl_ms / 1000 + MARGIN, message="w1 to be pruned")


@pytest.mark.parametrize("thaw", ["after_rerun", "during_rerun"])
def test_sigstop_zombie_late_ack_is_stale(thaw: str, spawn: Callable[..., Process], broker: Broker) -> None:
    zombie = start_workers(spawn, broker, "w1", concurrency=1)["w1"]
    task_id, = [i for i, _ in broker.submit([sleep_task(1000)])]
    wait_until(lambda: running_on(broker, [task_id], "w1"), timeout=10, message="w1 to claim")
    zombie.signal(signal.SIGSTOP)
    try:
        start_workers(spawn, broker, "w2")
        if thaw == "during_rerun":  # the zombie's ack then races the new attempt: fencing decides
            wait_until(lambda: running_on(broker, [task_id], "w2"), timeout=15, message="w2 to claim")
        else:
            wait_final(broker, [task_id], timeout=15)
    finally:
        zombie.signal(signal.SIGCONT)
    wait_final(broker, [task_id], timeout=10)
    wait_until(lambda: events(broker.get(task_id), "stale_ack"), timeout=10, message="w1's late ack")
    record = broker.get(task_id)
    assert_delivered([record], statuses=("succeeded",))
    assert (record["worker"], record["token"]) == ("w2", 2)
    stale, = events(record, "stale_ack")
    expired, = events(record, "lease_expired")
    assert (stale["worker"], stale["token"]) == ("w1", 1) == (expired["worker"], expired["token"])
    assert broker.stats()["stale_acks"] == 1 and zombie.proc.poll() is None
    wait_until(lambda: "w1" in live_ids(broker), timeout=5, message="the thawed worker to re-register")


def test_sigterm_finishes_in_flight_hands_back_the_rest_and_deregisters(
        spawn: Callable[..., Process], broker: Broker, settings: Settings) -> None:
    worker = start_workers(spawn, broker, "w1")["w1"]
    short = [i for i, _ in broker.submit([sleep_task(1200) for _ in range(2)])]
    long = [i for i, _ in broker.submit([sleep_task(60_000) for _ in range(2)])]
    wait_until(lambda: len(running_on(broker, short + long, "w1")) == 4, timeout=10, message="4 claimed")
    # claimed is not started: a task still in the prefetch buffer at SIGTERM is handed back
    wait_until(lambda: [w["running"] for w in broker.workers()[0]] == [4], timeout=10,
               message="4 handlers running, as w1's heartbeat reports")
    worker.signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    late, = [i for i, _ in broker.submit([sleep_task(10)])]
    wait_until(lambda: worker.proc.poll() is not None, timeout=settings.shutdown_grace_s + MARGIN,
               message="w1 to exit within its grace period after SIGTERM")
    assert worker.proc.returncode == 0, worker.output()[-2000:]
    assert time.monotonic() - stopped_at >= settings.shutdown_grace_s - 0.5  # it used its grace
    assert "w1" not in broker.client.smembers(broker.keys.workers_active)
    assert live_ids(broker) == set() and broker.workers()[1] is None
    assert [r["status"] for r in broker.get_many(short)] == ["succeeded", "succeeded"]
    for record in broker.get_many(long, events=True):
        assert record["status"] == "queued"
        released, = events(record, "released")
        assert (released["worker"], released["token"]) == ("w1", 1)
    assert broker.get(late)["status"] == "queued" and not events(broker.get(late), "claimed")
    assert broker.queue_depths()["leased"] == 0


def test_leader_dies_and_another_takes_over(spawn: Callable[..., Process], broker: Broker,
                                            settings: Settings, gateway_url: str) -> None:
    procs = start_workers(spawn, broker, "w1", "w2", "w3")
    leader = wait_until(lambda: broker.workers()[1], timeout=5, message="a leader")
    procs[leader].signal(signal.SIGKILL)
    killed = time.monotonic()
    successor = wait_until(lambda: (broker.workers()[1] or leader) != leader and broker.workers()[1],
                           timeout=(settings.leader_ttl_ms + settings.reaper_interval_ms) / 1000 + MARGIN,
                           message="another worker to lead")
    assert successor in procs and time.monotonic() - killed <= settings.leader_ttl_ms / 1000 + 2 * MARGIN

    def shown() -> dict[str, Any] | None:
        body = requests.get(gateway_url + "/workers", timeout=2).json()
        return body if body["leader"] == successor and leader not in {w["id"] for w in body["workers"]} else None
    body = wait_until(shown, timeout=settings.worker_ttl_ms / 1000 + MARGIN, message="/workers to show it")
    assert [w["id"] for w in body["workers"] if w["leader"]] == [successor]
    # the new leader does the duties: a task held by nobody is re-queued and completed
    task_id, = [i for i, _ in broker.submit([sleep_task(10)])]
    assert_delivered(wait_final(broker, [task_id], timeout=10), statuses=("succeeded",))


def test_task_timeout_fails_the_attempt_then_retries_and_dies(
        spawn: Callable[..., Process], broker: Broker) -> None:
    start_workers(spawn, broker, "w1")
    slow, = [i for i, _ in broker.submit([sleep_task(20_000, timeout=0.5, max_retries=1)])]
    flaky, = [i for i, _ in broker.submit([parse_task({"type": "fail", "data": {"times": 1}},
                                                      default_max_retries=2, default_timeout=5.0)])]
    records = {r["id"]: r for r in wait_final(broker, [slow, flaky], timeout=15)}
    assert_delivered(records.values())
    dead = records[slow]
    assert (dead["status"], dead["attempts"], dead["failures"]) == ("dead", 2, 2)
    assert all("timed out after 0.5s" in e["detail"] for e in events(dead, "failed"))
    assert len(events(dead, "retry_scheduled")) == 1 and len(events(dead, "dead")) == 1
    assert (records[flaky]["status"], records[flaky]["attempts"]) == ("succeeded", 2)


def test_burst_mode_drains_the_queues_and_exits(spawn: Callable[..., Process], broker: Broker) -> None:
    ids = [i for i, _ in broker.submit([sleep_task(50) for _ in range(10)] +
                                       [parse_task({"type": "fail", "data": {"times": 1}},
                                                   default_max_retries=1, default_timeout=5.0)])]
    worker = spawn("system.worker", "--burst", name="burst", worker_id="burst")
    wait_until(lambda: worker.proc.poll() is not None, timeout=15, message="the burst worker to exit")
    assert worker.proc.returncode == 0, worker.output()[-2000:]
    assert_delivered(broker.get_many(ids, events=True), statuses=("succeeded",))  # the retry included
    assert live_ids(broker) == set() and broker.workers()[1] is None
