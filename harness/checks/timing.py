"""Checks on time: latency percentiles, completion deadline, priority order, throughput,
throughput after a fault, recovery time, leader changes. Fault times are effective times
(FaultRecord.at: when the fault took effect, not when it was scheduled).

Public: latency_check(q) -> check function; all_done_within, priority_order, throughput_min,
throughput_after, recovery_time_max, leader_changes_max (each `(view, params) -> CheckResult`).
Latency = finished_at - submitted_at of succeeded tasks; wait = first claim - submitted_at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.checks.queue import analyse
from harness.history import TaskRecord
from harness.scenario import LOAD_FAULTS
from harness.stats import percentile, rate_between, recovery_time


def latency_ms(task: TaskRecord) -> float | None:
    if task.status != "succeeded" or task.finished_at is None or task.submitted_at is None:
        return None
    return (task.finished_at - task.submitted_at) * 1000


def wait_ms(task: TaskRecord) -> float | None:
    claim = task.first("claimed")
    start = claim.t if claim is not None else task.started_at
    if start is None or task.submitted_at is None:
        return None
    return (start - task.submitted_at) * 1000


def latency_values(view: RunView, priority: str | None) -> list[float]:
    """Latencies (ms) of the succeeded tasks, of one priority or all; computed once per view's
    task table (each percentile check and the summary ask)."""
    key = ("latencies", priority)
    tasks = view.tasks
    if key not in tasks.memo:
        want = None if priority is None else tasks.code(priority)
        # plain rows (all succeeded) straight from their columns, the others from their records
        values = [(f - s) * 1000 for s, f, p, plain in zip(tasks.times("submitted_at"), tasks.times("finished_at"),
                                                           tasks.codes("priority"), tasks.plain(), strict=True)
                  if plain and (priority is None or p == want)]
        values += [v for t in tasks.whole() if priority in (None, t.priority) if (v := latency_ms(t)) is not None]
        tasks.memo[key] = values
    return tasks.memo[key]


def latency_check(q: int) -> Callable[[RunView, Mapping[str, Any]], CheckResult]:
    name = f"p{q}_latency_ms"

    def check(view: RunView, params: Mapping[str, Any]) -> CheckResult:
        priority = params.get("priority")
        values = latency_values(view, priority)
        label = f"{name}[{priority}]" if priority else name
        limit = params["max"]
        value = percentile(values, q)
        if value is None:
            return CheckResult(label, None, None, f"<= {limit:g}",
                               f"no succeeded {priority + ' ' if priority else ''}task to measure")
        passed = value <= limit
        return CheckResult(label, passed, round(value, 1), f"<= {limit:g}",
                           f"p{q} latency {value:.0f} ms over {len(values)} tasks "
                           f"{'within' if passed else 'above'} {limit:g} ms")
    check.__name__ = name
    return check


def all_done_within(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    limit = params["within"]
    q = analyse(view)
    start, _ = view.load_window()
    finishes = [view.rel(t.finished_at) for t in q.accepted if t.finished_at is not None]
    observed = round(max(finishes) - start, 3) if finishes else None
    expected = f"<= {limit:g}s after the load started"
    if q.unfinished or q.lost:
        return CheckResult("all_done_within", False, observed, expected,
                           f"{len(q.unfinished) + len(q.lost)} accepted task(s) never finished")
    if observed is None:
        return CheckResult("all_done_within", True, None, expected, "no accepted task to wait for")
    passed = observed <= limit
    return CheckResult("all_done_within", passed, observed, expected,
                       f"the last of {len(finishes)} tasks finished {observed:.1f}s after the load started")


def priority_order(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    factor, slack = params.get("factor", 0.5), params.get("slack_ms", 100.0)
    flood = next((f.t for f in view.faults if f.fault == "flood" and f.phase == "start"), None)
    since = -float("inf") if flood is None or view.offset is None else flood + view.offset - 0.001
    tasks = [t for t in view.tasks if t.submitted_at is not None and t.submitted_at >= since]
    high = [w for t in tasks if t.priority == "high" if (w := wait_ms(t)) is not None]
    other = [w for t in tasks if t.priority in ("normal", "low") if (w := wait_ms(t)) is not None]
    if not high or not other:
        return CheckResult("priority_order", None, {"high": len(high), "other": len(other)},
                           "high and normal/low tasks", "needs tasks of high and of normal/low priority")
    hi, lo = percentile(high, 50), percentile(other, 50)
    assert hi is not None and lo is not None
    observed = {"high_wait_p50_ms": round(hi, 1), "other_wait_p50_ms": round(lo, 1)}
    bound = factor * lo + slack
    passed = hi <= bound
    scope = "during the flood" if flood is not None else "over the run"
    return CheckResult("priority_order", passed, observed, f"high wait p50 <= {factor:g} x other + {slack:g} ms",
                       f"{scope}, high-priority tasks waited {hi:.0f} ms (median) vs {lo:.0f} ms for "
                       f"normal/low{'' if passed else ': priorities were not honoured'}")


def throughput_min(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    limit = params["min"]
    done = view.completion_times()
    start, _ = view.load_window()
    if not done:
        return CheckResult("throughput_min", False, 0.0, f">= {limit:g}/s", "no task completed")
    span = max(done[-1] - start, 1e-9)
    rate = len(done) / span
    return CheckResult("throughput_min", rate >= limit, round(rate, 2), f">= {limit:g}/s",
                       f"{len(done)} tasks completed in {span:.1f}s: {rate:.1f}/s")


def _first_fault(view: RunView, name: str) -> tuple[float, float] | None:
    """(when applying began, when it took effect) of the first start of fault `name`."""
    f = next((f for f in view.faults if f.fault == name and f.phase == "start"), None)
    return None if f is None else (f.t, f.at)


def throughput_after(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    """Throughput from `settle` after the fault took effect vs the `window` before it began.

    The baseline ends when applying began, not at the effective time: a scale takes effect when
    its last new worker is ready, and the first ones already work in between (locally at load
    average 138: 7.9 s; a baseline ending at the effective time read 14.5/s from 4 slots of
    0.5 s tasks, and a 2.5x gain looked like 1.39x).
    """
    name, window, settle = params["fault"], params.get("window", 5.0), params.get("settle", 1.0)
    label = f"throughput_after[{name}]"
    found = _first_fault(view, name)
    expected = " and ".join(f"{word} {params[key]:g}x" for key, word in
                            (("at_least", ">="), ("at_most", "<=")) if key in params) or "any"
    if found is None:
        return CheckResult(label, None, None, expected, f"fault {name!r} never started in this run")
    began, at = found
    done = view.completion_times()
    end = min(at + settle + window, done[-1] if done else at)
    before = rate_between(done, began - window, began)
    after = rate_between(done, at + settle, end + 1e-9) if end > at + settle else 0.0
    if before == 0:
        return CheckResult(label, None, {"before": 0.0, "after": round(after, 2)}, expected,
                           f"nothing completed in the {window:g}s before {name}; cannot compare")
    ratio = after / before
    passed = ratio >= params.get("at_least", 0) and ratio <= params.get("at_most", float("inf"))
    return CheckResult(label, passed, {"ratio": round(ratio, 3), "before": round(before, 2),
                                       "after": round(after, 2)}, expected,
                       f"{after:.1f}/s after {name} vs {before:.1f}/s before: x{ratio:.2f}")


def recovery_time_max(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    limit, which = params["max"], params.get("fault")
    threshold, window = params.get("threshold", 0.8), params.get("window", 5.0)
    starts = [f for f in view.faults if f.phase == "start" and f.fault not in LOAD_FAULTS
              and which in (None, f.fault)]
    expected = f"<= {limit:g}s to {threshold:.0%} of the throughput before"
    if not starts:
        return CheckResult("recovery_time_max", None, None, expected, "no fault started in this run")
    done = view.completion_times()
    end = done[-1] if done else 0.0
    start, _ = view.load_window()
    times: dict[str, float | None] = {}
    for f in starts:
        if rate_between(done, max(f.at - window, start), f.at) > 0 and end - f.at >= 1.0:
            times[f"{f.id}:{f.fault}"] = recovery_time(done, fault_t=f.at, window=window, threshold=threshold,
                                                       end=end, start=start)
    if not times:
        return CheckResult("recovery_time_max", None, {}, expected,
                           f"no fault had completions in the {window:g}s before it and a second after it; "
                           "cannot measure")
    never = [k for k, v in times.items() if v is None]
    if never:
        return CheckResult("recovery_time_max", False, times, expected,
                           f"throughput never came back to {threshold:.0%} after {', '.join(never)}")
    worst = max(times, key=lambda k: times[k] or 0.0)
    value = times[worst] or 0.0
    return CheckResult("recovery_time_max", value <= limit, times, expected,
                       f"slowest recovery {value:.1f}s after {worst}")


def leader_changes_max(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    limit = params["max"]
    leaders = [s.leader for s in view.samples if s.leader]
    changes = sum(1 for a, b in zip(leaders, leaders[1:], strict=False) if a != b)
    if not leaders:
        return CheckResult("leader_changes_max", None, None, f"<= {limit}", "no sample recorded a leader")
    chain = " -> ".join([leaders[0]] + [b for a, b in zip(leaders, leaders[1:], strict=False) if a != b])
    return CheckResult("leader_changes_max", changes <= limit, changes, f"<= {limit}",
                       f"{changes} leader change(s): {chain}")
