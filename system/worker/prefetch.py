"""How many claimed tasks a node may hold beyond the ones it runs: pure arithmetic.

Claiming only for free slots costs one Redis round trip per handful of short tasks, and the
slots idle while it travels. Holding a few more (Celery's prefetch) hides that, but a held
task is a priority inversion: a high-priority task submitted now waits behind it. So the
buffer is sized in time, not in tasks: at most WORKER_PREFETCH_MS of expected work per slot.
Short tasks get a deep buffer, long ones (where a round trip is noise) none.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_PER_SLOT = 4  # Celery's default prefetch multiplier: the most a node holds is 5 x its slots
SMOOTHING = 0.05  # weight of the newest duration in the running mean (about the last 20 tasks)


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


class ReadyBuffer(Generic[T]):
    """Claimed tasks waiting for a thread: highest priority first, FIFO within a priority.

    A high-priority task claimed behind buffered low ones starts before them, so prefetch
    delays it by one claim at most. Taking from a non-empty buffer makes no system call
    (a semaphore without waiters), which matters at thousands of tasks per second.
    """

    def __init__(self, priorities: Iterable[str]) -> None:
        self._levels = {p: deque() for p in priorities}
        self._order = list(self._levels.values())
        self._count = threading.Semaphore(0)

    def put(self, item: T, priority: str) -> None:
        """Queue an item; an unknown priority goes last (records are validated on submit)."""
        self._levels.get(priority, self._order[-1]).append(item)
        self._count.release()

    def close(self, takers: int) -> None:
        """Wake `takers` threads with nothing, once the items before have been taken."""
        self._count.release(takers)

    def get(self) -> T | None:
        """The next item, blocking while there is none; None after close()."""
        self._count.acquire()
        for level in self._order:
            try:
                return level.popleft()
            except IndexError:
                continue
        return None
