"""One worker node: claims tasks in batches, runs them on its own threads, acks in batches.

Load balancing is pull-based: idle nodes claim, busy ones do not, so work flows to capacity.
Claims land in a prefetch buffer (sized in expected time, see prefetch.py) that the task
threads pull from, so a short task never waits for a claim round trip. Threads wake each
other only when there is something to do: the claim loop sleeps until enough slots are free.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from typing import Any

from system.broker import Broker, Claim, Outcome, Start, leader_instance
from system.config import Settings
from system.connection import connect, worker_client_name
from system.errors import BrokerUnavailable
from system.keys import PRIORITIES
from system.tracing import worker_tracing
from system.worker.acker import ack_loop
from system.worker.duties import heartbeat_loop, leader_loop, presence_loop, start_daemon
from system.worker.execution import Attempt, failure, run_attempt
from system.worker.prefetch import (
    MeanDuration,
    ReadyBuffer,
    claim_ahead,
    expected_task_ms,
    prefetch_budget,
    prefetch_count,
)
from system.worker.supervise import Liveness, supervised
from system.worker.testhooks import crash_point

log = logging.getLogger("system.worker")
CLAIM_BATCH = 64
MAX_UNACKED = 1024  # outcomes held while Redis does not answer, before claiming pauses
URGENT_WAIT_S = 0.05  # the most a free slot waits for a claim of a more urgent task (one round trip)
LOOPS = ("claim", "ack", "heartbeat", "leader")  # long-lived loops whose liveness the heartbeat reports


class WorkerNode:
    def __init__(self, settings: Settings, *, broker: Broker | None = None, burst: bool = False) -> None:
        self.settings = settings
        self.worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.leader_instance = leader_instance(self.worker_id)
        # every connection named after this process, so the leader sees when it is gone
        self.broker = broker or Broker(settings, connect(
            settings, client_name=worker_client_name(settings.key_prefix, self.leader_instance)))
        self.concurrency = settings.worker_concurrency
        self.burst = burst
        self.started_at = time.time()
        self.stopping = threading.Event()  # no more claims
        self.exited = threading.Event()  # everything done: background threads end
        self.slot_freed = threading.Event()  # wakes the claim loop: enough slots free to claim
        self.is_leader = False
        self.grace_deadline: float | None = None  # set by stop()
        self.processed = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._attempts: dict[str, Attempt] = {}  # held leases: prefetched, running or waiting for their ack
        self._running = 0  # handlers executing now: what WORKER_CONCURRENCY bounds
        self._buffered = 0  # claimed, waiting in _ready for a thread
        self._queued_top: str | None = None  # most urgent priority queued in Redis, as last seen
        self._claim_rounds = 0  # claims completed: a slot yielding to urgent work waits for the next
        self._claimed = threading.Condition(self._lock)
        self._task_ms = MeanDuration()
        self._last_start = 0.0  # time.monotonic() of the latest task start on this node
        self._ready: ReadyBuffer[Attempt] = ReadyBuffer(PRIORITIES)
        self.outcomes: queue.SimpleQueue[Outcome | Start | None] = queue.SimpleQueue()  # to the acker; None: stop
        self.liveness = Liveness(LOOPS)
        self.stall_s = settings.worker_stall_ms / 1000
        self.tracing = worker_tracing(settings, self.worker_id, self.broker)  # None when off

    # --- lifecycle -------------------------------------------------------------------
    def run(self) -> None:
        """Serve until stop() (SIGTERM) or, in burst mode, until there is nothing left to do."""
        log.info("%s: started (concurrency %d)", self.worker_id, self.concurrency)
        acker = start_daemon(ack_loop, self, "ack")
        # daemon threads: a handler still stuck after the grace period must not keep the process
        for n in range(self.concurrency):
            self._start(self._task_loop, f"task_{n}")
        heartbeat = start_daemon(heartbeat_loop, self, "heartbeat")
        leader = start_daemon(leader_loop, self, "leader")
        start_daemon(presence_loop, self, "presence")  # a daemon: nothing to hand over at exit
        try:
            supervised(self._claim_loop, f"{self.worker_id}-claim", self.stopping)()
        finally:
            self.stopping.set()  # also in burst mode, where stop() was never called
            self._drain()
            self.outcomes.put(None)
            self._ready.close(self.concurrency)
            acker.join(timeout=self.settings.shutdown_grace_s)
            self.exited.set()
            # a heartbeat landing after deregister() would register this worker again
            for thread in (heartbeat, leader):
                thread.join(timeout=2 * self.settings.redis_socket_timeout + 1)
            try:
                self.broker.deregister(self.worker_id, self.leader_instance)
            except BrokerUnavailable as exc:
                log.warning("%s: could not deregister: %s", self.worker_id, exc)
            log.info("%s: stopped after %d tasks", self.worker_id, self.processed)
            if self.tracing:
                self.tracing.shutdown()

    def _start(self, loop: Any, name: str) -> threading.Thread:
        """A daemon thread running `loop` under supervision (see supervise.py)."""
        full = f"{self.worker_id}-{name}"
        thread = threading.Thread(target=supervised(loop, full, self.exited), name=full, daemon=True)
        thread.start()
        return thread

    def ack_stalled(self) -> bool:
        """The acker made no round within WORKER_STALL_MS: results this node computes may never
        be recorded, so it must not claim more or keep extending the leases it holds."""
        return "ack" in self.liveness.stalled(self.stall_s)

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
            if self.ack_stalled():  # claims would only be leases that are never extended
                self.liveness.beat("claim")
                self.slot_freed.wait(0.5)
                continue
            with self._lock:
                wanted, now = self._wanted()
                ahead = None if now else self._ahead()
                # urgent tasks are not prefetched behind lower ones: only for slots free now
                top = self._ready.top()
                free_for_urgent = max(1, self.concurrency - self._running - self._ready.count("high"))
                max_high = wanted if top == "high" else free_for_urgent
            if not now and not ahead:
                self.liveness.beat("claim")
                self.slot_freed.wait(0.5)
                continue
            try:
                if now:
                    claims, top = self.broker.claim_and_peek(self.worker_id, min(wanted, CLAIM_BATCH),
                                                             max_high=max_high)
                else:
                    claims, top = self.broker.claim_and_peek(self.worker_id, free_for_urgent, up_to=ahead)
                self._claim_done(top)
                self.liveness.beat("claim")
                errors = 0
                if claims:
                    crash_point("after_claim")
                    self._hold(claims)
                    continue
                if not now:  # another node took it; this one is busy, so no idle wait
                    continue
                if self.burst and self._idle():
                    return
                self.broker.wait_for_work(0.5 if self.burst else 1.0)
            except BrokerUnavailable as exc:
                self._claim_done(None)  # unknown now: no slot waits for urgent work meanwhile
                self.liveness.beat("claim")  # alive; Redis is what fails
                errors += 1
                log.warning("%s: claim failed (%s); retrying", self.worker_id, exc)
                self.stopping.wait(min(2.0, 0.05 * 2 ** errors))

    def _claim_done(self, queued_top: str | None) -> None:
        with self._lock:
            self._queued_top = queued_top
            self._claim_rounds += 1
            self._claimed.notify_all()

    def _wanted(self) -> tuple[int, bool]:
        """Tasks to claim (caller holds the lock), and whether to claim them now.

        Room is free slots plus the prefetch allowance. Claim as soon as a slot would idle
        (nothing left in the buffer for it), else once half the room is free: one round trip
        per several tasks while the buffer keeps every slot busy. A slot frees when its handler
        returns, not when Redis confirms the ack, so the next claim overlaps the previous
        batch's ack; unacked outcomes are still capped (Redis down).
        """
        budget = prefetch_budget(self.settings.worker_prefetch_ms, self._queued_top, PRIORITIES)
        busy = self._running >= self.concurrency
        task_ms = expected_task_ms(self._task_ms.ms, busy, 1000 * (time.monotonic() - self._last_start) if busy else 0)
        capacity = self.concurrency + prefetch_count(budget, self.concurrency, task_ms)
        held = self._running + self._buffered
        wanted = min(capacity - held, MAX_UNACKED - len(self._attempts))
        return wanted, wanted > 0 and (2 * wanted >= capacity or held < self.concurrency)

    def _ahead(self) -> str | None:
        """Priority of a task to claim beyond the room (caller holds the lock): Redis holds one
        more urgent than anything buffered; see claim_ahead."""
        if len(self._attempts) >= MAX_UNACKED:
            return None
        return claim_ahead(self._queued_top, self._ready.top(), PRIORITIES)

    def _idle(self) -> bool:
        depths = self.broker.queue_depths()
        return not self._attempts and not any(depths[k] for k in ("high", "normal", "low", "leased", "delayed"))

    def _hold(self, claims: list[Claim]) -> None:
        """Track a claimed batch as held leases and hand it to the task threads."""
        if self.tracing:
            self.tracing.claimed(claims)
        attempts = [Attempt(claim) for claim in claims]
        with self._lock:
            self._attempts.update((a.claim.id, a) for a in attempts)
            self._buffered += len(attempts)
        for attempt in attempts:
            self._ready.put(attempt, attempt.claim.priority)

    def _task_loop(self) -> None:
        """One slot: take the next held task, run it, queue its outcome; no hand-off per task."""
        while True:
            self._yield_to_urgent()
            if (attempt := self._ready.get()) is None:
                return
            if self._begin(attempt):
                self._execute(attempt)

    def _yield_to_urgent(self) -> None:
        """Before a free slot takes a buffered task, let a more urgent one queued in Redis be
        claimed for it: one round trip, so a free slot anywhere goes to the most urgent task,
        as without prefetch. Only while the last claim or ack saw such a task."""
        with self._lock:
            if self._ahead() is None or self.stopping.is_set():
                return
            round_ = self._claim_rounds
            self.slot_freed.set()
            self._claimed.wait_for(lambda: self._claim_rounds > round_, timeout=URGENT_WAIT_S)

    def _begin(self, attempt: Attempt) -> bool:
        """Whether to run a buffered attempt; skipped when draining (the drain hands it back)
        or when its lease was lost while it waited (another worker holds it now)."""
        with self._lock:
            self._buffered -= 1
            if attempt.reported or self.stopping.is_set():
                return False
            if attempt.cancelled.is_set():
                attempt.reported = True
                self._attempts.pop(attempt.claim.id, None)
                if self.tracing:
                    self.tracing.released([attempt.held], "lease lost before it started")
                return False
            attempt.started = True
            attempt.began = self._last_start = time.monotonic()
            attempt.deadline = attempt.began + attempt.claim.timeout
            self._running += 1
            # it took the last buffered task of its priority: the next urgent one may be due
            ahead = self._ahead() is not None
        if ahead:
            self.slot_freed.set()
        # reserved -> running travels with the acks: merged into this task's own ack if it ends
        # within START_REPORT_S, else sent alone about then (no round trip per task)
        self.outcomes.put(Start(attempt.claim.id, attempt.claim.token, attempt.began))
        if self.tracing:
            self.tracing.started(attempt.claim)
        return True

    def _execute(self, attempt: Attempt) -> None:
        started = time.monotonic()
        try:
            outcome = run_attempt(attempt, self.settings)
        except BaseException as exc:  # noqa: BLE001 - a handler's SystemExit must not end the slot
            outcome = failure(attempt.claim, f"{type(exc).__name__}: {exc}", self.settings)
        finally:
            with self._lock:
                self._running -= 1
                self._task_ms.add(1000 * (time.monotonic() - started))
                report, attempt.reported = not attempt.reported, True
                wake = self._wanted()[1] or self._ahead() is not None
            if wake:  # only then: a claim loop woken for nothing costs two context switches
                self.slot_freed.set()
        if report:  # else the timeout watchdog already failed it; this late result is dropped
            self.outcomes.put(outcome)

    def _drain(self) -> None:
        """Graceful stop: let running tasks finish within the grace period, hand back the rest."""
        deadline = self.grace_deadline or time.monotonic() + self.settings.shutdown_grace_s
        while self._unfinished() and time.monotonic() < deadline:
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
                if self.tracing:
                    self.tracing.released([a.held for a in leftover], "worker shutting down")
                log.info("%s: handed back %d unfinished tasks", self.worker_id, released)
            except BrokerUnavailable as exc:
                log.warning("%s: could not hand back tasks (their leases will expire): %s", self.worker_id, exc)
            with self._lock:
                for attempt in leftover:
                    self._attempts.pop(attempt.claim.id, None)

    def _unfinished(self) -> bool:
        """Running, or finished but not yet acked; prefetched tasks that never started do not count."""
        with self._lock:
            return any(a.started or a.reported for a in self._attempts.values())

    # --- acks (the loop is acker.py) -------------------------------------------------
    def busy(self) -> bool:
        """Tasks run or wait in the buffer: an outcome may soon have company (read without the lock)."""
        return bool(self._running or self._buffered)

    def acked(self, outcomes: list[Outcome], verdicts: list[str], queued_top: str | None) -> None:
        """Redis recorded these outcomes: drop their held leases and count them."""
        if self.tracing:
            self.tracing.finished(outcomes, verdicts)
        with self._lock:
            self._queued_top = queued_top
            for outcome, verdict in zip(outcomes, verdicts, strict=True):
                self._attempts.pop(outcome.id, None)
                self.processed += 1
                if verdict not in ("ok", "duplicate"):
                    self.failed += 1
                if verdict == "stale":
                    log.info("%s: late result for %s rejected (stale lease)", self.worker_id, outcome.id)
            # the unacked cap may have been what held claims back; or more urgent work waits
            wake = self._wanted()[1] or self._ahead() is not None
        if wake or self.stopping.is_set():
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
            if self.tracing:
                self.tracing.lease_lost(*attempt.held)
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
            self.outcomes.put(failure(attempt.claim, f"timed out after {attempt.claim.timeout:g}s", self.settings,
                                       attempt.began))

    def hand_back_stale(self, older_than_s: float) -> None:
        """Hand back prefetched tasks that waited over `older_than_s` while every slot stayed
        busy (long tasks ahead of them): to the front of their queue, where a node with a free
        slot takes them, instead of waiting here for one of ours."""
        now = time.monotonic()
        with self._lock:
            if self._running < self.concurrency or self.stopping.is_set() or not self._buffered:
                return
            stale = [a for a in self._attempts.values()
                     if not a.started and not a.reported and now - a.claimed > older_than_s]
            for attempt in stale:  # the task threads skip them (see _begin)
                attempt.reported = True
        if not stale:
            return
        try:
            released = self.broker.release(self.worker_id, [a.held for a in stale], "prefetched behind busy slots")
            if self.tracing:
                self.tracing.released([a.held for a in stale], "prefetched behind busy slots")
            log.info("%s: handed back %d prefetched tasks waiting behind busy slots", self.worker_id, released)
        finally:  # if Redis did not answer, their leases expire: no longer extended
            with self._lock:
                for attempt in stale:
                    self._attempts.pop(attempt.claim.id, None)

    def info(self) -> dict[str, Any]:
        with self._lock:
            current, running, prefetched = list(self._attempts)[:50], self._running, self._buffered
        return {"loops": self.liveness.ages(), "stalled": self.liveness.stalled(self.stall_s),
                "id": self.worker_id, "host": socket.gethostname(), "pid": os.getpid(),
                "started_at": round(self.started_at, 3), "last_heartbeat": round(time.time(), 3),
                "concurrency": self.concurrency, "current": current, "running": running,
                "prefetched": prefetched, "processed": self.processed,
                "failed": self.failed, "leader": int(self.is_leader)}
