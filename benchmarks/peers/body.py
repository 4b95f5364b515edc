"""The task bodies every system under test runs, so completion is counted the same way for all.

Imports only redis-py, so it runs in the peers' virtualenv, in the baseline worker and in this
project's workers alike. Every body ends with one pipelined round trip that records the outcome:
  bench:done       INCR on every finished task (the drain counter the driver polls)
  bench:lat        RPUSH "label submit_ts start_ts finish_ts" (latency and priority waits)
  bench:done_ids   SADD of the crash tasks' ids (to count lost ones)
  bench:started    RPUSH "tid pgid" when a crash task starts (to find the worker holding it)
  bench:pgids      SADD of the worker's process group on timed tasks (to know all workers are up)
"""

from __future__ import annotations

import os
import time

import redis

DONE = "bench:done"
LAT = "bench:lat"
DONE_IDS = "bench:done_ids"
STARTED = "bench:started"
PGIDS = "bench:pgids"
ALL_KEYS = (DONE, LAT, DONE_IDS, STARTED, PGIDS)

_client: redis.Redis | None = None
_client_pid = 0


def client() -> redis.Redis:
    """One connection per process, made after any fork (Celery prefork children)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
        _client_pid = os.getpid()
    return _client


def noop() -> None:
    client().incr(DONE)


def timed(label: str, submit_ts: float, ms: float) -> None:
    """Sleep `ms`, then record submit, start and finish times (epoch seconds, same host clock)."""
    start = time.time()
    if ms:
        time.sleep(ms / 1000.0)
    finish = time.time()
    pipe = client().pipeline(transaction=False)
    pipe.rpush(LAT, f"{label} {submit_ts:.6f} {start:.6f} {finish:.6f}")
    pipe.sadd(PGIDS, os.getpgid(0))
    pipe.incr(DONE)
    pipe.execute()


def crash(tid: str, ms: float) -> None:
    """A long task: announces which process group runs it, so the driver can kill that worker."""
    client().rpush(STARTED, f"{tid} {os.getpgid(0)}")
    time.sleep(ms / 1000.0)
    pipe = client().pipeline(transaction=False)
    pipe.sadd(DONE_IDS, tid)
    pipe.incr(DONE)
    pipe.execute()
