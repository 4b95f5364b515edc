"""A worker with a skewed wall clock (the clock_skew fault): libfaketime from Debian, preloaded.

Only the wall clock is shifted (`FAKETIME_DONT_FAKE_MONOTONIC=1`), as an NTP step or a wrong
RTC would: faking the monotonic clock too makes Python's timed lock waits hang (glibc's
sem_clockwait goes straight to the kernel; wolfcw/libfaketime#390). With the monotonic clock
left alone, libfaketime 0.9.10 breaks clock_nanosleep(TIMER_ABSTIME), which Python 3.11's
time.sleep uses (EINVAL; wolfcw/libfaketime#426). So the skewed worker also gets a
`sitecustomize` that makes time.sleep wait on a lock instead: the same sleep, through a call
libfaketime leaves alone. Nothing else of the worker changes.
"""

from __future__ import annotations

from pathlib import Path

from harness.backends.base import BackendError

FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1")
SLEEP_SHIM = '''"""Written by the harness (harness/backends/faketime.py) for a worker under libfaketime."""
import threading
import time


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
'''


def faketime_env(offset_s: float) -> dict[str, str]:
    """LD_PRELOAD + FAKETIME for a process whose wall clock runs offset_s off."""
    lib = next((p for p in FAKETIME_LIBS if Path(p).exists()), None)
    if lib is None:
        raise BackendError("clock_skew needs libfaketime: apt-get install faketime "
                           f"(looked for {', '.join(FAKETIME_LIBS)})")
    return {"LD_PRELOAD": lib, "FAKETIME": f"{offset_s:+.3f}", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1"}


def sleep_shim(work: Path) -> Path:
    """A directory holding the sitecustomize above (put it first on the worker's PYTHONPATH)."""
    d = work / "faketime-shim"
    d.mkdir(exist_ok=True)
    (d / "sitecustomize.py").write_text(SLEEP_SHIM)
    return d
