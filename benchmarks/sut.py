"""The one interface every system under test implements, so the driver treats all alike.

A system under test starts and kills worker process groups and submits the benchmark's task
kinds; the task bodies (benchmarks.peers.body, or the same effects by another route) write
their outcome to Redis, where the scenarios read it. Adapters: benchmarks.peer_systems (Celery,
RQ, Dramatiq), benchmarks.baseline (a bare Redis list), benchmarks.project (this system).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from benchmarks.procs import Group, Launcher

PROFILES = ("default", "short", "priority")
SCENARIOS = ("drain", "latency", "crash", "priority")


@dataclass(frozen=True)
class Submitted:
    """What a submit call reports: its own duration and, for the steady rate, the worst lag."""

    seconds: float
    sent: int = 0
    worst_lag_s: float = 0.0


@dataclass
class SystemUnderTest(abc.ABC):
    """Adapter base. Subclasses say how to start a worker and how to submit each task kind."""

    launcher: Launcher
    redis_url: str
    workers: list[Group] = field(default_factory=list)

    name: str = "?"
    #: one line per setting a reader needs to reproduce the figures
    settings: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = SCENARIOS
    #: this project's own adapters; ratios are computed ours ÷ each peer
    ours: bool = False

    def open(self) -> None:
        """Start what the system needs besides workers (e.g. a gateway); once per run."""
        return None

    def close(self) -> None:
        """Stop what open() started."""
        return None

    # --- workers -----------------------------------------------------------------------
    @abc.abstractmethod
    def worker_command(self, index: int, *, profile: str) -> tuple[list[str], dict[str, str], str]:
        """(argv, environment, working directory) of worker number `index` (1-based)."""

    def start_workers(self, n: int, *, profile: str = "default") -> list[Group]:
        if profile not in PROFILES:
            raise ValueError(f"profile {profile!r} unknown; use one of {', '.join(PROFILES)}")
        for i in range(1, n + 1):
            argv, env, cwd = self.worker_command(i, profile=profile)
            self.workers.append(self.launcher.start(f"{self.name}-worker{i}", argv, env=env, cwd=cwd))
        return list(self.workers)

    def kill_worker(self, pgid: int) -> None:
        """SIGKILL the worker whose process group is `pgid` (it stays dead)."""
        for group in self.workers:
            if group.pgid == pgid:
                group.kill()
                return
        raise ValueError(f"no worker of {self.name} has process group {pgid}")

    def stop_workers(self) -> None:
        for group in self.workers:
            group.stop()
        self.workers.clear()

    def worker_rss(self) -> list[int]:
        return [g.rss_bytes() for g in self.workers]

    # --- producers (each returns when every task is submitted) ----------------------------
    @abc.abstractmethod
    def enqueue_noop(self, n: int) -> Submitted:
        """Submit `n` no-op tasks, one call each, as fast as the client allows."""

    @abc.abstractmethod
    def submit_warm(self, n: int, *, ms: float, profile: str) -> Submitted:
        """Submit `n` timed tasks labelled 'warm' (used to see every worker take work)."""

    @abc.abstractmethod
    def submit_at_rate(self, *, rate: float, duration: float) -> Submitted:
        """Submit timed tasks labelled 'lat' (0 ms) at fixed instants i/rate for `duration` s."""

    @abc.abstractmethod
    def submit_crash(self, n: int, *, ms: float, profile: str) -> Submitted:
        """Submit `n` crash tasks c0..c{n-1} that each run `ms` milliseconds."""

    @abc.abstractmethod
    def submit_priority(self, *, low: int, high: int, ms: float) -> Submitted:
        """Submit `low` low-priority timed tasks, then `high` high-priority ones."""

    def versions(self) -> dict[str, str]:
        return {}
