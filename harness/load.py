"""The load generator: sends the planned submits (harness.loadshape) on time and records each.

The plan is a pure value; this module only owns threads and the clock. Each of `clients`
threads takes the next planned submit (or the next `batch` of them), waits until its time and
sends it with the idempotency key `<run_id>-<index>`; every submit becomes one SubmitRecord in
the history with its three-valued outcome. A late thread sends at once (catching up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.client import GatewayClient
from harness.history import SubmitRecord


@dataclass
class LoadCounters:
    """Live figures for the progress display (approximate; read without the lock)."""

    submitted: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    lag_max: float = 0.0          # worst lateness of a send behind its plan, seconds
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str, n: int = 1) -> None:
        with self.lock:
            self.submitted += n
            setattr(self, outcome, getattr(self, outcome) + n)


class LoadGenerator:
    def __init__(self, plan: Sequence[Any], *, gateway_url: str, run_id: str,
                 record: Callable[[SubmitRecord], None], clock: Callable[[], float],
                 clients: int = 4, batch: int | None = None, timeout: float = 2.0,
                 token: str | None = None) -> None:
        self.plan = list(plan)
        self.gateway_url = gateway_url
        self.token = token
        self.run_id = run_id
        self.record = record
        self.clock = clock
        self.clients = max(1, clients)
        self.batch = batch if batch and batch > 1 else None
        self.timeout = timeout
        self.counters = LoadCounters()
        self.stop = threading.Event()
        self._next = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.t0 = 0.0
        self.errors: list[str] = []

    def key(self, planned: Any) -> str:
        return f"{self.run_id}-{planned.index}"

    def start(self, t0: float) -> None:
        """Begin at run-clock time t0 (planned times are relative to it)."""
        self.t0 = t0
        for i in range(self.clients):
            th = threading.Thread(target=self._worker, name=f"load-{i}", daemon=True)
            th.start()
            self._threads.append(th)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for every planned submit to be sent; True when all threads finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for th in self._threads:
            th.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(th.is_alive() for th in self._threads)

    def _take(self) -> list[Any]:
        with self._lock:
            n = self.batch or 1
            chunk = self.plan[self._next:self._next + n]
            self._next += len(chunk)
            return chunk

    def _wait_until(self, t: float) -> bool:
        """Sleep until run time t; False when stopped meanwhile."""
        while not self.stop.is_set():
            delay = self.t0 + t - self.clock()
            if delay <= 0:
                lag = -delay
                if lag > self.counters.lag_max:
                    self.counters.lag_max = lag
                return True
            self.stop.wait(min(delay, 0.5))
        return False

    def _worker(self) -> None:
        client = GatewayClient(self.gateway_url, timeout=self.timeout, token=self.token)
        try:
            while not self.stop.is_set():
                chunk = self._take()
                if not chunk or not self._wait_until(chunk[-1].t):
                    return
                self._send(client, chunk)
        except Exception as exc:  # noqa: BLE001 - a crashed client must show, not vanish
            self.errors.append(f"{threading.current_thread().name}: {exc!r}")
        finally:
            client.close()

    def _send(self, client: GatewayClient, chunk: list[Any]) -> None:
        keys = [self.key(p) for p in chunk]
        t = self.clock()
        if len(chunk) == 1:
            outcomes = [client.submit(chunk[0].body(), key=keys[0])]
        else:
            outcomes = client.submit_batch([p.body() for p in chunk], keys)
        t_done = self.clock()
        for planned, key, out in zip(chunk, keys, outcomes, strict=False):
            self.record(SubmitRecord(t=t, t_done=t_done, key=key, type=planned.type,
                                     priority=planned.priority, outcome=out.outcome, id=out.id,
                                     error=out.error))
            self.counters.add(out.outcome)
