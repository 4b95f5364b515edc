"""Retry backoff: exponential, capped, jittered within [half, full] of the ceiling, reproducible."""

from __future__ import annotations

import random

import pytest

from system.retry import backoff_ms


def test_ceiling_doubles_with_each_failure_until_the_cap() -> None:
    # The largest possible delay is the ceiling: uniform(0, half) can reach half, so take many draws.
    rng = random.Random(1)
    maxima = [max(backoff_ms(n, base_ms=100, cap_ms=3000, rng=rng) for _ in range(400)) for n in range(1, 8)]
    assert maxima[:5] == pytest.approx([100, 200, 400, 800, 1600], rel=0.03)
    assert maxima[5] <= 3000 and maxima[6] <= 3000
    assert maxima[5] >= 2900  # capped at 3000, not 3200


@pytest.mark.parametrize("failures", [1, 2, 3, 6, 10, 40, 1000])
def test_delay_stays_within_equal_jitter_bounds(failures: int) -> None:
    rng = random.Random(failures)
    ceiling = min(30000, 200 * 2 ** (failures - 1))
    delays = [backoff_ms(failures, base_ms=200, cap_ms=30000, rng=rng) for _ in range(300)]
    assert all(ceiling // 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 50  # jitter actually spreads retries out


def test_minimum_delay_still_grows_so_retries_never_hammer() -> None:
    rng = random.Random(7)
    minima = [min(backoff_ms(n, base_ms=100, cap_ms=10**6, rng=rng) for _ in range(300)) for n in range(1, 6)]
    assert minima == sorted(minima)
    assert minima[0] >= 50 and minima[-1] >= 800


def test_same_seed_gives_same_delays() -> None:
    a = [backoff_ms(n, base_ms=50, cap_ms=5000, rng=random.Random(42)) for n in range(1, 10)]
    b = [backoff_ms(n, base_ms=50, cap_ms=5000, rng=random.Random(42)) for n in range(1, 10)]
    c = [backoff_ms(n, base_ms=50, cap_ms=5000, rng=random.Random(43)) for n in range(1, 10)]
    assert a == b
    assert a != c


def test_huge_failure_counts_do_not_overflow() -> None:
    assert 15000 <= backoff_ms(10**9, base_ms=200, cap_ms=30000, rng=random.Random(0)) <= 30000


@pytest.mark.parametrize("failures", [0, -1])
def test_failures_start_at_one(failures: int) -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        backoff_ms(failures, base_ms=100, cap_ms=1000)
