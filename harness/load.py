"""The load generator: sends the planned submits (harness.loadshape) on time and records each.

The plan is a pure value; this module only owns the clock and the sending. One thread runs an
asyncio loop: a dispatcher walks the plan, waits until each submit's time (or takes the next
`batch` of them) and starts its request at once, with up to `clients` requests in flight over
as many kept-alive connections (harness.http_pool, or aiohttp with `transport="aiohttp"`).
Threads with blocking clients could not keep pace (about 155 submits/s through the local
backend with 8 of them: each request costs thread switches and GIL hand-offs); figures in
docs/benchmarks.md, "The harness". Each submit carries the idempotency key
`<run_id>-<index>` and becomes one SubmitRecord with its three-valued outcome. How late each
send started behind its plan is kept (max and a histogram: `counters.lag_p99`); a send
waiting for a free client counts as late, so lag shows when `clients` is too small.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from harness.client import GatewayClient, Outcome, auth_headers
from harness.history import SubmitRecord
from harness.http_pool import KeepAlivePool

Post = Callable[[str, bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]
TRANSPORTS = ("pool", "aiohttp")

LAG_FINE_S = 0.0001    # histogram buckets of 0.1 ms up to LAG_FINE_MAX_S, then of 10 ms
LAG_FINE_MAX_S = 0.1
LAG_COARSE_S = 0.01
REALTIME_PRIORITY = 1  # the lowest SCHED_RR priority: above every normal thread, below the kernel's own
LAG_BUCKETS = int(LAG_FINE_MAX_S / LAG_FINE_S) + 1000  # up to 10 s; later lands in the last one


@dataclass
class LoadCounters:
    """Live figures for the progress display (approximate; read without the lock)."""

    submitted: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    lag_max: float = 0.0          # worst lateness of a send behind its plan, seconds
    lag_counts: list[int] = field(default_factory=lambda: [0] * LAG_BUCKETS, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str, n: int = 1) -> None:
        with self.lock:
            self.submitted += n
            setattr(self, outcome, getattr(self, outcome) + n)

    def lag(self, seconds: float) -> None:
        """Record how late one send started (fixed-size histogram: a long soak costs no memory)."""
        if seconds > self.lag_max:
            self.lag_max = seconds
        if seconds < LAG_FINE_MAX_S:
            bucket = int(seconds / LAG_FINE_S)
        else:
            bucket = int(LAG_FINE_MAX_S / LAG_FINE_S) + int((seconds - LAG_FINE_MAX_S) / LAG_COARSE_S)
        self.lag_counts[min(bucket, LAG_BUCKETS - 1)] += 1

    def lag_quantile(self, q: float) -> float:
        """The q-quantile of the send lag in seconds (upper edge of its bucket); 0 with no sends."""
        total = sum(self.lag_counts)
        if not total:
            return 0.0
        rank, seen = q * total, 0
        fine = int(LAG_FINE_MAX_S / LAG_FINE_S)
        for bucket, count in enumerate(self.lag_counts):
            seen += count
            if seen >= rank and count:
                edge = (bucket + 1) * LAG_FINE_S if bucket < fine else \
                    LAG_FINE_MAX_S + (bucket - fine + 1) * LAG_COARSE_S
                return min(edge, self.lag_max)
        return self.lag_max

    @property
    def lag_p99(self) -> float:
        return self.lag_quantile(0.99)


def request_headers(key: str | None = None, token: str | None = None) -> dict[str, str]:
    """Headers of a submit: the one place the load generator builds them."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return headers | auth_headers(token)


def outcome_of(status: int, body: bytes, *, batch: int | None = None) -> list[Outcome]:
    """Three-valued outcomes of one answer, as GatewayClient decides them: 2xx with ids is ok,
    4xx fail, anything else (5xx, an answer without ids) info. `batch`: tasks in the request."""
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = None
    n = batch or 1
    if status in (200, 201, 202):
        try:
            ids = [str(t["id"]) for t in parsed["tasks"]] if batch else [str(parsed["id"])]
        except (KeyError, TypeError):
            return [Outcome("info", error=f"HTTP {status} without {'ids' if batch else 'an id'}")] * n
        return [Outcome("ok", id=i) for i in ids]
    error = f"HTTP {status}: {body[:200].decode(errors='replace')}"
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        err = parsed["error"]
        error = f"HTTP {status} {err.get('code', '')}: {err.get('message', '')}".strip()
    return [Outcome("fail" if 400 <= status < 500 else "info", error=error)] * n


class LoadGenerator:
    def __init__(self, plan: Iterable[Any], *, gateway_url: str, run_id: str,
                 record: Callable[[SubmitRecord], None], clock: Callable[[], float],
                 clients: int = 4, batch: int | None = None, timeout: float = 2.0,
                 token: str | None = None, transport: str = "pool", realtime: bool = False) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport {transport!r}: use one of {', '.join(TRANSPORTS)}")
        self.plan = iter(plan)  # walked once, made as it goes (a soak's plan is never held whole)
        self.gateway_url = gateway_url.rstrip("/")
        self.run_id = run_id
        self.record = record
        self.clock = clock
        self.clients = max(1, clients)
        self.batch = batch if batch and batch > 1 else None
        self.timeout = timeout
        self.token = token
        self.transport = transport
        self.realtime = realtime
        self.scheduling = "normal"  # or "realtime", or why realtime was refused
        self.counters = LoadCounters()
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0
        self.errors: list[str] = []
        self._following: set[asyncio.Task[None]] = set()

    def key(self, planned: Any) -> str:
        return f"{self.run_id}-{planned.index}"

    def start(self, t0: float) -> None:
        """Begin at run-clock time t0 (planned times are relative to it)."""
        self.t0 = t0
        self._thread = threading.Thread(target=self._main, name="load", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for every planned submit to be sent and answered; True when done."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _main(self) -> None:
        if self.realtime:
            self.scheduling = realtime_thread()
        try:
            asyncio.run(self._run())
        except Exception as exc:  # noqa: BLE001 - a crashed generator must show, not vanish
            self.errors.append(f"load: {exc!r}")

    async def _run(self) -> None:
        if self.transport == "aiohttp":
            connector = aiohttp.TCPConnector(limit=self.clients, ttl_dns_cache=None)
            async with aiohttp.ClientSession(connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                async def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
                    async with session.post(self.gateway_url + path, data=body, headers=headers) as resp:
                        return resp.status, await resp.read()
                await self._dispatch(post)
            return
        pool = KeepAlivePool(self.gateway_url, size=self.clients, timeout=self.timeout)
        try:
            await self._dispatch_pool(pool)
        finally:
            await pool.close()

    async def _dispatch(self, post: Post) -> None:
        """Start each planned request at its time, with at most `clients` in flight (one task each)."""
        free = asyncio.Semaphore(self.clients)
        sending: set[asyncio.Task[None]] = set()
        for chunk in self._chunks():
            if not await self._wait_until(chunk[-1].t):
                break
            await free.acquire()
            self.counters.lag(max(0.0, self.clock() - self.t0 - chunk[-1].t))
            task = asyncio.create_task(self._send(post, chunk, free))
            sending.add(task)
            task.add_done_callback(sending.discard)
        if sending:
            await asyncio.gather(*sending)

    async def _dispatch_pool(self, pool: KeepAlivePool) -> None:
        """As `_dispatch`, but each request is bytes handed to an idle connection and its answer a
        callback (`_answered`): the fewest steps per request the event loop allows."""
        for chunk in self._chunks():
            if not await self._wait_until(chunk[-1].t):
                break
            if not pool.has_room():
                await pool.room()
            self.counters.lag(max(0.0, self.clock() - self.t0 - chunk[-1].t))
            keys = [self.key(p) for p in chunk]
            request = pool.request(*self._request(chunk, keys))
            t = self.clock()
            pool.send(request, lambda status, answer, error, chunk=chunk, keys=keys, t=t:
                      self._answered(pool, chunk, keys, t, _outcomes(status, answer, error, chunk)))
        await pool.drain()
        while self._following:
            await asyncio.gather(*self._following)

    def _chunks(self) -> Iterator[list[Any]]:
        step = self.batch or 1
        while chunk := list(itertools.islice(self.plan, step)):
            yield chunk

    def _answered(self, pool: KeepAlivePool, chunk: list[Any], keys: list[str], t: float,
                  outcomes: list[Outcome]) -> None:
        try:
            self._record(chunk, keys, outcomes, t)
        except Exception as exc:  # noqa: BLE001 - run from the connection's callback: stop and show it
            self.errors.append(f"load: recording {keys[0]}: {exc!r}")
            self.stop.set()
            return
        for planned, key, out in zip(chunk, keys, outcomes, strict=False):
            if planned.resend or planned.cancel:
                task = asyncio.get_running_loop().create_task(self._follow_up(pool.post, planned, key, out))
                self._following.add(task)
                task.add_done_callback(self._following.discard)

    def _record(self, chunk: list[Any], keys: list[str], outcomes: list[Outcome], t: float) -> None:
        t_done = self.clock()
        for planned, key, out in zip(chunk, keys, outcomes, strict=False):
            self.record(SubmitRecord(t=t, t_done=t_done, key=key, type=planned.type,
                                     priority=planned.priority, outcome=out.outcome, id=out.id,
                                     error=out.error))
            self.counters.add(out.outcome)

    async def _wait_until(self, t: float) -> bool:
        """Sleep until run time t; False when stopped meanwhile."""
        while not self.stop.is_set():
            delay = self.t0 + t - self.clock()
            if delay <= 0:
                return True
            await asyncio.sleep(min(delay, 0.1))
        return False

    async def _send(self, post: Post, chunk: list[Any], free: asyncio.Semaphore) -> None:
        keys = [self.key(p) for p in chunk]
        t = self.clock()
        try:
            status, answer = await post(*self._request(chunk, keys))
            outcomes = _outcomes(status, answer, None, chunk)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the outcome is unknown
            outcomes = _outcomes(0, b"", exc, chunk)
        finally:
            free.release()
        self._record(chunk, keys, outcomes, t)
        for planned, key, out in zip(chunk, keys, outcomes, strict=False):
            if planned.resend or planned.cancel:
                await self._follow_up(post, planned, key, out)

    async def _follow_up(self, post: Post, planned: Any, key: str, first: Outcome) -> None:
        """A planned re-send (same key: the system must answer with the same task, not a new one)
        and a planned cancel of an accepted task (200 while it is still queued, else 409)."""
        if planned.resend:
            t = self.clock()
            try:
                [again] = await self._post(post, [planned], [key])
            except Exception as exc:  # noqa: BLE001 - as for the first send: outcome unknown
                again = Outcome("info", error=f"{exc.__class__.__name__}: {exc}"[:300])
            self._record([planned], [key], [again], t)
        if planned.cancel and first.outcome == "ok" and first.id:
            await asyncio.to_thread(self._cancel, first.id)

    def _cancel(self, task_id: str) -> None:
        client = GatewayClient(self.gateway_url, timeout=self.timeout, token=self.token)
        try:
            client.cancel(task_id)
        finally:
            client.close()

    async def _post(self, post: Post, chunk: list[Any], keys: list[str]) -> list[Outcome]:
        status, answer = await post(*self._request(chunk, keys))
        return _outcomes(status, answer, None, chunk)

    def _request(self, chunk: list[Any], keys: list[str]) -> tuple[str, bytes, dict[str, str]]:
        """(path, body, headers) of one request: a single submit with its key in a header, or a
        batch with each task's key in its body."""
        if len(chunk) == 1:
            return "/tasks", _dumps(chunk[0].body()), request_headers(keys[0], self.token)
        body = {"tasks": [{**p.body(), "idempotency_key": k} for p, k in zip(chunk, keys, strict=True)]}
        return "/tasks/batch", _dumps(body), request_headers(None, self.token)


def _outcomes(status: int, answer: bytes, error: BaseException | None, chunk: list[Any]) -> list[Outcome]:
    """Each submit's outcome of one request: from its answer, or info when none came."""
    if error is not None:
        return [Outcome("info", error=f"{error.__class__.__name__}: {error}"[:300])] * len(chunk)
    return outcome_of(status, answer, batch=len(chunk) if len(chunk) > 1 else None)


def realtime_thread() -> str:
    """Put the calling thread under SCHED_RR (needs root or CAP_SYS_NICE); say how it runs.

    Why: a generator on the cores of the system it loads wakes for its planned times only when
    the scheduler lets it, tens of ms late at p99 once the machine is busy (docs/benchmarks.md,
    section 5a). As a real-time thread it runs as soon as it wakes, which is what a generator on
    a machine of its own would do; it needs a tenth of a core, and the kernel keeps 5 % of every
    second for normal threads whatever a real-time one does."""
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
    except (OSError, AttributeError) as exc:  # not root, a container without the capability, not Linux
        return f"normal (realtime refused: {exc})"
    return "realtime"


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode  # made once: json.dumps with options makes one a call


def _dumps(body: Mapping[str, Any]) -> bytes:
    return _ENCODE(body).encode()
