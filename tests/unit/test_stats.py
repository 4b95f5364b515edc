"""Statistics: percentiles, throughput buckets, recovery time, clock offset."""

from __future__ import annotations

import pytest

from harness.stats import clock_offset, percentile, percentiles, rate_between, recovery_time, throughput_series


def test_percentile_interpolates_like_numpy_linear():
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert percentile(values, 50) == 5.5
    assert percentile(values, 0) == 1 and percentile(values, 100) == 10
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile([], 50) is None
    assert percentile([7], 99) == 7
    assert percentiles([3, 1, 2]) == {"p50": 2, "p95": pytest.approx(2.9), "p99": pytest.approx(2.98)}
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_throughput_series_and_rate():
    times = [0.1, 0.2, 0.5, 1.5, 2.1, 2.2, 2.3, 2.9]
    assert throughput_series(times, start=0, end=3, width=1) == [(0, 3), (1, 1), (2, 4)]
    assert throughput_series(times, start=0, end=2.5, width=1)[-1] == (2, 6.0)  # 3 events in half a second
    assert rate_between(sorted(times), 2, 3) == 4 and rate_between(times, 3, 3) == 0


def steady(rate, start, end):
    n = int((end - start) * rate)
    return [start + i / rate for i in range(n)]


def test_recovery_time_after_a_gap():
    times = steady(10, 0, 10) + steady(10, 13, 30)  # nothing completes from 10s to 13s
    assert recovery_time(times, fault_t=10, window=2, threshold=0.8, end=30) == pytest.approx(3, abs=0.25)


def test_recovery_time_zero_when_no_drop_and_none_when_never_back():
    assert recovery_time(steady(10, 0, 30), fault_t=10, window=2, end=30) == 0
    halved = steady(10, 0, 10) + steady(4, 10, 30)
    assert recovery_time(halved, fault_t=10, window=2, threshold=0.8, end=30) is None
    assert recovery_time(steady(10, 20, 30), fault_t=10, window=2, end=30) is None  # no baseline


def test_clock_offset_is_the_median():
    assert clock_offset([(1000.5, 0.5), (1001.0, 1.0), (1050.0, 2.0)]) == 1000.0
    assert clock_offset([]) is None


def test_recovery_time_baseline_starts_at_the_load_and_probe_fits_a_short_run():
    times = steady(4, 10, 12) + steady(4, 13, 15)  # load starts at 10 s; fault at 12 s; run ends at 15 s
    assert recovery_time(times, fault_t=12, window=5, threshold=0.8, end=15, start=10) == pytest.approx(1, abs=0.2)
    assert recovery_time(times, fault_t=14, window=5, end=14, start=10) is None


def test_recovery_time_compares_counts_not_float_rates():
    """Two faults 0.7 ms apart with the same baseline (12 completions in the 5 s before) must
    measure the same recovery: comparing 4 / probe with 0.8 x baseline as floats gave 1.22 s
    for one and 4.32 s for the other."""
    rate, times = 2.4, [i / 2.4 for i in range(1, 25)]
    t = times[-1] + 0.85
    while t < 25:
        times.append(round(t, 6))
        t += 1 / 1.92          # back at exactly 0.8 x the rate before
    for fault_t in (10.05, 10.0493, 10.0125, 10.0118):
        a = recovery_time(times, fault_t=fault_t, end=times[-1], start=0.0)
        b = recovery_time(times, fault_t=fault_t + 0.0007, end=times[-1], start=0.0)
        assert a is not None and b is not None and abs(a - b) < 0.01, (fault_t, a, b)
        assert a < 1.0 and rate == 2.4
