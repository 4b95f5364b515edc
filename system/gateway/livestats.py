"""Live figures for the dashboard, computed from successive snapshots of Redis counters (pure).

Why counters and not per-task records: the same counters and latency histogram that the Lua
scripts keep for /metrics give completions/s and latency percentiles over any window by
subtracting two snapshots, so the dashboard costs a handful of reads a second however busy the
queue is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Snapshot:
    """Counters and the cumulative latency histogram at time `t` (epoch seconds)."""

    t: float
    stats: Mapping[str, int]
    buckets: Mapping[str, int]  # upper bound in ms ("inf" last) -> count in that bucket
    gauges: Mapping[str, int] = field(default_factory=dict)  # queue depths and the like, charted as is


def histogram_quantile(buckets: Sequence[tuple[float, int]], q: float) -> float | None:
    """The q-quantile of a histogram given as (upper bound, count in bucket), in ascending order,
    interpolated linearly inside the bucket, as Prometheus does. None when it holds nothing;
    a quantile in the open last bucket is reported as the last finite bound."""
    total = sum(count for _, count in buckets)
    if total <= 0:
        return None
    rank = q * total
    seen, lower = 0, 0.0
    for bound, count in buckets:
        if count and seen + count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - seen) / count
        seen += count
        if not math.isinf(bound):
            lower = bound
    return lower


def bucket_deltas(newer: Snapshot, older: Snapshot) -> list[tuple[float, int]]:
    """Per-bucket counts of tasks that finished between two snapshots (never negative: a reset
    of the counters, e.g. FLUSHALL, counts as starting again from zero)."""
    out = []
    for name, count in newer.buckets.items():
        delta = count - older.buckets.get(name, 0)
        out.append((math.inf if name == "inf" else float(name), count if delta < 0 else delta))
    out.sort(key=lambda pair: pair[0])
    return out


def counter_rate(newer: Snapshot, older: Snapshot, name: str) -> float:
    """Per-second increase of one counter between two snapshots (0 across a counter reset)."""
    dt = newer.t - older.t
    delta = newer.stats.get(name, 0) - older.stats.get(name, 0)
    return delta / dt if dt > 0 and delta >= 0 else 0.0


@dataclass
class Window:
    """The snapshots of the last `span_s` seconds; derives one point per snapshot for charts."""

    span_s: float = 300.0
    snapshots: deque[Snapshot] = field(default_factory=deque)

    def add(self, snap: Snapshot) -> None:
        if self.snapshots and snap.t <= self.snapshots[-1].t:
            return  # clocks that step back: keep the series monotonic
        self.snapshots.append(snap)
        while self.snapshots and snap.t - self.snapshots[0].t > self.span_s:
            self.snapshots.popleft()

    def older_than(self, seconds: float) -> Snapshot | None:
        """The newest snapshot at least `seconds` before the latest (else the oldest one)."""
        if len(self.snapshots) < 2:
            return None
        latest = self.snapshots[-1]
        for snap in reversed(self.snapshots):
            if latest.t - snap.t >= seconds:
                return snap
        return self.snapshots[0]

    def point(self, latency_window_s: float = 60.0) -> dict[str, Any] | None:
        """The chart point of the latest snapshot: rates over the last step, percentiles of the
        tasks that finished within `latency_window_s`."""
        if len(self.snapshots) < 2:
            return None
        latest, previous = self.snapshots[-1], self.snapshots[-2]
        point: dict[str, Any] = {
            "t": latest.t,
            "completed_per_s": round(counter_rate(latest, previous, "completed"), 2),
            "failed_per_s": round(counter_rate(latest, previous, "failed"), 2),
            "submitted_per_s": round(counter_rate(latest, previous, "submitted"), 2),
            **latest.gauges,
        }
        base = self.older_than(latency_window_s)
        deltas = bucket_deltas(latest, base) if base is not None else []
        for q in QUANTILES:
            value = histogram_quantile(deltas, q)
            point[f"p{round(q * 100)}_ms"] = None if value is None else round(value, 1)
        return point

    def series(self, latency_window_s: float = 60.0) -> list[dict[str, Any]]:
        """Every chart point the window can give (for a dashboard that connects late)."""
        replay = Window(self.span_s)
        points = []
        for snap in self.snapshots:
            replay.add(snap)
            p = replay.point(latency_window_s)
            if p is not None:
                points.append(p)
        return points
