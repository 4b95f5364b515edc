"""The four measured scenarios, written once against SystemUnderTest and read back from Redis.

Every figure comes from what the task bodies wrote (benchmarks.peers.body), so completion and
latency are counted the same way for every system. Each scenario starts from an empty Redis
and leaves no worker running.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

import redis

from benchmarks.peers.body import ALL_KEYS, DONE, DONE_IDS, LAT, PGIDS, STARTED
from benchmarks.procs import wait_for
from benchmarks.stats import latency_summary, parse_lat_records, percentile
from benchmarks.sut import SystemUnderTest


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; `quick()` is the CI smoke size."""

    workers: int = 2
    drain_n: int = 5000
    rate: float = 100.0
    duration: float = 10.0
    crash_n: int = 4
    crash_ms: float = 3000.0
    crash_cap: float = 120.0
    prio_low: int = 2000
    prio_high: int = 20
    prio_ms: float = 5.0
    crash_profiles: tuple[str, ...] = ("default", "short")
    ceiling_requests: int = 100_000

    @classmethod
    def quick(cls) -> Sizes:
        return cls(drain_n=300, rate=50.0, duration=1.0, crash_n=2, crash_ms=300.0,
                   crash_cap=30.0, prio_low=50, prio_high=5, crash_profiles=("default",),
                   ceiling_requests=5_000)


def _count(r: redis.Redis, key: str = DONE) -> int:
    return int(r.get(key) or 0)


def _commands(r: redis.Redis) -> int:
    return int(r.info("stats")["total_commands_processed"])


def clear_bench_keys(r: redis.Redis) -> None:
    r.delete(*ALL_KEYS)


def drain(sut: SystemUnderTest, r: redis.Redis, sizes: Sizes) -> dict:
    """Enqueue N no-ops with no worker running, then start the workers and time the drain."""
    n = sizes.drain_n
    r.flushall()
    c0, m0 = _commands(r), int(r.info("memory")["used_memory"])
    submitted = sut.enqueue_noop(n)
    c1, m1 = _commands(r), int(r.info("memory")["used_memory"])
    t_spawn = time.perf_counter()
    sut.start_workers(sizes.workers, profile="default")
    polls, first, t_first = 0, 0, 0.0
    deadline = t_spawn + max(300.0, n / 50)
    while True:
        done = _count(r)
        polls += 1
        now = time.perf_counter()
        if done and not first:
            first, t_first = done, now
        if done >= n:
            break
        if now > deadline:
            sut.stop_workers()
            raise TimeoutError(f"{sut.name}: drain finished {done} of {n} tasks in {deadline - t_spawn:.0f} s")
        time.sleep(0.002)
    t_end = time.perf_counter()
    c2 = _commands(r)
    sut.stop_workers()
    steady = (n - first) / (t_end - t_first) if t_end > t_first else math.nan
    extra = {}
    batch = getattr(sut, "enqueue_noop_batch", None)
    if batch is not None:  # systems with a batch submit: its rate alone, no worker running
        r.flushall()
        extra["enqueue_batch_per_s"] = n / batch(n).seconds
        r.flushall()
    return {**extra,
        "enqueue_per_s": n / submitted.seconds,
        "drain_per_s": steady,
        "drain_wall_s": t_end - t_spawn,
        "startup_s": t_first - t_spawn,
        "redis_cmds_per_enqueue": (c1 - c0 - 1) / n,
        "redis_cmds_per_task_run": (c2 - c1 - polls - 1) / n,
        "redis_bytes_per_queued_task": (m1 - m0) / n,
    }


def warm_up(sut: SystemUnderTest, r: redis.Redis, *, workers: int, profile: str,
            timeout: float = 120.0) -> None:
    """Feed short tasks until every worker has run one, wait for all, then clear the counters."""
    deadline = time.monotonic() + timeout
    sent = 0
    while True:
        sut.submit_warm(4 * workers, ms=100, profile=profile)
        sent += 4 * workers
        try:
            wait_for(lambda: r.scard(PGIDS) >= workers, timeout=3, interval=0.02)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sut.name}: only {r.scard(PGIDS)} of {workers} workers took "
                                   f"work within {timeout:.0f} s; see the worker logs") from None
    wait_for(lambda: _count(r) >= sent, timeout=60, interval=0.01, what=f"{sut.name} warm-up tasks")
    clear_bench_keys(r)


def latency(sut: SystemUnderTest, r: redis.Redis, sizes: Sizes) -> dict:
    """Idle workers, a steady submit rate; submit->finish percentiles from the task's own clock."""
    r.flushall()
    sut.start_workers(sizes.workers, profile="default")
    try:
        warm_up(sut, r, workers=sizes.workers, profile="default")
        rss = sut.worker_rss()
        sub = sut.submit_at_rate(rate=sizes.rate, duration=sizes.duration)
        wait_for(lambda: r.llen(LAT) >= sub.sent, timeout=120, interval=0.01,
                 what=f"{sut.name}: {sub.sent} latency tasks")
        records = parse_lat_records(r.lrange(LAT, 0, -1))
    finally:
        sut.stop_workers()
    lat = latency_summary([(fin - sub_ts) * 1000 for _, sub_ts, _, fin in records])
    return {**lat, "submit_worst_lag_ms": sub.worst_lag_s * 1000,
            "worker_rss_idle_mib": max(rss) / 2**20 if rss else math.nan}


def crash(sut: SystemUnderTest, r: redis.Redis, sizes: Sizes, *, profile: str) -> dict:
    """SIGKILL the worker holding tasks; time from the kill until every task is done (capped)."""
    n = sizes.crash_n
    r.flushall()
    sut.start_workers(sizes.workers, profile=profile)
    try:
        warm_up(sut, r, workers=sizes.workers, profile=profile)
        sut.submit_crash(n, ms=sizes.crash_ms, profile=profile)
        wait_for(lambda: r.llen(STARTED) >= 1, timeout=60, interval=0.005,
                 what=f"{sut.name}: a crash task to start")
        t_first = time.monotonic()
        wait_for(lambda: r.llen(STARTED) >= min(2, n) or time.monotonic() - t_first > 0.5,
                 timeout=5, interval=0.005)
        holders = Counter(int(x.split()[1]) for x in r.lrange(STARTED, 0, -1))
        victim = holders.most_common(1)[0][0]
        t_kill = time.monotonic()
        sut.kill_worker(victim)
        try:
            wait_for(lambda: r.scard(DONE_IDS) >= n, timeout=sizes.crash_cap, interval=0.01)
            recovered = time.monotonic() - t_kill
        except TimeoutError:
            recovered = math.nan
        done_ids = r.scard(DONE_IDS)
        runs = _count(r)
    finally:
        sut.stop_workers()
    return {"recovery_s": recovered, "lost": n - done_ids, "duplicates": runs - done_ids,
            "started_on_victim": holders[victim]}


def priority(sut: SystemUnderTest, r: redis.Redis, sizes: Sizes) -> dict:
    """A backlog of low tasks is being drained when the high ones arrive: wait of each class.

    The lows are queued before the workers start, so every system faces the same backlog (a
    fast system would otherwise drain them as quickly as a single producer can send them).
    The highs are sent once both workers are taking work (or a quarter of the lows is done).
    Wait = submit->start; for lows it counts from the moment the first task started, so
    worker start-up is not counted as queueing.
    """
    total = sizes.prio_low + sizes.prio_high
    r.flushall()
    sut.submit_priority(low=sizes.prio_low, high=0, ms=sizes.prio_ms)
    sut.start_workers(sizes.workers, profile="priority")
    try:
        wait_for(lambda: r.scard(PGIDS) >= sizes.workers or r.llen(LAT) >= sizes.prio_low // 4,
                 timeout=120, interval=0.002, what=f"{sut.name}: workers to take the low tasks")
        backlog = sizes.prio_low - r.llen(LAT)
        sut.submit_priority(low=0, high=sizes.prio_high, ms=sizes.prio_ms)
        wait_for(lambda: r.llen(LAT) >= total, timeout=600, interval=0.02,
                 what=f"{sut.name}: {total} priority tasks")
        records = parse_lat_records(r.lrange(LAT, 0, -1))
    finally:
        sut.stop_workers()
    first_start = min(start for _, _, start, _ in records)
    waits: dict[str, list[float]] = {"high": [], "low": []}
    for label, sub_ts, start, _ in records:
        waits.setdefault(label, []).append((start - max(sub_ts, first_start)) * 1000)
    high, low = percentile(waits["high"], 50), percentile(waits["low"], 50)
    return {"high_wait_p50_ms": high, "low_wait_p50_ms": low,
            "high_wait_max_ms": max(waits["high"], default=math.nan),
            "low_over_high": low / high if high > 0 else math.nan,
            "lows_queued_when_high_sent": backlog}


def run_scenario(name: str, sut: SystemUnderTest, r: redis.Redis, sizes: Sizes) -> dict:
    if name == "drain":
        return drain(sut, r, sizes)
    if name == "latency":
        return latency(sut, r, sizes)
    if name == "crash":
        return {f"{profile}_{k}": v for profile in sizes.crash_profiles
                for k, v in crash(sut, r, sizes, profile=profile).items()}
    if name == "priority":
        return priority(sut, r, sizes)
    raise ValueError(f"scenario {name!r} unknown; use drain, latency, crash or priority")
