"""Record types of a run directory (docs/contracts.md) and their JSON read/write helpers.

Public: SubmitRecord, FaultRecord, SampleRecord, PhaseRecord (Record = their union),
TaskEvent, TaskRecord; record_to_dict, record_from_dict, task_from_dict, task_to_dict;
HistoryWriter (thread-safe JSONL appender); read_history, read_tasks, write_tasks,
write_results, read_results; HistoryError.
The history is the only contract between the load generator / fault injector and the
checkers (as in Jepsen): checks read these records and never touch the system.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from system.model import loads_json

_fast_dumps: Callable[..., bytes] | None
try:
    from orjson import dumps as _fast_dumps
except ImportError:  # pragma: no cover - orjson is in requirements.txt; json does the same, slower
    _fast_dumps = None

FINAL_STATUSES = ("succeeded", "dead", "cancelled")


class HistoryError(ValueError):
    """A run-directory file that does not follow docs/contracts.md; names file and line."""


@dataclass(frozen=True, slots=True)
class SubmitRecord:
    t: float
    t_done: float
    key: str | None
    type: str
    priority: str
    outcome: str                  # ok | fail | info (outcome unknown)
    id: str | None = None
    error: str | None = None
    kind: str = field(default="submit", init=False)


@dataclass(frozen=True, slots=True)
class FaultRecord:
    t: float
    phase: str                    # start | end
    fault: str
    target: str
    id: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    requested: float | None = None  # start: when the schedule asked for it (t = when applying began)
    effective: float | None = None  # start: when it took effect (process gone, toxic in place, ...)
    late: bool | None = None        # start: effective later than the tolerance after `requested`
    kind: str = field(default="fault", init=False)

    @property
    def at(self) -> float:
        """When the fault hit: its effective time, else (older runs, failed faults) `t`."""
        return self.effective if self.effective is not None else self.t


@dataclass(frozen=True, slots=True)
class SampleRecord:
    t: float
    queues: Mapping[str, int] = field(default_factory=dict)
    leased: int = 0
    delayed: int = 0
    dead: int = 0
    workers: int = 0
    leader: str | None = None
    stats: Mapping[str, int] = field(default_factory=dict)
    memory: int | None = None
    ops_per_sec: float | None = None
    # live worker -> its heartbeat's figures (harness.recorder.NODE_FIELDS), for no_wedged_workers
    nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    kind: str = field(default="sample", init=False)


@dataclass(frozen=True, slots=True)
class PhaseRecord:
    t: float
    phase: str                    # up | steady | load | heal | drain | readback | check
    kind: str = field(default="phase", init=False)


Record = SubmitRecord | FaultRecord | SampleRecord | PhaseRecord
_TYPES: dict[str, type] = {"submit": SubmitRecord, "fault": FaultRecord,
                           "sample": SampleRecord, "phase": PhaseRecord}


@dataclass(frozen=True, slots=True)
class TaskEvent:
    t: float
    event: str
    worker: str | None = None
    token: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    type: str | None = None
    priority: str | None = None
    status: str | None = None
    attempts: int = 0
    failures: int = 0
    expiries: int = 0
    worker: str | None = None
    submitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    idempotency_key: str | None = None
    token: int = 0
    events: tuple[TaskEvent, ...] = ()
    data: Any = None
    error: str | None = None
    result: Any = None
    traceparent: str | None = None  # W3C trace context of the submit when the run was traced

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def count(self, event: str, detail: str | None = None) -> int:
        return sum(1 for e in self.events if e.event == event and (detail is None or e.detail == detail))

    def first(self, event: str) -> TaskEvent | None:
        return next((e for e in self.events if e.event == event), None)


def record_from_dict(raw: Mapping[str, Any]) -> Record:
    """Typed record from one history line; unknown extra keys are ignored (forward compatible)."""
    cls = _TYPES.get(raw.get("kind", ""))
    if cls is None:
        raise HistoryError(f"unknown record kind {raw.get('kind')!r}; expected one of {', '.join(_TYPES)}")
    names = {f.name for f in fields(cls) if f.init}
    try:
        return cls(**{k: v for k, v in raw.items() if k in names})
    except TypeError as exc:
        raise HistoryError(f"bad {raw.get('kind')} record: {exc}") from None


def record_to_dict(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": record.kind}
    out.update({k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(record).items() if k != "kind"})
    return out


def task_from_dict(raw: Mapping[str, Any]) -> TaskRecord:
    names = {f.name for f in fields(TaskRecord)} - {"events"}
    events = tuple(TaskEvent(**{k: v for k, v in e.items() if k in ("t", "event", "worker", "token", "detail")})
                   for e in raw.get("events") or ())
    return TaskRecord(**{k: v for k, v in raw.items() if k in names}, events=events)


def task_to_dict(task: TaskRecord) -> dict[str, Any]:
    out = asdict(task)
    out["events"] = [{k: v for k, v in e.items() if v is not None} for e in out["events"]]
    return out


class HistoryWriter:
    """Appends records to history.jsonl, one JSON object a line, flushed at once so a killed
    harness leaves a readable file. Safe to share between the load and sampler threads."""

    def __init__(self, path: Path | str) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, record: Record | Mapping[str, Any]) -> None:
        raw = record if isinstance(record, Mapping) else record_to_dict(record)
        line = json.dumps(raw, separators=(",", ":"), default=_json_default) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def lines(path: Path | str) -> Iterable[tuple[int, dict]]:
    """(line number, object) of each line of a JSON-lines file, streamed."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield number, loads_json(line)
            except ValueError as exc:
                # A harness killed mid-write leaves a torn last line; anything else is corruption.
                rest = fh.read()
                if not rest.strip():
                    return
                raise HistoryError(f"{path}:{number}: not JSON ({exc})") from None


def read_history(path: Path | str) -> list[Record]:
    out = []
    for number, raw in lines(path):
        try:
            out.append(record_from_dict(raw))
        except HistoryError as exc:
            raise HistoryError(f"{path}:{number}: {exc}") from None
    return out


def read_tasks(path: Path | str) -> list[TaskRecord]:
    out = []
    for number, raw in lines(path):
        try:
            out.append(task_from_dict(raw))
        except (TypeError, AttributeError) as exc:
            raise HistoryError(f"{path}:{number}: bad task record: {exc}") from None
    return out


def write_tasks(path: Path | str, tasks: Iterable[TaskRecord | Mapping[str, Any]]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for task in tasks:
            raw = task_to_dict(task) if isinstance(task, TaskRecord) else task
            fh.write(task_line(raw))
            count += 1
    return count


def task_line(raw: Mapping[str, Any]) -> str:
    """One line of tasks.jsonl: orjson (ten times json's speed: a million records are read back
    in under a minute, docs/benchmarks.md), json where orjson would change the record (it writes
    NaN and Infinity, which a handler's result may hold, as null) or refuses it."""
    if _fast_dumps is not None and not _non_finite(raw.get("result")):
        try:
            return _fast_dumps(raw, default=_json_default).decode() + "\n"
        except TypeError:  # e.g. an int beyond 64 bits
            pass
    return json.dumps(raw, separators=(",", ":"), default=_json_default) + "\n"


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


def write_results(path: Path | str, results: Mapping[str, Any]) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, default=_json_default) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_results(path: Path | str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise HistoryError(f"{path}: not JSON ({exc})") from None


__all__ = ["SubmitRecord", "FaultRecord", "SampleRecord", "PhaseRecord", "Record", "TaskEvent",
           "TaskRecord", "FINAL_STATUSES", "HistoryError", "HistoryWriter", "record_from_dict",
           "record_to_dict", "task_from_dict", "task_to_dict", "read_history", "read_tasks",
           "write_tasks", "write_results", "read_results", "lines"]
