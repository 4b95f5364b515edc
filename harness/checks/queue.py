"""Checks on what happened to each task, Jepsen-queue style: every submit is sorted into
accepted (ok), rejected (fail) or unknown (info), matched to the task records read back, and
the tasks into lost, unfinished, recovered, unexpected and duplicated.

Public: analyse(view) -> QueueAnalysis; checks no_lost_tasks, conservation, max_duplicates,
stale_acks_rejected, dlq_contains (each `(view, params) -> CheckResult`).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.history import TaskRecord

_SHOW = 5  # ids named in an explanation


@dataclass(slots=True)
class QueueAnalysis:
    accepted: Sequence[TaskRecord] = ()                         # ok or recovered, task found
    lost: list[str] = field(default_factory=list)              # ok, but no task record at all
    unfinished: list[TaskRecord] = field(default_factory=list)  # accepted, not final after drain
    recovered: list[TaskRecord] = field(default_factory=list)   # outcome unknown, task showed up
    indeterminate: int = 0                                      # outcome unknown, no task: fine
    rejected: int = 0
    unexpected: list[TaskRecord] = field(default_factory=list)  # rejected, yet the task exists
    unmatched: list[TaskRecord] = field(default_factory=list)   # task records nobody submitted
    executions_extra: int = 0          # successful executions beyond one per task (incl. stale)
    applied_twice: list[str] = field(default_factory=list)      # tasks with 2+ applied successes
    key_duplicates: list[str] = field(default_factory=list)     # keys that created 2+ tasks
    stale_acks: int = 0
    accepted_status: dict[str | None, int] = field(default_factory=dict)  # status -> accepted tasks

    @property
    def accepted_count(self) -> int:
        return len(self.accepted) + len(self.lost)


def analyse(view: RunView) -> QueueAnalysis:
    """Sort submits and tasks (once per view's tables: several checks ask). Tasks are kept as
    rows of the task table; only plain single successes are left out of the per-task loops,
    which cannot add anything for them (one success, no stale ack, final)."""
    memo = view.tasks.memo
    key = ("queue", id(view.submits))
    if key not in memo:
        memo[key] = _analyse(view)
    return memo[key]


def _analyse(view: RunView) -> QueueAnalysis:
    out = QueueAnalysis()
    tasks = view.tasks
    seen = bytearray(len(tasks))
    accepted = array("I")
    for group in view.submits.groups():
        outcomes = {s.outcome for s in group}
        row = next((r for r in map(view.row_for, group) if r is not None), None)
        if row is not None:
            seen[row] = 1
        if "ok" in outcomes:
            if row is None:
                out.lost.append(next((s.id or s.key or "?") for s in group if s.outcome == "ok"))
                continue
            accepted.append(row)
        elif "info" in outcomes:
            if row is None:
                out.indeterminate += 1
                continue
            out.recovered.append(tasks[row])
            accepted.append(row)
        else:
            out.rejected += 1
            if row is not None:
                out.unexpected.append(tasks[row])
    out.accepted = tasks.rows(accepted)
    eventful = tasks.eventful_rows()
    kept = set(eventful)
    out.unfinished = [tasks[r] for r in accepted if r in kept and not tasks[r].final]
    whole = Counter(tasks[r].status for r in accepted if r in kept)
    out.accepted_status = dict(whole)   # plain rows are all succeeded
    out.accepted_status["succeeded"] = whole.get("succeeded", 0) + len(accepted) - whole.total()
    out.unmatched = [tasks[r] for r in _zeros(seen)]
    for task in map(tasks.__getitem__, eventful):
        successes = task.count("succeeded")
        out.executions_extra += max(0, successes + task.count("stale_ack", "ok") - 1)
        out.stale_acks += task.count("stale_ack")
        if successes > 1:
            out.applied_twice.append(task.id)
    out.key_duplicates = sorted(tasks.duplicate_keys())
    return out


def _zeros(flags: bytearray) -> list[int]:
    """Indexes of the zero bytes (fast: bytearray.find runs in C)."""
    out, i = [], flags.find(0)
    while i != -1:
        out.append(i)
        i = flags.find(0, i + 1)
    return out


def _ids(items: list) -> str:
    names = [x if isinstance(x, str) else x.id for x in items[:_SHOW]]
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return ", ".join(names) + more


def no_lost_tasks(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    q = analyse(view)
    observed = {"accepted": q.accepted_count, "lost": len(q.lost), "unfinished": len(q.unfinished),
                "unexpected": len(q.unexpected), "recovered": len(q.recovered),
                "indeterminate": q.indeterminate, "unmatched": len(q.unmatched)}
    problems = []
    if q.lost:
        problems.append(f"{len(q.lost)} accepted task(s) vanished: {_ids(q.lost)}")
    if q.unfinished:
        problems.append(f"{len(q.unfinished)} accepted task(s) never finished: {_ids(q.unfinished)}")
    if q.unexpected:
        problems.append(f"{len(q.unexpected)} rejected submit(s) ran anyway: {_ids(q.unexpected)}")
    if problems:
        return CheckResult("no_lost_tasks", False, observed, {"lost": 0, "unfinished": 0, "unexpected": 0},
                           "; ".join(problems))
    note = f" ({len(q.recovered)} submit(s) with unknown outcome recovered)" if q.recovered else ""
    return CheckResult("no_lost_tasks", True, observed, {"lost": 0, "unfinished": 0, "unexpected": 0},
                       f"all {q.accepted_count} accepted tasks succeeded, died or were cancelled{note}")


def conservation(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    q = analyse(view)
    counts = {s: q.accepted_status.get(s, 0) for s in ("succeeded", "dead", "cancelled")}
    observed = {"accepted": q.accepted_count, **counts, "in_flight": len(q.unfinished), "missing": len(q.lost)}
    total = sum(counts.values())
    ok = total == q.accepted_count and not q.unfinished
    expected = "accepted = succeeded + dead + cancelled, in flight 0"
    if ok:
        return CheckResult("conservation", True, observed, expected,
                           f"{q.accepted_count} accepted = {counts['succeeded']} succeeded + "
                           f"{counts['dead']} dead + {counts['cancelled']} cancelled")
    return CheckResult("conservation", False, observed, expected,
                       f"{q.accepted_count} accepted but {total} final: {len(q.unfinished)} still in flight, "
                       f"{len(q.lost)} missing")


def _no_events(name: str, view: RunView) -> CheckResult | None:
    """Executions and stale acks are only visible in task events; without them, say so."""
    if view.tasks and not any(t.events for t in view.tasks):
        return CheckResult(name, None, None, None, "the task records carry no events "
                           "(read each task back with GET /tasks/<id>); cannot count executions")
    return None


def max_duplicates(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    if (unknown := _no_events("max_duplicates", view)) is not None:
        return unknown
    q = analyse(view)
    limit = params["max"]
    extra = q.executions_extra + len(q.key_duplicates)
    executed = max(1, view.tasks.plain_count + sum(1 for t in view.tasks.whole() if t.count("succeeded")))
    observed = {"duplicates": extra, "fraction": round(extra / executed, 6),
                "applied_twice": len(q.applied_twice), "stale_acks": q.stale_acks}
    if isinstance(limit, float) and limit < 1:
        passed, shown = observed["fraction"] <= limit, f"{observed['fraction']:.2%} of tasks"
        expected = f"<= {limit:.2%}"
    else:
        passed, shown, expected = extra <= limit, f"{extra} extra execution(s)", f"<= {int(limit)}"
    why = (f"{shown} ran more than once ({len(q.applied_twice)} applied twice, "
           f"{q.stale_acks} late result(s) rejected as stale)")
    return CheckResult("max_duplicates", passed, observed, expected, why)


def stale_acks_rejected(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    if (unknown := _no_events("stale_acks_rejected", view)) is not None:
        return unknown
    q = analyse(view)
    # a plain task's one success carries its one token: only tasks kept whole can differ
    wrong_token = [t.id for t in view.tasks.whole()
                   if t.status == "succeeded" and _applied_token(t) not in (None, t.token)]
    minimum = params.get("min", 0)
    observed = {"stale_acks": q.stale_acks, "applied_twice": len(q.applied_twice), "wrong_token": len(wrong_token)}
    expected = {"stale_acks": f">= {minimum}", "applied_twice": 0, "wrong_token": 0}
    if q.applied_twice or wrong_token:
        return CheckResult("stale_acks_rejected", False, observed, expected,
                           f"a stale result was applied: {_ids(q.applied_twice + wrong_token)}")
    if q.stale_acks < minimum:
        return CheckResult("stale_acks_rejected", False, observed, expected,
                           f"expected at least {minimum} late ack(s) to be rejected, saw {q.stale_acks}: "
                           "the fault did not produce a zombie")
    return CheckResult("stale_acks_rejected", True, observed, expected,
                       f"{q.stale_acks} late ack(s) rejected; every task applied exactly one result")


def _applied_token(task: TaskRecord) -> int | None:
    event = task.first("succeeded")
    return None if event is None else event.token


def dlq_contains(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    kind = params.get("type", "fail")
    chosen = [t for t in analyse(view).accepted if t.type == kind and
              (kind != "fail" or (isinstance(t.data, dict) and t.data.get("always")))]
    dead = [t for t in chosen if t.status == "dead"]
    not_dead = [t for t in chosen if t.status != "dead"]
    minimum = params.get("min", 1)
    observed = {"selected": len(chosen), "dead": len(dead), "not_dead": len(not_dead)}
    what = "poison (type fail, always: true)" if kind == "fail" else f"type {kind}"
    expected = f"every {what} task dead, at least {minimum}"
    if not_dead:
        return CheckResult("dlq_contains", False, observed, expected,
                           f"{len(not_dead)} {what} task(s) not in the dead-letter queue: {_ids(not_dead)}")
    if len(dead) < minimum:
        return CheckResult("dlq_contains", False, observed, expected,
                           f"only {len(dead)} {what} task(s) reached the dead-letter queue, expected {minimum}")
    return CheckResult("dlq_contains", True, observed, expected,
                       f"all {len(dead)} {what} task(s) ended in the dead-letter queue")
