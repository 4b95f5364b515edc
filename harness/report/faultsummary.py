"""Pure per-fault summary: what changed around each fault (throughput before, during and
after, time to recover, tasks redelivered, stale acks, p99 latency of tasks submitted during it).

Events are attributed to a fault from its start until the next fault starts (or the run ends),
because a lease expiry or a stale ack shows up a lease TTL or more after the fault.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.stats import percentile, rate_between, recovery_time

from .rundata import TaskDicts
from .series import FaultSpan, Latencies

WINDOW_S = 10.0          # before/after windows
RECOVERY_WINDOW_S = 5.0  # as harness.checks.summarize: the same number as results.json's summary
RECOVERED_AT = 0.8


@dataclass(frozen=True)
class FaultImpact:
    span: FaultSpan
    before: float | None      # completed/s in the window before the start
    during: float | None      # completed/s while the fault was active
    after: float | None       # completed/s in the window after the end
    recovery_s: float | None  # seconds from start until back to RECOVERED_AT x before; 0 = no dip
    recovered: bool
    redelivered: int          # lease expiries + tasks handed back, attributed to this fault
    stale_acks: int
    p99_before_ms: float | None
    p99_during_ms: float | None


def _rate(times: Sequence[float], a: float, b: float) -> float | None:
    """Completions per second in [a, b); None for a window too short to mean anything."""
    return rate_between(times, a, b) if b - a >= 1.0 else None


def _between(points: Sequence[tuple[Any, ...]], lo: float, hi: float) -> Sequence[float]:
    """Values of the (t, value, ...) points (sorted by t) with lo <= t < hi."""
    if isinstance(points, Latencies):  # its columns: no tuple made per task
        return points.ms[bisect.bisect_left(points.t, lo):bisect.bisect_left(points.t, hi)]
    a = bisect.bisect_left(points, lo, key=_first)
    b = bisect.bisect_left(points, hi, key=_first)
    return [p[1] for p in points[a:b]]


def _first(point: tuple[Any, ...]) -> float:
    return float(point[0])


def fault_impacts(spans: Sequence[FaultSpan], completions: Sequence[float],
                  tasks: Sequence[dict[str, Any]], *, offset: float, load: tuple[float, float],
                  t1: float, latencies: Sequence[tuple[Any, ...]] | None = None) -> list[FaultImpact]:
    """One FaultImpact per span; completions are sorted relative completion times. `latencies`:
    (relative submit time, latency ms, ...) of the succeeded tasks sorted by time (series.
    task_latencies), when the caller has them: a long run's are not made twice."""
    load_start, load_end = load
    whole = tasks.whole() if isinstance(tasks, TaskDicts) else tasks  # plain tasks carry none of these
    events = sorted((e["t"] - offset, e.get("event"))
                    for t in whole for e in t.get("events", ())
                    if e.get("event") in ("lease_expired", "released", "stale_ack"))
    if latencies is not None:
        lat: Sequence[tuple[Any, ...]] = latencies
    else:
        lat = sorted((t["submitted_at"] - offset, (t["finished_at"] - t["submitted_at"]) * 1000)
                     for t in tasks if t.get("status") == "succeeded" and t.get("finished_at")
                     and t.get("submitted_at"))
    out = []
    for i, s in enumerate(spans):
        nxt = spans[i + 1].start if i + 1 < len(spans) else t1
        attrib_end = max(nxt, s.end_or(s.start))
        end = s.end_or(load_end)
        before = _rate(completions, max(load_start, s.start - WINDOW_S), s.start)
        rec = recovery_time(completions, fault_t=s.start, window=RECOVERY_WINDOW_S,
                            threshold=RECOVERED_AT, end=completions[-1]) if completions else None
        window = [ev for t, ev in events if s.start <= t < attrib_end]
        out.append(FaultImpact(
            span=s, before=before,
            during=_rate(completions, s.start, end) if end > s.start else None,
            after=_rate(completions, end, min(end + WINDOW_S, load_end)),
            recovery_s=rec, recovered=rec is not None,
            redelivered=sum(ev in ("lease_expired", "released") for ev in window),
            stale_acks=sum(ev == "stale_ack" for ev in window),
            p99_before_ms=percentile(_between(lat, s.start - WINDOW_S, s.start), 99),
            p99_during_ms=percentile(_between(lat, s.start, max(end, s.start + 1)), 99),
        ))
    return out
