"""Tasks claimed into the prefetch buffer are leases like any other: a draining node hands
them back without running them, and one whose lease was lost is never started.

The node runs in this process with no task threads, so claims stay in its buffer.
"""

from __future__ import annotations

import pytest

from system.broker import Broker
from system.config import Settings
from system.handlers import REGISTRY, TaskType
from system.model import TaskSpec
from system.worker.node import WorkerNode


def sleep_specs(n: int) -> list[TaskSpec]:
    return [TaskSpec(type="sleep", data={"ms": 10}, priority="normal", max_retries=3, timeout=30.0)] * n


def test_a_stopping_node_hands_back_buffered_tasks_at_once(broker: Broker, settings: Settings) -> None:
    node = WorkerNode(settings.with_overrides(worker_id="w1", shutdown_grace_s=30.0), broker=broker)
    ids = [i for i, _ in broker.submit(sleep_specs(3))]
    for claim in broker.claim("w1", 3):
        node._start(claim)
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
    claim, = broker.claim("w1", 1)
    node._start(claim)
    node.lease_lost(task_id)
    node._ready.close(1)
    node._task_loop()
    assert not node.held() and node.info()["running"] == 0
    assert node._outcomes.empty()  # no result, not even a stale one, is reported


def test_a_handler_raising_system_exit_fails_its_task_and_the_slot_goes_on(
        broker: Broker, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def leave(data: object, ctx: object) -> None:
        raise SystemExit("bye")

    monkeypatch.setitem(REGISTRY, "leave", TaskType("leave", leave, lambda data: None, "test: exits"))
    node = WorkerNode(settings.with_overrides(worker_id="w1"), broker=broker)
    broker.submit([TaskSpec(type="leave", data=None, priority="normal", max_retries=0, timeout=30.0),
                   *sleep_specs(1)])
    for claim in broker.claim("w1", 2):
        node._start(claim)
    node._ready.close(1)
    node._task_loop()  # runs both, then returns on close: the exit did not end the thread
    outcomes = [node._outcomes.get_nowait() for _ in range(2)]
    assert [o.ok for o in outcomes] == [False, True]
    assert outcomes[0].payload == "SystemExit: bye"
    assert node.info()["running"] == 0
