"""Keeping a worker node's long-lived threads alive, and knowing when one is stuck.

A thread that dies leaves a half-alive node: under Redis OOM the acker once died on an error
it did not expect while the heartbeat kept extending the leases of tasks it would never ack.
So every loop runs under `supervised`: any exception is logged with its traceback and the
loop starts again after a bounded back-off; only a BaseException (a bug of the worker
itself, not of a task) ends the process, non-zero, for a supervisor to restart it.

A loop can also be stuck without raising (a call that never returns). Each loop reports a
beat when it completes a round or idles (`Liveness.beat`); the heartbeat publishes the age
of every loop's last beat, and a loop silent for longer than WORKER_STALL_MS marks the node
degraded in `/health` and `/workers`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("system.worker")

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
CALM_S = 60.0  # a loop that ran this long since its last failure starts its back-off afresh
EXIT_STATUS = 70  # EX_SOFTWARE: the worker itself is broken; restart it


def backoff_s(failures: int) -> float:
    """Wait before restarting a loop after `failures` failures in a row (pure)."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, failures - 1))


class Liveness:
    """Monotonic time of each loop's last beat. A dict store per beat: no lock needed (GIL)."""

    def __init__(self, names: Iterable[str], clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        self._last = dict.fromkeys(names, now)

    def beat(self, name: str) -> None:
        self._last[name] = self._clock()

    def ages(self) -> dict[str, float]:
        """Seconds since each loop's last beat, rounded to ms."""
        now = self._clock()
        return {name: round(now - last, 3) for name, last in self._last.items()}

    def stalled(self, bound_s: float) -> list[str]:
        """Loops with no beat within `bound_s`."""
        return [name for name, age in self.ages().items() if age > bound_s]


def supervised(loop: Callable[[], None], name: str, stop: threading.Event) -> Callable[[], None]:
    """A thread target that runs `loop` until it returns, restarting it after any exception."""

    def run() -> None:
        failures, since = 0, time.monotonic()
        while True:
            try:
                loop()
                return
            except Exception:  # noqa: BLE001 - the point: no error may end the loop
                failures = 1 if time.monotonic() - since > CALM_S else failures + 1
                since = time.monotonic()
                delay = backoff_s(failures)
                log.exception("%s loop failed (%d in a row); restarting it in %.1fs", name, failures, delay)
                if stop.wait(delay):
                    return
            except BaseException:  # noqa: BLE001 - SystemExit etc. would end only this thread
                log.critical("%s loop ended by a fatal error; exiting so a supervisor restarts the worker",
                             name, exc_info=True)
                logging.shutdown()
                os._exit(EXIT_STATUS)
                return  # only reached when a test replaces os._exit

    return run
