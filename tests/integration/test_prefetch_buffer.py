"""Tasks claimed into the prefetch buffer are leases like any other: a draining node hands
them back without running them, and one whose lease was lost is never started; and a full
buffer does not make a high-priority task wait behind it.

Most tests run the node in this process with no task threads, so claims stay in its buffer.
"""

from __future__ import annotations

import threading

import pytest

from system.broker import Broker
from system.config import Settings
from system.handlers import REGISTRY, TaskType
from system.model import TaskSpec
from system.worker.node import WorkerNode
from system.worker.prefetch import MAX_PER_SLOT
from tests.support.servers import wait_until


def sleep_specs(n: int) -> list[TaskSpec]:
    return [TaskSpec(type="sleep", data={"ms": 10}, priority="normal", max_retries=3, timeout=30.0)] * n


def test_a_stopping_node_hands_back_buffered_tasks_at_once(broker: Broker, settings: Settings) -> None:
    node = WorkerNode(settings.with_overrides(worker_id="w1", shutdown_grace_s=30.0), broker=broker)
    ids = [i for i, _ in broker.submit(sleep_specs(3))]
    node._hold(broker.claim("w1", 3))
    assert node.info()["prefetched"] == 3 and node.info()["running"] == 0
    node.stop()
    assert not node._unfinished()  # nothing started, so the drain does not wait its grace
    node._drain()
    node._ready.close(1)
    node._task_loop()  # a thread reaching the buffer now runs none of them
    records = broker.get_many(ids, events=True)
    assert [r["status"] for r in records] == ["queued"] * 3
    assert all(e["event"] != "succeeded" for r in records for e in r["events"])
    assert broker.queue_depths()["leased"] == 0 and not node.held()


def test_a_buffered_task_whose_lease_was_lost_is_dropped_not_run(broker: Broker, settings: Settings) -> None:
    node = WorkerNode(settings.with_overrides(worker_id="w1"), broker=broker)
    task_id, = [i for i, _ in broker.submit(sleep_specs(1))]
    node._hold(broker.claim("w1", 1))
    node.lease_lost(task_id)
    node._ready.close(1)
    node._task_loop()
    assert not node.held() and node.info()["running"] == 0
    assert node.outcomes.empty()  # no result, not even a stale one, is reported


def test_a_handler_raising_system_exit_fails_its_task_and_the_slot_goes_on(
        broker: Broker, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def leave(data: object, ctx: object) -> None:
        raise SystemExit("bye")

    monkeypatch.setitem(REGISTRY, "leave", TaskType("leave", leave, lambda data: None, "test: exits"))
    node = WorkerNode(settings.with_overrides(worker_id="w1"), broker=broker)
    broker.submit([TaskSpec(type="leave", data=None, priority="normal", max_retries=0, timeout=30.0),
                   *sleep_specs(1)])
    node._hold(broker.claim("w1", 2))
    node._ready.close(1)
    node._task_loop()  # runs both, then returns on close: the exit did not end the thread
    queued = [node.outcomes.get_nowait() for _ in range(4)]  # each task's start, then its outcome
    assert [type(item).__name__ for item in queued] == ["Start", "Outcome", "Start", "Outcome"]
    outcomes = queued[1::2]
    assert [o.ok for o in outcomes] == [False, True]
    assert outcomes[0].payload == "SystemExit: bye"
    assert node.info()["running"] == 0


def test_a_high_task_does_not_wait_behind_a_full_buffer(broker: Broker, settings: Settings) -> None:
    """One slot, 4 normal tasks buffered behind the running one. Without claims out of turn the
    high task would be claimed only once half the room is free (3 done) and then wait for the
    4th; the ack after the high is submitted reports it, so at most the running task and the
    one that slot took before that ack finish first."""
    node = WorkerNode(settings.with_overrides(worker_id="w1", worker_concurrency=1, worker_prefetch_ms=60_000),
                      broker=broker)
    normal = [TaskSpec(type="sleep", data={"ms": 60}, priority="normal", max_retries=0, timeout=30.0)] * 12
    normal_ids = [i for i, _ in broker.submit(normal)]
    runner = threading.Thread(target=node.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: node.info()["prefetched"] == MAX_PER_SLOT, timeout=10,
                   message="the node to fill its buffer")
        high_id, = [i for i, _ in broker.submit(
            [TaskSpec(type="sleep", data={"ms": 60}, priority="high", max_retries=0, timeout=30.0)])]
        high = wait_until(lambda: (r := broker.get(high_id))["status"] == "succeeded" and r, timeout=10,
                          message="the high task to finish")
    finally:
        node.stop()
        runner.join(timeout=10)
    ahead = [r for r in broker.get_many(normal_ids)
             if r["finished_at"] is not None and high["submitted_at"] < r["finished_at"] < high["finished_at"]]
    assert len(ahead) <= 2, f"{len(ahead)} normal tasks finished between the high's submit and its end"


def test_a_node_holds_no_prefetch_of_low_tasks_beyond_two_ms(broker: Broker, settings: Settings) -> None:
    """Lows are what everything outranks: with only lows queued the budget is 2 ms, so 60 ms
    tasks are claimed for the free slot only, whatever WORKER_PREFETCH_MS says."""
    node = WorkerNode(settings.with_overrides(worker_id="w1", worker_concurrency=1, worker_prefetch_ms=60_000),
                      broker=broker)
    broker.submit([TaskSpec(type="sleep", data={"ms": 60}, priority="low", max_retries=0, timeout=30.0)] * 6)
    runner = threading.Thread(target=node.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: node.processed >= 2, timeout=10, message="two low tasks to finish")
        assert node.info()["prefetched"] == 0
    finally:
        node.stop()
        runner.join(timeout=10)
