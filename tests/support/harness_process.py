"""`python -m harness run|up` as a child process that a test interrupts mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _take_sigint_like_a_terminal() -> None:
    """A test runner started as a background job (`cmd &` without job control) hands SIGINT
    on as ignored, and Python then installs no KeyboardInterrupt handler: reset it, so the test
    is about the harness and not about how CI was launched."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def harness_run(file: Path, *, backend: str, out: Path, state: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`harness run FILE` as a child; see harness_process."""
    with harness_process(["run", str(file), "--backend", backend, "--out", str(out)], state=state) as proc:
        yield proc


@contextmanager
def harness_process(args: list[str], *, state: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m harness ARGS` with its own state dir. If the test fails before the harness
    ends, stop it the way a user would (SIGTERM, then SIGKILL), so no harness outlives its
    test or leaks into the next one."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, env=harness_env(state),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=_take_sigint_like_a_terminal)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=10)
        elif proc.stdout is not None:
            proc.stdout.close()


def harness_env(state: Path) -> dict[str, str]:
    return {**os.environ, "HARNESS_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}


def wait_for_faults(state: Path, proc: subprocess.Popen[bytes], *, count: int = 2, timeout: float = 60) -> Path:
    """Poll the run's ledger until `count` faults are applied (the system is up and broken)."""
    from harness.ledger import ledgers, read_records

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0].decode()[-3000:]
        for path in ledgers(state) if state.exists() else []:
            if sum(1 for r in read_records(path) if r["op"] == "fault") >= count:
                time.sleep(0.3)  # let the last fault (a pause) land
                return path
        time.sleep(0.1)
    raise AssertionError("faults were never applied")
