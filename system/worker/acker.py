"""The acker: one thread per node that sends outcomes (and starts) to Redis in batches.

Task threads queue an Outcome when a handler returns and a Start when one begins; the acker
gathers them (lingering a moment for company while other tasks run, so one round trip carries
many), sends them with `finish_and_peek`, and hands the verdicts back to the node. On any
error it keeps the batch and retries with a bounded back-off: fencing makes a repeated ack
safe. A start rides on its task's own ack when the task ends within START_REPORT_S; a longer
task has its start sent alone about then.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import TYPE_CHECKING

from system.broker import Outcome, Start
from system.errors import BrokerUnavailable
from system.worker.supervise import backoff_s
from system.worker.testhooks import crash_point, stall_point

if TYPE_CHECKING:
    from system.worker.node import WorkerNode

log = logging.getLogger("system.worker")
ACK_BATCH = 256
ACK_LINGER_S = 0.002  # an ack waits this long for company while other tasks run: 1 round trip per many
IDLE_BEAT_S = 1.0  # an idle acker still reports a beat this often
ACK_RETRY_MAX_S = 1.0  # longest wait between two tries of an unacked batch
START_REPORT_S = 0.005  # a task still running this long after its start has the start sent alone


def _due_starts(outcomes: list[Outcome], starts: dict[str, Start]) -> list[Start]:
    """Starts to send now, removed from `starts`: those older than START_REPORT_S. A start whose
    task's outcome is in this batch is dropped; the outcome carries its start time."""
    for outcome in outcomes:
        starts.pop(outcome.id, None)
    if not starts:
        return []
    cutoff = time.monotonic() - START_REPORT_S
    due = [start for start in starts.values() if start.began <= cutoff]
    for start in due:
        del starts[start.id]
    return due


def ack_loop(node: WorkerNode) -> None:
    """Send outcomes (and starts) in batches until the node's stop marker and nothing pending;
    on any error keep them and retry (fencing makes it safe).

    A broker error (Redis down, OOM, MISCONF, ...) counts as a live round; any other error
    is logged and retried without a beat, so an acker that cannot work shows as stalled."""
    pending: list[Outcome] = []
    starts: dict[str, Start] = {}  # started tasks whose start is not sent yet
    closing = False
    failures = 0
    while not (closing and not pending):
        closing = _gather(node, pending, starts, closing)
        due = _due_starts(pending, starts)
        if not pending and not due:
            continue
        stall_point("ack")
        crash_point("before_ack")
        try:
            verdicts, top = node.broker.finish_and_peek(node.worker_id, pending, due)
            crash_point("after_ack")
        except BrokerUnavailable as exc:
            node.liveness.beat("ack")
            log.warning("%s: ack failed (%s); retrying %d", node.worker_id, exc, len(pending) + len(due))
        except Exception:  # noqa: BLE001 - keep the outcomes; the stall shows in /health
            log.exception("%s: ack failed unexpectedly; retrying %d", node.worker_id, len(pending) + len(due))
        else:
            node.liveness.beat("ack")
            failures = 0
            node.acked(pending, verdicts, top)
            pending = []
            continue
        starts.update((start.id, start) for start in due)
        failures += 1
        if node.exited.wait(min(ACK_RETRY_MAX_S, 2 * backoff_s(failures))):
            return


def _gather(node: WorkerNode, pending: list[Outcome], starts: dict[str, Start], closing: bool) -> bool:
    """Add queued outcomes to `pending` and starts to `starts` (waiting up to IDLE_BEAT_S,
    or until the oldest start is due, for a first item; lingering for company after an
    outcome while tasks run); returns whether the stop marker came."""
    outcomes = node.outcomes
    if not pending and not closing:
        oldest = min((start.began for start in starts.values()), default=None)
        wait = IDLE_BEAT_S if oldest is None else oldest + START_REPORT_S - time.monotonic()
        try:
            item = outcomes.get(timeout=max(0.0, wait))
        except queue.Empty:
            node.liveness.beat("ack")  # idle is alive
            return False
        if _file(item, pending, starts):
            return True
        if type(item) is not Start and node.busy():
            time.sleep(ACK_LINGER_S)  # let the other running tasks join this batch
    while len(pending) < ACK_BATCH:
        try:
            item = outcomes.get_nowait()
        except queue.Empty:
            break
        if _file(item, pending, starts):
            return True
    return closing


def _file(item: Outcome | Start | None, pending: list[Outcome], starts: dict[str, Start]) -> bool:
    """Put one queued item with its kind; True for the stop marker (None)."""
    if item is None:
        return True
    if type(item) is Start:
        starts[item.id] = item
    else:
        pending.append(item)
    return False
