"""The prefetch size: time-bounded, capped, off when durations are unknown or the budget is 0."""

import threading

from system.worker.prefetch import MAX_PER_SLOT, MeanDuration, ReadyBuffer, prefetch_count


def test_short_tasks_get_a_buffer_that_drains_within_the_budget() -> None:
    # 8 slots finishing a 0.5 ms task each: 16 tasks per ms, so 2 ms holds 32
    assert prefetch_count(2, 8, 0.5) == 32
    # 5 ms tasks: 2 ms of work per slot is 3.2 tasks across 8 slots
    assert prefetch_count(2, 8, 5.0) == 3


def test_long_tasks_get_none_and_the_buffer_is_capped_per_slot() -> None:
    assert prefetch_count(2, 8, 1000.0) == 0
    assert prefetch_count(2, 8, 0.0) == MAX_PER_SLOT * 8
    assert prefetch_count(2, 1, 0.01) == MAX_PER_SLOT


def test_no_prefetch_before_any_task_ran_or_with_a_zero_budget() -> None:
    assert prefetch_count(2, 8, None) == 0
    assert prefetch_count(0, 8, 0.1) == 0


def test_mean_duration_starts_at_the_first_sample_and_follows_slowly() -> None:
    mean = MeanDuration()
    assert mean.ms is None
    mean.add(10.0)
    assert mean.ms == 10.0
    for _ in range(100):
        mean.add(1.0)
    assert 1.0 < mean.ms < 1.1
    mean.add(1000.0)  # one outlier moves it by its weight only
    assert mean.ms < 60


def test_ready_buffer_gives_high_before_buffered_low_and_keeps_fifo_within_a_level() -> None:
    ready: ReadyBuffer[str] = ReadyBuffer(("high", "normal", "low"))
    for item, priority in (("low1", "low"), ("low2", "low"), ("norm1", "normal"), ("high1", "high"),
                           ("odd", "urgent"), ("high2", "high")):
        ready.put(item, priority)
    assert [ready.get() for _ in range(6)] == ["high1", "high2", "norm1", "low1", "low2", "odd"]


def test_ready_buffer_close_wakes_a_waiting_taker_with_none() -> None:
    ready: ReadyBuffer[str] = ReadyBuffer(("high", "normal", "low"))
    got: list[str | None] = []
    taker = threading.Thread(target=lambda: got.append(ready.get()))
    taker.start()
    ready.close(1)
    taker.join(timeout=5)
    assert not taker.is_alive() and got == [None]
