"""Which worker processes are gone: pure bookkeeping over successive `CLIENT LIST` snapshots.

A worker instance (worker id + per-process nonce) is *lost* when its named connections were
seen on this Redis server and none is left: the process died and the kernel closed its
sockets (SIGKILL, OOM kill, container killed). A frozen or cut-off process keeps its
connections open, so it is never lost here; its leases expire as before. Only instances seen
on the *same* server (run id) count, so a failover or a Redis restart, after which live
workers reconnect one by one, is not mistaken for deaths. Every node keeps this view, so a
node that takes over from a lost leader already knows who else is gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from system.broker import leader_worker


@dataclass
class LostWorkers:
    """Instances seen connected on one server, and those gone but not yet re-queued.

    A gone instance is reported on every update until `done` (its tasks were re-queued) or for
    `hold_s` (long enough for a new leader to be elected if the leader itself is cut off)."""

    hold_s: float
    server: str = ""
    seen: set[str] = field(default_factory=set)
    pending: dict[str, float] = field(default_factory=dict)  # instance -> when it was found gone

    def update(self, server: str, connected: set[str], now: float) -> list[tuple[str, str]]:
        """Record a snapshot (server run id, instances with a connection, a monotonic time);
        returns the (worker id, instance) pairs gone and not yet re-queued. A worker id with
        another instance connected (restarted with the same WORKER_ID) is not reported."""
        if server != self.server:
            self.server, self.seen, self.pending = server, set(connected), {}
            return []
        live_ids = {leader_worker(i) for i in connected}
        for instance in self.seen - connected:
            self.pending.setdefault(instance, now)
        self.seen = set(connected)
        self.pending = {i: t for i, t in self.pending.items()
                        if now - t <= self.hold_s and i not in connected and leader_worker(i) not in live_ids}
        return [(leader_worker(i) or i, i) for i in sorted(self.pending)]

    def done(self, lost: Iterable[tuple[str, str]]) -> None:
        """Their tasks were re-queued: stop reporting them."""
        for _, instance in lost:
            self.pending.pop(instance, None)
