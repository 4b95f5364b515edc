"""What every check shares: its result type, its definition, and RunView, the recorded run
prepared once (records split by kind, submits matched to task records, the clock offset).

Public: CheckResult, CheckDef, RunView, build_view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.history import FaultRecord, PhaseRecord, Record, SampleRecord, SubmitRecord, TaskRecord
from harness.stats import clock_offset


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
    submits: list[SubmitRecord]
    faults: list[FaultRecord]
    samples: list[SampleRecord]
    phases: list[PhaseRecord]
    tasks: list[TaskRecord]
    by_id: dict[str, TaskRecord]
    by_key: dict[str, list[TaskRecord]]
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
        start = self.phase_t("load")
        if start is None:
            start = min((s.t for s in self.submits), default=0.0)
        later = [p.t for p in self.phases if p.t > start and p.phase != "load"]
        end = min(later) if later else max((s.t_done for s in self.submits), default=start)
        return start, end

    def task_for(self, submit: SubmitRecord) -> TaskRecord | None:
        if submit.id and submit.id in self.by_id:
            return self.by_id[submit.id]
        if submit.key and submit.key in self.by_key:
            return self.by_key[submit.key][0]
        return None

    def completion_times(self) -> list[float]:
        """Sorted run-relative finish times of succeeded tasks."""
        return sorted(self.rel(t.finished_at) for t in self.tasks
                      if t.status == "succeeded" and t.finished_at is not None)


def build_view(history: Sequence[Record], tasks: Sequence[TaskRecord], *,
               wall_start: float | None = None) -> RunView:
    """Split the history by kind and match submits to tasks (by id, else by idempotency key).

    The offset between run-relative times and the Redis clock is `wall_start` when given,
    else estimated from the matched submits (task submitted_at vs the submit's midpoint)."""
    by_id = {t.id: t for t in tasks}
    by_key: dict[str, list[TaskRecord]] = {}
    for t in tasks:
        if t.idempotency_key:
            by_key.setdefault(t.idempotency_key, []).append(t)
    view = RunView(
        submits=[r for r in history if isinstance(r, SubmitRecord)],
        faults=[r for r in history if isinstance(r, FaultRecord)],
        samples=[r for r in history if isinstance(r, SampleRecord)],
        phases=[r for r in history if isinstance(r, PhaseRecord)],
        tasks=list(tasks), by_id=by_id, by_key=by_key, offset=wall_start)
    if wall_start is None:
        pairs = []
        for s in view.submits:
            task = view.task_for(s) if s.outcome == "ok" else None
            if task is not None and task.submitted_at is not None:
                pairs.append((task.submitted_at, (s.t + s.t_done) / 2))
        view.offset = clock_offset(pairs)
    return view
