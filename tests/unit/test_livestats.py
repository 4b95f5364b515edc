"""The dashboard's figures from counter snapshots (pure)."""

from __future__ import annotations

import math

import pytest

from system.gateway.livestats import Snapshot, Window, bucket_deltas, counter_rate, histogram_quantile

BOUNDS = ("5", "10", "25", "50", "100", "inf")


def snap(t: float, completed: int, counts: tuple[int, ...], **gauges: int) -> Snapshot:
    return Snapshot(t, {"completed": completed}, dict(zip(BOUNDS, counts, strict=True)), gauges=gauges)


def test_quantile_interpolates_inside_the_bucket() -> None:
    # 10 tasks: 5 under 5 ms, 5 between 5 and 10 ms -> the median is the 5 ms bound, p90 is 9 ms
    buckets = [(5.0, 5), (10.0, 5), (math.inf, 0)]
    assert histogram_quantile(buckets, 0.5) == pytest.approx(5.0)
    assert histogram_quantile(buckets, 0.9) == pytest.approx(9.0)


def test_quantile_of_nothing_is_none_and_the_open_bucket_reports_its_lower_bound() -> None:
    assert histogram_quantile([(5.0, 0), (math.inf, 0)], 0.99) is None
    assert histogram_quantile([(5.0, 1), (math.inf, 9)], 0.99) == 5.0


def test_deltas_and_rates_between_snapshots() -> None:
    a, b = snap(100.0, 10, (1, 1, 0, 0, 0, 0)), snap(102.0, 30, (1, 11, 10, 0, 0, 0))
    assert bucket_deltas(b, a) == [(5.0, 0), (10.0, 10), (25.0, 10), (50.0, 0), (100.0, 0), (math.inf, 0)]
    assert counter_rate(b, a, "completed") == 10.0


def test_a_counter_reset_is_not_a_negative_rate() -> None:
    a, b = snap(100.0, 500, (0, 0, 0, 0, 0, 500)), snap(101.0, 3, (3, 0, 0, 0, 0, 0))
    assert counter_rate(b, a, "completed") == 0.0
    assert bucket_deltas(b, a)[0] == (5.0, 3)


def test_window_points_carry_rates_percentiles_and_gauges_and_forget_old_snapshots() -> None:
    w = Window(span_s=10)
    assert w.point() is None
    for i in range(15):
        w.add(snap(100.0 + i, 10 * i, (10 * i, 0, 0, 0, 0, 0), high=i))
    point = w.point()
    assert point is not None
    assert point["completed_per_s"] == 10.0 and point["high"] == 14
    assert point["p50_ms"] == pytest.approx(2.5)
    assert w.snapshots[0].t == 104.0  # 10 s span
    assert [p["t"] for p in w.series()] == [105.0 + i for i in range(10)]


def test_a_snapshot_from_the_past_is_ignored() -> None:
    w = Window()
    w.add(snap(100.0, 0, (0,) * 6))
    w.add(snap(99.0, 5, (0,) * 6))
    assert len(w.snapshots) == 1
