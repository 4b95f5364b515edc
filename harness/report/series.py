"""Pure time series derived from a run: one time base (seconds since run start), rates per
bin, latency percentiles per bin, down-sampled samples, and fault spans.

Why a single time base: task records carry epoch seconds on Redis's clock while the history
counts seconds since the run started; every figure shares one x axis, so everything is
converted here once.
"""
from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from harness import stats
from harness.stats import percentile

from .rundata import History, Run, TaskDicts

INSTANT = frozenset({"kill", "terminate", "restart", "scale", "burst", "flood", "poison", "redis_failover",
                     "redis_restart"})
MAX_BINS = 400
MAX_POINTS = 800


@dataclass(frozen=True)
class Timebase:
    """offset: epoch seconds at history t=0; t1: end of the run; bin_s: width of rate bins."""

    offset: float
    t1: float
    bin_s: float

    def rel(self, epoch: float | None) -> float | None:
        return None if epoch is None else epoch - self.offset

    @property
    def n_bins(self) -> int:
        return max(1, math.ceil(self.t1 / self.bin_s))

    def centers(self) -> list[float]:
        return [round((i + 0.5) * self.bin_s, 3) for i in range(self.n_bins)]

    def index(self, t: float) -> int | None:
        i = math.floor(t / self.bin_s)
        return i if 0 <= i < self.n_bins else None


@dataclass(frozen=True)
class FaultSpan:
    """A fault from its start to its end (end None: never healed before the run ended)."""

    id: str
    fault: str
    target: str
    start: float                  # when it took effect (its record's `effective`, else `t`)
    end: float | None
    detail: dict[str, Any]
    requested: float | None = None  # when the schedule asked for it
    late: bool = False              # took effect later than the run's tolerance after `requested`

    @property
    def label(self) -> str:
        return f"{self.fault} {self.target}".strip()

    def end_or(self, t1: float) -> float:
        return self.end if self.end is not None else t1


def clock_offset(run: Run) -> float:
    """Epoch second of history t=0, from the submits whose task record came back.

    Median of (Redis submitted_at - midpoint of the HTTP call): cancels the harness/Redis
    clock skew. Falls back to meta started_at, then to the earliest task.
    """
    memo = run.tasks.memo() if isinstance(run.tasks, TaskDicts) else {}
    if "clock_offset" not in memo:
        memo["clock_offset"] = _clock_offset(run)
    return float(memo["clock_offset"])


def _clock_offset(run: Run) -> float:
    if isinstance(run.tasks, TaskDicts):  # a loaded run: look each submit's task up, hold no map
        table = run.tasks.table
        pairs = ((sub, (s["t"] + (s.get("t_done") or s["t"])) / 2) for s in run.records("submit")
                 if (row := table.row_of(s.get("id"))) is not None and (sub := table.submitted_at(row)))
        offset = stats.clock_offset(pairs)
    else:
        submitted: dict[str, float] = {t["id"]: t["submitted_at"] for t in run.tasks if t.get("submitted_at")}
        offset = stats.clock_offset((submitted[s["id"]], (s["t"] + (s.get("t_done") or s["t"])) / 2)
                                    for s in run.records("submit") if s.get("id") in submitted)
    if offset is not None:
        return offset
    for key in ("started_at", "start_wall", "start", "started"):
        if isinstance(run.meta.get(key), (int, float)):
            return float(run.meta[key])
    starts = [t["submitted_at"] for t in run.tasks if t.get("submitted_at")]
    return min(starts) if starts else 0.0


def timebase(run: Run) -> Timebase:
    """Span the whole run (history and task events); about MAX_BINS bins of a round width."""
    offset = clock_offset(run)
    tail = run.history.tail(50) if isinstance(run.history, History) else run.history[-50:]
    ends = [float(max(r.get("t") or 0.0, r.get("t_done") or 0.0)) for r in tail] + [0.0]
    ends += [last - offset for t in _whole_or_all(run)
             if (last := max([e["t"] for e in t.get("events") or ()] + [t.get("finished_at") or 0.0]))]
    if isinstance(run.tasks, TaskDicts):  # plain tasks: their last event from the columns
        ends.append(max((max(s, c, f) if math.isnan(st) else max(s, c, st, f) for s, c, st, f in
                         run.tasks.plain_rows("submitted_at", "claimed", "started_event", "finished_at")),
                        default=offset) - offset)
    t1 = max(ends) or 1.0
    raw = t1 / MAX_BINS
    bin_s = float(next((w for w in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if w >= raw), 3600))
    return Timebase(offset=offset, t1=round(t1 + 1e-9, 3), bin_s=bin_s)


def rate(times: Iterable[float], tb: Timebase) -> list[float]:
    """Events per second in each bin of tb."""
    counts = [0] * tb.n_bins
    for t in times:
        i = tb.index(t)
        if i is not None:
            counts[i] += 1
    return [round(c / tb.bin_s, 3) for c in counts]


def binned_percentiles(points: Iterable[tuple[float, float]], tb: Timebase,
                       qs: Sequence[float] = (50, 95, 99)) -> dict[float, list[float | None]]:
    """points: (t, value). Returns {q: one percentile per bin (None for an empty bin)}."""
    bins: list[list[float]] = [[] for _ in range(tb.n_bins)]
    for t, v in points:
        i = tb.index(t)
        if i is not None:
            bins[i].append(v)
    return {q: [percentile(b, q) for b in bins] for q in qs}


def task_counts(run: Run) -> tuple[Counter[Any], Counter[Any]]:
    """(tasks by status, events by name) of a run's task records."""
    if isinstance(run.tasks, TaskDicts):
        return run.tasks.status_counts(), run.tasks.event_counts()
    return (Counter(t.get("status") for t in run.tasks),
            Counter(e.get("event") for t in run.tasks for e in t.get("events", ())))


def _whole_or_all(run: Run) -> Iterable[dict[str, Any]]:
    """A loaded run's tasks kept whole (the plain ones are read from columns), else every task."""
    return run.tasks.whole() if isinstance(run.tasks, TaskDicts) else run.tasks


def task_latencies(run: Run, tb: Timebase) -> Latencies:
    """(submit time, latency ms, priority) of every succeeded task, by submit time."""
    memo = run.tasks.memo() if isinstance(run.tasks, TaskDicts) else {}
    key = ("report_latencies", tb.offset)
    if key not in memo:
        memo[key] = _task_latencies(run, tb)
    return memo[key]


class Latencies(Sequence[tuple[float, float, str]]):
    """Succeeded tasks' (submit time, latency ms, priority), sorted by submit time, kept as
    three packed columns: 17 bytes a task where a list of tuples took about 140 (a soak's
    900,000 tasks held 127 MB of them while its report was built, docs/benchmarks.md)."""

    def __init__(self, points: Iterable[tuple[float, float, str]]) -> None:
        t, ms, names = array("d"), array("d"), array("B")
        codes: dict[str, int] = {}
        for when, latency, priority in points:
            t.append(when)
            ms.append(latency)
            names.append(codes.setdefault(priority, len(codes)))
        self._names = list(codes)
        if any((t[i], ms[i]) > (t[i + 1], ms[i + 1]) for i in range(len(t) - 1)):
            # by time, then latency (two stable sorts on one key each: no tuple per task)
            order = sorted(sorted(range(len(t)), key=ms.__getitem__), key=t.__getitem__)
            t, ms, names = (array(a.typecode, map(a.__getitem__, order)) for a in (t, ms, names))
        self.t, self.ms, self._codes = t, ms, names

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self.t)))]
        return self.t[index], self.ms[index], self._names[self._codes[index]]

    def __iter__(self) -> Iterator[tuple[float, float, str]]:
        names = self._names
        return ((t, ms, names[c]) for t, ms, c in zip(self.t, self.ms, self._codes, strict=True))

    def priorities(self) -> set[str]:
        return {self._names[c] for c in set(self._codes)}


def _task_latencies(run: Run, tb: Timebase) -> Latencies:
    plain: Iterable[tuple[float, float, str]] = ()
    if isinstance(run.tasks, TaskDicts):
        plain = ((s - tb.offset, (f - s) * 1000, str(p)) for s, f, p in
                 run.tasks.plain_rows("submitted_at", "finished_at", "priority") if f and s)
    whole = ((t["submitted_at"] - tb.offset, (t["finished_at"] - t["submitted_at"]) * 1000,
              str(t.get("priority", "normal"))) for t in _whole_or_all(run)
             if t.get("status") == "succeeded" and t.get("finished_at") and t.get("submitted_at"))
    return Latencies(itertools.chain(plain, whole))


def completion_times(run: Run, tb: Timebase) -> Sequence[float]:
    """Relative time of every applied success (the 'succeeded' event, else finished_at), sorted;
    packed (8 bytes each) and shared between the figures: read it, do not change it."""
    memo = run.tasks.memo() if isinstance(run.tasks, TaskDicts) else {}
    key = ("report_completions", tb.offset)
    if key not in memo:
        memo[key] = _completion_times(run, tb)
    return memo[key]


def _completion_times(run: Run, tb: Timebase) -> array[float]:
    out = array("d")
    if isinstance(run.tasks, TaskDicts):  # a plain task's success is at its finished_at
        out.extend(f - tb.offset for (f,) in run.tasks.plain_rows("finished_at"))
    for t in _whole_or_all(run):
        if t.get("status") != "succeeded":
            continue
        ev = next((e["t"] for e in t.get("events", ()) if e.get("event") == "succeeded"), None)
        when = ev if ev is not None else t.get("finished_at")
        if when is not None:
            out.append(when - tb.offset)
    if not out:  # no task records: fall back to the sampler's completed counter
        out.extend(_counter_deltas(run.records("sample"), "completed"))
    return array("d", sorted(out))


def _counter_deltas(samples: list[dict[str, Any]], counter: str) -> list[float]:
    """Spread increments of a sampled counter as events at the sample times."""
    out: list[float] = []
    prev = None
    for s in samples:
        v = (s.get("stats") or {}).get(counter)
        if isinstance(v, (int, float)):
            if prev is not None and v > prev:
                out.extend([s["t"]] * int(v - prev))
            prev = v
    return out


def downsample(samples: Sequence[dict[str, Any]], max_points: int = MAX_POINTS) -> list[dict[str, Any]]:
    """At most about max_points samples, in time order: per bucket of a long run its first
    sample and the ones holding its most work waiting (queued + leased + delayed) and its most
    Redis memory, so a spike between two evenly spread picks still shows; always the last one."""
    if len(samples) <= max_points:
        return list(samples)
    buckets = max(1, max_points // 3)
    step = len(samples) / buckets
    keep: list[int] = []
    for b in range(buckets):
        lo, hi = int(b * step), min(len(samples), int((b + 1) * step))
        if hi <= lo:
            continue
        span = range(lo, hi)
        picks = {lo, max(span, key=lambda i: _waiting(samples[i])),
                 max(span, key=lambda i: samples[i].get("memory") or 0)}
        keep += sorted(picks)
    if keep[-1] != len(samples) - 1:
        keep.append(len(samples) - 1)
    return [samples[i] for i in keep]


def _waiting(sample: dict[str, Any]) -> float:
    queues = sample.get("queues") or {}
    return float(sum(queues.values()) + (sample.get("leased") or 0) + (sample.get("delayed") or 0))


def fault_spans(run: Run, *, t1: float | None = None) -> list[FaultSpan]:
    """Pair fault start/end records by id (or by fault+target when ids are missing)."""
    open_: dict[str, dict[str, Any]] = {}
    spans: list[FaultSpan] = []
    for r in run.records("fault"):
        key = str(r.get("id") or f"{r.get('fault')}:{r.get('target')}")
        if r.get("phase", "start") == "start":
            if key in open_:  # restarted without an end: close the first one here
                spans.append(_span(key, open_.pop(key), r["t"]))
            open_[key] = r
        elif key in open_:
            spans.append(_span(key, open_.pop(key), r["t"]))
        else:  # an end without a start (recorder started late): show it as instantaneous
            spans.append(_span(key, r, r["t"]))
    # never ended: one-shot faults are instantaneous; others stay open until the run ends
    spans += [_span(k, r, r["t"] if r.get("fault") in INSTANT else None) for k, r in open_.items()]
    spans.sort(key=lambda s: (s.start, s.id))
    return spans


def _span(key: str, start: dict[str, Any], end: float | None) -> FaultSpan:
    at = start.get("effective")
    requested = start.get("requested")
    return FaultSpan(id=key, fault=str(start.get("fault", "fault")), target=str(start.get("target") or ""),
                     start=float(at if at is not None else start["t"]), end=end,
                     detail=dict(start.get("detail") or {}),
                     requested=None if requested is None else float(requested), late=bool(start.get("late")))


def phase_marks(run: Run) -> list[tuple[float, str]]:
    """(t, phase) for the phases worth a line on the time axis; phases at one time share a label."""
    marks: dict[float, list[str]] = {}
    for r in run.records("phase"):
        if r.get("phase") in ("load", "heal", "drain"):
            marks.setdefault(round(float(r["t"]), 1), []).append(str(r["phase"]))
    return [(t, "/".join(p)) for t, p in sorted(marks.items())]


def load_window(run: Run, tb: Timebase) -> tuple[float, float]:
    """Start and end of the load phase (the whole run when phases were not recorded)."""
    phases = {r.get("phase"): r["t"] for r in run.records("phase")}
    start = phases.get("load", 0.0)
    end = phases.get("heal", phases.get("drain", tb.t1))
    return float(start), float(end)
