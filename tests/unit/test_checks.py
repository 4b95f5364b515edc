"""Checks on hand-written histories: each check passes on a good run and fails on a bad one."""

from __future__ import annotations

import pytest

from harness.checks import CHECKS, results_document, run_checks, summarize
from harness.checks.base import build_view
from harness.checks.queue import analyse
from harness.history import FaultRecord, PhaseRecord, SampleRecord, SubmitRecord, TaskEvent, TaskRecord
from harness.loader import parse_scenario

T0 = 1_700_000_000.0  # epoch of the run's t = 0


def submit(i, t, outcome="ok", priority="normal", key=None, with_id=True):
    return SubmitRecord(
        t=t,
        t_done=t,
        key=key or f"k{i}",
        type="sleep",
        priority=priority,
        outcome=outcome,
        id=f"id{i}" if outcome == "ok" and with_id else None,
    )


def task(
    i,
    t_sub,
    t_start=None,
    t_end=None,
    status="succeeded",
    priority="normal",
    worker="worker-1",
    extra_events=(),
    type_="sleep",
    data=None,
    token=1,
    key=None,
):
    t_start = t_sub + 0.05 if t_start is None else t_start
    t_end = t_start + 0.1 if t_end is None and status in ("succeeded", "dead") else t_end
    events = [TaskEvent(T0 + t_sub, "submitted"), TaskEvent(T0 + t_start, "claimed", worker, token)]
    if status == "succeeded":
        events.append(TaskEvent(T0 + t_end, "succeeded", worker, token))
    events += list(extra_events)
    return TaskRecord(
        id=f"id{i}",
        type=type_,
        priority=priority,
        status=status,
        worker=worker,
        token=token,
        submitted_at=T0 + t_sub,
        started_at=T0 + t_start,
        finished_at=None if t_end is None else T0 + t_end,
        idempotency_key=key or f"k{i}",
        events=tuple(events),
        data=data or {"ms": 50},
        result={"slept_ms": (data or {"ms": 50}).get("ms")} if type_ == "sleep" and status == "succeeded" else None,
    )


def make(n=20, rate=10.0):
    history = [PhaseRecord(0.0, "up"), PhaseRecord(1.0, "load")]
    tasks = []
    for i in range(n):
        t = 1.0 + i / rate
        history.append(submit(i, t))
        tasks.append(task(i, t))
    history.append(PhaseRecord(1.0 + n / rate + 0.5, "heal"))
    return history, tasks


def check(name, history, tasks, **params):
    doc = {
        "name": "x",
        "timeline": [{"at": "1s", "fault": f} for f in ("redis_failover",)],
        "checks": [{name: params} if params else name],
    }
    if name in ("throughput_after", "recovery_time_max"):
        doc["timeline"] = [{"at": "1s", "fault": "scale", "workers": 5}, {"at": "2s", "fault": "redis_failover"}]
    result = run_checks(parse_scenario(doc), history, tasks)[0]
    return result


def test_every_check_is_documented():
    assert all(d.doc for d in CHECKS.values())


def test_good_run_passes_queue_checks():
    history, tasks = make()
    for name in ("no_lost_tasks", "conservation"):
        r = check(name, history, tasks)
        assert r.passed is True, r
    assert check("no_lost_tasks", history, tasks).observed["accepted"] == 20


def test_lost_unfinished_and_unexpected_fail():
    history, tasks = make()
    tasks[4] = task(4, 1.4, status="queued", t_end=None)  # accepted, never done
    del tasks[3]  # accepted, vanished
    history.append(submit(99, 2.0, outcome="fail"))
    tasks.append(task(99, 2.0))  # rejected, ran anyway
    r = check("no_lost_tasks", history, tasks)
    assert r.passed is False
    assert r.observed["lost"] == 1 and r.observed["unfinished"] == 1 and r.observed["unexpected"] == 1
    assert "id3" in r.explanation and "id4" in r.explanation and "id99" in r.explanation
    c = check("conservation", history, tasks)
    assert c.passed is False and c.observed["in_flight"] == 1 and c.observed["missing"] == 1


def test_unknown_outcome_that_ran_is_recovered_not_lost():
    history, tasks = make()
    history.append(submit(50, 2.5, outcome="info"))  # timed out, but it got in
    tasks.append(task(50, 2.5))
    history.append(submit(51, 2.6, outcome="info"))  # timed out, never got in: fine
    r = check("no_lost_tasks", history, tasks)
    assert r.passed is True and r.observed["recovered"] == 1 and r.observed["indeterminate"] == 1
    assert "1 submit(s) with unknown outcome recovered" in r.explanation
    assert check("conservation", history, tasks).observed["accepted"] == 21


def test_retried_submit_with_same_key_counts_once():
    history, tasks = make(3)
    history.append(SubmitRecord(t=3, t_done=5, key="k1", type="sleep", priority="normal", outcome="info"))
    q = analyse(build_view(history, tasks))
    assert q.accepted_count == 3 and not q.recovered


def test_duplicates_count_and_fraction():
    history, tasks = make(10)
    assert check("max_duplicates", history, tasks, max=0).passed is True
    stale = TaskEvent(T0 + 3, "stale_ack", "worker-2", 1, "ok")
    tasks[0] = task(0, 1.0, extra_events=[stale], token=2)
    r = check("max_duplicates", history, tasks, max=0)
    assert r.passed is False and r.observed["duplicates"] == 1 and r.observed["stale_acks"] == 1
    assert check("max_duplicates", history, tasks, max=0.2).passed is True  # 1 of 10 = 10%
    assert check("max_duplicates", history, tasks, max=0.05).passed is False


def test_stale_acks_rejected():
    history, tasks = make(5)
    assert check("stale_acks_rejected", history, tasks).passed is True
    r = check("stale_acks_rejected", history, tasks, min=1)
    assert r.passed is False and "did not produce a zombie" in r.explanation
    tasks[1] = task(1, 1.1, token=2, extra_events=[TaskEvent(T0 + 4, "stale_ack", "worker-3", 1, "ok")])
    assert check("stale_acks_rejected", history, tasks, min=1).passed is True
    twice = TaskEvent(T0 + 5, "succeeded", "worker-3", 1)
    tasks[2] = task(2, 1.2, token=2, extra_events=[twice])
    r = check("stale_acks_rejected", history, tasks, min=1)
    assert r.passed is False and "id2" in r.explanation


def test_dlq_contains():
    history, tasks = make(4)
    history.append(submit(10, 2.0))
    tasks.append(task(10, 2.0, status="dead", type_="fail", data={"always": True}))
    assert check("dlq_contains", history, tasks).passed is True
    history.append(submit(11, 2.1))
    tasks.append(task(11, 2.1, status="retry_scheduled", type_="fail", data={"always": True}, t_end=None))
    r = check("dlq_contains", history, tasks)
    assert r.passed is False and "id11" in r.explanation
    r = check("dlq_contains", *make(4))
    assert r.passed is False and "only 0" in r.explanation


def test_latency_percentiles_per_priority():
    history, tasks = make(10)
    tasks[0] = task(0, 1.0, t_start=1.0, t_end=4.0, priority="high")  # 3 s
    assert check("p50_latency_ms", history, tasks, max=200).passed is True
    r = check("p99_latency_ms", history, tasks, max=200)
    assert r.passed is False and r.observed > 2000
    r = check("p99_latency_ms", history, tasks, max=5000, priority="high")
    assert r.name == "p99_latency_ms[high]" and r.observed == pytest.approx(3000, abs=1)
    assert check("p50_latency_ms", history, tasks, max=10, priority="low").passed is None


def test_all_done_within():
    history, tasks = make(20)  # last finishes at 1 + 1.9 + 0.15 = 3.05 -> 2.05 s after load start
    r = check("all_done_within", history, tasks, within="3s")
    assert r.passed is True and r.observed == pytest.approx(2.05, abs=0.01)
    assert check("all_done_within", history, tasks, within="1s").passed is False


def flood_run(high_wait, low_wait):
    history = [PhaseRecord(0, "load"), FaultRecord(2.0, "start", "flood", "", "f1")]
    tasks = []
    for i in range(30):
        prio = "high" if i >= 25 else "low"
        wait = high_wait if prio == "high" else low_wait * (i + 1) / 25
        history.append(submit(i, 2.0, priority=prio))
        tasks.append(task(i, 2.0, t_start=2.0 + wait, priority=prio))
    return history, tasks


def test_priority_order():
    r = check("priority_order", *flood_run(high_wait=0.05, low_wait=3.0))
    assert r.passed is True and r.observed["high_wait_p50_ms"] == pytest.approx(50)
    r = check("priority_order", *flood_run(high_wait=2.5, low_wait=3.0))
    assert r.passed is False and "not honoured" in r.explanation


def run_with_rates(before, after, fault="scale", at=10.0, end=20.0):
    history = [PhaseRecord(0, "load"), FaultRecord(at, "start", fault, "", "f1")]
    tasks, i = [], 0
    for rate, lo, hi in ((before, 0, at), (after, at, end)):
        n = int((hi - lo) * rate)
        for k in range(n):
            t = lo + k / rate
            history.append(submit(i, t - 0.1))
            tasks.append(task(i, t - 0.1, t_start=t - 0.05, t_end=t))
            i += 1
    return history, tasks


def test_throughput_after():
    r = check("throughput_after", *run_with_rates(4, 10), fault="scale", at_least=1.4)
    assert r.name == "throughput_after[scale]" and r.passed is True
    assert r.observed["ratio"] == pytest.approx(2.5, rel=0.05)
    assert check("throughput_after", *run_with_rates(4, 4), fault="scale", at_least=1.4).passed is False
    r = check("throughput_after", *run_with_rates(4, 10), fault="redis_failover", at_least=1.4)
    assert r.passed is None and "never started" in r.explanation


def test_throughput_after_baseline_ends_when_the_scale_began():
    """A scale effective 4 s after it began: new workers already ran in between (24/s); the
    baseline is the 4 slots' 8/s before it began, not the mixed seconds before it took effect."""
    history = [PhaseRecord(0, "load"),
               FaultRecord(10.0, "start", "scale", "", "f1", requested=10.0, effective=14.0)]
    tasks, i = [], 0
    for rate, lo, hi in ((8, 0, 10), (24, 10, 25)):
        for k in range(int((hi - lo) * rate)):
            t = lo + k / rate
            history.append(submit(i, t - 0.1))
            tasks.append(task(i, t - 0.1, t_start=t - 0.05, t_end=t))
            i += 1
    r = check("throughput_after", history, tasks, fault="scale", at_least=1.4, settle="3s", window="4s")
    assert r.passed is True and r.observed["ratio"] == pytest.approx(3.0, rel=0.05), r


def test_throughput_min():
    assert check("throughput_min", *run_with_rates(10, 10), min=8).passed is True
    assert check("throughput_min", *run_with_rates(2, 2), min=8).passed is False


def test_recovery_time_max():
    history, tasks = run_with_rates(10, 10, fault="redis_failover")
    gap = [t for t in tasks if not 10 <= t.finished_at - T0 < 13]  # nothing finishes 10..13 s
    r = check("recovery_time_max", history, gap, max="5s")
    assert r.passed is True and r.observed["f1:redis_failover"] == pytest.approx(3, abs=0.3)
    assert check("recovery_time_max", history, gap, max="1s").passed is False
    slow = run_with_rates(10, 3, fault="redis_failover")
    r = check("recovery_time_max", *slow, max="5s")
    assert r.passed is False and "never came back" in r.explanation


def test_leader_changes_max():
    def samples(*leaders):
        return [SampleRecord(t=i, leader=name) for i, name in enumerate(leaders)]

    r = check("leader_changes_max", samples("worker-1", "worker-1", None, "worker-2", "worker-1"), [], max=1)
    assert r.passed is False and r.observed == 2 and "worker-1 -> worker-2 -> worker-1" in r.explanation
    assert check("leader_changes_max", samples("worker-1", None, "worker-1"), [], max=0).passed is True
    assert check("leader_changes_max", samples(None, None), [], max=0).passed is None


def test_crashing_check_is_unknown_not_a_crash():
    history, tasks = make(3)
    broken = [t for t in tasks] + [TaskRecord(id="bad", status="succeeded", submitted_at="yesterday", finished_at=T0)]
    r = check("p50_latency_ms", history, broken, max=100)
    assert r.passed is None and r.explanation.startswith("check crashed: TypeError")


def test_times_need_matched_submits_or_wall_start():
    tasks = [task(0, 1.0)]
    history = [PhaseRecord(0, "load"), SubmitRecord(1.0, 1.0, "other", "sleep", "normal", "info")]
    sc = parse_scenario({"name": "x", "checks": [{"throughput_min": 0.5}]})
    r = run_checks(sc, history, tasks)[0]
    assert r.passed is None and "cannot relate task times to the run" in r.explanation
    r = run_checks(sc, history, tasks, wall_start=T0)[0]
    assert r.passed is True and r.observed == pytest.approx(1 / 1.15, rel=0.01)


def test_results_document_and_summary():
    history, tasks = make(10)
    sc = parse_scenario({"name": "doc", "checks": ["no_lost_tasks", {"p99_latency_ms": 1}]})
    results = run_checks(sc, history, tasks)
    doc = results_document(sc, results, history=history, tasks=tasks, meta={"seed": 3})
    assert doc["scenario"] == "doc" and doc["passed"] is False and doc["meta"] == {"seed": 3}
    assert [c["passed"] for c in doc["checks"]] == [True, False, True, True, True, True]  # + implicit
    summary = summarize(history, tasks)
    assert summary["accepted"] == summary["succeeded"] == 10 and summary["dead"] == 0
    assert summary["p50_latency_ms"] == pytest.approx(150, abs=1)
    assert summary["throughput"] == pytest.approx(10 / 1.05, rel=0.01)
    unknown = [type(results[0])("x", None, None, None, "crashed")]
    assert results_document(sc, unknown, history=history, tasks=tasks, meta={})["passed"] is False


def test_event_based_checks_are_unknown_without_events():
    from dataclasses import replace

    history, tasks = make(3)
    bare = [replace(t, events=()) for t in tasks]
    for name, params in (("max_duplicates", {"max": 0}), ("stale_acks_rejected", {})):
        r = check(name, history, bare, **params)
        assert r.passed is None and "carry no events" in r.explanation
