"""Test hooks, not settings: points where a test makes a worker die or hang on purpose.

TQ_CRASH_AT=after_claim|before_ack|after_ack makes the process die at that point as if
SIGKILLed (tests/integration/test_crash_points.py). TQ_STALL_LOOP=ack makes the acker block
forever before its first ack, as a call that never returns would
(tests/integration/test_worker_robust.py). Both unset in production.
"""

from __future__ import annotations

import os
import threading

CRASH_AT = os.environ.get("TQ_CRASH_AT", "")
STALL_LOOP = os.environ.get("TQ_STALL_LOOP", "")


def crash_point(name: str) -> None:
    """Die here, without any cleanup, when the test hook names this point."""
    if CRASH_AT == name:
        os._exit(137)


def stall_point(loop: str) -> None:
    """Block this thread for ever when the test hook names this loop."""
    if STALL_LOOP == loop:
        threading.Event().wait()
