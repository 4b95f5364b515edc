"""deregistered_within: a SIGTERM'd worker leaves the sampled live workers at once."""

from __future__ import annotations

from harness.checks.base import build_view
from harness.checks.discovery import deregistered_within
from harness.history import FaultRecord, PhaseRecord, SampleRecord


def _view(drop_at: float | None, *, error: str = ""):
    samples = [SampleRecord(t / 4, workers=2 if drop_at is None or t / 4 < drop_at else 1) for t in range(40)]
    fault = FaultRecord(2.0, "start", "terminate", "worker-1", "f1",
                        {"error": error} if error else {}, requested=2.0, effective=3.0)
    return build_view([PhaseRecord(0.0, "load"), fault, *samples], [], wall_start=0.0)


def test_passes_when_the_count_drops_as_the_worker_exits() -> None:
    result = deregistered_within(_view(3.0), {"within": 1.0})
    assert result.passed is True and result.observed == {"f1 worker-1": 0.0}


def test_fails_when_the_worker_stays_listed_for_its_registration_ttl() -> None:
    late = deregistered_within(_view(7.5), {"within": 1.0})
    assert late.passed is False and "listed 4.5s after it exited" in late.explanation
    never = deregistered_within(_view(None), {"within": 1.0})
    assert never.passed is False and "still listed" in never.explanation


def test_without_an_effective_time_the_stop_duration_says_when_it_exited() -> None:
    samples = [SampleRecord(t / 4, workers=2 if t / 4 < 3.2 else 1) for t in range(40)]
    fault = FaultRecord(2.0, "start", "terminate", "worker-1", "f1", {"took_s": 1.1})
    v = build_view([PhaseRecord(0.0, "load"), fault, *samples], [], wall_start=0.0)
    assert deregistered_within(v, {"within": 0.5}).observed == {"f1 worker-1": 0.15}


def test_a_stop_effective_at_its_signal_counts_from_the_exit() -> None:
    samples = [SampleRecord(t / 4, workers=2 if t / 4 < 3.5 else 1) for t in range(40)]
    fault = FaultRecord(2.0, "start", "terminate", "worker-1", "f1", {"stopped_s": 1.4, "took_s": 1.4},
                        requested=2.0, effective=2.0)
    v = build_view([PhaseRecord(0.0, "load"), fault, *samples], [], wall_start=0.0)
    result = deregistered_within(v, {"within": 0.5})
    assert result.passed is True and result.observed == {"f1 worker-1": 0.1}


def test_unknown_without_a_terminate_and_failed_faults_are_not_judged() -> None:
    assert deregistered_within(_view(3.0, error="boom"), {}).passed is None


def _counted_view(lost_from: float | None):
    """Worker-1 leaves the live list 0.5 s after its exit; stats.worker_lost rises at `lost_from`."""
    samples = [SampleRecord(t / 4, workers=2 if t / 4 < 3.5 else 1,
                            stats={"worker_lost": 1 if lost_from is not None and t / 4 >= lost_from else 0})
               for t in range(40)]
    fault = FaultRecord(2.0, "start", "terminate", "worker-1", "f1", {}, requested=2.0, effective=3.0)
    return build_view([PhaseRecord(0.0, "load"), fault, *samples], [], wall_start=0.0)


def test_fails_when_the_worker_left_by_being_reaped_as_lost() -> None:
    reaped = deregistered_within(_counted_view(3.5), {"within": 1.0})
    assert reaped.passed is False and "removed by the leader as a lost worker" in reaped.explanation
    assert deregistered_within(_counted_view(5.0), {"within": 1.0}).passed is False  # pruned a tick later


def test_passes_when_worker_lost_stays_or_rises_only_long_after() -> None:
    assert deregistered_within(_counted_view(None), {"within": 1.0}).passed is True
    assert deregistered_within(_counted_view(8.0), {"within": 1.0}).passed is True  # another worker, later
