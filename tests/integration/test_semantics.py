"""Queue semantics against the broker API and a real redis-server (issue 2, "Semantics").

Recovery paths are forced with short leases and TTLs (a second Broker on the same client with
overridden settings), and every wait polls a condition with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from system.broker import Broker, Claim, Outcome
from system.errors import Conflict, IdempotencyConflict, NotFound
from system.model import TaskSpec, parse_task
from system.worker.execution import failure
from tests.support.servers import wait_until


def spec(kind: str = "echo", data: Any = "x", **fields: Any) -> TaskSpec:
    return parse_task({"type": kind, "data": data, **fields}, default_max_retries=3, default_timeout=30.0)


def submit(broker: Broker, *specs: TaskSpec) -> list[str]:
    return [task_id for task_id, _ in broker.submit(list(specs))]


def events(broker: Broker, task_id: str, name: str) -> list[dict[str, Any]]:
    return [e for e in broker.get(task_id)["events"] if e["event"] == name]


def ok(claim: Claim, result: str = '"done"') -> Outcome:
    return Outcome(id=claim.id, token=claim.token, ok=True, payload=result)


def err(claim: Claim, message: str = "boom", delay_ms: int = 0) -> Outcome:
    return Outcome(id=claim.id, token=claim.token, ok=False, payload=message, retry_delay_ms=delay_ms)


@pytest.fixture
def fast(broker: Broker) -> Iterator[Broker]:
    """The same Redis with leases, leadership and registrations that expire in a blink."""
    yield Broker(broker.settings.with_overrides(lease_ttl_ms=200, heartbeat_interval_ms=50,
                                                leader_ttl_ms=300, worker_ttl_ms=300),
                 client=broker.client)


def redis_now_ms(broker: Broker) -> int:
    seconds, micros = broker.client.time()
    return seconds * 1000 + micros // 1000


def lead(broker: Broker, worker: str = "leader") -> int:
    epoch = broker.elect(worker)
    assert epoch is not None, f"{worker} should be able to lead"
    return epoch


def expire_and_reap(broker: Broker, epoch: int, task_id: str) -> tuple[int, int, int]:
    """Wait for the lease of task_id to run out and let the leader reap it."""
    def reaped() -> tuple[int, int, int] | None:
        result = broker.reap(epoch)
        assert result is not None, "lost leadership while reaping"
        return result if result != (0, 0, 0) else None
    result = wait_until(reaped, timeout=5, message=f"the lease of {task_id} to expire and be reaped")
    assert broker.client.zscore(broker.keys.leases, task_id) is None
    return result


# --- ordering and claims ---------------------------------------------------------------
def test_strict_priority_then_fifo_within_a_level(broker: Broker) -> None:
    order = ["low", "normal", "high", "low", "high", "normal", "high"]
    ids = submit(broker, *(spec(data=i, priority=p) for i, p in enumerate(order)))
    expected = [ids[i] for p in ("high", "normal", "low") for i, q in enumerate(order) if q == p]
    one_by_one = [broker.claim("w", 1)[0].id for _ in range(3)]
    rest = [c.id for c in broker.claim("w", 10)]
    assert one_by_one + rest == expected
    assert broker.claim("w", 10) == []


def test_claims_and_acks_report_the_most_urgent_priority_still_queued(broker: Broker) -> None:
    low_ids = submit(broker, *(spec(data=i, priority="low") for i in range(3)))
    claims, top = broker.claim_and_peek("w", 1)
    assert [c.id for c in claims] == low_ids[:1] and top == "low"
    submit(broker, spec(priority="high"))
    verdicts, top = broker.finish_and_peek("w", [ok(claims[0])])
    assert verdicts == ["ok"] and top == "high"  # a busy worker learns of it on its next ack
    claims, top = broker.claim_and_peek("w", 10)
    assert len(claims) == 3 and top is None


def test_a_claim_can_cap_its_high_tasks_and_fill_the_rest_from_below(broker: Broker) -> None:
    highs = submit(broker, *(spec(data=i, priority="high") for i in range(4)))
    lows = submit(broker, *(spec(data=i, priority="low") for i in range(4)))
    claims, top = broker.claim_and_peek("w", 3, max_high=1)
    assert [c.id for c in claims] == [highs[0], *lows[:2]]
    assert top == "high"  # the other highs stay for nodes with free slots
    claims, top = broker.claim_and_peek("w", 10, up_to="high")
    assert [c.id for c in claims] == highs[1:] and top == "low"  # out-of-turn claims take highs only


def test_claim_leases_the_task_and_bumps_the_fencing_token(broker: Broker, fast: Broker) -> None:
    task_id, = submit(broker, spec())
    claim, = fast.claim("w1", 5)
    assert (claim.id, claim.token, claim.attempt) == (task_id, "1", 1)
    record = broker.get(task_id)
    assert (record["status"], record["worker"], record["token"]) == ("reserved", "w1", 1)
    assert broker.client.zscore(broker.keys.leases, task_id) is not None
    assert events(broker, task_id, "claimed") == [
        {"t": record["claimed_at"], "event": "claimed", "worker": "w1", "token": 1}]
    expire_and_reap(fast, lead(fast), task_id)
    again, = broker.claim("w2", 5)
    assert (again.token, again.attempt) == ("2", 2)


def test_a_batch_larger_than_one_lease_command_takes_is_leased_and_released_whole(broker: Broker) -> None:
    """Claims write their leases, and acks drop them, with one command per 1000 arguments."""
    ids = submit(broker, *[spec(data=i) for i in range(1500)])
    claims = broker.claim("w1", 1500)
    assert [c.id for c in claims] == ids and broker.client.zcard(broker.keys.leases) == 1500
    outcomes = [ok(c) if i % 2 else err(c) for i, c in enumerate(claims)]
    assert broker.finish("w1", outcomes) == ["retry" if i % 2 == 0 else "ok" for i in range(1500)]
    assert broker.client.zcard(broker.keys.leases) == 0 and broker.stats()["completed"] == 750


def test_late_finish_with_a_stale_token_is_recorded_not_applied(broker: Broker, fast: Broker) -> None:
    task_id, = submit(broker, spec())
    old, = fast.claim("w1", 1)
    expire_and_reap(fast, lead(fast), task_id)
    new, = broker.claim("w2", 1)
    assert broker.finish("w1", [ok(old, '"late"')]) == ["stale"]
    record = broker.get(task_id)
    assert (record["status"], record["worker"], record["result"]) == ("reserved", "w2", None)
    stale, = events(broker, task_id, "stale_ack")
    assert (stale["worker"], stale["token"], stale["detail"]) == ("w1", 1, "ok")
    assert broker.finish("w2", [ok(new)]) == ["ok"]
    assert broker.finish("w1", [err(old)]) == ["stale"]  # a late failure cannot undo the success
    record = broker.get(task_id)
    assert (record["status"], record["result"]) == ("succeeded", "done")
    assert len(events(broker, task_id, "succeeded")) == 1
    assert broker.stats()["stale_acks"] == 2


def test_a_resent_ack_batch_is_a_duplicate_not_a_stale_ack(broker: Broker) -> None:
    done, failing = submit(broker, spec(data=1), spec(data=2))
    batch = [ok(c) if c.id == done else err(c) for c in broker.claim("w1", 2)]
    assert broker.finish("w1", batch) == ["ok", "retry"]
    assert broker.finish("w1", batch) == ["duplicate", "duplicate"]  # the first reply was lost
    assert not events(broker, done, "stale_ack") and not events(broker, failing, "stale_ack")
    assert len(events(broker, failing, "failed")) == 1 and broker.stats()["stale_acks"] == 0


def test_finish_for_an_expired_record_leaves_no_orphan_keys(broker: Broker) -> None:
    task_id, = submit(broker, spec())
    claim, = broker.claim("w1", 1)
    broker.client.delete(broker.keys.task(task_id), broker.keys.events(task_id))  # retention ran out
    assert broker.finish("w1", [ok(claim)]) == ["stale"]
    assert not broker.client.exists(broker.keys.task(task_id), broker.keys.events(task_id))


def test_lease_expiry_requeues_at_the_front_of_its_level(broker: Broker, fast: Broker) -> None:
    first, = submit(broker, spec(data="first"))
    claim, = fast.claim("w1", 1)
    later = submit(broker, spec(data="second"), spec(data="third"))
    assert expire_and_reap(fast, lead(fast), first) == (1, 0, 0)
    expired, = events(broker, first, "lease_expired")
    assert (expired["worker"], expired["token"]) == ("w1", 1)
    assert broker.get(first)["status"] == "queued"
    assert [c.id for c in broker.claim("w2", 3)] == [first, *later]
    assert broker.stats()["lease_expired"] == 1


def test_extended_leases_survive_and_foreign_tokens_are_reported_lost(broker: Broker, fast: Broker) -> None:
    task_id, = submit(broker, spec())
    claim, = fast.claim("w1", 1)
    epoch = lead(fast)
    for _ in range(6):  # three lease lifetimes, extended every 100 ms
        assert fast.extend([(claim.id, claim.token)]) == []
        assert fast.reap(epoch) == (0, 0, 0)
        since = redis_now_ms(broker)
        wait_until(lambda since=since: redis_now_ms(broker) >= since + 100, timeout=2, message="100 ms to pass")
    assert broker.get(task_id)["status"] == "reserved"
    assert fast.extend([(claim.id, "99")]) == [task_id]


# --- retries, dead letters, cancel, idempotency ----------------------------------------
def test_failures_retry_with_growing_backoff_then_go_dead(broker: Broker) -> None:
    task_id, = submit(broker, spec("fail", {"always": True}, max_retries=2))
    epoch = lead(broker)
    delays = []
    for attempt in (1, 2, 3):
        claim, = wait_until(lambda: broker.claim("w1", 1), timeout=5, message=f"attempt {attempt}")
        assert claim.attempt == attempt
        outcome = failure(claim, "TaskFailed: nope", broker.settings)
        delays.append(outcome.retry_delay_ms)
        verdict, = broker.finish("w1", [outcome])
        if attempt < 3:
            assert verdict == "retry"
            assert broker.get(task_id)["status"] == "retry_scheduled"
            assert broker.claim("w1", 1) == []  # not before the backoff has passed
            wait_until(lambda: broker.reap(epoch) == (0, 0, 1), timeout=5, message="the retry to come due")
        else:
            assert verdict == "dead"
    base = broker.settings.retry_base_ms
    assert base / 2 <= delays[0] <= base and base <= delays[1] <= 2 * base
    record = broker.get(task_id)
    assert (record["status"], record["failures"], record["error"]) == ("dead", 3, "TaskFailed: nope")
    assert [int(e["detail"]) for e in events(broker, task_id, "retry_scheduled")] == delays[:2]
    assert len(events(broker, task_id, "requeued")) == 2
    assert len(events(broker, task_id, "dead")) == 1
    stats = broker.stats()
    assert (stats["failed"], stats["retried"], stats["dead"]) == (3, 2, 1)


def test_dead_letters_can_be_redriven(broker: Broker) -> None:
    task_id, = submit(broker, spec("fail", {"times": 1}, max_retries=0))
    claim, = broker.claim("w1", 1)
    assert broker.finish("w1", [err(claim)]) == ["dead"]
    dead, total = broker.dead_letters()
    assert total == 1 and [r["id"] for r in dead] == [task_id]
    with pytest.raises(Conflict):
        broker.cancel(task_id)
    broker.redrive(task_id)
    record = broker.get(task_id)
    assert (record["status"], record["failures"], record["finished_at"]) == ("queued", 0, None)
    assert broker.dead_letters()[1] == 0 and len(events(broker, task_id, "redriven")) == 1
    claim, = broker.claim("w1", 1)
    assert claim.token == "2" and broker.finish("w1", [ok(claim)]) == ["ok"]
    with pytest.raises(Conflict):
        broker.redrive(task_id)
    with pytest.raises(NotFound):
        broker.redrive("no-such-task")


def test_cancel_queued_and_retry_scheduled_but_not_running(broker: Broker) -> None:
    running, waiting, queued = submit(broker, spec(data=1), spec(data=2), spec(data=3))
    epoch = lead(broker)
    _, second = broker.claim("w1", 2)
    assert broker.finish("w1", [err(second, delay_ms=0)]) == ["retry"]  # due at once
    broker.cancel(waiting)
    broker.cancel(queued)
    with pytest.raises(Conflict) as running_conflict:
        broker.cancel(running)
    assert running_conflict.value.status == 409
    for task_id in (waiting, queued):
        assert broker.get(task_id)["status"] == "cancelled"
        assert len(events(broker, task_id, "cancelled")) == 1
        assert broker.client.ttl(broker.keys.task(task_id)) > 0
    assert broker.client.zscore(broker.keys.delayed, waiting) is None
    assert broker.reap(epoch) == (0, 0, 0) and broker.claim("w1", 5) == []
    assert broker.get(running)["status"] == "reserved"
    assert broker.stats()["cancelled"] == 2
    with pytest.raises(NotFound):
        broker.cancel("no-such-task")


def test_idempotency_key_returns_the_first_task(broker: Broker) -> None:
    (a, created_a), = broker.submit([spec(idempotency_key="k1")])
    (b, created_b), = broker.submit([spec(idempotency_key="k1")])
    with pytest.raises(IdempotencyConflict):  # the same key for another request stores nothing
        broker.submit([spec(), spec(data="other", idempotency_key="k1")])
    with pytest.raises(IdempotencyConflict):
        broker.submit([spec(idempotency_key="k3"), spec(data="other", idempotency_key="k3")])
    batch = broker.submit([spec(idempotency_key="k2"), spec(idempotency_key="k2"), spec()])
    assert created_a and not created_b and a == b
    assert batch[0][1] and batch[1] == (batch[0][0], False) and batch[2][1]
    assert broker.queue_depths()["normal"] == 3
    assert broker.get(a)["data"] == "x" and broker.stats()["submitted"] == 3


# --- coordination and discovery ---------------------------------------------------------
def test_one_leader_with_epoch_fencing_and_takeover(broker: Broker, fast: Broker) -> None:
    first = lead(fast, "a")
    assert fast.elect("b") is None
    assert fast.elect("a") == first  # renewal keeps the epoch
    task_id, = submit(broker, spec())
    fast.claim("w1", 1)
    second = wait_until(lambda: fast.elect("b"), timeout=3, message="b to take over after a's lease")
    assert second > first and broker.workers()[1] == "b"
    wait_until(lambda: fast.client.zscore(fast.keys.leases, task_id) < redis_now_ms(fast),
               timeout=3, message="the lease to expire")
    assert fast.reap(first) is None and fast.prune(first) is None  # the deposed leader does nothing
    assert broker.get(task_id)["status"] == "reserved"
    assert fast.elect("a") is None
    assert fast.reap(second) == (1, 0, 0)


def test_worker_registry_expires_and_is_pruned(broker: Broker, fast: Broker) -> None:
    for worker in ("w1", "w2"):
        fast.heartbeat(worker, {"id": worker, "host": "h", "pid": 1, "current": []})
    assert [w["id"] for w in broker.workers()[0]] == ["w1", "w2"]
    epoch = lead(fast, "w2")
    fast.deregister("w2", "w2")  # graceful exit: gone at once, leadership given up
    live, leader = broker.workers()
    assert [w["id"] for w in live] == ["w1"] and leader is None
    assert broker.client.smembers(broker.keys.workers_active) == {"w1"}
    wait_until(lambda: broker.workers()[0] == [], timeout=3, message="w1's registration to expire")
    assert fast.prune(epoch) == ["w1"]
    assert broker.client.smembers(broker.keys.workers_active) == set()
    assert broker.stats()["worker_lost"] == 1  # w1 expired; w2 deregistered


def test_a_task_whose_lease_keeps_expiring_goes_dead(broker: Broker, fast: Broker) -> None:
    fragile = Broker(fast.settings.with_overrides(max_lease_expiries=1), client=broker.client)
    task_id, = submit(broker, spec())
    epoch = lead(fragile)
    fragile.claim("w1", 1)
    assert expire_and_reap(fragile, epoch, task_id) == (1, 0, 0)
    fragile.claim("w2", 1)
    assert expire_and_reap(fragile, epoch, task_id) == (0, 1, 0)
    record = broker.get(task_id)
    assert (record["status"], record["expiries"]) == ("dead", 2)
    assert "lease expired 2 times" in record["error"]
    assert [r["id"] for r in broker.dead_letters()[0]] == [task_id]
    assert [e["event"] for e in record["events"]][-2:] == ["lease_expired", "dead"]


def test_ids_that_name_other_keys_are_unknown_not_errors(broker: Broker) -> None:
    """'<id>:events' is the task's history list; reading it as a task must be a 404, not WRONGTYPE."""
    [(task_id, _)] = broker.submit([parse_task({"type": "echo"}, default_max_retries=0, default_timeout=5)])
    for call in (broker.get, broker.cancel, broker.redrive):
        with pytest.raises(NotFound):
            call(f"{task_id}:events")
    assert broker.get(task_id)["status"] == "queued"


def test_a_claimed_task_is_reserved_until_its_start_is_reported(broker: Broker) -> None:
    import time

    from system.broker import Start

    long_id, short_id, lost_id = submit(broker, spec(data=1), spec(data=2), spec(data=3))
    long, short, lost = broker.claim("w1", 3)
    for task_id in (long_id, short_id, lost_id):
        record = broker.get(task_id)
        assert record["status"] == "reserved" and record["started_at"] is None and record["claimed_at"]
    with pytest.raises(Conflict):
        broker.cancel(long_id)  # in a node's buffer: not cancellable, as when running
    began = time.monotonic() - 0.5  # the long task started half a second before the report
    stale = Start(lost.id, "99", time.monotonic())
    assert broker.finish_and_peek("w1", [], [Start(long.id, long.token, began), stale]) == ([], None)
    record = broker.get(long_id)
    assert record["status"] == "running"
    assert 0.3 <= redis_now_ms(broker) / 1000 - record["started_at"] <= 1.5  # on the Redis clock, 0.5 s ago
    started, = events(broker, long_id, "started")
    assert (started["worker"], started["token"]) == ("w1", 1)
    assert broker.get(lost_id)["status"] == "reserved" and not events(broker, lost_id, "started")
    # a short task's start travels with its ack: started, then succeeded, in one call
    assert broker.finish("w1", [ok(short)._replace(began=time.monotonic() - 0.2)]) == ["ok"]
    record = broker.get(short_id)
    assert record["status"] == "succeeded"
    assert 0.15 <= record["finished_at"] - record["started_at"] <= 1.0
    assert [e["event"] for e in record["events"]] == ["submitted", "claimed", "started", "succeeded"]
    assert broker.finish("w1", [ok(long)]) == ["ok"]
    assert len(events(broker, long_id, "started")) == 1  # not recorded twice
