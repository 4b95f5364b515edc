"""What every check shares: its result type, its definition, and RunView, the recorded run
prepared once (records split by kind, submits matched to task records, the clock offset).

Public: CheckResult, CheckDef, RunView, build_view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.history import FaultRecord, PhaseRecord, Record, SampleRecord, SubmitRecord, TaskRecord
from harness.recorded import RecordedHistory
from harness.stats import clock_offset
from harness.submittable import SubmitTable
from harness.tasktable import TaskTable


@dataclass(frozen=True, slots=True)
class CheckResult:
    """passed: True / False, or None when the check could not decide (e.g. it crashed)."""

    name: str
    passed: bool | None
    observed: Any
    expected: Any
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "observed": self.observed,
                "expected": self.expected, "explanation": self.explanation}


@dataclass(frozen=True, slots=True)
class CheckDef:
    """A check: its function, its parameters (name -> kind the loader validates), the parameter
    a scalar shorthand fills (`{p99_latency_ms: 5000}` -> max=5000), defaults and a doc line."""

    name: str
    run: Callable[[RunView, Mapping[str, Any]], CheckResult]
    params: Mapping[str, str]
    shorthand: str | None = None
    required: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""


@dataclass(slots=True)
class RunView:
    """Submits and task records are compact tables (harness.submittable, harness.tasktable):
    iterating them makes the records, so a million-task run fits in memory."""

    submits: SubmitTable
    faults: list[FaultRecord]
    samples: list[SampleRecord]
    phases: list[PhaseRecord]
    tasks: TaskTable
    offset: float | None          # epoch = run-relative t + offset

    def rel(self, epoch: float) -> float:
        """Run-relative seconds of a task-record time (Redis clock)."""
        if self.offset is None:
            raise ValueError("cannot relate task times to the run: no submit matched a task record")
        return epoch - self.offset

    def phase_t(self, name: str) -> float | None:
        return next((p.t for p in self.phases if p.phase == name), None)

    def load_window(self) -> tuple[float, float]:
        """(start, end) of the load phase: from the `load` phase record (else the first submit)
        to the next phase record (else the last submit)."""
        sent, done = self.submits.times()
        start = self.phase_t("load")
        if start is None:
            start = min(sent, default=0.0)
        later = [p.t for p in self.phases if p.t > start and p.phase != "load"]
        end = min(later) if later else max(done, default=start)
        return start, end

    def row_for(self, submit: SubmitRecord) -> int | None:
        """Row in `tasks` of the task a submit made: by id, else by idempotency key."""
        row = self.tasks.row_of(submit.id) if submit.id else None
        if row is None and submit.key:
            rows = self.tasks.rows_with_key(submit.key)
            row = rows[0] if rows else None
        return row

    def task_for(self, submit: SubmitRecord) -> TaskRecord | None:
        row = self.row_for(submit)
        return None if row is None else self.tasks[row]

    def completion_times(self) -> list[float]:
        """Sorted run-relative finish times of succeeded tasks."""
        key = ("completion_times", self.offset)
        tasks = self.tasks
        if key not in tasks.memo:
            # plain rows (all succeeded) from their column, the others from their records
            done = [self.rel(f) for f, plain in zip(tasks.times("finished_at"), tasks.plain(), strict=True) if plain]
            done += [self.rel(t.finished_at) for t in tasks.whole()
                     if t.status == "succeeded" and t.finished_at is not None]
            tasks.memo[key] = sorted(done)
        return list(self.tasks.memo[key])


def build_view(history: Iterable[Record] | RecordedHistory, tasks: Iterable[TaskRecord] | TaskTable, *,
               wall_start: float | None = None) -> RunView:
    """Split the history by kind and match submits to tasks (by id, else by idempotency key).

    The offset between run-relative times and the Redis clock is `wall_start` when given,
    else estimated from the matched submits (task submitted_at vs the submit's midpoint)."""
    table = tasks if isinstance(tasks, TaskTable) else TaskTable.from_records(tasks)
    recorded = history if isinstance(history, RecordedHistory) else _recorded(history)
    others = recorded.others
    view = RunView(
        submits=recorded.submits,
        faults=[r for r in others if isinstance(r, FaultRecord)],
        samples=[r for r in others if isinstance(r, SampleRecord)],
        phases=[r for r in others if isinstance(r, PhaseRecord)],
        tasks=table, offset=wall_start)
    if wall_start is None:
        view.offset = clock_offset(_pairs(view))
    return view


def _recorded(history: Iterable[Record]) -> RecordedHistory:
    out = RecordedHistory()
    for record in history:
        out.add(record)
    return out


def _pairs(view: RunView) -> Iterator[tuple[float, float]]:
    for s in view.submits:
        task = view.task_for(s) if s.outcome == "ok" else None
        if task is not None and task.submitted_at is not None:
            yield task.submitted_at, (s.t + s.t_done) / 2
