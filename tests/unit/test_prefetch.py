"""The prefetch size: time-bounded, capped, off when durations are unknown or the budget is 0;
the ready buffer's order; when a more urgent queued task is claimed out of turn."""

import threading

from system.worker.prefetch import MAX_PER_SLOT, MeanDuration, ReadyBuffer, claim_ahead, prefetch_budget, prefetch_count

LEVELS = ("high", "normal", "low")


def test_short_tasks_get_a_buffer_that_drains_within_the_budget() -> None:
    # 8 slots finishing a 0.5 ms task each: 16 tasks per ms, so 2 ms holds 32
    assert prefetch_count(2, 8, 0.5) == 32
    # 5 ms tasks: 2 ms of work per slot is 3.2 tasks across 8 slots
    assert prefetch_count(2, 8, 5.0) == 3
    # the default budget (20 ms) fills the cap with 5 ms tasks, and holds 3 tasks of 50 ms
    assert prefetch_count(20, 8, 5.0) == MAX_PER_SLOT * 8
    assert prefetch_count(20, 8, 50.0) == 3


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


def test_ready_buffer_reports_its_most_urgent_item_and_counts_per_level() -> None:
    ready: ReadyBuffer[str] = ReadyBuffer(LEVELS)
    assert ready.top() is None
    ready.put("low1", "low")
    ready.put("norm1", "normal")
    assert ready.top() == "normal" and ready.count("low") == 1 and ready.count("high") == 0
    assert ready.get() == "norm1" and ready.top() == "low"


def test_a_queued_task_more_urgent_than_everything_buffered_is_claimed_ahead() -> None:
    assert claim_ahead("high", "low", LEVELS) == "high"
    assert claim_ahead("normal", "low", LEVELS) == "normal"
    assert claim_ahead("high", "normal", LEVELS) == "high"


def test_nothing_is_claimed_ahead_when_the_buffer_already_starts_with_it_or_is_empty() -> None:
    assert claim_ahead("high", "high", LEVELS) is None  # a high is next anyway
    assert claim_ahead("low", "normal", LEVELS) is None  # queued work is less urgent
    assert claim_ahead(None, "low", LEVELS) is None  # nothing queued
    assert claim_ahead("high", None, LEVELS) is None  # empty buffer: the normal claim comes first


def test_the_budget_is_shallow_while_only_the_lowest_priority_is_queued() -> None:
    assert prefetch_budget(20, "low", LEVELS) == 2
    assert prefetch_budget(1, "low", LEVELS) == 1  # never deeper than asked
    assert prefetch_budget(20, "normal", LEVELS) == 20
    assert prefetch_budget(20, "high", LEVELS) == 20
    assert prefetch_budget(20, None, LEVELS) == 20


def test_expected_duration_grows_while_every_slot_runs_a_task_older_than_the_mean() -> None:
    from system.worker.prefetch import expected_task_ms
    assert expected_task_ms(None, True, 5000.0) is None  # nothing learned: no prefetch anyway
    assert expected_task_ms(0.2, False, 5000.0) == 0.2  # a free slot: the mean stands
    assert expected_task_ms(0.2, True, 0.1) == 0.2  # a drain of short tasks: unchanged
    assert expected_task_ms(0.2, True, 5000.0) == 5000.0  # hour-long sleeps on every slot
    assert prefetch_count(20, 8, expected_task_ms(0.2, True, 5000.0)) == 0
