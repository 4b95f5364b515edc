"""How many claimed tasks a node may hold beyond the ones it runs: pure arithmetic.

Claiming only for free slots costs one Redis round trip per handful of short tasks, and the
slots idle while it travels. Holding a few more (Celery's prefetch) hides that, but a held
task is a priority inversion: a high-priority task submitted now waits behind it. So the
buffer is sized in time, not in tasks: at most WORKER_PREFETCH_MS of expected work per slot.
Short tasks get a deep buffer, long ones (where a round trip is noise) none.
"""

from __future__ import annotations

from dataclasses import dataclass

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
