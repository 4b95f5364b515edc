"""This project as a system under test: the Python client path and the HTTP gateway path.

Workers are the project's own (`python -m system.worker`, default settings, through
benchmarks.project_handlers so the benchmark's task types exist). The client path submits with
system.broker.Broker in the driver's process; the gateway path through gunicorn
(`python -m system.gateway`) with single POST /tasks, and POST /tasks/batch for the batch rate.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.procs import Group, free_port, wait_for
from benchmarks.sut import Submitted, SystemUnderTest

ROOT = Path(__file__).resolve().parent.parent
#: the crash scenario's "short" profile; the defaults already recover within seconds
SHORT = {"LEASE_TTL_MS": "2000", "HEARTBEAT_INTERVAL_MS": "500", "REAPER_INTERVAL_MS": "500"}
BATCH = 100
CLIENTS = 8


@dataclass
class ProjectClient(SystemUnderTest):
    """Direct enqueue through system.broker (one Lua call per submit)."""

    name: str = "taskq-client"
    ours: bool = True
    settings: tuple[str, ...] = (
        "2 × `python -m system.worker` with default settings (WORKER_CONCURRENCY 8 threads)",
        "client: system.broker.Broker.submit, one task per call (batch rate: 100 per call)",
        "crash/short: LEASE_TTL_MS 2000, HEARTBEAT_INTERVAL_MS 500, REAPER_INTERVAL_MS 500",
        "priority: priority high / low (strict order: high, normal, low)",
    )
    _broker: Any = field(default=None, repr=False)

    def env(self, profile: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(REDIS_URL=self.redis_url, BENCH_REDIS_URL=self.redis_url, PYTHONPATH=str(ROOT),
                   PYTHONUNBUFFERED="1")
        if profile == "short":
            env.update(SHORT)
        return env

    def worker_command(self, index: int, *, profile: str):
        argv = [sys.executable, "-m", "benchmarks.project_handlers", "worker",
                "--id", f"bench-{index}", "--log-level", "WARNING"]
        return argv, self.env(profile), str(ROOT)

    @property
    def broker(self):
        if self._broker is None:
            from benchmarks.project_handlers import register
            from system.broker import Broker
            from system.config import Settings
            register()  # the submit path validates the type
            self._broker = Broker(Settings(redis_url=self.redis_url))
        return self._broker

    def submit(self, tasks: list[tuple[str, Any, str]]) -> None:
        from system.model import TaskSpec
        self.broker.submit([TaskSpec(type=t, data=d, priority=p, max_retries=3, timeout=300.0)
                            for t, d, p in tasks])

    def enqueue_noop(self, n: int) -> Submitted:
        self.broker.client.ping()
        t0 = time.perf_counter()
        for _ in range(n):
            self.submit([("bench_noop", None, "normal")])
        return Submitted(seconds=time.perf_counter() - t0)

    def enqueue_noop_batch(self, n: int) -> Submitted:
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            self.submit([("bench_noop", None, "normal")] * min(BATCH, n - start))
        return Submitted(seconds=time.perf_counter() - t0)

    def submit_warm(self, n: int, *, ms: float, profile: str) -> Submitted:
        t0 = time.perf_counter()
        for _ in range(n):
            self.submit([("bench_timed", {"label": "warm", "submit_ts": time.time(), "ms": ms}, "normal")])
        return Submitted(seconds=time.perf_counter() - t0)

    def submit_at_rate(self, *, rate: float, duration: float) -> Submitted:
        n, worst = int(rate * duration), 0.0
        t0 = time.perf_counter()
        for i in range(n):
            due, now = t0 + i / rate, time.perf_counter()
            if due > now:
                time.sleep(due - now)
            else:
                worst = max(worst, now - due)
            self.submit([("bench_timed", {"label": "lat", "submit_ts": time.time(), "ms": 0}, "normal")])
        return Submitted(seconds=time.perf_counter() - t0, sent=n, worst_lag_s=worst)

    def submit_crash(self, n: int, *, ms: float, profile: str) -> Submitted:
        t0 = time.perf_counter()
        for i in range(n):
            self.submit([("bench_crash", {"tid": f"c{i}", "ms": ms}, "normal")])
        return Submitted(seconds=time.perf_counter() - t0)

    def submit_priority(self, *, low: int, high: int, ms: float) -> Submitted:
        t0 = time.perf_counter()
        for label, count in (("low", low), ("high", high)):
            for _ in range(count):
                self.submit([("bench_timed", {"label": label, "submit_ts": time.time(), "ms": ms}, label)])
        return Submitted(seconds=time.perf_counter() - t0)


@dataclass
class ProjectGateway(ProjectClient):
    """The same workers; every submit is an HTTP request to gunicorn (`python -m system.gateway`)."""

    name: str = "taskq-http"
    #: crash and priority are properties of the workers, measured once through taskq-client
    scenarios: tuple[str, ...] = ("drain", "latency")
    settings: tuple[str, ...] = (
        "2 × `python -m system.worker` with default settings (WORKER_CONCURRENCY 8 threads)",
        "gateway: `python -m system.gateway` (gunicorn gthread, GATEWAY_WORKERS 2 × "
        "GATEWAY_THREADS 8)",
        "enqueue rate: single POST /tasks from 8 concurrent keep-alive connections; batch rate: "
        "POST /tasks/batch with 100 tasks, one connection; latency: single POSTs, one connection",
    )
    _gateway: Group | None = field(default=None, repr=False)
    _session: Any = field(default=None, repr=False)
    _port: int = 0

    def open(self) -> None:
        import requests
        self._port = free_port()
        env = self.env("default")
        env["GATEWAY_PORT"] = str(self._port)
        env["GATEWAY_HOST"] = "127.0.0.1"
        argv = [sys.executable, "-m", "benchmarks.project_handlers", "gateway"]
        self._gateway = self.launcher.start("taskq-gateway", argv, env=env, cwd=str(ROOT))
        self._session = requests.Session()
        wait_for(self._healthy, timeout=30, interval=0.1, what=f"the gateway on port {self._port}")

    def _healthy(self) -> bool:
        try:
            return self._session.get(f"http://127.0.0.1:{self._port}/health", timeout=1).status_code < 600
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None

    def enqueue_noop(self, n: int) -> Submitted:
        """Single POSTs from CLIENTS keep-alive connections at once: the gateway's capacity,
        not one client's round-trip time."""
        import requests
        sessions = [requests.Session() for _ in range(CLIENTS)]

        shares = [n // CLIENTS + (1 if i < n % CLIENTS else 0) for i in range(CLIENTS)]
        t0 = time.perf_counter()
        def send(i: int) -> None:
            for _ in range(shares[i]):
                self.submit([("bench_noop", None, "normal")], session=sessions[i])

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(send, range(CLIENTS)))
        return Submitted(seconds=time.perf_counter() - t0)

    def submit(self, tasks: list[tuple[str, Any, str]], *, session: Any = None) -> None:
        items = [{"type": t, "data": d, "priority": p} for t, d, p in tasks]
        http = session or self._session
        if len(items) == 1:
            resp = http.post(f"http://127.0.0.1:{self._port}/tasks", json=items[0], timeout=10)
        else:
            resp = http.post(f"http://127.0.0.1:{self._port}/tasks/batch", json={"tasks": items}, timeout=30)
        if resp.status_code not in (200, 202):
            raise RuntimeError(f"gateway answered {resp.status_code}: {resp.text[:300]}")
