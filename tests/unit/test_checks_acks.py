"""acks_refused_during and acks_resume_after on hand-made histories: they pass when the gateway
refused acks while the replica was frozen and accepted them after, fail when it accepted one
inside the window (durable-ack-skips-wait) or refused after, and never pass on an empty window."""

from __future__ import annotations

from harness.checks.acks import acks_refused_during, acks_resume_after
from harness.checks.base import build_view
from harness.checks.registry import CHECKS
from harness.history import FaultRecord, PhaseRecord, SubmitRecord

T0 = 1_700_000_000.0
START = FaultRecord(5.0, "start", "replica_pause", "redis", "f1", {"replica": "redis-replica"}, effective=5.02)
END = FaultRecord(8.0, "end", "replica_pause", "redis", "f1")


def sub(t, outcome, i, took=0.1):
    return SubmitRecord(t, t + took, f"k{i}", "sleep", "normal", outcome, f"id{i}",
                        None if outcome == "ok" else "503 not_replicated")


def run(submits, faults=(START, END)):
    return build_view([PhaseRecord(0.0, "load"), *submits, *faults], [], wall_start=T0)


def good_run():
    before = [sub(1.0 + i * 0.5, "ok", i) for i in range(6)]
    during = [sub(5.6 + i * 0.4, "info", 10 + i, took=0.3) for i in range(5)]
    after = [sub(10.5 + i * 0.5, "ok", 20 + i) for i in range(4)]
    return before + during + after


def test_refused_during_passes_when_every_submit_in_the_window_was_refused():
    r = acks_refused_during(run(good_run()), {"fault": "replica_pause", "settle": 0.5})
    assert r.passed is True and r.observed["in_window"] == 5 and r.observed["accepted"] == 0


def test_refused_during_fails_naming_the_accepted_submits():
    subs = good_run() + [sub(6.0, "ok", 90), sub(7.0, "ok", 91)]
    r = acks_refused_during(run(subs), {"fault": "replica_pause", "settle": 0.5})
    assert r.passed is False and r.observed["accepted"] == 2
    assert "2 of 7" in r.explanation and "id90, id91" in r.explanation


def test_refused_during_ignores_submits_before_the_settle_or_answered_after_the_end():
    subs = good_run() + [sub(5.1, "ok", 80), sub(7.9, "ok", 81, took=0.5)]
    assert acks_refused_during(run(subs), {"fault": "f1", "settle": 0.5}).passed is True


def test_refused_during_is_undecided_without_the_fault_its_effect_or_a_submit_in_the_window():
    params = {"fault": "replica_pause", "settle": 0.5}
    assert acks_refused_during(run(good_run(), faults=()), params).passed is None
    failed = FaultRecord(5.0, "start", "replica_pause", "redis", "f1", {"error": "BackendError: no replica"})
    assert acks_refused_during(run(good_run(), faults=(failed, END)), params).passed is None
    assert acks_refused_during(run(good_run(), faults=(START,)), params).passed is None
    outside = [s for s in good_run() if not 5.0 < s.t < 8.0]
    assert acks_refused_during(run(outside), params).passed is None


def test_resume_after_passes_when_acks_come_back_and_fails_when_they_do_not():
    params = {"fault": "replica_pause", "within": 2.0}
    assert acks_resume_after(run(good_run()), params).passed is True
    r = acks_resume_after(run(good_run() + [sub(11.0, "info", 99)]), params)
    assert r.passed is False and "id99" in r.explanation
    early = [s for s in good_run() if s.t < 10.0]
    assert acks_resume_after(run(early), params).passed is None


def test_both_checks_are_registered_with_fault_as_their_shorthand():
    for name in ("acks_refused_during", "acks_resume_after"):
        assert CHECKS[name].shorthand == "fault" and CHECKS[name].required == ("fault",)
