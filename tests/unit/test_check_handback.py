"""handed_back: a SIGTERM'd worker's unfinished tasks carry its own `released` event; a re-queue
by crash recovery (lease_expired, worker lost) does not count as a hand-back."""

from __future__ import annotations

from harness.checks.base import build_view
from harness.checks.handback import handed_back
from harness.history import FaultRecord, PhaseRecord, TaskEvent, TaskRecord

STOP = FaultRecord(2.0, "start", "terminate", "worker-1", "f1", {"targets": ["worker-1"]},
                   requested=2.0, effective=2.0)


def _task(task_id: str, *after_stop: TaskEvent, claimed_by: str = "worker-1") -> TaskRecord:
    events = (TaskEvent(0.1, "submitted"), TaskEvent(0.2, "claimed", claimed_by, 1), *after_stop)
    return TaskRecord(task_id, type="sleep", status="succeeded", submitted_at=0.1, events=events)


def _view(*tasks: TaskRecord, stop: FaultRecord = STOP):
    return build_view([PhaseRecord(0.0, "load"), stop], list(tasks), wall_start=0.0)


def test_passes_when_the_worker_released_what_it_held() -> None:
    released = _task("a", TaskEvent(3.0, "released", "worker-1", 1, "worker shutting down"),
                     TaskEvent(3.1, "claimed", "worker-2", 2), TaskEvent(6.0, "succeeded", "worker-2", 2))
    finished = _task("b", TaskEvent(2.5, "succeeded", "worker-1", 1))  # done within the grace
    result = handed_back(_view(released, finished), {})
    assert result.passed is True and result.observed == {"held": 1, "not_handed_back": 0}


def test_fails_when_crash_recovery_re_queued_them_instead() -> None:
    lost = _task("c", TaskEvent(4.2, "lease_expired", "worker-1", 1, "worker lost: its connections closed"),
                 TaskEvent(4.3, "claimed", "worker-2", 2), TaskEvent(7.0, "succeeded", "worker-2", 2))
    result = handed_back(_view(lost), {})
    assert result.passed is False and "lease_expired (worker lost" in result.explanation


def test_unknown_when_nothing_was_left_or_nothing_was_stopped() -> None:
    finished = _task("b", TaskEvent(2.5, "succeeded", "worker-1", 1))
    assert handed_back(_view(finished), {}).passed is None
    other = _task("d", TaskEvent(5.0, "succeeded", "worker-2", 1), claimed_by="worker-2")
    assert handed_back(_view(other), {}).passed is None
    failed_stop = FaultRecord(2.0, "start", "terminate", "worker-1", "f1", {"error": "boom"})
    assert handed_back(_view(finished, stop=failed_stop), {}).passed is None
