"""How many claimed tasks a node may hold beyond the ones it runs, and when a more urgent
task is claimed out of turn: pure logic, plus the buffer the task threads take from.

Claiming only for free slots costs one Redis round trip per handful of short tasks, and the
slots idle while it travels (and the task threads block and wake: context switches, which
cost more than the round trip on a 2-core VM). Holding more (Celery's prefetch) hides that.
The buffer is sized in time, not in tasks: at most WORKER_PREFETCH_MS of expected work per
slot, and 4 tasks per slot at most. Short tasks get a deep buffer, long ones (where a round
trip is noise) none.

A held task is a priority inversion: a high-priority task submitted now would wait behind it.
Three rules keep prefetch from delaying urgent work (see WorkerNode): the buffer hands out the
most urgent task first; a claim takes no more high tasks than the node has free slots unless
the buffer holds only highs (a burst spreads over every node's free slots); and every claim
and ack reports the most urgent priority queued, so that while it outranks everything
buffered a free slot waits one round trip for it (`claim_ahead`) instead of taking a
buffered lower one.
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_PER_SLOT = 4  # Celery's default prefetch multiplier: the most a node holds is 5 x its slots
SMOOTHING = 0.05  # weight of the newest duration in the running mean (about the last 20 tasks)
LOWEST_LEVEL_BUDGET_MS = 2  # prefetch budget while only the lowest priority is queued


@dataclass
class MeanDuration:
    """Exponentially weighted mean of handler wall times, in ms; None until the first one."""

    ms: float | None = None

    def add(self, ms: float) -> None:
        self.ms = ms if self.ms is None else self.ms + SMOOTHING * (ms - self.ms)


def prefetch_count(budget_ms: float, concurrency: int, mean_task_ms: float | None) -> int:
    """Tasks to hold beyond `concurrency`: the whole buffer drains in about `budget_ms`.

    With `concurrency` slots each finishing a task every `mean_task_ms`, a buffer of N waits
    N * mean / concurrency; solve for N, and never hold more than MAX_PER_SLOT extra per slot.
    Unknown durations (nothing ran yet) and a zero budget mean no prefetch.
    """
    if budget_ms <= 0 or mean_task_ms is None:
        return 0
    return min(MAX_PER_SLOT * concurrency, int(budget_ms * concurrency / max(mean_task_ms, 0.001)))


def expected_task_ms(mean_ms: float | None, all_busy: bool, since_last_start_ms: float) -> float | None:
    """The task duration to size the buffer with: the running mean of finished tasks, but while
    every slot is busy and none has started a task for `since_last_start_ms`, every running task
    is at least that old, so tasks take at least that long now.

    The mean learns only from tasks that finished: after short tasks, a node whose slots all run
    hour-long sleeps would otherwise keep prefetching 4 per slot behind them while another node
    has free slots. A drain of short tasks starts one every few hundred microseconds, so there
    this changes nothing.
    """
    if mean_ms is None or not all_busy:
        return mean_ms
    return max(mean_ms, since_last_start_ms)


def prefetch_budget(budget_ms: float, queued_top: str | None, priorities: Sequence[str]) -> float:
    """The budget for the next claim: shallow while the most urgent queued work is the lowest
    priority.

    Low tasks are the ones everything outranks, so holding them is what delays urgent work
    that arrives later: the slots that free first have already taken buffered lows, and a
    node with a shallow buffer claims (and so sees new urgent work) at almost every slot that
    frees. Celery's guide gives the same advice for priorities (prefetch multiplier 1). A
    drain of normal or high tasks keeps the whole budget.
    """
    if queued_top == priorities[-1]:
        return min(budget_ms, LOWEST_LEVEL_BUDGET_MS)
    return budget_ms


def claim_ahead(queued_top: str | None, buffered_top: str | None, priorities: Sequence[str]) -> str | None:
    """The priority to claim one task of now, out of turn, or None.

    A node with a full buffer claims nothing until half of it has drained, so a high task
    queued meanwhile would wait behind buffered lower ones: a priority inversion that prefetch
    creates. Every claim and ack reports the most urgent queued priority; while it outranks
    everything buffered, the node claims one task of it whenever a slot frees (or a claim or ack
    reports it), so urgent tasks go to the next free slot of any node, one at a time, as they
    would with no prefetch at all. An empty buffer needs nothing: the normal claim comes first.
    """
    if queued_top is None or buffered_top is None:
        return None
    return queued_top if priorities.index(queued_top) < priorities.index(buffered_top) else None


class ReadyBuffer(Generic[T]):
    """Claimed tasks waiting for a thread: highest priority first, FIFO within a priority.

    A high-priority task claimed behind buffered low ones starts before them, so prefetch
    delays it by one claim at most. The count of items is a C-level SimpleQueue of tokens:
    taking from a non-empty buffer makes no system call and runs no Python-level lock code,
    which matters at thousands of tasks per second.
    """

    def __init__(self, priorities: Iterable[str]) -> None:
        self._levels = {p: deque() for p in priorities}
        self._order = list(self._levels.values())
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()

    def put(self, item: T, priority: str) -> None:
        """Queue an item; an unknown priority goes last (records are validated on submit)."""
        self._levels.get(priority, self._order[-1]).append(item)
        self._tokens.put(None)

    def close(self, takers: int) -> None:
        """Wake `takers` threads with nothing, once the items before have been taken."""
        for _ in range(takers):
            self._tokens.put(None)

    def count(self, priority: str) -> int:
        """Items of one priority waiting for a thread."""
        return len(self._levels[priority])

    def top(self) -> str | None:
        """The highest priority waiting for a thread; None when empty."""
        return next((p for p, level in self._levels.items() if level), None)

    def get(self) -> T | None:
        """The next item, blocking while there is none; None after close()."""
        self._tokens.get()
        for level in self._order:
            try:
                return level.popleft()
            except IndexError:
                continue
        return None
