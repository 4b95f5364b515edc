"""Background duties of a worker node: lease extension + registration, and leader-only work."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from system.broker import leader_worker
from system.errors import BrokerUnavailable, TaskQueueError
from system.worker.lost import LostWorkers
from system.worker.supervise import supervised

if TYPE_CHECKING:
    from system.worker.node import WorkerNode

log = logging.getLogger("system.worker")
LOST_CONFIRM_S = 0.25  # second look before a worker without connections counts as lost


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
            # the instance lets the leader tell this process from a restart with the same id
            node.broker.heartbeat(node.worker_id, {**node.info(), "instance": node.leader_instance})
        except BrokerUnavailable as exc:
            log.warning("%s: heartbeat failed: %s", node.worker_id, exc)
        node.liveness.beat("heartbeat")
        node.exited.wait(interval)


def presence_loop(node: WorkerNode) -> None:
    """Keep a connection waiting in a read, so that after a blip (connections closed while the
    process lives) the worker is back in CLIENT LIST within milliseconds, before the leader's
    next look can take it for lost. Without it a busy worker would reconnect only at its next
    command (up to a heartbeat later)."""
    timeout = min(1.0, node.settings.redis_socket_timeout / 2)
    pause = 0.0
    while not node.exited.is_set():
        try:
            node.broker.watch_presence(timeout)
            pause = 0.0
        except BrokerUnavailable:
            pause = min(1.0, pause * 2 or 0.01)  # at once after a blip, slower while Redis stays away
            node.exited.wait(pause)


def leader_loop(node: WorkerNode) -> None:
    """Try to lead; while leading, re-queue expired leases, release due retries, prune workers.

    Leadership is a Redis lease with a fencing epoch; every duty script checks the epoch, so
    a leader that was frozen and comes back after losing the lease does nothing. A draining
    node keeps its duties until it exits (deregister then frees the leader key at once), so a
    graceful shutdown leaves no gap of one leader TTL without reaping. Every node also watches
    the workers' connections (LostWorkers): the tasks of a worker whose connections all closed
    are re-queued within a tick, by the leader, or by the node that replaces a lost leader.
    """
    interval = node.settings.reaper_interval_ms / 1000
    epoch: int | None = None
    last_prune = 0.0
    watch: LostWorkers | None = LostWorkers(hold_s=(node.settings.leader_ttl_ms + 2 * node.settings.reaper_interval_ms)
                                                / 1000)
    while not node.exited.is_set():
        try:
            epoch = _lead(node, epoch)
            if watch is not None:
                epoch, watch = _watch(node, watch, epoch)
            node.is_leader = epoch is not None
            if epoch is not None:
                _reap(node, epoch)
                if time.monotonic() - last_prune > node.settings.worker_ttl_ms / 1000:
                    pruned = node.broker.prune(epoch)
                    if pruned:
                        log.info("%s: pruned dead workers %s", node.worker_id, pruned)
                    last_prune = time.monotonic()
        except BrokerUnavailable as exc:
            log.warning("%s: leader duty failed: %s", node.worker_id, exc)
        node.liveness.beat("leader")
        node.exited.wait(interval)


def _watch(node: WorkerNode, watch: LostWorkers, epoch: int | None) -> tuple[int | None, LostWorkers | None]:
    """_reap_lost, or give the watch up for good when Redis refuses it (an ACL without CLIENT):
    leases still cover every lost worker, only later."""
    try:
        return _reap_lost(node, watch, epoch), watch
    except BrokerUnavailable:
        raise
    except TaskQueueError as exc:
        log.warning("%s: cannot watch connections (%s); relying on leases", node.worker_id, exc)
        return epoch, None


def _lead(node: WorkerNode, epoch: int | None) -> int | None:
    new_epoch = node.broker.elect(node.leader_instance)
    if new_epoch != epoch:
        log.info("%s: %s", node.worker_id, f"leader (epoch {new_epoch})" if new_epoch else "no longer leader")
    return new_epoch


def _reap_lost(node: WorkerNode, watch: LostWorkers, epoch: int | None) -> int | None:
    """Re-queue the tasks of workers gone since they were last seen (leader), or take over from
    a gone leader; returns the epoch this node now holds. Until a leader has done it, every
    node reports them again each tick (for a while: see LostWorkers)."""
    server, now_ms, connected = node.broker.connected_workers()
    lost = watch.update(server, connected, time.monotonic())
    if not lost:
        return epoch
    # a live worker whose connections were closed (a blip) is back within milliseconds: look
    # again a moment later and re-queue only what is still gone
    node.exited.wait(min(LOST_CONFIRM_S, node.settings.reaper_interval_ms / 4000))
    server_again, now_ms, connected = node.broker.connected_workers()
    live_ids = {leader_worker(i) for i in connected}
    lost = [(w, i) for w, i in lost if server_again == server and w not in live_ids]
    if not lost:
        return epoch
    result = node.broker.reap_lost(node.leader_instance, epoch, lost, now_ms)
    if result is None:
        return None  # another node leads (and re-queues them), or leadership was lost
    watch.done(lost)
    new_epoch, requeued, dead = result
    log.info("%s: workers lost %s: re-queued %d, %d dead%s", node.worker_id, [i for _, i in lost], requeued,
             dead, "" if new_epoch == epoch else f"; took over as leader (epoch {new_epoch})")
    return new_epoch


def _reap(node: WorkerNode, epoch: int) -> None:
    reaped = node.broker.reap(epoch)
    if reaped and any(reaped):
        log.info("%s: re-queued %d expired, %d dead, released %d retries", node.worker_id, *reaped)


def start_daemon(target: Callable[[WorkerNode], None], node: WorkerNode, name: str) -> threading.Thread:
    """A daemon thread running a duty under supervision: no exception ends it (supervise.py)."""
    full = f"{node.worker_id}-{name}"
    thread = threading.Thread(target=supervised(lambda: target(node), full, node.exited), name=full, daemon=True)
    thread.start()
    return thread
