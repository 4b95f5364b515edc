"""The checks that make a verdict trustworthy: results_correct, run_time_plausible,
faults_applied, faults_effective. Each must fail on a run that is wrong, and pass on a good one
(hand-made runs, and the recorded zombie-worker run)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from harness.checks import run_checks
from harness.checks.base import build_view
from harness.checks.faultchecks import faults_applied, faults_effective
from harness.checks.results import results_correct, run_time_plausible
from harness.history import FaultRecord, PhaseRecord, SubmitRecord, TaskEvent, TaskRecord, read_history, read_tasks
from harness.loader import parse_scenario

T0 = 1_700_000_000.0
RECORDED = Path(__file__).parents[1] / "fixtures" / "runs" / "zombie-worker-recorded"


def task(i, type_="sleep", data=None, result=None, *, claimed=1.0, done=2.0, worker="worker-1",
         status="succeeded", extra=()):
    events = [TaskEvent(T0 + 0.5, "submitted"), TaskEvent(T0 + claimed, "claimed", worker, 1), *extra]
    if status == "succeeded":
        events.append(TaskEvent(T0 + done, "succeeded", worker, 1))
    return TaskRecord(id=f"id{i}", type=type_, status=status, worker=worker, token=1, submitted_at=T0 + 0.5,
                      started_at=T0 + claimed, finished_at=T0 + done if status == "succeeded" else None,
                      idempotency_key=f"k{i}", events=tuple(sorted(events, key=lambda e: e.t)),
                      data=data, result=result)


def view(tasks, faults=(), submits=None):
    subs = submits if submits is not None else [
        SubmitRecord(0.5, 0.5, f"k{i}", t.type or "", "normal", "ok", t.id) for i, t in enumerate(tasks)]
    return build_view([PhaseRecord(0.0, "load"), *subs, *faults], tasks, wall_start=T0)


def process_result(text):
    return {"upper": text.upper(), "length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


# -- results_correct ------------------------------------------------------------------------
def test_results_correct_passes_right_results_of_every_type():
    tasks = [task(0, "process", "Hello World", process_result("Hello World")),
             task(1, "echo", {"a": [1, 2]}, {"a": [1, 2]}),
             task(2, "sleep", {"ms": 1000}, {"slept_ms": 1000, "elapsed_ms": 1000.4}),
             task(3, "cpu", {"ms": 20}, {"rounds": 900, "digest": "ab", "elapsed_ms": 20.1}),
             task(4, "fail", {"times": 2}, {"attempt": 3}),
             task(5, "fail", {"always": True}, None, status="dead")]
    r = results_correct(view(tasks), {})
    assert r.passed is True and r.observed["judged"] == 5


def test_results_correct_fails_a_success_without_a_result_or_with_a_wrong_one():
    tasks = [task(0, "process", "Hello World", None),                        # ack without running
             task(1, "process", "Hello", {**process_result("Hello"), "length": 4}),
             task(2, "echo", "x", "y"),
             task(3, "sleep", {"ms": 1000}, {"slept_ms": 1000, "elapsed_ms": 3.0}),
             task(4, "fail", {"always": True}, {"attempt": 1}),
             task(5, "fail", {"times": 2}, {"attempt": 2}),
             task(6, "cpu", {"ms": 50}, {"rounds": 0, "elapsed_ms": 50})]
    r = results_correct(view(tasks), {})
    assert r.passed is False and r.observed["wrong"] == 7
    assert "id0: process result wrong in upper, length, sha256" in r.explanation
    assert "always-failing task succeeded" in r.explanation


# -- run_time_plausible ---------------------------------------------------------------------
def test_run_time_plausible_uses_the_succeeding_attempt_and_the_handlers_own_figure():
    ok = task(0, "sleep", {"ms": 1000}, {"slept_ms": 1000, "elapsed_ms": 1000.2}, claimed=1.0, done=2.0)
    assert run_time_plausible(view([ok]), {}).passed is True
    # a `started` event (written when a thread took it, maybe late) does not shorten the span:
    # the claim is the lower bound; the handler's elapsed_ms is the tight figure
    late_start = task(1, "sleep", {"ms": 1000}, {"slept_ms": 1000, "elapsed_ms": 1000.3}, claimed=1.0,
                      done=2.0, extra=(TaskEvent(T0 + 1.5, "started", "worker-1", 1),))
    assert run_time_plausible(view([late_start]), {}).passed is True
    skipped = replace(late_start, result={"slept_ms": 1000, "elapsed_ms": 450.0})
    r = run_time_plausible(view([skipped]), {})
    assert r.passed is False and "handler 450 ms" in r.explanation


def test_run_time_plausible_fails_an_ack_without_the_work():
    # twenty 1 s tasks "finished" 0.1 s after their claim: the handler never ran
    fast = [task(i, "sleep", {"ms": 1000}, {"slept_ms": 1000}, claimed=1.0, done=1.1) for i in range(20)]
    r = run_time_plausible(view(fast), {})
    assert r.passed is False and r.observed == {"timed": 20, "too_short": 20}
    lying = task(0, "cpu", {"ms": 200}, {"rounds": 5, "elapsed_ms": 2.0}, claimed=1.0, done=1.5)
    assert "handler 2 ms" in run_time_plausible(view([lying]), {}).explanation


def test_run_time_of_a_re_executed_task_is_that_of_the_applied_attempt():
    events = (TaskEvent(T0 + 3.0, "lease_expired", "worker-1", 1), TaskEvent(T0 + 3.1, "claimed", "worker-2", 2))
    t = task(0, "sleep", {"ms": 1000}, {"slept_ms": 1000}, claimed=1.0, done=3.5, extra=events)
    t = replace(t, events=tuple(e if e.event != "succeeded" else replace(e, token=2, worker="worker-2")
                                for e in t.events))
    r = run_time_plausible(view([t]), {})
    assert r.passed is False and "record 400 ms" in r.explanation


# -- faults_applied -------------------------------------------------------------------------
def fault(fid, kind, target, t, *, phase="start", effective=None, **detail):
    return FaultRecord(t, phase, kind, target, fid, {"targets": [target] if target.startswith("worker") else [],
                                                     **detail}, effective=effective)


def test_faults_applied_fails_a_fault_that_did_not_happen():
    failed = fault("f2", "kill", "leader", 4.0, error="BackendError: worker-1 is not running")
    r = faults_applied(view([], [fault("f1", "kill", "worker-1", 3.0), failed]), {})
    assert r.passed is False and "f2 kill leader at 4.00s (start): BackendError: worker-1 is not running" \
        in r.explanation
    assert faults_applied(view([], [fault("f1", "kill", "worker-1", 3.0)]), {}).passed is True


def test_a_failed_fault_fails_the_run_verdict():
    sc = parse_scenario({"name": "x", "timeline": [{"at": "1s", "fault": "kill", "target": "leader"}]})
    results = run_checks(sc, [fault("f1", "kill", "leader", 1.0, error="LookupError: no leader")], [],
                         wall_start=T0)
    assert [r.name for r in results] == ["results_correct", "run_time_plausible", "faults_applied",
                                         "faults_effective"]
    assert results[2].passed is False


# -- faults_effective -----------------------------------------------------------------------
def test_faults_effective_passes_when_the_target_held_a_lease():
    busy = task(0, "sleep", {"ms": 1000}, {"slept_ms": 1000}, claimed=1.0, done=2.0, worker="worker-2")
    r = faults_effective(view([busy], [fault("f1", "kill", "worker-2", 1.5, effective=1.52)]), {})
    assert r.passed is True and r.observed["hit"] == {"f1": "worker-2 held leases"}


def test_faults_effective_fails_a_kill_of_an_idle_worker_and_names_it():
    busy = task(0, "sleep", {"ms": 1000}, {"slept_ms": 1000}, claimed=1.0, done=2.0, worker="worker-1")
    r = faults_effective(view([busy], [fault("f1", "kill", "worker-2", 1.5, effective=1.52)]), {})
    assert r.passed is False and "f1 kill worker-2 at 1.50s" in r.explanation
    # the timeline entry can say it means to hit an idle target
    exempt = fault("f1", "kill", "worker-2", 1.5, effective=1.52, idle_ok=True)
    assert faults_effective(view([busy], [exempt]), {}).passed is True


def test_a_lease_that_ended_before_the_fault_does_not_count():
    done = task(0, "sleep", {"ms": 400}, {"slept_ms": 400}, claimed=1.0, done=1.4, worker="worker-2")
    assert faults_effective(view([done], [fault("f1", "pause", "worker-2", 1.5)]), {}).passed is False


def test_gateway_redis_and_scale_rules():
    busy = task(0, "sleep", {"ms": 1000}, {"slept_ms": 1000}, claimed=1.0, done=2.0, worker="worker-1")
    late = SubmitRecord(1.6, 1.7, "k9", "sleep", "normal", "info")
    gw = fault("f1", "kill", "gateway", 1.5)
    assert faults_effective(view([busy], [gw], submits=[late]), {}).passed is True
    assert faults_effective(view([busy], [gw], submits=[]), {}).passed is False
    assert faults_effective(view([busy], [fault("f1", "redis_failover", "", 1.5)]), {}).passed is True
    assert faults_effective(view([busy], [fault("f1", "redis_failover", "", 2.5)]), {}).passed is False
    new = task(1, "sleep", {"ms": 100}, {"slept_ms": 100}, claimed=3.0, done=3.2, worker="worker-4")
    up = FaultRecord(2.5, "start", "scale", "", "f1", {"added": ["worker-4"], "removed": []})
    assert faults_effective(view([busy, new], [up]), {}).passed is True
    assert faults_effective(view([busy], [up]), {}).passed is False


def test_the_recorded_zombie_run_passes_the_new_checks():
    history, tasks = read_history(RECORDED / "history.jsonl"), read_tasks(RECORDED / "tasks.jsonl")
    v = build_view(history, tasks)
    for check in (results_correct, run_time_plausible, faults_applied, faults_effective):
        r = check(v, {})
        assert r.passed is True, (r.name, r.explanation)
    # the same run with every success 10x faster than its 1.5 s: caught
    fast = [replace(t, events=tuple(replace(e, t=e.t - 1.4) if e.event == "succeeded" else e for e in t.events))
            for t in tasks]
    assert run_time_plausible(build_view(history, fast), {}).passed is False


def test_faults_effective_judges_a_node_fault_by_the_workers_the_node_ran():
    busy = task(0, "sleep", {"ms": 1000}, {"slept_ms": 1000}, claimed=1.0, done=2.0, worker="worker-2")
    hit = fault("f1", "node_kill", "node-3", 1.5, effective=1.52, targets=["node-3"], workers=["worker-2"])
    r = faults_effective(view([busy], [hit]), {})
    assert r.passed is True and r.observed["hit"] == {"f1": "worker-2 held leases"}
    idle = fault("f1", "node_kill", "node-3", 1.5, effective=1.52, targets=["node-3"], workers=["worker-5"])
    assert faults_effective(view([busy], [idle]), {}).passed is False
