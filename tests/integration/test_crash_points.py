"""No task is lost if a worker dies between any two steps of claim -> run -> ack.

A worker started with the test hook `TQ_CRASH_AT=<point>` (system/worker/node.py) exits with
status 137 at that point, as if SIGKILLed; healthy workers started afterwards must complete
every task exactly once, and every re-run must be explained by a lease expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from system.broker import Broker
from system.config import Settings
from system.model import parse_task
from tests.support.outcomes import assert_delivered, events, wait_final
from tests.support.servers import Process, wait_until


@pytest.fixture
def start(settings: Settings) -> Iterator[Callable[..., Process]]:
    """Start a worker process with extra environment (the crash hook); all are killed at the end."""
    started: list[Process] = []

    def _start(worker_id: str, **extra_env: str) -> Process:
        env = settings.with_overrides(worker_id=worker_id, worker_concurrency=8).env()
        proc = Process("system.worker", {**env, **extra_env}, name=worker_id)
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        proc.stop()


@pytest.mark.parametrize("point", ["after_claim", "before_ack", "after_ack"])
def test_a_worker_dying_at_any_point_loses_no_task(point: str, start: Callable[..., Process],
                                                   broker: Broker, settings: Settings) -> None:
    quick = [{"type": "echo", "data": i} for i in range(4)]
    slow = [{"type": "sleep", "data": {"ms": 800}} for _ in range(2)]  # still running at the first ack
    specs = [parse_task(body, default_max_retries=3, default_timeout=30.0) for body in quick + slow]
    ids = [task_id for task_id, _ in broker.submit(specs)]

    crasher = start("crasher", TQ_CRASH_AT=point)
    wait_until(lambda: crasher.proc.poll() is not None, timeout=10, message=f"the worker to crash {point}")
    assert crasher.proc.returncode == 137, crasher.output()[-2000:]
    start("w1")
    start("w2")

    lease = (settings.lease_ttl_ms + settings.leader_ttl_ms + settings.reaper_interval_ms) / 1000
    records = wait_final(broker, ids, timeout=lease + 10)
    assert_delivered(records, statuses=("succeeded",))
    claimed = [r for r in records if any(e["worker"] == "crasher" for e in events(r, "claimed"))]
    assert len(claimed) == len(ids), "the crashing worker should have claimed the whole batch"
    by_crasher = [r for r in records if r["worker"] == "crasher"]
    rerun = [r for r in records if r["worker"] in ("w1", "w2")]
    for record in rerun:
        expired, = events(record, "lease_expired")
        assert expired["worker"] == "crasher"
    for record in by_crasher:  # acked before the crash: never run again
        assert len(events(record, "claimed")) == 1 and not events(record, "lease_expired")
    if point == "after_ack":
        assert by_crasher and rerun, "some tasks were acked before the crash and the slow ones not"
    else:
        assert len(rerun) == len(ids)
    assert broker.stats()["completed"] == len(ids) and broker.queue_depths()["leased"] == 0
