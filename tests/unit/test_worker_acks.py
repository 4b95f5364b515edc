"""What the acker sends: starts ride on the acks (pure part)."""

from __future__ import annotations


def test_starts_are_merged_into_their_outcome_or_sent_once_due() -> None:
    import time

    from system.broker import Outcome, Start
    from system.worker.acker import START_REPORT_S, _due_starts

    now = time.monotonic()
    starts = {"done": Start("done", "1", now - 1), "long": Start("long", "1", now - 2 * START_REPORT_S),
              "young": Start("young", "1", now)}
    due = _due_starts([Outcome("done", "1", True, "null", 0, now - 1)], starts)
    assert [s.id for s in due] == ["long"]  # "done" travels in its outcome; "young" may end soon
    assert list(starts) == ["young"]
