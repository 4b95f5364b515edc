"""Load a run directory (docs/contracts.md) into one plain value the pure report code reads.

Files are parsed by harness.history (the one reader of the formats); records are then kept as
the contract's dicts, so figures can be tested on hand-made or synthetic runs.
"""
from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from harness.history import TaskRecord, read_results
from harness.recorded import load_history, load_tasks
from harness.submittable import SubmitTable
from harness.tasktable import TIMES, TaskTable

REQUIRED = ("history.jsonl",)


@dataclass(frozen=True)
class Run:
    """Everything recorded about one run. Missing optional files leave empty values."""

    meta: dict[str, Any]
    scenario: dict[str, Any]
    history: Sequence[dict[str, Any]]     # a list, or a History (the submits kept compact)
    tasks: Sequence[dict[str, Any]]       # a list, or TaskDicts (made on the fly from a TaskTable)
    results: dict[str, Any] | None
    run_dir: Path | None = None
    missing: tuple[str, ...] = field(default=())

    def records(self, kind: str) -> list[dict[str, Any]]:
        """History records of one kind ("submit", "fault", "sample", "phase"), in time order
        (submits of a loaded run: in file order, made on the fly)."""
        if isinstance(self.history, History):
            return self.history.records(kind)
        return [r for r in self.history if r.get("kind") == kind]

    @property
    def name(self) -> str:
        return str(self.scenario.get("name") or self.meta.get("scenario")
                   or (self.results or {}).get("scenario") or "unnamed scenario")


def load_run(run_dir: Path) -> Run:
    """Read a run directory; raises FileNotFoundError naming what is missing and why, and
    harness.history.HistoryError naming file and line for a corrupt file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: not a run directory; pass reports/<scenario>/<timestamp>/")
    for name in REQUIRED:
        if not (run_dir / name).is_file():
            raise FileNotFoundError(
                f"{run_dir / name} is missing: a report needs at least the recorded history; "
                "was the run interrupted before the load phase?")
    missing = tuple(n for n in ("meta.json", "scenario.yaml", "tasks.jsonl", "results.json")
                    if not (run_dir / n).is_file())
    recorded = load_history(run_dir / "history.jsonl")
    others = [_plain(r) for r in recorded.others]
    others.sort(key=lambda r: float(r.get("t", 0.0)))
    history = History(others, recorded.submits)
    tasks = TaskDicts(load_tasks(run_dir / "tasks.jsonl")) if "tasks.jsonl" not in missing else []
    return Run(
        meta=_json_object(run_dir / "meta.json"),
        scenario=_read_yaml(run_dir / "scenario.yaml") or {},
        history=history,
        tasks=tasks,
        results=_json_object(run_dir / "results.json") or None,
        run_dir=run_dir,
        missing=missing,
    )


class _Dicts(Sequence[dict[str, Any]]):
    """A table of records seen as the contract's dicts, made when asked."""

    def __init__(self, table: Sequence[Any], convert: Callable[[Any], dict[str, Any]]) -> None:
        self.table, self._convert = table, convert

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._convert(r) for r in self.table[index]]
        return self._convert(self.table[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._convert, self.table)


class TaskDicts(_Dicts):
    """The task records of a loaded run (a TaskTable) as dicts, with lookups by id."""

    table: TaskTable

    def __init__(self, table: TaskTable) -> None:
        super().__init__(table, _plain_task)

    def find(self, task_id: str) -> dict[str, Any] | None:
        row = self.table.row_of(task_id)
        return None if row is None else self[row]

    def eventful(self) -> Iterator[dict[str, Any]]:
        """The tasks kept whole: only they can carry retries, lease expiries, stale acks, deaths."""
        return iter(self.whole())

    def memo(self) -> dict[Any, Any]:
        return self.table.memo

    def whole(self) -> list[dict[str, Any]]:
        """The tasks kept whole, as dicts (every task that is not a plain single success); made
        once (a soak has a few thousand; a short run, where most may be, holds them all anyway)."""
        if "whole_dicts" not in self.table.memo:
            self.table.memo["whole_dicts"] = [_plain_task(t) for t in self.table.whole()]
        return list(self.table.memo["whole_dicts"])

    def plain_rows(self, *columns: str) -> Iterator[tuple[Any, ...]]:
        """Per plain task (succeeded on its one claim; its events: submitted, claimed, started,
        succeeded), the named columns: submitted_at, claimed, started_at, finished_at (times),
        started_event (the `started` event's time, NaN when it has none), type, priority, worker,
        data, result (values)."""
        table = self.table
        arrays = [table.started_events() if c == "started_event" else table.times(c) if c in TIMES
                  else table.codes(c) for c in columns]
        decode = [c not in TIMES and c != "started_event" for c in columns]
        value = table.value
        for row in zip(*arrays, table.plain(), strict=True):
            if row[-1]:
                yield tuple(value(v) if d else v for v, d in zip(row, decode, strict=False))

    def status_counts(self) -> Counter[Any]:
        """Tasks by status (plain ones all succeeded)."""
        out = Counter(t.status for t in self.table.whole())
        out["succeeded"] += self.table.plain_count
        return out

    def event_counts(self) -> Counter[Any]:
        """Events of every task by name."""
        out = Counter(e.event for t in self.table.whole() for e in t.events)
        out.update(self.plain_event_counts())
        return out

    def plain_event_counts(self) -> dict[str, int]:
        """Events of the plain tasks by name (each has one of each, `started` where recorded)."""
        n = self.table.plain_count
        return {"submitted": n, "claimed": n, "started": self.table.plain_started, "succeeded": n}


class History(Sequence[dict[str, Any]]):
    """A loaded run's history: faults, samples and phases as dicts in time order, the submits
    kept compact (a SubmitTable) and made into dicts when asked."""

    def __init__(self, others: list[dict[str, Any]], submits: SubmitTable) -> None:
        self.others, self.submits = others, _Dicts(submits, _plain)

    def records(self, kind: str) -> Sequence[dict[str, Any]]:
        if kind == "submit":
            return self.submits
        return [r for r in self.others if r.get("kind") == kind]

    def __len__(self) -> int:
        return len(self.others) + len(self.submits)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(sorted([*self.others, *self.submits], key=lambda r: float(r.get("t", 0.0))))

    def __getitem__(self, index: Any) -> Any:
        return sorted([*self.others, *self.submits], key=lambda r: float(r.get("t", 0.0)))[index]

    def tail(self, n: int) -> list[dict[str, Any]]:
        """The n latest records by t (what `history[-n:]` of a sorted list holds)."""
        sent = self.submits.table.times()[0]  # type: ignore[attr-defined]
        rows = heapq.nlargest(n, range(len(sent)), key=sent.__getitem__)
        return sorted(self.others[-n:] + [self.submits[r] for r in rows], key=lambda r: float(r.get("t", 0.0)))[-n:]


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(record: Any) -> dict[str, Any]:
    """Shallow dict of a frozen record (dataclasses.asdict deep-copies: seconds on long runs)."""
    names = _FIELDS.get(type(record))
    if names is None:
        names = _FIELDS[type(record)] = tuple(f.name for f in fields(record))
    return {name: getattr(record, name) for name in names}


def _plain_task(task: TaskRecord) -> dict[str, Any]:
    out = _plain(task)
    out["events"] = [{k: v for k, v in _plain(e).items() if v is not None} for e in task.events]
    return out


def _json_object(path: Path) -> dict[str, Any]:
    data = read_results(path) if path.is_file() else {}
    return data if isinstance(data, dict) else {}


def _read_yaml(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None
