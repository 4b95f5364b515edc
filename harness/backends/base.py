"""The one interface every backend (substrate) implements, and what they share.

Faults are pure plans (harness.schedule); a backend only knows how to do each elementary
action to a named node. Node names: `gateway`, `worker-1`, `worker-2`, ... (the WORKER_ID the
backend gives each worker, so they match task records and GET /workers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.scenario import FAULTS, SERVICE_FAULTS

PROCESS_ACTIONS = ("kill", "terminate", "pause", "resume", "restart")
NETWORK_FAULTS = ("partition", "latency", "bandwidth", "timeout", "reset_peer", "slow_close",
                  "slicer", "limit_data")
ALL_FAULTS = frozenset(PROCESS_ACTIONS + NETWORK_FAULTS
                       + ("heal", "scale", "redis_failover", "redis_restart"))


def service_faults(backend: str) -> frozenset[str]:
    """The Redis, client and clock faults (harness.faultkit) the fault table gives `backend`."""
    return frozenset(n for n in SERVICE_FAULTS if backend in FAULTS[n].backends)


class BackendError(RuntimeError):
    """The backend could not do what was asked; the message names the node and the cause."""


class UnknownTarget(BackendError):
    """A fault named a node that does not exist (right now)."""


@dataclass(frozen=True)
class SystemSpec:
    """What to bring up: worker count, env overrides for gateway+workers, Redis topology."""

    workers: int = 3
    config: Mapping[str, str] = field(default_factory=dict)  # env-ready, e.g. LEASE_TTL_MS
    sentinel: bool = False     # run 3 Sentinels (needed for redis_failover)
    replica: bool = True       # run a replica (durable ack, failover)
    aof: bool = True           # primary keeps an append-only file (redis_restart keeps data)


@dataclass(frozen=True)
class Endpoints:
    """Addresses the harness itself uses (never through a proxy)."""

    gateway_url: str           # e.g. http://127.0.0.1:5123
    redis_url: str             # the current primary, direct
    gateway_token: str | None = field(default=None, repr=False)  # bearer token (GatewayClient sends it)


@dataclass(frozen=True)
class ToxicHandle:
    """What `add_toxic` created, so that exactly that can be removed."""

    proxy: str
    name: str


@runtime_checkable
class Backend(Protocol):
    name: str

    def capabilities(self) -> frozenset[str]:
        """Fault names this backend can apply (see harness.loader.validate)."""

    def start(self, spec: SystemSpec) -> Endpoints:
        """Bring the whole system up and wait until every part answers."""

    def endpoints(self) -> Endpoints:
        """Current addresses (the Redis primary changes after a failover)."""

    def workers(self) -> list[str]:
        """Names of workers that are running now (not killed, not scaled away); may be paused."""

    def known_workers(self) -> list[str]:
        """Every worker name used so far in this run, alive or not (scale naming)."""

    # process faults: node is "gateway" or a worker name
    def kill(self, node: str) -> None: ...
    def terminate(self, node: str) -> None: ...
    def pause(self, node: str) -> None: ...
    def resume(self, node: str) -> None: ...
    def restart(self, node: str) -> None: ...
    def start_node(self, node: str, *, wait: bool = True) -> None:
        """(Re)start a node that is not running, with its old name (after kill/terminate), and
        wait until it is ready (its own registration); wait=False: start it and return."""

    def scale(self, n: int) -> tuple[list[str], list[str]]:
        """Run n workers: add worker-(highest+1).., or SIGTERM the highest-numbered. -> (added, removed)"""

    # network faults on the node's link to Redis
    def add_toxic(self, node: str, *, type: str, stream: str, attributes: Mapping[str, int],
                  toxicity: float = 1.0, name: str | None = None) -> ToxicHandle: ...
    def remove_toxic(self, handle: ToxicHandle) -> None: ...
    def partition(self, node: str) -> None:
        """Cut the node's link to Redis: existing connections hang, new ones hang (black hole)."""

    def heal(self, node: str) -> None:
        """Undo every network fault on the node's link."""

    def heal_network(self) -> list[str]:
        """Undo every network fault on every link; returns problems, never raises."""

    # redis
    def redis_failover(self, *, on_down: Callable[[], None] | None = None) -> str:
        """Kill the primary, wait for Sentinel to promote the replica, re-point clients.
        Calls `on_down` once the primary is gone (the fault's effective time). Returns the new
        primary address."""

    def redis_restart(self, *, aof: bool = True, on_down: Callable[[], None] | None = None) -> None:
        """Restart the primary. aof=True: graceful stop, it comes back with its append-only
        file (no acknowledged write lost). aof=False: SIGKILL and its files removed, as a node
        without persistence: it comes back empty. `on_down`: called once it is stopped."""

    def ready_for_faults(self, faults: frozenset[str]) -> None:
        """Reach the preconditions of these fault kinds (e.g. Sentinel's steady state before a
        redis_failover); called in the steady-state phase, before the load starts."""

    def kill_save_child(self, redis_pid: int) -> list[int]:
        """SIGKILL the background-save child of the primary (whose own pid is `redis_pid`, as
        Redis reports it); returns the pids killed; BackendError when there is none."""

    def pause_replica(self, paused: bool) -> str:
        """Freeze (SIGSTOP / docker pause) or thaw the Redis replica; returns its name;
        BackendError where the backend cannot (the fault table's backends say where)."""

    def clock_skew(self, node: str, offset_s: float | None) -> None:
        """Restart the worker with its clock shifted by offset_s (None: the true clock again);
        BackendError where the backend cannot (the fault table's backends say where)."""

    def teardown(self) -> list[str]:
        """Stop everything this backend started; never raises; returns problems (empty = clean)."""

    def log_dir(self) -> Path | None:
        """Where node logs are (copied/linked into the run directory)."""
