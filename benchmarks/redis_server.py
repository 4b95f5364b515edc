"""The one local redis-server every system under test shares in a run, on a free port."""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import redis

from benchmarks.procs import Group, Launcher, free_port, wait_for


class RedisServer:
    """`redis-server --save '' --appendonly no` on a free port; a context manager."""

    def __init__(self, *, launcher: Launcher, binary: str = "redis-server") -> None:
        self.launcher = launcher
        self.binary = shutil.which(binary) or binary
        self.port = 0
        self.group: Group | None = None
        self._dir = tempfile.mkdtemp(prefix="bench-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.port = free_port()
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", self._dir, "--protected-mode", "no"]
        self.group = self.launcher.start("redis-server", cmd)
        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), timeout=10, what=f"redis-server on port {self.port}")
        return self

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout
        return out.strip()

    def stop(self) -> None:
        if self.group is not None:
            self.group.stop()
            self.group = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


