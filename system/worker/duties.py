"""Background duties of a worker node: lease extension + registration, and leader-only work."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from system.errors import BrokerUnavailable
from system.worker.supervise import supervised

if TYPE_CHECKING:
    from system.worker.node import WorkerNode

log = logging.getLogger("system.worker")


def heartbeat_loop(node: WorkerNode) -> None:
    """Extend held leases, time out overdue attempts, refresh the registration (with each
    loop's liveness, so /health sees a stuck one).

    While the acker is stalled no lease is extended: results this node computes might never
    be recorded, so its tasks expire and run elsewhere instead of staying `running` for ever.
    """
    interval = node.settings.heartbeat_interval_ms / 1000
    while not node.exited.is_set():
        node.expire_overdue()
        try:
            if node.ack_stalled():
                log.error("%s: the acker made no progress for over %gs; leases are no longer extended",
                          node.worker_id, node.stall_s)
            else:
                for task_id in node.broker.extend(node.held()):
                    node.lease_lost(task_id)
                node.hand_back_stale(interval)
            node.broker.heartbeat(node.worker_id, node.info())
        except BrokerUnavailable as exc:
            log.warning("%s: heartbeat failed: %s", node.worker_id, exc)
        node.liveness.beat("heartbeat")
        node.exited.wait(interval)


def leader_loop(node: WorkerNode) -> None:
    """Try to lead; while leading, re-queue expired leases, release due retries, prune workers.

    Leadership is a Redis lease with a fencing epoch; every duty script checks the epoch, so
    a leader that was frozen and comes back after losing the lease does nothing. A draining
    node keeps its duties until it exits (deregister then frees the leader key at once), so a
    graceful shutdown leaves no gap of one leader TTL without reaping.
    """
    interval = node.settings.reaper_interval_ms / 1000
    epoch: int | None = None
    last_prune = 0.0
    while not node.exited.is_set():
        try:
            new_epoch = node.broker.elect(node.leader_instance)
            if new_epoch != epoch:
                log.info("%s: %s", node.worker_id,
                         f"leader (epoch {new_epoch})" if new_epoch else "no longer leader")
                epoch = new_epoch
            node.is_leader = epoch is not None
            if epoch is not None:
                reaped = node.broker.reap(epoch)
                if reaped and any(reaped):
                    log.info("%s: re-queued %d expired, %d dead, released %d retries",
                             node.worker_id, *reaped)
                if time.monotonic() - last_prune > node.settings.worker_ttl_ms / 1000:
                    pruned = node.broker.prune(epoch)
                    if pruned:
                        log.info("%s: pruned dead workers %s", node.worker_id, pruned)
                    last_prune = time.monotonic()
        except BrokerUnavailable as exc:
            log.warning("%s: leader duty failed: %s", node.worker_id, exc)
        node.liveness.beat("leader")
        node.exited.wait(interval)


def start_daemon(target: Callable[[WorkerNode], None], node: WorkerNode, name: str) -> threading.Thread:
    """A daemon thread running a duty under supervision: no exception ends it (supervise.py)."""
    full = f"{node.worker_id}-{name}"
    thread = threading.Thread(target=supervised(lambda: target(node), full, node.exited), name=full, daemon=True)
    thread.start()
    return thread
