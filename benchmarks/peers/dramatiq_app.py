"""Dramatiq broker and actors for the benchmark (run inside the peers' virtualenv).

Settings, by BENCH_PROFILE:
  every profile  RedisBroker with its default middleware (Retries, TimeLimit, AgeLimit, ...);
                 messages are acked after the actor returns
  short          + heartbeat_timeout=5000 ms (default 60000) and maintenance_chance=1000000 of
                 1000000 (default 1000: dead workers' messages are requeued on every command,
                 not on 0.1 % of them)
  priority       actors on separate queues `high` (actor priority 0) and `low` (priority 100):
                 both queues are consumed at once; the worker runs prefetched messages by priority
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks.peers import body

PROFILE = os.environ.get("BENCH_PROFILE", "default")
_options: dict = {}
if PROFILE == "short":
    _options = {"heartbeat_timeout": 5000, "maintenance_chance": 1_000_000}
broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"], **_options)
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="noop")
def noop() -> None:
    body.noop()


@dramatiq.actor(actor_name="timed")
def timed(label: str, submit_ts: float, ms: float) -> None:
    body.timed(label, submit_ts, ms)


@dramatiq.actor(actor_name="crash", max_retries=3)
def crash(tid: str, ms: float) -> None:
    body.crash(tid, ms)


if PROFILE == "priority":
    @dramatiq.actor(actor_name="timed_high", queue_name="high", priority=0)
    def timed_high(label: str, submit_ts: float, ms: float) -> None:
        body.timed(label, submit_ts, ms)

    @dramatiq.actor(actor_name="timed_low", queue_name="low", priority=100)
    def timed_low(label: str, submit_ts: float, ms: float) -> None:
        body.timed(label, submit_ts, ms)
