"""Real processes for tests: redis-server, gateway and worker nodes, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> T:
    """Poll until condition() is truthy; fail with a clear message at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # the system may still be starting
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                         + (f" (last error: {last_error})" if last_error else ""))


class RedisServer:
    """A throw-away redis-server; stopped (and its files removed) by stop()."""

    def __init__(self, *extra: str) -> None:
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="tq-redis-")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir.name, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        wait_until(client.ping, timeout=10, message=f"redis-server on {self.port}")
        client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()


class Process:
    """A system process (gateway or worker) started with `python -m`, output kept in a file."""

    def __init__(self, module: str, env: dict[str, str], *args: str, name: str = "") -> None:
        self.name = name or module
        self.log = tempfile.NamedTemporaryFile(prefix=f"tq-{self.name}-", suffix=".log", delete=False)
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **env}
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], env=full_env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        """SIGKILL the whole session (gunicorn forks); used by fixtures whatever the test did."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def wait_for_gateway(url: str, *, timeout: float = 20.0, token: str | None = None) -> str:
    """Block until a gateway at url answers (gunicorn takes a moment on a busy machine)."""
    import requests

    with requests.Session() as http:
        if token:
            http.headers["Authorization"] = f"Bearer {token}"
        wait_until(lambda: http.get(url + "/queues", timeout=1).status_code == 200, timeout=timeout,
                   message=f"the gateway at {url} to answer")
    return url
