"""Statistics over recorded runs: percentiles, throughput in time buckets, recovery time.

Public: percentile(values, q), percentiles(values, qs), rate_between(times, start, end),
throughput_series(times, *, start, end, width), recovery_time(times, *, fault_t, window,
threshold, end, step), clock_offset(pairs).
Pure functions over plain numbers (seconds); no record types, so the report can reuse them.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Sequence
from statistics import median


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation; None when there are no values."""
    data = sorted(values)
    if not data:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be from 0 to 100, got {q}")
    pos = (len(data) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float | None]:
    data = sorted(values)
    return {f"p{q:g}": percentile(data, q) for q in qs}


def rate_between(sorted_times: Sequence[float], start: float, end: float) -> float:
    """Events per second in [start, end); `sorted_times` must be sorted."""
    if end <= start:
        return 0.0
    count = bisect.bisect_left(sorted_times, end) - bisect.bisect_left(sorted_times, start)
    return count / (end - start)


def throughput_series(times: Iterable[float], *, start: float, end: float,
                      width: float = 1.0) -> list[tuple[float, float]]:
    """(bucket start, events/s) for consecutive buckets of `width` seconds covering [start, end)."""
    if width <= 0:
        raise ValueError("bucket width must be positive")
    data = sorted(times)
    out = []
    t = start
    while t < end:
        stop = min(t + width, end)
        out.append((t, rate_between(data, t, stop)))
        t += width
    return out


def recovery_time(sorted_times: Sequence[float], *, fault_t: float, window: float = 5.0,
                  threshold: float = 0.8, end: float, start: float = -math.inf,
                  step: float = 0.1) -> float | None:
    """Seconds from `fault_t` until throughput is back to `threshold` x the rate over the
    `window` before the fault (not reaching back before `start`, the start of the load).
    0 when it never dropped; None when it never came back before `end`, or when nothing
    completed in the window before (nothing to compare with).

    After the fault a short probe window slides in `step`s: long enough to expect about five
    completions at the old rate (at most `window`, and at most the time left before `end`), so
    a long window does not hide the end of a gap. It must fit before `end`, so the end of the
    work (rate falls to 0 because the queue is empty) is not mistaken for a fault that never
    healed. For a steady rate with a clean gap, the result is the length of the gap.

    The comparison is of whole completion counts (a probe needs `needed` completions, rounded
    to micro-units before the ceiling), not of float rates: with a probe of 5 / baseline
    seconds the bar is exactly 4 completions, and comparing 4 / probe with 0.8 x baseline was
    a coin toss of float rounding (two faults 0.7 ms apart measured 1.2 s and 4.3 s).
    """
    lo = max(fault_t - window, start)
    span = round(fault_t - lo, 6)
    before = bisect.bisect_left(sorted_times, fault_t) - bisect.bisect_left(sorted_times, lo)
    if span <= 0 or before == 0:
        return None
    baseline = before / span
    probe = round(min(window, max(1.0, 5.0 / baseline), end - fault_t), 6)
    if probe <= 0:
        return None
    needed = max(1, math.ceil(round(threshold * before * probe / span, 6)))
    x = fault_t
    while x + probe <= end + 1e-9:
        got = bisect.bisect_left(sorted_times, x + probe) - bisect.bisect_left(sorted_times, x)
        if got >= needed:
            # A probe that starts inside a clean gap of length g first passes at
            # x = fault_t + g - probe * (1 - threshold); add that back, so a gap measures as g.
            return 0.0 if x == fault_t else round(x - fault_t + probe * (1 - threshold), 6)
        x += step
    return None


def clock_offset(pairs: Iterable[tuple[float, float]]) -> float | None:
    """Median of (epoch - relative) over matched pairs: add it to a run-relative time to get
    the epoch (Redis clock), subtract it to go back. None when there is no pair."""
    diffs = array("d", (epoch - rel for epoch, rel in pairs))  # packed: a soak has a million
    return median(diffs) if diffs else None
