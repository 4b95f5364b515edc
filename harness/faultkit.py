"""How the Redis, client and clock faults (scenario.SERVICE_FAULTS) are applied and undone.

Each apply returns an Effect: what it did (for the fault record) and the undo its end runs.
Redis faults speak to the current primary straight at `backend.endpoints().redis_url` (never
through a proxy), so they work the same on every backend; only what needs the host (killing
Redis's save child, restarting a worker under libfaketime) is asked of the backend.

Why each method (docs/scenarios.md has the details):
- redis_oom: `maxmemory` = used memory + headroom with `noeviction`: writes fail with OOM once
  the headroom is filled; the undo restores the old limit and policy.
- redis_misconf: `stop-writes-on-bgsave-error yes`, a save point, a slowed background save
  (`rdb-key-save-delay`) whose child is SIGKILLed: Redis marks the last save failed and refuses
  writes with MISCONF (a read-only directory does not work as root). The undo restores the
  settings and waits for a successful save, which clears the error.
- redis_stall: CLIENT PAUSE for the window (mode ALL also blocks CLIENT UNPAUSE, so the pause
  is sized to the window and the undo's UNPAUSE returns when it is over).
- replica_pause: the backend freezes the replica process (SIGSTOP / docker pause), so WAIT on
  the primary gets no ack; the undo thaws it.
- client_kill: CLIENT KILL TYPE t SKIPME yes.
- slow_client_flood: harness.slowclients holds half requests open on the gateway.
- clock_skew: the backend restarts the worker with its clock shifted, then without.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from harness.backends.base import Backend, BackendError
from harness.slowclients import SlowFlood

SAVE_DELAY_US = 1_000_000          # per key: the save child lives long enough to be killed
STATE_TIMEOUT_S = 10.0


@dataclass
class Effect:
    """What a fault did (merged into its start record) and how its end undoes it; the undo may
    return figures for the end record."""

    detail: dict[str, Any] = field(default_factory=dict)
    undo: Callable[[], Mapping[str, Any] | None] | None = None


def admin(url: str, *, timeout: float = 5.0) -> redis.Redis:
    """A direct client of one Redis node (the harness's own, not the system's). Each fault takes
    the primary's address once, so its undo reaches the node it changed even if Sentinel has
    promoted another meanwhile (a primary answering MISCONF fails PING: Sentinel fails it over)."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                decode_responses=True)


def apply(backend: Backend, fault: str, params: Mapping[str, Any], targets: Sequence[str],
          duration: float | None) -> Effect:
    """Apply one service fault; raises (BackendError, RedisError, OSError) when it cannot."""
    if fault == "redis_oom":
        return redis_oom(backend, headroom=int(params.get("headroom_kb", 64)) * 1024)
    if fault == "redis_misconf":
        return redis_misconf(backend)
    if fault == "redis_stall":
        return redis_stall(backend, seconds=float(duration or 0), mode=str(params.get("mode", "all")))
    if fault == "replica_pause":
        return replica_pause(backend)
    if fault == "client_kill":
        return client_kill(backend, kind=str(params.get("type", "normal")))
    if fault == "slow_client_flood":
        return slow_client_flood(backend, connections=int(params["connections"]))
    if fault == "clock_skew":
        return clock_skew(backend, list(targets), offset=float(params["offset"]))
    raise ValueError(f"fault {fault!r} is not a service fault")


def redis_oom(backend: Backend, *, headroom: int) -> Effect:
    url = backend.endpoints().redis_url
    with admin(url) as r:
        old_limit = r.config_get("maxmemory")["maxmemory"]
        old_policy = r.config_get("maxmemory-policy")["maxmemory-policy"]
        used = int(r.info("memory")["used_memory"])
        limit = max(used + headroom, 1)
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("maxmemory", limit)

    def undo() -> dict[str, Any]:
        with admin(url) as r2:
            peak = int(r2.info("memory")["used_memory"])
            r2.config_set("maxmemory", old_limit)
            r2.config_set("maxmemory-policy", old_policy)
        return {"used_memory_at_end": peak}
    return Effect({"maxmemory": limit, "used_memory": used, "old_maxmemory": int(old_limit),
                   "old_policy": old_policy}, undo)


def _persistence(r: redis.Redis) -> dict[str, Any]:
    return dict(r.info("persistence"))


def _until(cond: Callable[[], bool], what: str, timeout: float = STATE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise BackendError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def redis_misconf(backend: Backend) -> Effect:
    names = ("save", "rdb-key-save-delay", "stop-writes-on-bgsave-error")
    url = backend.endpoints().redis_url
    with admin(url) as r:
        old = {n: r.config_get(n)[n] for n in names}
        r.config_set("stop-writes-on-bgsave-error", "yes")
        if not old["save"].strip():
            r.config_set("save", "3600 1")       # no save point: Redis would not refuse writes
        try:
            killed = _fail_a_save(backend, r)
        except Exception:
            for name in names:               # leave Redis as it was; the fault is recorded failed
                r.config_set(name, old[name])
            raise

    def undo() -> dict[str, Any]:
        with admin(url) as r2:
            for name in names:
                r2.config_set(name, old[name])
            r2.execute_command("BGSAVE", "SCHEDULE")
            _until(lambda: (p := _persistence(r2))["rdb_last_bgsave_status"] == "ok"
                   and not p["rdb_bgsave_in_progress"], "a successful save after the fault")
        return {}
    return Effect({"killed_save_child": killed, "old": old}, undo)


def _fail_a_save(backend: Backend, r: redis.Redis) -> list[int]:
    r.config_set("rdb-key-save-delay", SAVE_DELAY_US)
    if not _persistence(r)["rdb_bgsave_in_progress"]:
        r.execute_command("BGSAVE", "SCHEDULE")  # waits for an AOF rewrite if one runs
    _until(lambda: bool(_persistence(r)["rdb_bgsave_in_progress"]), "a background save to start")
    killed = backend.kill_save_child(int(r.info("server")["process_id"]))
    _until(lambda: _persistence(r)["rdb_last_bgsave_status"] == "err", "Redis to record the failed save")
    return killed


def redis_stall(backend: Backend, *, seconds: float, mode: str) -> Effect:
    ms = max(int(seconds * 1000), 1)
    url = backend.endpoints().redis_url
    with admin(url) as r:
        r.execute_command("CLIENT", "PAUSE", ms, mode.upper())

    def undo() -> None:
        # In ALL mode the UNPAUSE itself waits for the pause to run out: give it that long.
        with admin(url, timeout=seconds + 5) as r2:
            r2.execute_command("CLIENT", "UNPAUSE")
    return Effect({"pause_ms": ms, "mode": mode}, undo)


def replica_pause(backend: Backend) -> Effect:
    replica = backend.pause_replica(True)

    def undo() -> None:
        backend.pause_replica(False)
    return Effect({"replica": replica}, undo)


def client_kill(backend: Backend, *, kind: str) -> Effect:
    with admin(backend.endpoints().redis_url) as r:
        killed = int(r.execute_command("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes"))
    if killed == 0:
        raise BackendError(f"CLIENT KILL TYPE {kind} found no connection to kill")
    return Effect({"killed": killed})


def slow_client_flood(backend: Backend, *, connections: int) -> Effect:
    flood = SlowFlood(backend.endpoints().gateway_url, connections=connections)
    opened = flood.open()
    if opened == 0:
        flood.close()
        raise BackendError(f"could not open any connection to the gateway: {flood.errors[:3]}")
    return Effect({"opened": opened, "failed": connections - opened}, flood.close)


def clock_skew(backend: Backend, nodes: list[str], *, offset: float) -> Effect:
    for node in nodes:
        backend.clock_skew(node, offset)

    def undo() -> None:
        for node in nodes:
            backend.clock_skew(node, None)
    return Effect({"offset_s": offset}, undo)
