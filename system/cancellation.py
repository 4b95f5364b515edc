"""A cancel flag per attempt, with threading.Event's interface but built only when waited on.

Every claimed task gets one, and a `threading.Event` (a Condition around a Lock, whose
constructor probes the lock with three caught AttributeErrors) costs more to build than
the rest of a short task's bookkeeping. Most handlers never wait on theirs, so the Event
is made on the first wait().
"""

from __future__ import annotations

import threading

_MAKING = threading.Lock()  # two first waiters must share one Event


class Cancellation:
    """`set()` by the worker (timeout, lost lease, shutdown); `is_set()` / `wait()` by handlers."""

    __slots__ = ("_flag", "_event")

    def __init__(self) -> None:
        self._flag = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        if (event := self._event) is not None:
            event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or the timeout passes; True when set, like Event.wait."""
        if self._flag:
            return True
        with _MAKING:
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        if self._flag:  # set() ran before the Event existed: it had nothing to wake
            event.set()
        return event.wait(timeout)
