"""The one module that talks to Redis: every task state change is one Lua script call.

redis-py errors are translated here into system.errors; nothing above sees redis-py's.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import redis

from system.config import Settings
from system.connection import connect, worker_instance
from system.errors import (
    Backpressure,
    BrokerOutOfMemory,
    BrokerTimeout,
    BrokerUnavailable,
    Conflict,
    IdempotencyConflict,
    NotDurable,
    NotFound,
    OutcomeUnknown,
    WritesRefused,
)
from system.keys import PRIORITIES, Keys
from system.metrics import LATENCY_BUCKETS_MS
from system.model import TaskSpec, is_task_id, task_record
from system.scripts import Limits, Scripts

COUNTERS = ("submitted", "completed", "failed", "retried", "dead", "stale_acks",
            "lease_expired", "cancelled", "redriven", "worker_lost")


class Claim(NamedTuple):
    """A task leased to this worker; `token` fences every later write about it.

    A tuple, not a frozen dataclass: one is built per task claimed, and a frozen dataclass's
    constructor costs three times as much."""

    id: str
    token: str
    type: str
    data: Any
    attempt: int
    max_retries: int
    timeout: float
    submitted_at: float
    priority: str
    failures: int


class Outcome(NamedTuple):
    """The result of one attempt, as reported by the worker that ran it."""

    id: str
    token: str
    ok: bool
    payload: str  # JSON result, or the error message
    retry_delay_ms: int = 0
    began: float = 0.0  # time.monotonic() when a thread started it; 0: unknown (recorded as now)


class Start(NamedTuple):
    """A thread of this worker started a reserved task (time.monotonic() in `began`)."""

    id: str
    token: str
    began: float


def _ms_since(began: float, now: float) -> int:
    return max(0, int(1000 * (now - began))) if began else 0


@contextmanager
def translated_errors() -> Iterator[None]:
    """Map every redis-py exception to the project's: each is a BrokerUnavailable, so callers
    (worker loops, the gateway's 503/507) handle them all alike; nothing above sees redis-py's."""
    try:
        yield
    except redis.RedisError as exc:
        raise broker_error(exc) from exc


UNKNOWN_OUTCOME = "the command may or may not have been applied; retry with the same Idempotency-Key"


def broker_error(exc: redis.RedisError) -> BrokerUnavailable:
    """The project's error for one redis-py exception (pure, so each mapping is unit-tested)."""
    text = str(exc)
    if isinstance(exc, redis.OutOfMemoryError) or text.startswith("OOM") or "maxmemory" in text:
        return BrokerOutOfMemory(f"Redis is out of memory (maxmemory reached) and refuses writes: {text}")
    if isinstance(exc, redis.ReadOnlyError) or text.startswith(("READONLY", "MISCONF")):
        return WritesRefused(f"Redis refuses writes: {text}")
    if isinstance(exc, redis.TimeoutError):
        return BrokerTimeout(f"Redis did not answer in time ({text}); {UNKNOWN_OUTCOME}")
    if isinstance(exc, redis.ConnectionError):
        return BrokerUnavailable(f"Redis unavailable: {text}")
    if text.startswith(("LOADING", "MASTERDOWN", "NOREPLICAS", "BUSY")):
        return BrokerUnavailable(f"Redis not ready: {text}")
    return BrokerUnavailable(f"Redis error: {text}")


class Broker:
    """Producer, consumer and observer operations on the queue."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.client = client or connect(settings)
        self.scripts = Scripts.register(self.client, Limits(settings.max_events, settings.dead_max,
                                                            settings.dead_ttl_s))
        self._presence: Any = None  # redis-py PubSub of watch_presence
        self._base = [self.keys.task_prefix, ":events"]
        assert self.keys.events("x") == self.keys.task("x") + ":events"

    # --- producers -------------------------------------------------------------------
    def submit(self, specs: Sequence[TaskSpec], trace: tuple[str, str] = ("", "")) -> list[tuple[str, bool]]:
        """Store and enqueue tasks atomically; returns (id, created) per task.

        `trace` is the W3C (traceparent, tracestate) of the submit's span, stored with each task
        so its attempts join the same trace ('' when tracing is off).
        With durable_ack, WAIT runs on the same connection right after the write, and a
        write no replica confirmed is reported as NotDurable (the client may retry with
        the same idempotency key).
        """
        fingerprints = [spec.fingerprint() if spec.idempotency_key else "" for spec in specs]
        _check_repeated_keys(specs, fingerprints)
        args: list[Any] = [*self._base, self.keys.idempotency_prefix, self.settings.result_ttl_s, len(specs)]
        for spec, fingerprint in zip(specs, fingerprints, strict=True):
            args += [uuid.uuid4().hex, spec.type, spec.data_json(), spec.priority,
                     spec.max_retries, spec.timeout, spec.idempotency_key, fingerprint, *trace]
        args += [self.settings.max_queued, self.settings.submit_memory_budget]
        keys = [*self.keys.queues, self.keys.index, self.keys.stats, self.keys.wakeup]
        with _submit_outcome(), translated_errors():
            if not self.settings.durable_ack:
                flat = self.scripts.submit(keys=keys, args=args)
            else:
                pipe = self.client.pipeline(transaction=False)
                self.scripts.submit(keys=keys, args=args, client=pipe)
                pipe.wait(self.settings.durable_ack_replicas, self.settings.durable_ack_timeout_ms)
                flat, acked = pipe.execute()
                if acked < self.settings.durable_ack_replicas:
                    raise NotDurable(f"stored on the primary but confirmed by {acked} of "
                                     f"{self.settings.durable_ack_replicas} replicas in time; "
                                     "retry with the same Idempotency-Key")
        if flat and flat[0] == "conflict":
            index, existing = int(flat[1]), flat[2]
            raise IdempotencyConflict(f"Idempotency-Key {specs[index].idempotency_key!r} was used for task "
                                      f"{existing} with a different request; use a new key for a new task")
        if flat and flat[0] == "full":
            raise _backpressure(flat[1], int(flat[2]), int(flat[3]), self.settings.backpressure_retry_after_s)
        return [(flat[i], bool(int(flat[i + 1]))) for i in range(0, len(flat), 2)]

    def cancel(self, task_id: str) -> None:
        self._outcome(self.scripts.cancel, task_id,
                      [*self.keys.queues, self.keys.delayed, self.keys.stats], [self.settings.result_ttl_s])

    def redrive(self, task_id: str) -> None:
        self._outcome(self.scripts.redrive, task_id,
                      [*self.keys.queues, self.keys.dead, self.keys.stats, self.keys.wakeup], [])

    def _outcome(self, script: Any, task_id: str, keys: list[str], extra: list[Any]) -> None:
        _known_shape(task_id)
        with translated_errors():
            verdict, status = script(keys=keys, args=[*self._base, task_id, *extra])
        if verdict == "missing":
            raise NotFound(f"no task with id {task_id!r}")
        if verdict == "conflict":
            raise Conflict(f"task {task_id} is {status}; only queued or retry_scheduled tasks can be "
                           "cancelled and only dead tasks re-driven")

    def trace_contexts(self, claims: Sequence[Claim]) -> list[tuple[str, str, list[str] | None]]:
        """(traceparent, tracestate, raw events) of claimed tasks in one round trip; events only
        for later attempts, whose span records how the attempt before ended. Tracing only."""
        with translated_errors():
            pipe = self.client.pipeline(transaction=False)
            for claim in claims:
                pipe.hmget(self.keys.task(claim.id), "traceparent", "tracestate")
                if claim.attempt > 1:
                    pipe.lrange(self.keys.events(claim.id), 0, -1)
            replies = iter(pipe.execute())
        out = []
        for claim in claims:
            traceparent, tracestate = next(replies)
            out.append((traceparent or "", tracestate or "", next(replies) if claim.attempt > 1 else None))
        return out

    # --- observers -------------------------------------------------------------------
    def get(self, task_id: str) -> dict[str, Any]:
        _known_shape(task_id)
        with translated_errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.hgetall(self.keys.task(task_id))
            pipe.lrange(self.keys.events(task_id), 0, -1)
            fields, events = pipe.execute()
        if not fields:
            raise NotFound(f"no task with id {task_id!r}")
        return task_record(fields, events)

    def get_many(self, task_ids: Sequence[str], *, events: bool = False) -> list[dict[str, Any]]:
        """Full records of the ids that still exist, in order, in one round trip."""
        with translated_errors():
            pipe = self.client.pipeline(transaction=False)
            for task_id in task_ids:
                pipe.hgetall(self.keys.task(task_id))
                if events:
                    pipe.lrange(self.keys.events(task_id), 0, -1)
            replies = pipe.execute()
        step = 2 if events else 1
        return [task_record(replies[i], replies[i + 1] if events else None)
                for i in range(0, len(replies), step) if replies[i]]

    def list_tasks(self, *, status: str | None = None, kind: str | None = None, limit: int = 50,
                   cursor: int = 0, scan_max: int = 5000,
                   events: bool = False) -> tuple[list[dict[str, Any]], int | None]:
        """Summaries, newest first (see _summaries). Filters apply while scanning the index, at
        most scan_max entries per page, so a rare status cannot make one request scan everything;
        a page also ends before LIST_PAGE_BYTES; the cursor resumes. With events, each record
        carries its history (the harness reads runs back this way)."""
        found: list[dict[str, Any]] = []
        position, used = cursor, 0
        with translated_errors():
            while len(found) < limit and position - cursor < scan_max:
                ids = self.client.zrevrange(self.keys.index, position, position + 199)
                if not ids:
                    return found, None
                shapes = self._shapes(ids)
                wanted = [i for i, sh in zip(ids, shapes, strict=True)
                          if sh and status in (None, sh[0]) and kind in (None, sh[1])][:limit - len(found)]
                records = self._summaries(wanted, dict(zip(ids, shapes, strict=True)), events=events)
                for task_id in ids:
                    if task_id in records:
                        record, size = records[task_id]
                        if found and used + size > self.settings.list_page_bytes:
                            return found, position  # the page's byte budget: resume at this one
                        found.append(record)
                        used += size
                    position += 1
                    if len(found) == limit:
                        break
        return found, position

    def dead_letters(self, *, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Summaries of dead tasks, newest first, within LIST_PAGE_BYTES (count says how many)."""
        with translated_errors():
            ids = self.client.zrevrange(self.keys.dead, offset, offset + limit - 1)
            total = self.client.zcard(self.keys.dead)
            records = self._summaries(ids, dict(zip(ids, self._shapes(ids), strict=True)), events=False)
        out, used = [], 0
        for task_id in ids:
            if task_id in records:
                record, size = records[task_id]
                if out and used + size > self.settings.list_page_bytes:
                    break
                out.append(record)
                used += size
        return out, total

    def _shapes(self, ids: Sequence[str]) -> list[tuple[str, str, int, int, list[str]] | None]:
        """Per id: status, type, length of data and of result, field names (None: gone); one
        round trip that reads no large value."""
        pipe = self.client.pipeline(transaction=False)
        for task_id in ids:
            key = self.keys.task(task_id)
            pipe.hmget(key, "status", "type")
            pipe.hstrlen(key, "data")
            pipe.hstrlen(key, "result")
            pipe.hkeys(key)
        replies = pipe.execute()
        return [(r[0][0], r[0][1], r[1], r[2], r[3]) if r[3] else None
                for r in (replies[i:i + 4] for i in range(0, len(replies), 4))]

    def _summaries(self, ids: Sequence[str], shapes: dict[str, Any], *,
                   events: bool) -> dict[str, tuple[dict[str, Any], int]]:
        """List-page records and their size in bytes: `data` and `result` longer than
        LIST_FIELD_BYTES are never read; they are null and named in `omitted` (GET /tasks/<id>
        has them), so one page of large tasks cannot take hundreds of MB."""
        plan = []
        pipe = self.client.pipeline(transaction=False)
        for task_id in ids:
            _, _, data_len, result_len, names = shapes[task_id]
            omitted = omitted_fields(names, data_len, result_len, self.settings.list_field_bytes)
            fields = [name for name in names if name not in omitted]
            plan.append((task_id, fields, omitted))
            pipe.hmget(self.keys.task(task_id), fields)
            if events:
                pipe.lrange(self.keys.events(task_id), 0, -1)
        replies = iter(pipe.execute())
        out = {}
        for task_id, fields, omitted in plan:
            values = next(replies)
            history = next(replies) if events else None
            if values[0] is None:  # expired between the two round trips
                continue
            record = task_record(dict(zip(fields, values, strict=True)), history)
            if omitted:
                record["omitted"] = sorted(omitted)
                for name in omitted:
                    record[name] = None
            out[task_id] = (record, len(json.dumps(record)))  # what it adds to the page, near enough
        return out

    def queue_depths(self) -> dict[str, int]:
        with translated_errors():
            pipe = self.client.pipeline(transaction=False)
            for queue in self.keys.queues:
                pipe.llen(queue)
            pipe.zcard(self.keys.leases)
            pipe.zcard(self.keys.delayed)
            pipe.zcard(self.keys.dead)
            counts = pipe.execute()
        return dict(zip([*PRIORITIES, "leased", "delayed", "dead"], counts, strict=True))

    def stats(self) -> dict[str, int]:
        with translated_errors():
            raw = self.client.hgetall(self.keys.stats)
        return {name: int(raw.get(name, 0)) for name in COUNTERS}

    def latency_histogram(self) -> tuple[dict[str, int], int]:
        """Bucket counts keyed by upper bound in ms ('inf' last) and the sum in ms."""
        with translated_errors():
            raw = self.client.hgetall(self.keys.latency)
        buckets = {str(b): int(raw.get(str(b), 0)) for b in LATENCY_BUCKETS_MS}
        buckets["inf"] = int(raw.get("inf", 0))
        return buckets, int(raw.get("sum_ms", 0))

    def workers(self) -> tuple[list[dict[str, Any]], str | None]:
        """Live workers (registration not expired) and the current leader."""
        with translated_errors():
            ids = sorted(self.client.smembers(self.keys.workers_active))
            pipe = self.client.pipeline(transaction=False)
            for worker_id in ids:
                pipe.hgetall(self.keys.worker(worker_id))
            pipe.get(self.keys.leader)
            *infos, holder = pipe.execute()
        leader = leader_worker(holder)
        live = [_worker_view(info, leader) for info in infos if info]
        return live, leader

    def redis_info(self) -> dict[str, Any]:
        with translated_errors():
            info = self.client.info()
        return {"role": info.get("role"), "connected_replicas": info.get("connected_slaves", 0),
                "used_memory": info.get("used_memory"), "ops_per_sec": info.get("instantaneous_ops_per_sec"),
                "version": info.get("redis_version")}

    # --- workers ---------------------------------------------------------------------
    def claim(self, worker_id: str, count: int) -> list[Claim]:
        """Lease up to `count` queued tasks, highest priority first, FIFO within a priority."""
        return self.claim_and_peek(worker_id, count)[0]

    def claim_and_peek(self, worker_id: str, count: int, *, up_to: str = PRIORITIES[-1],
                       max_high: int | None = None) -> tuple[list[Claim], str | None]:
        """claim() from the levels `up_to` and above only, at most `max_high` of them high, plus
        the highest priority still queued afterwards (None: none), read in the same script."""
        levels = PRIORITIES.index(up_to) + 1
        args = [*self._base, worker_id, self.settings.lease_ttl_ms, count, levels,
                count if max_high is None else max_high]
        with translated_errors():
            *flat, top = self.scripts.claim(keys=[*self.keys.queues, self.keys.leases], args=args)
        claims = [Claim(flat[i], str(flat[i + 1]), flat[i + 2], json.loads(flat[i + 3]), int(flat[i + 4]),
                        int(flat[i + 5]), float(flat[i + 6]), int(flat[i + 7]) / 1000, flat[i + 8],
                        int(flat[i + 9]))
                  for i in range(0, len(flat), 10)]
        return claims, _top_priority(top)

    def wait_for_work(self, timeout_s: float) -> None:
        """Block until a submit pushes a wakeup token or the timeout passes.

        The block stays under the socket timeout, or an idle wait would read as Redis trouble.
        """
        with translated_errors():
            self.client.blpop([self.keys.wakeup], timeout=min(timeout_s, self.settings.redis_socket_timeout / 2))

    def extend(self, held: Sequence[tuple[str, str]]) -> list[str]:
        """Extend leases of (id, token) pairs; returns the ids this worker no longer holds."""
        if not held:
            return []
        with translated_errors():
            return self.scripts.extend(keys=[self.keys.leases],
                                       args=[*self._base, self.settings.lease_ttl_ms, *_flatten(held)])

    def finish(self, worker_id: str, outcomes: Sequence[Outcome]) -> list[str]:
        """Apply outcomes (fenced per task); returns 'ok' | 'retry' | 'dead' | 'stale' each, or
        'duplicate' for an outcome already applied (a re-sent batch whose reply was lost)."""
        return self.finish_and_peek(worker_id, outcomes)[0]

    def finish_and_peek(self, worker_id: str, outcomes: Sequence[Outcome],
                        starts: Sequence[Start] = ()) -> tuple[list[str], str | None]:
        """finish(), after recording `starts` (reserved -> running), plus the highest priority
        queued (None: none), read in the same script: a node whose prefetch buffer is full
        learns of more urgent work on every ack, for free. Start times travel as "ms ago", so
        they land on the Redis clock whatever the worker's clock says."""
        now = time.monotonic()
        args: list[Any] = [*self._base, self.settings.result_ttl_s, len(LATENCY_BUCKETS_MS), *LATENCY_BUCKETS_MS,
                           worker_id, len(starts)]
        for s in starts:
            args += [s.id, s.token, _ms_since(s.began, now)]
        for o in outcomes:
            args += [o.id, o.token, worker_id, "ok" if o.ok else "error", o.payload, o.retry_delay_ms,
                     _ms_since(o.began, now)]
        with translated_errors():
            *verdicts, top = self.scripts.finish(
                keys=[*self.keys.queues, self.keys.leases, self.keys.delayed, self.keys.dead, self.keys.stats,
                      self.keys.latency], args=args)
        return verdicts, _top_priority(top)

    def release(self, worker_id: str, held: Sequence[tuple[str, str]], reason: str = "worker shutting down") -> int:
        """Hand held (id, token) tasks back to the front of their queues; returns how many."""
        if not held:
            return 0
        with translated_errors():
            return self.scripts.release(keys=[*self.keys.queues, self.keys.leases, self.keys.wakeup],
                                        args=[*self._base, worker_id, reason, *_flatten(held)])

    def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None:
        """Register or refresh this worker: one MULTI/EXEC, expiring unless refreshed."""
        key = self.keys.worker(worker_id)
        with translated_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping={k: json.dumps(v) if isinstance(v, (list, dict)) else v
                                    for k, v in info.items()})
            pipe.pexpire(key, self.settings.worker_ttl_ms)
            pipe.sadd(self.keys.workers_active, worker_id)
            pipe.execute()

    def is_registered(self, worker_id: str) -> bool:
        """Whether the worker's registration is live (its heartbeats arrive): for probes."""
        with translated_errors():
            return bool(self.client.exists(self.keys.worker(worker_id)))

    def deregister(self, worker_id: str, instance: str) -> None:
        with translated_errors():
            self.scripts.deregister(keys=[self.keys.workers_active, self.keys.worker(worker_id), self.keys.leader],
                                    args=[*self._base, worker_id, instance])

    def elect(self, instance: str) -> int | None:
        """Become or stay leader; returns the leadership epoch (fencing token) or None.

        `instance` is the worker id plus a per-process nonce (see leader_worker), so a
        restarted worker with the same WORKER_ID is a new candidate, not the old leader.
        """
        with translated_errors():
            epoch = self.scripts.elect(keys=[self.keys.leader, self.keys.leader_epoch],
                                       args=[*self._base, instance, self.settings.leader_ttl_ms])
        return int(epoch) if epoch else None

    def reap(self, epoch: int, *, limit: int = 1000) -> tuple[int, int, int] | None:
        """Leader duty; returns (requeued, dead, released retries), None if no longer leader."""
        with translated_errors():
            result = self.scripts.reap(
                keys=[*self.keys.queues, self.keys.leases, self.keys.delayed, self.keys.dead,
                      self.keys.stats, self.keys.leader_epoch, self.keys.wakeup],
                args=[*self._base, epoch, limit, self.settings.max_lease_expiries])
        return None if result == -1 else (int(result[0]), int(result[1]), int(result[2]))

    def connected_workers(self) -> tuple[str, int, set[str]]:
        """(server run id, Redis time in ms, worker instances with a connection open now), read
        in one MULTI so the three belong together. Needs the CLIENT command (ACL)."""
        with translated_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.info("server")
            pipe.time()
            pipe.client_list(_type="normal")
            server, (sec, usec), clients = pipe.execute()
        names = (worker_instance(self.keys.prefix, c.get("name", "")) for c in clients)
        return str(server.get("run_id", "")), sec * 1000 + usec // 1000, {n for n in names if n}

    def watch_presence(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` on a subscribed connection. A closed connection (a blip, a
        proxy reset) raises at once and the next call opens a new one, so a live worker is
        without any named connection for milliseconds, not until its next command."""
        with translated_errors():
            try:
                if self._presence is None:
                    self._presence = self.client.pubsub(ignore_subscribe_messages=True)
                    self._presence.subscribe(self.keys.presence)
                self._presence.get_message(timeout=timeout_s)
            except redis.RedisError:
                presence, self._presence = self._presence, None
                if presence is not None:
                    presence.close()
                raise

    def reap_lost(self, instance: str, epoch: int | None, lost: Sequence[tuple[str, str]],
                  snapshot_ms: int) -> tuple[int, int, int] | None:
        """Re-queue the running tasks of lost (worker id, instance) pairs claimed before the
        snapshot, taking over leadership first if the leader is among them; returns
        (epoch, requeued, dead), None when this node does not lead (see reap_lost.lua)."""
        with translated_errors():
            result = self.scripts.reap_lost(
                keys=[*self.keys.queues, self.keys.leases, self.keys.dead, self.keys.stats, self.keys.leader,
                      self.keys.leader_epoch, self.keys.wakeup, self.keys.workers_active,
                      *(self.keys.worker(worker_id) for worker_id, _ in lost)],
                args=[*self._base, instance, "" if epoch is None else epoch, self.settings.leader_ttl_ms,
                      snapshot_ms, self.settings.max_lease_expiries, *_flatten(lost)])
        return None if result == -1 else (int(result[0]), int(result[1]), int(result[2]))

    def prune(self, epoch: int) -> list[str] | None:
        with translated_errors():
            result = self.scripts.prune(keys=[self.keys.workers_active, self.keys.leader_epoch, self.keys.index,
                                              self.keys.stats],
                                        args=[*self._base, epoch, self.keys.worker_prefix,
                                              self.settings.result_ttl_s * 1000])
        return None if result == -1 else list(result)


@contextmanager
def _submit_outcome() -> Iterator[None]:
    """A submit that failed before it reached Redis stored nothing; one whose reply was lost
    (timeout, reset, frozen Redis) may have been applied: say which, so a client knows to retry
    with the same Idempotency-Key rather than guess."""
    try:
        yield
    except (BrokerOutOfMemory, WritesRefused):
        raise  # Redis answered and refused the command: nothing was stored
    except BrokerUnavailable as exc:  # a lost connection or a timeout (BrokerTimeout)
        if _never_sent(exc.__cause__):
            raise
        raise OutcomeUnknown(f"{exc}; the task may or may not have been stored: retry with the same "
                             "Idempotency-Key (a repeat returns the stored task instead of a second one)") from exc


def _never_sent(cause: BaseException | None) -> bool:
    """redis-py says 'connecting to' / 'Timeout connecting' when the connection never opened."""
    text = str(cause)
    return "connecting to" in text or "Timeout connecting" in text or isinstance(cause, redis.ReadOnlyError) \
        or (isinstance(cause, redis.ResponseError) and not isinstance(cause, redis.ConnectionError))


def _check_repeated_keys(specs: Sequence[TaskSpec], fingerprints: Sequence[str]) -> None:
    """Within one batch, a key used twice must name the same request (the script checks stored keys)."""
    seen: dict[str, str] = {}
    for spec, fingerprint in zip(specs, fingerprints, strict=True):
        if spec.idempotency_key and seen.setdefault(spec.idempotency_key, fingerprint) != fingerprint:
            raise IdempotencyConflict(f"Idempotency-Key {spec.idempotency_key!r} appears twice in the batch "
                                      "with different requests; use one key per task")


def leader_instance(worker_id: str) -> str:
    """The value a worker process writes to the leader key: its id and a per-process nonce."""
    return f"{worker_id}#{uuid.uuid4().hex[:8]}"


def leader_worker(holder: str | None) -> str | None:
    """The worker id in a leader key value (None when nobody leads)."""
    return holder.rpartition("#")[0] or holder if holder else None


def omitted_fields(names: Sequence[str], data_len: int, result_len: int, limit: int) -> set[str]:
    """Which of a record's large fields a list page leaves out (an echo's result is its data)."""
    out = {name for name, size in (("data", data_len), ("result", result_len)) if size > limit}
    if "data" in out and "result_ref" in names:
        out.add("result")
    return out


def _backpressure(kind: str, current: int, limit: int, retry_after_s: int) -> Backpressure:
    if kind == "queued":
        what = f"{current} tasks are queued and the limit is {limit} (MAX_QUEUED)"
    else:
        what = f"Redis uses {current} bytes, over the submit budget of {limit} (SUBMIT_MEMORY_BUDGET of maxmemory)"
    return Backpressure(f"the queue is full: {what}; nothing was stored, retry after {retry_after_s} s",
                        retry_after_s=retry_after_s)


def _known_shape(task_id: str) -> None:
    if not is_task_id(task_id):
        raise NotFound(f"no task with id {task_id!r}")


def _flatten(pairs: Sequence[tuple[str, str]]) -> list[str]:
    return [item for pair in pairs for item in pair]


def _worker_view(info: dict[str, str], leader: str | None) -> dict[str, Any]:
    view: dict[str, Any] = dict(info)
    for key in ("pid", "concurrency", "running", "prefetched", "processed", "failed"):
        if key in view:
            view[key] = int(view[key])
    for key in ("started_at", "last_heartbeat"):
        if key in view:
            view[key] = float(view[key])
    view["current"] = json.loads(view.get("current", "[]"))
    view["loops"] = json.loads(view.get("loops", "{}"))  # seconds since each loop's last round
    view["stalled"] = json.loads(view.get("stalled", "[]"))  # loops silent for over WORKER_STALL_MS
    view["status"] = "degraded" if view["stalled"] else "ok"
    view["leader"] = view.get("id") == leader
    return view


def _top_priority(level: int) -> str | None:
    """The scripts' top_queued() (1-based level, 0 for none) as a priority name."""
    return PRIORITIES[int(level) - 1] if int(level) else None
