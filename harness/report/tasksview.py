"""Pure per-task views: per-worker counts and fairness, attempts for the Gantt, and which
tasks the Gantt shows (the ones failed checks name, the eventful ones, then a sample)."""
from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .rundata import TaskDicts
from .style import worker_sort_key

ATTEMPT_ENDS = ("succeeded", "failed", "lease_expired", "stale_ack", "released", "cancelled")
EVENTFUL = ("lease_expired", "stale_ack", "retry_scheduled", "dead", "released", "redriven")
GANTT_LIMIT = 60
EVENTFUL_LIMIT = 2000   # eventful tasks drawn at most (a row each): keeps a soak's report small
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_url(task: dict[str, Any], ui: str | None) -> str | None:
    """The task's trace in the Jaeger UI: its stored W3C traceparent names the trace (None when
    the run was not traced or the record predates tracing)."""
    match = TRACEPARENT.fullmatch(task.get("traceparent") or "")
    return f"{ui}/trace/{match.group(1)}" if ui and match else None


@dataclass(frozen=True)
class WorkerLoad:
    worker: str
    succeeded: int
    claimed: int
    failed: int
    leases_lost: int
    stale_acks: int


def worker_loads(tasks: Iterable[dict[str, Any]]) -> list[WorkerLoad]:
    """Per worker: applied successes, claims, failures, leases lost, stale acks (from events;
    a record without events counts once for its final worker)."""
    c: dict[str, Counter[str]] = {}
    if isinstance(tasks, TaskDicts):  # plain tasks: claimed, started (where recorded), succeeded by one worker
        for worker, started in tasks.plain_rows("worker", "started_event"):
            n = c.setdefault(worker, Counter())
            n["claimed"] += 1
            n["succeeded"] += 1
            n["started"] += started == started  # not NaN: it has a `started` event
        tasks = tasks.whole()
    for t in tasks:
        if not t.get("events") and t.get("worker"):
            n = c.setdefault(t["worker"], Counter())
            n["claimed"] += 1
            n["succeeded"] += t.get("status") == "succeeded"
            n["failed"] += int(t.get("failures") or 0)
        for e in t.get("events") or ():
            w = e.get("worker")
            if w:
                c.setdefault(w, Counter())[e.get("event", "")] += 1
    return [WorkerLoad(worker=w, succeeded=n["succeeded"], claimed=n["claimed"], failed=n["failed"],
                       leases_lost=n["lease_expired"], stale_acks=n["stale_ack"])
            for w, n in sorted(c.items(), key=lambda kv: worker_sort_key(kv[0]))]


def jain_index(values: Sequence[float]) -> float | None:
    """Jain's fairness index: 1 = perfectly even, 1/n = one worker did everything."""
    if not values or not any(values):
        return None
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def max_min_ratio(values: Sequence[float]) -> float | None:
    """Busiest over least busy worker (None when some worker completed nothing)."""
    if not values or min(values) <= 0:
        return None
    return max(values) / min(values)


@dataclass(frozen=True)
class Attempt:
    """One claim of a task by a worker, from claim to the last event carrying its token."""

    worker: str
    token: Any
    start: float
    end: float
    outcome: str      # succeeded | failed | lease_expired | stale_ack | released | running
    applied: bool     # False when the lease was lost: its result (if any) was not applied
    began: float | None = None  # when a thread started it (`started` event); before: in the worker's buffer


def successes_by_worker(tasks: Iterable[dict[str, Any]], offset: float) -> dict[str, list[float]]:
    """Relative times of applied successes per worker (the 'succeeded' event, else finished_at)."""
    out: dict[str, list[float]] = {}
    if isinstance(tasks, TaskDicts):  # a plain task succeeded once, on its worker, at finished_at
        for worker, finished in tasks.plain_rows("worker", "finished_at"):
            out.setdefault(worker, []).append(finished - offset)
        tasks = tasks.whole()
    for t in tasks:
        ev = next((e for e in t.get("events") or () if e.get("event") == "succeeded"), None)
        worker, when = (ev.get("worker"), ev["t"]) if ev else (t.get("worker"), t.get("finished_at"))
        if t.get("status") == "succeeded" and worker and when is not None:
            out.setdefault(worker, []).append(when - offset)
    return out


def attempts(task: dict[str, Any], offset: float) -> list[Attempt]:
    """Split a task's events into attempts; times relative to the run (epoch - offset). A
    record without events gives one attempt from claimed_at (started_at before that field
    existed) to finished_at on its worker."""
    events = task.get("events") or ()
    claimed = task.get("claimed_at") or task.get("started_at")  # records before `reserved`: no claimed_at
    if not events and claimed and task.get("worker"):
        began = task.get("started_at")
        end = task.get("finished_at") or began or claimed
        return [Attempt(worker=task["worker"], token=task.get("token"), start=claimed - offset,
                        end=end - offset, outcome=str(task.get("status")), applied=True,
                        began=began - offset if began else None)]
    out: list[Attempt] = []
    for i, e in enumerate(events):
        if e.get("event") != "claimed":
            continue
        token, worker = e.get("token"), e.get("worker") or "?"
        mine = [x for x in events[i + 1:] if x.get("event") in ATTEMPT_ENDS
                and x.get("token", token) == token and x.get("worker", worker) == worker]
        if not mine:  # fall back to the next claim or the task's end
            nxt = next((x for x in events[i + 1:] if x.get("event") in ("claimed", "dead")), None)
            end_t, outcome = (nxt["t"], "lost") if nxt else (e["t"], "running")
        else:
            end_t, outcome = mine[-1]["t"], mine[-1]["event"]
        lost = any(x.get("event") in ("lease_expired", "stale_ack") for x in mine)
        began = next((x["t"] - offset for x in events[i + 1:]
                      if x.get("event") == "started" and x.get("token", token) == token), None)
        out.append(Attempt(worker=worker, token=token, start=e["t"] - offset, end=end_t - offset,
                           outcome=outcome, applied=not lost, began=began))
    return out


def named_task_ids(results: dict[str, Any] | None, known: set[str]) -> list[str]:
    """Task ids mentioned anywhere in the failed checks (observed, expected, explanation)."""
    found: list[str] = []
    for check in (results or {}).get("checks", ()):
        if check.get("passed") is True:
            continue
        for s in _strings(check):
            for token in s.replace(",", " ").replace(";", " ").split():
                token = token.strip("'\"()[]{}:.")
                if token in known and token not in found:
                    found.append(token)
    return found


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


@dataclass(frozen=True)
class GanttSelection:
    tasks: list[dict[str, Any]]
    named: int       # tasks named by failed checks
    eventful: int    # tasks with retries, lease expiries, stale acks or dead
    sampled: int     # evenly spread over the run
    total: int
    eventful_total: int = 0  # eventful tasks in the run (all drawn unless past EVENTFUL_LIMIT)


def select_gantt(tasks: Sequence[dict[str, Any]], results: dict[str, Any] | None,
                 *, limit: int = GANTT_LIMIT, eventful_limit: int = EVENTFUL_LIMIT) -> GanttSelection:
    """Pick the tasks to draw: those failed checks name (at most `limit`), then every eventful
    one (retry, lease expiry, stale ack, dead, hand-back, re-drive; spread evenly past
    `eventful_limit`), then an even sample of the rest filling `limit`, at least limit / 3.
    A loaded run's tasks (rundata.TaskDicts) are looked up by id and scanned for events only
    where they can be (its eventful rows), so a million-task run is never held as dicts."""
    find = getattr(tasks, "find", None)
    if find is None:
        by_id = {t["id"]: t for t in tasks if "id" in t}
        find, candidates = by_id.get, tasks
    else:
        candidates = tasks.eventful()  # type: ignore[attr-defined]
    named = named_task_ids(results, _Known(find))[:limit]
    chosen = dict.fromkeys(named)
    eventful = [t["id"] for t in candidates
                if any(e.get("event") in EVENTFUL for e in t.get("events", ())) and t["id"] not in chosen]
    take_eventful = eventful if len(eventful) <= eventful_limit else _spread(eventful, eventful_limit)
    chosen.update(dict.fromkeys(take_eventful))
    sample = _spread(_Rest(tasks, chosen), max(limit - len(chosen), limit // 3))
    chosen.update(dict.fromkeys(sample))
    picked = sorted((t for i in chosen if (t := find(i)) is not None), key=lambda t: t.get("submitted_at") or 0)
    return GanttSelection(tasks=picked, named=len(named), eventful=len(take_eventful),
                          sampled=len(sample), total=len(tasks), eventful_total=len(eventful))


class _Known:
    """`id in known` for named_task_ids, by lookup (no set of every id)."""

    def __init__(self, find: Any) -> None:
        self._find = find

    def __contains__(self, task_id: object) -> bool:
        return isinstance(task_id, str) and self._find(task_id) is not None


class _Rest(Sequence[str]):
    """Ids of the tasks not chosen, in order, read when indexed (for _spread)."""

    def __init__(self, tasks: Sequence[dict[str, Any]], chosen: dict[str, None]) -> None:
        table = getattr(tasks, "table", None)
        if table is not None:
            skip = {r for i in chosen if (r := table.row_of(i)) is not None}
            self._rows: Sequence[int] = array("I", (r for r in range(len(tasks)) if r not in skip))
            self._id = table.id_at
        else:
            ids = [t["id"] for t in tasks if t["id"] not in chosen]
            self._rows, self._id = range(len(ids)), ids.__getitem__

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._id(r) for r in self._rows[index]]
        return self._id(self._rows[index])


def _spread(items: Sequence[str], n: int) -> list[str]:
    """n items evenly spread over the sequence (deterministic)."""
    if n <= 0:
        return []
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step + step / 2)] for i in range(n)]
