"""The sampler: reads the system's state straight from Redis every ~250 ms into the history.

It reads Redis directly (never through a proxy, never through the gateway), so a faulted
gateway or link does not blind the recording; after a failover it follows the backend's
current primary: `redis_url` is asked again after every error and at least once a second, since
a primary that Sentinel replaced while it was still up (MISCONF, a stall) answers reads without an
error, frozen at the moment the clients left it. Two round trips per sample:
one pipeline for every counter, one for which registered workers are still alive.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from harness.history import SampleRecord
from system.broker import leader_worker
from system.keys import PRIORITIES, Keys

NODE_COUNTS = ("processed", "running", "prefetched")   # ints of a worker's heartbeat hash
NODE_MAPS = ("loops",)   # per-loop liveness when the heartbeat carries it: loop -> seconds since its last round
STAT_NAMES = ("submitted", "completed", "failed", "retried", "dead", "stale_acks",
              "lease_expired", "cancelled", "redriven", "worker_lost")


def read_sample(r: redis.Redis, keys: Keys, t: float) -> SampleRecord:
    """One consistent-enough snapshot of queue depths, workers, leader, counters and INFO."""
    pipe = r.pipeline(transaction=False)
    for p in PRIORITIES:
        pipe.llen(keys.queue(p))
    pipe.zcard(keys.leases)
    pipe.zcard(keys.delayed)
    pipe.zcard(keys.dead)
    pipe.smembers(keys.workers_active)
    pipe.get(keys.leader)
    pipe.hgetall(keys.stats)
    pipe.info("memory")
    pipe.info("stats")
    res = pipe.execute()
    depths = dict(zip(PRIORITIES, res[:3], strict=True))
    leased, delayed, dead, members, leader, stats, mem, st = res[3:]
    members = sorted(members)
    nodes: dict[str, dict[str, Any]] = {}
    if members:
        check = r.pipeline(transaction=False)
        for m in members:
            check.hgetall(keys.worker(m))
        nodes = {m: node_figures(h) for m, h in zip(members, check.execute(), strict=True) if h}
    return SampleRecord(t=t, queues=depths, leased=int(leased), delayed=int(delayed),
                        dead=int(dead), workers=len(nodes), nodes=nodes, leader=leader_worker(leader),
                        stats={k: int(v) for k, v in stats.items()},
                        memory=int(mem.get("used_memory", 0)),
                        ops_per_sec=float(st.get("instantaneous_ops_per_sec", 0)))


def node_figures(info: dict[str, str]) -> dict[str, Any]:
    """The parts of a worker's heartbeat hash a check needs: counts, heartbeat time (the
    worker's own clock: compared only with itself), per-loop liveness when present."""
    out: dict[str, Any] = {k: _int(info[k]) for k in NODE_COUNTS if k in info}
    if "last_heartbeat" in info:
        out["heartbeat"] = _float(info["last_heartbeat"])
    try:  # `current`: ids of the attempts the node holds, acknowledged or not yet (<= 50)
        out["holding"] = len(json.loads(info["current"]))
    except (KeyError, ValueError, TypeError):
        pass
    for k in NODE_MAPS:
        if k in info:
            try:
                value = json.loads(info[k])
            except ValueError:
                continue
            if isinstance(value, dict):
                out[k] = value
    return out


def _int(value: str) -> int | None:
    try:
        return int(float(value))
    except ValueError:
        return None


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def read_leader(r: redis.Redis, keys: Keys) -> tuple[str, float] | None:
    """(worker id in the leader key, seconds since that worker's last heartbeat by the Redis
    clock; inf when it has no registration), or None when nobody leads."""
    holder = r.get(keys.leader)
    worker = leader_worker(holder)
    if worker is None:
        return None
    beat = r.hget(keys.worker(worker), "last_heartbeat")
    secs, micros = r.time()
    return worker, (secs + micros / 1e6 - float(beat)) if beat else float("inf")


def read_registration(r: redis.Redis, keys: Keys, worker: str) -> dict[str, str]:
    """A worker's registration hash (pid, started_at, ...); empty when it is not registered."""
    return {str(k): str(v) for k, v in r.hgetall(keys.worker(worker)).items()}


class Recorder:
    """Background sampler thread; `last` is the newest sample (for the progress display)."""

    def __init__(self, *, redis_url: Callable[[], str], keys: Keys,
                 record: Callable[[SampleRecord], None], clock: Callable[[], float],
                 interval: float = 0.25, recheck_s: float = 1.0) -> None:
        self.redis_url = redis_url
        self.recheck_s = recheck_s
        self._url: str | None = None
        self._checked_at = 0.0
        self.keys = keys
        self.record = record
        self.clock = clock
        self.interval = interval
        self.last: SampleRecord | None = None
        self.samples = 0
        self.errors = 0
        self.busy_s = 0.0           # time spent sampling: the sampler's own cost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: redis.Redis | None = None

    def _connect(self) -> redis.Redis:
        """The connection to the current primary; a new one when the backend names another."""
        now = time.monotonic()
        if self._client is not None and now - self._checked_at >= self.recheck_s:
            self._checked_at = now
            try:
                moved = self.redis_url() != self._url
            except Exception:  # noqa: BLE001 - Sentinel or the engine busy: keep sampling where we are
                moved = False
            if moved:
                self._client.close()
                self._client = None
        if self._client is None:
            self._url, self._checked_at = self.redis_url(), now
            self._client = redis.Redis.from_url(self._url, socket_timeout=1.0,
                                                socket_connect_timeout=1.0,
                                                decode_responses=True)
        return self._client

    def sample(self) -> SampleRecord | None:
        """Take one sample now; None (and a fresh connection next time) on a Redis error."""
        started = time.perf_counter()
        try:
            s = read_sample(self._connect(), self.keys, self.clock())
        except (redis.RedisError, OSError):
            self.errors += 1
            if self._client is not None:
                self._client.close()
            self._client = None
            return None
        finally:
            self.busy_s += time.perf_counter() - started
        self.samples += 1
        self.last = s
        return s

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            s = self.sample()
            if s is not None:
                self.record(s)
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._client is not None:
            self._client.close()
            self._client = None

    def leader_now(self) -> tuple[str, float] | None:
        """read_leader on a connection of its own (the nemesis thread asks); None on an error."""
        try:
            with redis.Redis.from_url(self.redis_url(), socket_timeout=1.0, socket_connect_timeout=1.0,
                                      decode_responses=True) as r:
                return read_leader(r, self.keys)
        except (redis.RedisError, OSError, ValueError):
            return None

    def cost(self) -> dict[str, Any]:
        """Sampler cost figures for meta.json / docs/benchmarks.md."""
        mean = self.busy_s / self.samples if self.samples else None
        return {"samples": self.samples, "errors": self.errors,
                "mean_sample_ms": None if mean is None else round(mean * 1000, 3)}
