"""scripts/apt-lock.sh: the install scripts wait (bounded, saying so) for a held dpkg/apt lock.

dpkg and apt hold POSIX (fcntl) locks; the test holds one the same way on a stand-in file."""

from __future__ import annotations

import fcntl
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _wait(lock: Path, timeout_s: int) -> subprocess.CompletedProcess[str]:
    script = f'. "{ROOT}/scripts/apt-lock.sh"; apt_wait_for_lock'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "APT_LOCK_FILES": str(lock),
                               "APT_LOCK_TIMEOUT_S": str(timeout_s)})


def test_free_lock_passes_at_once(tmp_path: Path) -> None:
    lock = tmp_path / "lock-frontend"
    lock.touch()
    proc = _wait(lock, 1)
    assert proc.returncode == 0 and proc.stderr == ""


def test_held_lock_fails_after_the_timeout_naming_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "lock-frontend"
    with lock.open("w") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        proc = _wait(lock, 1)
    assert proc.returncode == 1
    assert f"{lock} is locked by another apt/dpkg; waiting up to 1 s" in proc.stderr
    assert f"{lock} is still locked after 1 s" in proc.stderr and "APT_LOCK_TIMEOUT_S" in proc.stderr


def test_waits_until_the_lock_is_released(tmp_path: Path) -> None:
    lock = tmp_path / "lock-frontend"
    with lock.open("w") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        release = threading.Timer(1.0, fcntl.lockf, args=(f, fcntl.LOCK_UN))
        release.start()
        proc = _wait(lock, 30)
        release.join()
    assert proc.returncode == 0, proc.stderr
    assert "waiting up to 30 s" in proc.stderr
