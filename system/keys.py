"""Every Redis key the system uses: nothing else in the code spells a key.

`workers:active` keeps its seed name so that `SMEMBERS workers:active` works as documented.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIORITIES: tuple[str, ...] = ("high", "normal", "low")


@dataclass(frozen=True)
class Keys:
    prefix: str = ""

    def queue(self, priority: str) -> str:
        """A list per priority; producers RPUSH, consumers LPOP (FIFO)."""
        return f"{self.prefix}queue:{priority}"

    @property
    def queues(self) -> list[str]:
        return [self.queue(p) for p in PRIORITIES]

    @property
    def task_prefix(self) -> str:
        return f"{self.prefix}task:"

    def task(self, task_id: str) -> str:
        """Hash with the task record."""
        return f"{self.task_prefix}{task_id}"

    def events(self, task_id: str) -> str:
        """List of JSON events: the task's history."""
        return f"{self.task_prefix}{task_id}:events"

    @property
    def leases(self) -> str:
        """ZSET task id -> lease expiry (ms, Redis clock)."""
        return f"{self.prefix}leases"

    @property
    def delayed(self) -> str:
        """ZSET task id -> time the retry is due (ms, Redis clock)."""
        return f"{self.prefix}delayed"

    @property
    def dead(self) -> str:
        """ZSET task id -> time it died: the dead-letter queue."""
        return f"{self.prefix}dead"

    @property
    def index(self) -> str:
        """ZSET task id -> submit time, for listing."""
        return f"{self.prefix}tasks:index"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}idem:{key}"

    @property
    def idempotency_prefix(self) -> str:
        return f"{self.prefix}idem:"

    @property
    def wakeup(self) -> str:
        """List that idle workers block on; every submit pushes one token (trimmed)."""
        return f"{self.prefix}queue:wakeup"

    @property
    def stats(self) -> str:
        """Hash of counters: submitted, completed, failed, retried, dead, stale_acks, ..."""
        return f"{self.prefix}stats"

    @property
    def latency(self) -> str:
        """Hash of histogram buckets of submit->finish latency (see system.metrics.BUCKETS_MS)."""
        return f"{self.prefix}stats:latency"

    @property
    def workers_active(self) -> str:
        return f"{self.prefix}workers:active"

    def worker(self, worker_id: str) -> str:
        """Hash describing a live worker; expires when heartbeats stop."""
        return f"{self.prefix}worker:{worker_id}"

    @property
    def worker_prefix(self) -> str:
        return f"{self.prefix}worker:"

    @property
    def leader(self) -> str:
        """String: id of the elected worker, with a TTL."""
        return f"{self.prefix}leader"

    @property
    def leader_epoch(self) -> str:
        """Counter bumped on every election: the fencing token of leadership."""
        return f"{self.prefix}leader:epoch"

    @property
    def presence(self) -> str:
        """Pub/sub channel nobody publishes on: each worker stays subscribed so that one of its
        connections always waits in a read and reconnects the moment it is closed (lost.py)."""
        return f"{self.prefix}workers:presence"
