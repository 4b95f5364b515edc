"""Checks that a succeeded task really ran its handler: its result is right for its type
(system/handlers.py), and its execution took at least the `ms` it asked for.

Public: expected_problem(task) -> str | None, run_ms(task) -> (record_ms, handler_ms);
checks results_correct, run_time_plausible (each `(view, params) -> CheckResult`).
A worker that acks success without running the handler fails both: no result (or a wrong one),
and a run time far below the task's `ms`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.history import TaskRecord

_SHOW = 5
DEFAULT_MS = {"sleep": 100, "cpu": 20}   # the handlers' defaults when data has no `ms`


def _ms(task: TaskRecord) -> float | None:
    """The `ms` a sleep or cpu task asked for (its handler's default when omitted)."""
    if task.type not in DEFAULT_MS:
        return None
    data = task.data if isinstance(task.data, dict) else {}
    value = data.get("ms", DEFAULT_MS[task.type])
    return float(value) if isinstance(value, (int, float)) else None


def _process_problem(task: TaskRecord, result: Any) -> str | None:
    text = task.data if isinstance(task.data, str) else repr(task.data)
    want = {"upper": text.upper(), "length": len(text),
            "sha256": hashlib.sha256(text.encode()).hexdigest()}
    got = {k: result.get(k) for k in want} if isinstance(result, dict) else result
    wrong = [k for k in want if not isinstance(got, dict) or got.get(k) != want[k]]
    return f"process result wrong in {', '.join(wrong)}" if wrong else None


def _timed_problem(task: TaskRecord, result: Any, slack_ms: float) -> str | None:
    ms = _ms(task) or 0.0
    if not isinstance(result, dict):
        return f"{task.type} returned {result!r}, not an object"
    if task.type == "sleep" and result.get("slept_ms") != (task.data or {}).get("ms", DEFAULT_MS["sleep"]):
        return f"sleep reports slept_ms {result.get('slept_ms')!r}, asked for {ms:g}"
    if task.type == "cpu" and ms > 0 and not result.get("rounds"):
        return f"cpu did no rounds in {ms:g} ms"
    elapsed = result.get("elapsed_ms")
    if isinstance(elapsed, (int, float)) and elapsed + slack_ms < ms:
        return f"{task.type} handler ran {elapsed:g} ms, asked for {ms:g}"
    return None


def _fail_problem(task: TaskRecord, result: Any) -> str | None:
    data = task.data if isinstance(task.data, dict) else {}
    if data.get("always"):
        return "an always-failing task succeeded"
    attempt = result.get("attempt") if isinstance(result, dict) else None
    times = int(data.get("times", 0))
    if not isinstance(attempt, int) or attempt <= times:
        return f"fail {{times: {times}}} succeeded on attempt {attempt!r}"
    return None


def expected_problem(task: TaskRecord, *, slack_ms: float = 1.0) -> str | None:
    """What is wrong with a succeeded task's result, or None when it is right for its type.
    Unknown types (new handlers) are not judged."""
    result = task.result
    if task.type == "process":
        return _process_problem(task, result)
    if task.type in ("echo", "noop"):
        return None if result == task.data else f"{task.type} returned {result!r}, not its data"
    if task.type in DEFAULT_MS:
        return _timed_problem(task, result, slack_ms)
    if task.type == "fail":
        return _fail_problem(task, result)
    return None


def _listing(bad: list[tuple[str, str]]) -> str:
    more = f"; and {len(bad) - _SHOW} more" if len(bad) > _SHOW else ""
    return "; ".join(f"{tid}: {why}" for tid, why in bad[:_SHOW]) + more


def results_correct(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    slack = float(params.get("slack_ms", 1.0))
    kinds = ("process", "echo", "noop", "fail", *DEFAULT_MS)
    bad = _plain_verdicts(view, slack, kinds)
    done = judged = 0   # counted in one pass: a million tasks are never held at once
    rows = view.tasks.whole() if bad is not None else iter(view.tasks)
    if bad is None:
        bad = []
    else:
        codes = {c for k in kinds if (c := view.tasks.code(k)) is not None}
        done = view.tasks.plain_count
        judged = sum(1 for ty, plain in zip(view.tasks.codes("type"), view.tasks.plain(), strict=True)
                     if plain and ty in codes)
    for t in rows:
        if t.status != "succeeded":
            continue
        done += 1
        if t.type in kinds:
            judged += 1
            if (why := expected_problem(t, slack_ms=slack)) is not None:
                bad.append((t.id, why))
    observed = {"succeeded": done, "judged": judged, "wrong": len(bad)}
    expected = {"wrong": 0}
    if bad:
        return CheckResult("results_correct", False, observed, expected,
                           f"{len(bad)} succeeded task(s) have a result their handler cannot have "
                           f"produced: {_listing(bad)}")
    return CheckResult("results_correct", True, observed, expected,
                       f"all {judged} judged results are right for their type")


def _plain_verdicts(view: RunView, slack: float, kinds: tuple[str, ...]) -> list[tuple[str, str]] | None:
    """[] when every plain row's result is right, judged once per distinct (type, data,
    result): for a plain task (one attempt, succeeded) the verdict depends on nothing else.
    None when one is wrong: the caller then judges every task in order, naming them."""
    tasks = view.tasks
    seen: dict[tuple[int, int, int], int] = {}
    for row, (ty, data, result, plain) in enumerate(zip(tasks.codes("type"), tasks.codes("data"),
                                                        tasks.codes("result"), tasks.plain(), strict=True)):
        if plain and (ty, data, result) not in seen:
            seen[(ty, data, result)] = row
    for row in seen.values():
        task = tasks[row]
        if task.type in kinds and expected_problem(task, slack_ms=slack) is not None:
            return None
    return []


def _succeeding_attempt(task: TaskRecord) -> tuple[float | None, float | None]:
    """(start, finish) epoch of the attempt whose success was applied: its `claimed` event
    (same token) and its `succeeded` event. The claim is never later than the handler's start,
    so this span is a lower bound that cannot raise a false alarm; a `started` event (a thread
    took it), where recorded, may be written later than the thread really started, so it is not
    used. The handler's own `elapsed_ms` is the tight figure."""
    done = task.first("succeeded")
    if done is None:
        return None, task.finished_at
    same = [e for e in task.events if e.token == done.token and e.t <= done.t]
    start = next((e.t for e in reversed(same) if e.event == "claimed"), task.started_at)
    return start, done.t


def run_ms(task: TaskRecord) -> tuple[float | None, float | None]:
    """(ms from the succeeding attempt's start to its finish in the record, ms the handler
    reports it ran as `elapsed_ms`); either may be None when not recorded."""
    start, finish = _succeeding_attempt(task)
    record = None if start is None or finish is None else (finish - start) * 1000
    reported = task.result.get("elapsed_ms") if isinstance(task.result, dict) else None
    return record, float(reported) if isinstance(reported, (int, float)) else None


def _maybe_timed(view: RunView) -> Iterator[TaskRecord]:
    """The tasks that can be sleep/cpu tasks, in order: plain rows of those types (by their
    type code) and every row kept whole."""
    tasks = view.tasks
    codes = {c for k in DEFAULT_MS if (c := tasks.code(k)) is not None}
    for row, (ty, plain) in enumerate(zip(tasks.codes("type"), tasks.plain(), strict=True)):
        if not plain or ty in codes:
            yield tasks[row]


def run_time_plausible(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    """Every succeeded sleep/cpu task took at least its `ms`, measured both ways we have: the
    task record (start of the succeeding attempt to its success, Redis clock, ms precision) and
    the handler's own `elapsed_ms`. Either being short means the handler did not really run."""
    slack = float(params.get("slack_ms", 2.0))
    timed = 0
    bad: list[tuple[str, str]] = []
    for t in _maybe_timed(view):
        if t.status != "succeeded" or not _ms(t):
            continue
        timed += 1
        ms = _ms(t) or 0.0
        record, reported = run_ms(t)
        short = [f"{name} {v:.0f} ms" for name, v in (("record", record), ("handler", reported))
                 if v is not None and v + slack < ms]
        if short:
            bad.append((t.id, f"asked for {ms:g} ms, ran {' / '.join(short)}"))
    observed = {"timed": timed, "too_short": len(bad)}
    if bad:
        return CheckResult("run_time_plausible", False, observed, {"too_short": 0},
                           f"{len(bad)} task(s) finished faster than their work allows: {_listing(bad)}")
    return CheckResult("run_time_plausible", True, observed, {"too_short": 0},
                       f"all {timed} sleep/cpu tasks ran at least their ms")
