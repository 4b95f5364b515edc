"""Reads a run's task records back straight from Redis: pipelined, a chunk of ids per round
trip, each chunk written to tasks.jsonl at once, so a million records never sit in memory
(through the gateway, one GET per task and every record held, it took minutes and gigabytes).

The records are the API's shape (system.model.task_record, the decoder GET /tasks/<id> uses).
Two ways in:
- `read_back`: after the drain, every task the history names or the task index lists, in id
  order (the order runs always had);
- `Collector`: during a run longer than RESULT_TTL_S, a thread that reads each accepted task
  `after` seconds after its submit and keeps it once finished (else looks again later), so
  records are on disk before Redis expires them and Redis memory stays flat; `read_back` then
  reads only what the collector has not.

Public: read_records, read_back, Collector, ReadbackStats, TaskSink.
"""

from __future__ import annotations

import bisect
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from harness.history import FINAL_STATUSES, SubmitRecord, task_line
from system.keys import Keys
from system.model import task_record

CHUNK = 1000          # ids per pipeline round trip
INDEX_CHUNK = 10_000  # ids per ZRANGE of the task index
ATTEMPTS = 5          # a chunk is retried on a Redis error (reconnecting) this often


@dataclass
class ReadbackStats:
    records: int = 0
    seconds: float = 0.0
    round_trips: int = 0
    collected_early: int = 0    # by the Collector during the run

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "seconds": round(self.seconds, 3), "round_trips": self.round_trips,
                "collected_early": self.collected_early}


def read_records(r: redis.Redis, keys: Keys, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Full records (with events) of the ids that exist, in order: one round trip."""
    pipe = r.pipeline(transaction=False)
    for task_id in ids:
        pipe.hgetall(keys.task(task_id))
        pipe.lrange(keys.events(task_id), 0, -1)
    replies = pipe.execute()
    return [task_record(replies[i], replies[i + 1]) for i in range(0, len(replies), 2) if replies[i]]


def index_ids(r: redis.Redis, keys: Keys) -> Iterator[list[str]]:
    """Every id in the task index, a chunk at a time (oldest first)."""
    start = 0
    while True:
        ids = r.zrange(keys.index, start, start + INDEX_CHUNK - 1)
        if not ids:
            return
        yield ids
        start += len(ids)


class TaskSink:
    """Appends task records to tasks.jsonl and remembers which ids it holds: the system's hex
    ids as the 64-bit numbers of their first half, packed (8 bytes an id: a soak's 900,000 cost
    7 MB, where a set of them held 60 MB through the whole run); `holds` sorts them once, when
    the run is over and the read-back asks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")
        self._ids = array("Q")              # as written
        self._odd: set[str] = set()         # ids that are not 32 hex digits
        self._sorted: array[int] | None = None
        self._lock = threading.Lock()
        self.count = 0

    @staticmethod
    def _name(task_id: str) -> int | str:
        try:
            return int(task_id[:16], 16) if len(task_id) == 32 else task_id
        except ValueError:
            return task_id

    def holds(self, task_id: str) -> bool:
        name = self._name(task_id)
        if isinstance(name, str):
            return name in self._odd
        with self._lock:
            if self._sorted is None or len(self._sorted) != len(self._ids):
                self._sorted = array("Q", sorted(self._ids))
            held = self._sorted
        i = bisect.bisect_left(held, name)
        return i < len(held) and held[i] == name

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for record in records:
                name = self._name(record["id"])
                if isinstance(name, str):
                    self._odd.add(name)
                else:
                    self._ids.append(name)
                self._file.write(task_line(record))
                self.count += 1
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class _Reader:
    """A Redis connection that follows the backend's current primary and retries a chunk."""

    def __init__(self, redis_url: Callable[[], str]) -> None:
        self.redis_url = redis_url
        self._client: redis.Redis | None = None
        self.round_trips = 0

    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self.redis_url(), socket_timeout=10, socket_connect_timeout=2,
                                                decode_responses=True)
        return self._client

    def call(self, fn: Callable[[redis.Redis], Any]) -> Any:
        for attempt in range(ATTEMPTS):
            try:
                self.round_trips += 1
                return fn(self.client())
            except (redis.RedisError, OSError):
                self.close()
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def read_back(redis_url: Callable[[], str], keys: Keys, sink: TaskSink,
              history_ids: Iterable[str]) -> ReadbackStats:
    """Every task the history names or the index lists that the sink does not hold yet, read
    in id order a chunk at a time and appended to the sink."""
    began = time.perf_counter()
    reader = _Reader(redis_url)
    try:
        wanted = {i for i in history_ids if not sink.holds(i)}
        for chunk in reader.call(lambda r: list(index_ids(r, keys))):
            wanted.update(i for i in chunk if not sink.holds(i))
        ordered = sorted(wanted)
        del wanted
        before = sink.count
        for i in range(0, len(ordered), CHUNK):
            part = ordered[i:i + CHUNK]
            sink.write(reader.call(lambda r, part=part: read_records(r, keys, part)))
        return ReadbackStats(records=sink.count - before, seconds=time.perf_counter() - began,
                             round_trips=reader.round_trips)
    finally:
        reader.close()


class Collector:
    """Reads accepted tasks back during the run, before RESULT_TTL_S expires their records.

    Each accepted submit is looked at `after` seconds later; a finished task (succeeded, dead or
    cancelled) goes to the sink, any other is looked at again `after / 2` later. A late event
    that lands more than `after` seconds after its task finished (a stale ack of a worker frozen
    that long) is not seen: keep `after` above the longest pause or partition of the run."""

    def __init__(self, *, redis_url: Callable[[], str], keys: Keys, sink: TaskSink, after: float,
                 clock: Callable[[], float] = time.monotonic, interval: float = 1.0) -> None:
        self.keys, self.sink, self.after, self.clock, self.interval = keys, sink, after, clock, interval
        self._reader = _Reader(redis_url)
        self._pending: deque[tuple[float, str]] = deque()
        self._again: deque[tuple[float, str]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.collected = 0
        self.errors = 0

    def note(self, record: Any) -> None:
        """Called with every history record; remembers the ids of accepted submits."""
        if isinstance(record, SubmitRecord) and record.id and record.outcome == "ok":
            self._pending.append((self.clock() + self.after, record.id))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="collector", daemon=True)
        self._thread.start()

    def stop(self) -> list[str]:
        """Stop; returns the ids still waiting (read_back reads them with the rest)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._reader.close()
        return [i for _, i in self._pending] + [i for _, i in self._again]

    def _due(self, queue: deque[tuple[float, str]], now: float, limit: int) -> list[str]:
        out = []
        while queue and queue[0][0] <= now and len(out) < limit:
            out.append(queue.popleft()[1])
        return out

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            now = self.clock()
            while not self._stop.is_set():
                ids = self._due(self._again, now, CHUNK) or self._due(self._pending, now, CHUNK)
                if not ids:
                    break
                self.collect(ids, now)

    def collect(self, ids: list[str], now: float) -> None:
        """Read one chunk; keep the finished records, look at the others again later."""
        try:
            records = self._reader.call(lambda r: read_records(r, self.keys, ids))
        except (redis.RedisError, OSError):
            self.errors += 1
            self._again.extend((now + self.after / 2, i) for i in ids)
            return
        done = [r for r in records if r.get("status") in FINAL_STATUSES]
        self.sink.write(done)
        self.collected += len(done)
        finished = {r["id"] for r in done}
        self._again.extend((now + self.after / 2, i) for i in ids if i not in finished)
