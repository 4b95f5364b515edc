"""Child processes the benchmark starts: each in its own process group, always stopped.

A worker is killed as a whole group (SIGKILL to -pgid), so prefork children and thread pools
die with their parent, as they would when a machine or container dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.procs import free_port  # noqa: F401 - the one port picker; benchmark modules import it from here


@dataclass
class Group:
    """One started command, leader of its own process group."""

    name: str
    proc: subprocess.Popen
    log: Path

    @property
    def pgid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group, as a crash would."""
        _signal_group(self.pgid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, *, grace: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL what is left after `grace` seconds."""
        if self.alive():
            _signal_group(self.pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.pgid, signal.SIGKILL)  # stragglers (children) even if the leader exited
        if self.alive():
            self.proc.wait(timeout=10)

    def rss_bytes(self) -> int:
        """Resident memory of every process still in the group."""
        total = 0
        for pid in group_pids(self.pgid):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        return total


@dataclass
class Launcher:
    """Starts groups with logs in one directory and remembers them, so teardown misses none."""

    log_dir: Path
    groups: list[Group] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], *, env: dict[str, str] | None = None,
              cwd: str | None = None) -> Group:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}-{len(self.groups)}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        group = Group(name=name, proc=proc, log=log)
        self.groups.append(group)
        return group

    def stop_all(self) -> None:
        for group in self.groups:
            try:
                group.stop()
            except Exception:  # noqa: BLE001 - teardown must reach every group
                pass
        self.groups.clear()


def run_json(cmd: list[str], *, env: dict[str, str], cwd: str, timeout: float) -> str:
    """Run a short-lived helper in its own group; return its stdout, kill the group on timeout."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"{' '.join(cmd)} took longer than {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.strip()[-2000:]}")
    return out


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def wait_for(predicate, *, timeout: float, interval: float = 0.005, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; raise naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
