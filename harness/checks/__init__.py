"""Checks: pure functions of a recorded run (history + task records), never of the system.

Public:
    run_checks(scenario, history, tasks, *, wall_start=None) -> list[CheckResult]
    results_document(scenario, results, *, history, tasks, meta, wall_start=None) -> dict
    summarize(history, tasks, *, wall_start=None) -> dict     # key figures for reports
    CheckResult, CHECKS (name -> CheckDef, the loader validates parameters against it)
A check that raises yields passed=None ("unknown") with the exception text, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.checks.base import CheckResult, RunView, build_view
from harness.checks.queue import analyse
from harness.checks.registry import CHECKS, IMPLICIT
from harness.checks.timing import latency_values
from harness.history import FaultRecord, Record, TaskRecord
from harness.recorded import RecordedHistory
from harness.scenario import LOAD_FAULTS, Scenario
from harness.stats import percentile, recovery_time

__all__ = ["run_checks", "results_document", "summarize", "CheckResult", "CHECKS"]


def _one(view: RunView, name: str, params: Mapping[str, Any]) -> CheckResult:
    definition = CHECKS.get(name)
    if definition is None:
        return CheckResult(name, None, None, None, f"unknown check {name!r}")
    merged = {**definition.defaults, **params}
    try:
        return definition.run(view, merged)
    except Exception as exc:  # a crashing checker is "unknown", never a crash of the run
        return CheckResult(name, None, None, dict(params) or None,
                           f"check crashed: {type(exc).__name__}: {exc}")


def run_checks(scenario: Scenario, history: Iterable[Record], tasks: Iterable[TaskRecord], *,
               wall_start: float | None = None) -> list[CheckResult]:
    """Judge a recorded run by every check the scenario names, in its order, then by the
    implicit checks (registry.IMPLICIT) it does not name: results and run times are right,
    every fault was applied and hit something."""
    view = build_view(history, tasks, wall_start=wall_start)
    named = [spec.name for spec in scenario.checks]
    specs = [(spec.name, spec.params) for spec in scenario.checks]
    specs += [(name, {}) for name in IMPLICIT if name not in named]
    return [_one(view, name, params) for name, params in specs]


def summarize(history: Iterable[Record], tasks: Iterable[TaskRecord], *,
              wall_start: float | None = None) -> dict[str, Any]:
    """Key figures of a run (the report's header and baseline comparison)."""
    view = build_view(history, tasks, wall_start=wall_start)
    q = analyse(view)
    latencies = latency_values(view, None)
    start, _ = view.load_window()
    done = view.completion_times() if view.offset is not None else []
    throughput = len(done) / (done[-1] - start) if done and done[-1] > start else None
    recoveries = [recovery_time(done, fault_t=f.at, end=done[-1], start=start) for f in view.faults
                  if f.phase == "start" and f.fault not in LOAD_FAULTS] if done else []
    known = [r for r in recoveries if r is not None]
    return {
        "throughput": None if throughput is None else round(throughput, 3),
        **{f"p{q_}_latency_ms": _round(percentile(latencies, q_)) for q_ in (50, 95, 99)},
        "recovery_time_s": max(known) if known else None,
        "submitted": len(view.submits), "accepted": q.accepted_count,
        "succeeded": q.accepted_status.get("succeeded", 0),
        "dead": q.accepted_status.get("dead", 0),
        "duplicates": q.executions_extra, "stale_acks": q.stale_acks,
        "duration_s": round(_last_t(history), 3),
    }


def _last_t(history: Iterable[Record] | RecordedHistory) -> float:
    if isinstance(history, RecordedHistory):
        return history.last_t()
    return max((r.t for r in history), default=0.0)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def results_document(scenario: Scenario, results: Sequence[CheckResult], *,
                     history: Iterable[Record], tasks: Iterable[TaskRecord],
                     meta: Mapping[str, Any], wall_start: float | None = None) -> dict[str, Any]:
    """results.json (docs/contracts.md): passed only when every check passed (unknown = not)."""
    records = [r for r in (history.others if isinstance(history, RecordedHistory) else history)
               if isinstance(r, FaultRecord)]
    ends = {r.id: r.t for r in records if r.phase == "end"}
    faults = [_fault_entry(r, ends.get(r.id) if r.phase == "start" else None) for r in records]
    late = [f["id"] for f in faults if f.get("late")]
    try:
        summary = summarize(history, tasks, wall_start=wall_start)
    except Exception as exc:
        summary = {"error": f"{type(exc).__name__}: {exc}"}
    return {"scenario": scenario.name, "passed": all(r.passed is True for r in results),
            "checks": [r.to_dict() for r in results], "faults": faults, "late_faults": late,
            "summary": summary, "meta": dict(meta)}


def _fault_entry(r: FaultRecord, end: float | None) -> dict[str, Any]:
    """A fault record for results.json: requested / effective / late / end on starts (when known)."""
    out: dict[str, Any] = {"t": r.t, "phase": r.phase, "fault": r.fault, "target": r.target, "id": r.id,
                           "detail": dict(r.detail)}
    out.update({k: v for k, v in (("requested", r.requested), ("effective", r.effective), ("late", r.late),
                                  ("end", end)) if v is not None})
    return out
