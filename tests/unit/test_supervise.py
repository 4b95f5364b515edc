"""Supervision and liveness of worker loops, and the mapping of every redis-py error."""

from __future__ import annotations

import threading

import pytest
import redis

from system.broker import broker_error
from system.errors import BrokerOutOfMemory, BrokerTimeout, BrokerUnavailable, WritesRefused
from system.worker import supervise
from system.worker.supervise import Liveness, backoff_s, supervised


@pytest.mark.parametrize(("exc", "kind", "status"), [
    (redis.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), BrokerOutOfMemory, 507),
    (redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'. script: x"), BrokerOutOfMemory, 507),
    (redis.ResponseError("MISCONF Redis is configured to save RDB snapshots"), WritesRefused, 503),
    (redis.ReadOnlyError("You can't write against a read only replica."), WritesRefused, 503),
    (redis.TimeoutError("Timeout reading from socket"), BrokerTimeout, 503),
    (redis.ConnectionError("Connection refused"), BrokerUnavailable, 503),
    (redis.ResponseError("LOADING Redis is loading the dataset in memory"), BrokerUnavailable, 503),
    (redis.ResponseError("ERR Error running script"), BrokerUnavailable, 503),
])
def test_every_redis_error_is_a_retryable_broker_error(exc: redis.RedisError, kind: type, status: int) -> None:
    error = broker_error(exc)
    assert type(error) is kind and error.status == status and error.retry_after_s >= 1


def test_a_timeout_says_the_outcome_is_unknown_and_how_to_retry() -> None:
    assert "Idempotency-Key" in str(broker_error(redis.TimeoutError("Timeout reading from socket")))


def test_backoff_doubles_and_is_bounded() -> None:
    assert [backoff_s(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert backoff_s(100) == supervise.BACKOFF_MAX_S


def test_liveness_reports_loops_silent_for_longer_than_the_bound() -> None:
    now = [100.0]
    live = Liveness(("claim", "ack"), clock=lambda: now[0])
    now[0] = 103.0
    live.beat("claim")
    now[0] = 104.0
    assert live.ages() == {"claim": 1.0, "ack": 4.0}
    assert live.stalled(2.0) == ["ack"]


def test_a_supervised_loop_is_restarted_after_any_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervise, "BACKOFF_FIRST_S", 0.001)
    runs = []

    def loop() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise KeyError("boom")

    supervised(loop, "test", threading.Event())()
    assert len(runs) == 3


def test_a_fatal_error_ends_the_process_non_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = []
    monkeypatch.setattr(supervise.os, "_exit", codes.append)

    def loop() -> None:
        raise SystemExit(0)

    supervised(loop, "test", threading.Event())()
    assert codes == [supervise.EXIT_STATUS]

