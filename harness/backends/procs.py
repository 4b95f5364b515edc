"""Child processes of the local backend: spawn with a log file, signal, reap, and find leftovers.

Each child runs in its own session (process group), so a Ctrl-C in the terminal reaches only the
harness, which then tears the children down in order; and each spawn is written to the ledger
before the child starts, so `harness cleanup` can find it if the harness itself is killed.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.ledger import Ledger


class ProcessError(RuntimeError):
    """A child could not be started or did not become ready; the message says which and why."""


# Listening ports come from below the kernel's ephemeral range (32768-60999 by default): a port
# bound to 0 and released is soon handed out again as the source port of some outgoing
# connection (to Redis, Toxiproxy, ...), and the server that wanted it then fails with EADDRINUSE
# (seen once in CI: a gateway that could not bind).
_LISTEN_PORTS = range(20000, 32000)


def free_port() -> int:
    """A port below the ephemeral range that was free a moment ago."""
    for _ in range(200):
        port = random.choice(_LISTEN_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(cond: Callable[[], bool], *, timeout: float, what: str,
               interval: float = 0.05) -> None:
    """Poll `cond` until true; raise ProcessError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise ProcessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Child:
    """One spawned process, with the name the harness knows it by."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Supervisor:
    """Starts and stops children, recording each in the ledger."""

    def __init__(self, *, ledger: Ledger, log_dir: Path) -> None:
        self.ledger = ledger
        self.log_dir = log_dir
        self.children: list[Child] = []

    def spawn(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> Child:
        log = self.log_dir / f"{name}.log"
        full_env = {**os.environ, **(env or {})}
        try:
            fh = open(log, "ab")
            popen = subprocess.Popen(list(argv), stdout=fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                                     start_new_session=True)
            fh.close()
        except OSError as exc:
            raise ProcessError(f"cannot start {name} ({argv[0]}): {exc}") from exc
        # Written right after the fork: a window of microseconds in which a SIGKILL of the
        # harness leaves an unrecorded child; the pid is unknown before Popen returns.
        self.ledger.write("spawn", pid=popen.pid, name=name, argv=list(argv))
        child = Child(name=name, argv=list(argv), popen=popen, log=log)
        self.children.append(child)
        return child

    def stop(self, child: Child, *, sig: int = signal.SIGTERM, grace: float = 10.0) -> int | None:
        """Signal, wait up to `grace` seconds, then SIGKILL; reap and record. Returns exit code."""
        if child.alive():
            try:
                os.kill(child.pid, signal.SIGCONT)  # a paused child cannot handle SIGTERM
                os.kill(child.pid, sig)
            except ProcessLookupError:
                pass
            try:
                child.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _killpg(child.pid)
                child.popen.wait(timeout=5)
        else:
            child.popen.wait()
        _killpg(child.pid)  # grandchildren (gunicorn workers) share the group
        self.reaped(child)
        return child.popen.returncode

    def reaped(self, child: Child) -> None:
        """Record that a child is gone (after kill -9 and wait, or a stop)."""
        if child in self.children:
            self.children.remove(child)
        self.ledger.write("reaped", pid=child.pid, name=child.name)

    def stop_all(self, *, grace: float = 5.0) -> list[str]:
        """Stop every child, newest first; never raises. Returns problems."""
        problems = []
        for child in reversed(list(self.children)):
            try:
                self.stop(child, grace=grace)
            except Exception as exc:  # noqa: BLE001 - teardown must go on
                problems.append(f"could not stop {child.name} (pid {child.pid}): {exc}")
        return problems


def pid_running(pid: int | None, *, self_counts: bool) -> bool:
    """Whether `pid` is a process still running something (a zombie, e.g. a test's own unreaped
    child, is not). `self_counts` says whether the caller's own pid answers True: a session
    served by this very process is alive (control), but a ledger of this process is not another
    run's (cleanup)."""
    if pid is None or pid <= 0:
        return False
    if pid == os.getpid():
        return self_counts
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_leftover(pid: int, argv: Sequence[str]) -> bool:
    """SIGKILL a recorded child's process group if that pid still runs the recorded program
    (a pid may have been reused by something else since). Returns whether it was killed."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # redis-server rewrites its title into argv[0] ("/usr/bin/redis-server 127.0.0.1:6379")
    first = cmdline[0].decode(errors="replace").split(" ", 1)[0] if cmdline else ""
    if not argv or os.path.basename(first) != os.path.basename(argv[0]):
        return False
    for sig_target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            sig_target()
            return True
        except (ProcessLookupError, PermissionError):
            continue
    return False
