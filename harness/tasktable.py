"""The task records of a run, held compactly: a million of them in tens of MB, not gigabytes.

Most tasks of a run are *plain*: submitted, claimed once, started, succeeded, one token, no
error; everything about them fits in a few numbers (packed id, four times, codes for type,
priority, worker, data, result, packed idempotency key). Those are stored in arrays; every other
task (a retry, a lease expiry, a stale ack, a death, an odd id or key) is kept whole. Encoding
is checked on the way in (a row decodes back to exactly the record it came from, else the record
is kept whole), so checks see the same TaskRecords as before, made on the fly when iterated.

Public: TaskTable (a Sequence[TaskRecord] with lookups by id and key), TaskRows (a subset).
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from harness.codebook import Codebook, id_prefix, pack_id, pack_key, unpack_key
from harness.decodedrows import DecodedRows
from harness.history import TaskEvent, TaskRecord, task_from_dict

PLAIN, PLAIN_NO_START, WHOLE = 0, 1, 2
TIMES = {"submitted_at": 0, "claimed": 1, "started_at": 2, "finished_at": 3}   # columns of plain rows
CODES = {"type": 0, "priority": 1, "worker": 2, "data": 3, "result": 4}
_NAN = float("nan")


class TaskTable(DecodedRows[TaskRecord]):
    """Append-only; build with `add` / `from_records`, then read. Iteration makes each
    TaskRecord when asked (plain rows) or returns the kept one."""

    row_name = "task row"

    def __init__(self) -> None:
        self._ids = bytearray()             # 16 bytes a row
        self._times = array("d")            # submitted, claimed, started, finished (NaN: none)
        self._codes = array("I")            # type, priority, worker, data, result
        self._keys = array("Q")             # packed idempotency key (0: none)
        self._flags = array("B")
        self._whole: dict[int, TaskRecord] = {}
        self._book = Codebook()
        self._prefixes = Codebook()
        self._id_index: tuple[array, array] | None = None
        self._key_index: tuple[array, array] | None = None
        self._odd_ids: dict[str, int] = {}
        self._odd_keys: dict[str, list[int]] = {}
        self.memo: dict[Any, Any] = {}      # derived values (e.g. the queue analysis), per table

    @classmethod
    def from_records(cls, records: Iterable[TaskRecord | Mapping[str, Any]]) -> TaskTable:
        table = cls()
        for record in records:
            if isinstance(record, TaskRecord):
                table.add(record)
            else:
                table.add_dict(record)
        return table

    # -- writing ---------------------------------------------------------------------------
    def add_dict(self, raw: Mapping[str, Any]) -> None:
        """Add a task record as read from tasks.jsonl. A plain one is packed straight from the
        dict (its exact shape checked field by field, so nothing is lost); any other becomes
        a TaskRecord and goes through `add`."""
        packed = self._pack_raw(raw)
        if packed is None:
            self.add(task_from_dict(raw))
            return
        pid, times, codes, key, flag = packed
        self._ids += pid
        self._times.extend(times)
        self._codes.extend(codes)
        self._keys.append(key)
        self._flags.append(flag)
        self._id_index = self._key_index = None

    def _pack_raw(self, raw: Mapping[str, Any]) -> tuple[bytes, tuple, tuple, int, int] | None:
        events, worker = raw.get("events"), raw.get("worker")
        sub, fin, started = raw.get("submitted_at"), raw.get("finished_at"), raw.get("started_at")
        if (raw.get("status") != "succeeded" or raw.get("attempts") != 1 or raw.get("failures", 0) != 0
                or raw.get("expiries", 0) != 0 or raw.get("token") != 1 or raw.get("error") is not None
                or raw.get("traceparent") is not None or not isinstance(worker, str)
                or not isinstance(sub, float) or not isinstance(fin, float)
                or not isinstance(events, list) or len(events) not in (3, 4)):
            return None
        claimed, last = events[1], events[-1]
        done = {"t": fin, "event": "succeeded", "worker": worker, "token": 1}
        if (events[0] != {"t": sub, "event": "submitted", "detail": raw.get("priority")} or last != done
                or len(claimed) != 4 or claimed.get("event") != "claimed" or claimed.get("worker") != worker
                or claimed.get("token") != 1 or not isinstance(claimed.get("t"), float)
                or (len(events) == 4 and (not isinstance(started, float) or events[2] != {
                    "t": started, "event": "started", "worker": worker, "token": 1}))):
            return None
        pid = pack_id(raw.get("id"))
        key = pack_key(raw.get("idempotency_key"), self._prefixes)
        if pid is None or key is None or (started is not None and not isinstance(started, float)):
            return None
        book = self._book
        codes = (book.code(raw.get("type")), book.code(raw.get("priority")), book.code(worker),
                 book.code(raw.get("data")), book.code(raw.get("result")))
        return (pid, (sub, claimed["t"], _NAN if started is None else started, fin), codes, key,
                PLAIN if len(events) == 4 else PLAIN_NO_START)

    def add(self, task: TaskRecord) -> None:
        row = len(self._flags)
        packed = self._pack(task)
        if packed is not None:
            pid, times, codes, key, flag = packed
            self._ids += pid
            self._times.extend(times)
            self._codes.extend(codes)
            self._keys.append(key)
            self._flags.append(flag)
            if self._decode(row) == task:
                self._id_index = self._key_index = None
                return
            self._whole[row] = task     # the encoding would lose something: keep it whole
            self._flags[row] = WHOLE
            return
        pid = pack_id(task.id)
        self._ids += pid or bytes(16)
        if pid is None:
            self._odd_ids[task.id] = row
        self._times.extend((_NAN,) * 4)
        self._codes.extend((0,) * 5)
        key = pack_key(task.idempotency_key, self._prefixes)
        if key is None:
            self._odd_keys.setdefault(str(task.idempotency_key), []).append(row)
        self._keys.append(key or 0)
        self._flags.append(WHOLE)
        self._whole[row] = task
        self._id_index = self._key_index = None

    def _pack(self, t: TaskRecord) -> tuple[bytes, tuple, tuple, int, int] | None:
        """The row of a plain task, or None when it is not plain."""
        if (t.status != "succeeded" or t.attempts != 1 or t.failures or t.expiries or t.token != 1
                or t.error is not None or t.traceparent is not None or t.worker is None
                or t.submitted_at is None or t.finished_at is None or len(t.events) not in (3, 4)):
            return None
        pid = pack_id(t.id)
        key = pack_key(t.idempotency_key, self._prefixes)
        if pid is None or key is None:
            return None
        claimed = t.events[1]
        flag = PLAIN if len(t.events) == 4 else PLAIN_NO_START
        started = _NAN if t.started_at is None else t.started_at
        book = self._book
        codes = (book.code(t.type), book.code(t.priority), book.code(t.worker), book.code(t.data),
                 book.code(t.result))
        return pid, (t.submitted_at, claimed.t, started, t.finished_at), codes, key, flag

    # -- reading ---------------------------------------------------------------------------
    def _decode(self, row: int) -> TaskRecord:
        flag = self._flags[row]
        if flag == WHOLE:
            return self._whole[row]
        i = row * 4
        submitted, claimed, started, finished = self._times[i:i + 4]
        j = row * 5
        value = self._book.value
        kind, priority, worker, data, result = (value(c) for c in self._codes[j:j + 5])
        start = None if math.isnan(started) else started
        events: tuple[TaskEvent, ...] = (
            TaskEvent(submitted, "submitted", None, None, priority), TaskEvent(claimed, "claimed", worker, 1),
            *((TaskEvent(started, "started", worker, 1),) if flag == PLAIN else ()),
            TaskEvent(finished, "succeeded", worker, 1))
        return TaskRecord(self._ids[row * 16:row * 16 + 16].hex(), kind, priority, "succeeded", 1, 0, 0,
                          worker, submitted, start, finished,
                          unpack_key(self._keys[row], self._prefixes), 1, events, data, None, result, None)

    def __len__(self) -> int:
        return len(self._flags)

    def id_at(self, row: int) -> str:
        if self._flags[row] == WHOLE:
            return self._whole[row].id
        return self._ids[row * 16:row * 16 + 16].hex()

    def submitted_at(self, row: int) -> float | None:
        """The row's submitted_at without making its record."""
        if self._flags[row] == WHOLE:
            return self._whole[row].submitted_at
        return self._times[row * 4]

    # -- columns of the plain rows (what checks over a million tasks read instead of records) --
    def plain(self) -> Iterator[bool]:
        """Per row: is it plain (one claim, one success, token 1, no error: see the module doc)?
        Whole rows hold placeholders in every column."""
        return (f != WHOLE for f in self._flags)

    @property
    def plain_count(self) -> int:
        return len(self) - len(self._whole)

    @property
    def plain_started(self) -> int:
        """Plain rows whose events include `started` (the others went claimed -> succeeded)."""
        return self._flags.count(PLAIN)

    def times(self, name: str) -> array:
        """submitted_at, claimed (the claim's time), started_at (NaN: none) or finished_at of
        every row."""
        return self._times[TIMES[name]::4]

    def started_events(self) -> array:
        """Time of each row's `started` event (NaN: a plain row without one, or a whole row)."""
        started = self.times("started_at")
        for row, flag in enumerate(self._flags):
            if flag != PLAIN:
                started[row] = _NAN
        return started

    def codes(self, name: str) -> array:
        """Codes of type, priority, worker, data or result of every row (see `value`, `code`)."""
        return self._codes[CODES[name]::5]

    def value(self, code: int) -> Any:
        return self._book.value(code)

    def code(self, value: Any) -> int | None:
        """The code of a value some plain row holds, else None."""
        return self._book.find(value)

    def rows(self, rows: Sequence[int]) -> TaskRows:
        return TaskRows(self, rows)

    def whole(self) -> Iterator[TaskRecord]:
        """The records kept whole, in row order (every task that is not plain)."""
        return (self._whole[r] for r in sorted(self._whole))

    def eventful_rows(self) -> list[int]:
        """Rows of the tasks kept whole: everything that was not a plain single success."""
        return sorted(self._whole)

    # -- lookups ---------------------------------------------------------------------------
    def row_of(self, task_id: str | None) -> int | None:
        """Row of the task with this id, or None."""
        if task_id is None:
            return None
        pid = pack_id(task_id)
        if pid is None:
            return self._odd_ids.get(task_id)
        prefixes, rows = self._ids_sorted()
        p = id_prefix(pid)
        i = bisect.bisect_left(prefixes, p)
        while i < len(prefixes) and prefixes[i] == p:
            row = rows[i]
            if self._ids[row * 16:row * 16 + 16] == pid and row not in self._odd_row_set():
                return row
            i += 1
        return None

    def rows_with_key(self, key: str | None) -> list[int]:
        if key is None:
            return []
        packed = pack_key(key, self._prefixes)
        if packed is None:
            return list(self._odd_keys.get(key, ()))
        keys, rows = self._keys_sorted()
        i = bisect.bisect_left(keys, packed)
        j = bisect.bisect_right(keys, packed, lo=i)
        return sorted(rows[i:j])

    def duplicate_keys(self) -> dict[str, int]:
        """Idempotency keys held by two or more tasks -> how many."""
        keys, _ = self._keys_sorted()
        out: dict[str, int] = {}
        for i in range(1, len(keys)):
            if keys[i] == keys[i - 1] and keys[i]:
                name = unpack_key(keys[i], self._prefixes) or ""
                out[name] = out.get(name, 1) + 1
        out.update({k: len(v) for k, v in self._odd_keys.items() if len(v) > 1 and k})
        return out

    def _odd_row_set(self) -> set[int]:
        return set(self._odd_ids.values()) if self._odd_ids else set()

    def _ids_sorted(self) -> tuple[array, array]:
        if self._id_index is None:
            n = len(self)
            heads = array("Q", (id_prefix(self._ids[r * 16:r * 16 + 8]) for r in range(n)))
            order = sorted(range(n), key=heads.__getitem__)
            self._id_index = (array("Q", (heads[r] for r in order)), array("I", order))
        return self._id_index

    def _keys_sorted(self) -> tuple[array, array]:
        if self._key_index is None:
            order = sorted((r for r in range(len(self)) if self._keys[r]), key=self._keys.__getitem__)
            self._key_index = (array("Q", (self._keys[r] for r in order)), array("I", order))
        return self._key_index


class TaskRows(DecodedRows[TaskRecord]):
    """Some rows of a TaskTable, in the given order, made on the fly like the table's."""

    def __init__(self, table: TaskTable, rows: Sequence[int]) -> None:
        self._table, self._rows = table, array("I", rows)

    def __len__(self) -> int:
        return len(self._rows)

    def _decode(self, row: int) -> TaskRecord:
        return self._table[self._rows[row]]

    def __iter__(self) -> Iterator[TaskRecord]:
        return map(self._table.__getitem__, self._rows)

    def __bool__(self) -> bool:
        return len(self._rows) > 0
