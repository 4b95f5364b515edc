"""One worker node: claims tasks in batches, runs them on a thread pool, acks in batches.

Load balancing is pull-based: idle nodes claim, busy ones do not, so work flows to capacity.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from system.broker import Broker, Outcome, leader_instance
from system.config import Settings
from system.errors import BrokerUnavailable
from system.worker.duties import heartbeat_loop, leader_loop, start_daemon
from system.worker.execution import Attempt, failure, run_attempt

log = logging.getLogger("system.worker")
CLAIM_BATCH = 64
ACK_BATCH = 256
MAX_UNACKED = 1024  # outcomes held while Redis does not answer, before claiming pauses
# Test hook, not a setting: TQ_CRASH_AT=after_claim|before_ack|after_ack makes the process die
# at that point as if SIGKILLed (tests/integration/test_crash_points.py). Unset in production.
CRASH_AT = os.environ.get("TQ_CRASH_AT", "")


def crash_point(name: str) -> None:
    """Die here, without any cleanup, when the test hook names this point."""
    if CRASH_AT == name:
        os._exit(137)


class WorkerNode:
    def __init__(self, settings: Settings, *, broker: Broker | None = None, burst: bool = False) -> None:
        self.settings = settings
        self.broker = broker or Broker(settings)
        self.worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.concurrency = settings.worker_concurrency
        self.burst = burst
        self.started_at = time.time()
        self.stopping = threading.Event()  # no more claims
        self.exited = threading.Event()  # everything done: background threads end
        self.slot_freed = threading.Event()
        self.is_leader = False
        self.leader_instance = leader_instance(self.worker_id)
        self.grace_deadline: float | None = None  # set by stop()
        self.processed = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._attempts: dict[str, Attempt] = {}  # held leases: running or waiting for their ack
        self._running = 0  # handlers executing now: what WORKER_CONCURRENCY bounds
        # claim in batches: wait for half the slots while others still run (one round trip
        # per several tasks), but never idle a slot when nothing runs
        self._claim_at = max(1, self.concurrency // 2)
        self._outcomes: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"{self.worker_id}-task")

    # --- lifecycle -------------------------------------------------------------------
    def run(self) -> None:
        """Serve until stop() (SIGTERM) or, in burst mode, until there is nothing left to do."""
        log.info("%s: started (concurrency %d)", self.worker_id, self.concurrency)
        acker = threading.Thread(target=self._ack_loop, name=f"{self.worker_id}-ack", daemon=True)
        acker.start()
        heartbeat = start_daemon(heartbeat_loop, self, "heartbeat")
        leader = start_daemon(leader_loop, self, "leader")
        try:
            self._claim_loop()
        finally:
            self.stopping.set()  # also in burst mode, where stop() was never called
            self._drain()
            self._outcomes.put(None)
            acker.join(timeout=self.settings.shutdown_grace_s)
            self.exited.set()
            self._pool.shutdown(wait=False, cancel_futures=True)
            # a heartbeat landing after deregister() would register this worker again
            for thread in (heartbeat, leader):
                thread.join(timeout=2 * self.settings.redis_socket_timeout + 1)
            try:
                self.broker.deregister(self.worker_id, self.leader_instance)
            except BrokerUnavailable as exc:
                log.warning("%s: could not deregister: %s", self.worker_id, exc)
            log.info("%s: stopped after %d tasks", self.worker_id, self.processed)

    def stop(self) -> None:
        """Stop claiming; the grace period counts from here, not from when the claim loop notices."""
        if self.grace_deadline is None:
            self.grace_deadline = time.monotonic() + self.settings.shutdown_grace_s
        self.stopping.set()
        self.slot_freed.set()

    def _claim_loop(self) -> None:
        errors = 0
        while not self.stopping.is_set():
            self.slot_freed.clear()
            free = self._free_slots()
            if free <= 0 or (free < self._claim_at and self._running):
                self.slot_freed.wait(0.5)
                continue
            try:
                claims = self.broker.claim(self.worker_id, min(free, CLAIM_BATCH))
                errors = 0
                if claims:
                    crash_point("after_claim")
                    for claim in claims:
                        self._start(claim)
                    continue
                if self.burst and self._idle():
                    return
                self.broker.wait_for_work(0.5 if self.burst else 1.0)
            except BrokerUnavailable as exc:
                errors += 1
                log.warning("%s: claim failed (%s); retrying", self.worker_id, exc)
                self.stopping.wait(min(2.0, 0.05 * 2 ** errors))

    def _free_slots(self) -> int:
        """A slot frees when its handler returns, not when Redis confirms the ack, so the next
        claim overlaps the previous batch's ack; unacked outcomes are still capped (Redis down)."""
        with self._lock:
            return min(self.concurrency - self._running, MAX_UNACKED - len(self._attempts))

    def _idle(self) -> bool:
        depths = self.broker.queue_depths()
        return not self._attempts and not any(depths[k] for k in ("high", "normal", "low", "leased", "delayed"))

    def _start(self, claim: Any) -> None:
        attempt = Attempt(claim=claim, deadline=time.monotonic() + claim.timeout)
        with self._lock:
            self._attempts[claim.id] = attempt
            self._running += 1
        self._pool.submit(self._execute, attempt)

    def _execute(self, attempt: Attempt) -> None:
        try:
            outcome = run_attempt(attempt, self.settings)
            with self._lock:
                if attempt.reported:
                    return  # already failed by the timeout watchdog; this late result is dropped
                attempt.reported = True
            self._outcomes.put(outcome)
        finally:
            with self._lock:
                self._running -= 1
            self.slot_freed.set()

    def _drain(self) -> None:
        """Graceful stop: let running tasks finish within the grace period, hand back the rest."""
        deadline = self.grace_deadline or time.monotonic() + self.settings.shutdown_grace_s
        while self._attempts and time.monotonic() < deadline:
            self.slot_freed.wait(0.1)
            self.slot_freed.clear()
        with self._lock:
            leftover = [a for a in self._attempts.values() if not a.reported]
            for attempt in leftover:
                attempt.reported = True
                attempt.cancelled.set()
        if leftover:
            try:
                released = self.broker.release(self.worker_id, [a.held for a in leftover])
                log.info("%s: handed back %d unfinished tasks", self.worker_id, released)
            except BrokerUnavailable as exc:
                log.warning("%s: could not hand back tasks (their leases will expire): %s", self.worker_id, exc)
            with self._lock:
                for attempt in leftover:
                    self._attempts.pop(attempt.claim.id, None)

    # --- acks ------------------------------------------------------------------------
    def _ack_loop(self) -> None:
        """Send outcomes in batches; on Redis errors keep them and retry (fencing makes it safe)."""
        pending: list[Outcome] = []
        closing = False
        while not (closing and not pending):
            if not pending:
                item = self._outcomes.get()
                if item is None:
                    closing = True
                    continue
                pending.append(item)
            while len(pending) < ACK_BATCH:
                try:
                    item = self._outcomes.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                pending.append(item)
            crash_point("before_ack")
            try:
                verdicts = self.broker.finish(self.worker_id, pending)
                crash_point("after_ack")
            except BrokerUnavailable as exc:
                log.warning("%s: ack failed (%s); retrying %d", self.worker_id, exc, len(pending))
                if self.exited.wait(0.2):
                    return
                continue
            self._acked(pending, verdicts)
            pending = []

    def _acked(self, outcomes: list[Outcome], verdicts: list[str]) -> None:
        with self._lock:
            for outcome, verdict in zip(outcomes, verdicts, strict=True):
                self._attempts.pop(outcome.id, None)
                self.processed += 1
                if verdict not in ("ok", "duplicate"):
                    self.failed += 1
                if verdict == "stale":
                    log.info("%s: late result for %s rejected (stale lease)", self.worker_id, outcome.id)
        self.slot_freed.set()

    # --- used by the duties ----------------------------------------------------------
    def held(self) -> list[tuple[str, str]]:
        with self._lock:
            return [a.held for a in self._attempts.values()]

    def lease_lost(self, task_id: str) -> None:
        """Another worker may be running this task now; ask our handler to stop early."""
        with self._lock:
            attempt = self._attempts.get(task_id)
        # a reported attempt's outcome is decided (its ack may just have ended the lease)
        if attempt is not None and not attempt.reported and not attempt.cancelled.is_set():
            log.warning("%s: lost the lease of %s", self.worker_id, task_id)
            attempt.cancelled.set()

    def expire_overdue(self) -> None:
        """Fail attempts past their timeout; the handler thread is told to stop."""
        now = time.monotonic()
        with self._lock:
            overdue = [a for a in self._attempts.values() if not a.reported and now > a.deadline]
            for attempt in overdue:
                attempt.reported = True
                attempt.cancelled.set()
        for attempt in overdue:
            self._outcomes.put(failure(attempt.claim, f"timed out after {attempt.claim.timeout:g}s", self.settings))

    def info(self) -> dict[str, Any]:
        with self._lock:
            current = list(self._attempts)[:50]
        return {"id": self.worker_id, "host": socket.gethostname(), "pid": os.getpid(),
                "started_at": round(self.started_at, 3), "last_heartbeat": round(time.time(), 3),
                "concurrency": self.concurrency, "current": current, "processed": self.processed,
                "failed": self.failed, "leader": int(self.is_leader)}
