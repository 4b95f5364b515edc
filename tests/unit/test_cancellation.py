"""The per-attempt cancel flag behaves like threading.Event for the calls handlers make."""

from __future__ import annotations

import threading
import time

import pytest

from system import cancellation
from system.cancellation import Cancellation


def test_a_fresh_flag_is_clear_and_a_wait_times_out() -> None:
    flag = Cancellation()
    assert not flag.is_set()
    assert flag.wait(0.01) is False


def test_set_before_wait_returns_at_once() -> None:
    flag = Cancellation()
    flag.set()
    assert flag.is_set() and flag.wait(30) is True


def test_set_from_another_thread_wakes_every_waiter() -> None:
    flag = Cancellation()
    woken: list[bool] = []
    waiters = [threading.Thread(target=lambda: woken.append(flag.wait(30))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    deadline = time.monotonic() + 10
    while flag._event is None and time.monotonic() < deadline:  # a waiter has built the Event
        time.sleep(0.001)
    flag.set()
    for waiter in waiters:
        waiter.join(timeout=10)
    assert woken == [True, True, True]


def test_a_set_that_lands_before_the_event_exists_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The window inside wait(): the flag was clear when checked, set() found no Event to wake."""
    flag = Cancellation()

    class SetWhileMaking:
        def __enter__(self) -> None:
            flag._flag = True  # what set() does while no Event exists yet

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(cancellation, "_MAKING", SetWhileMaking())
    start = time.monotonic()
    assert flag.wait(30) is True
    assert time.monotonic() - start < 5
