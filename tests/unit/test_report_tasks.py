"""Per-task views: attempts, fairness, Gantt selection (pure)."""
from __future__ import annotations

from report_helpers import EPOCH0, task

from harness.report.tasksview import attempts, jain_index, max_min_ratio, named_task_ids, select_gantt, worker_loads


def zombie_task() -> dict:
    """worker-1 is cut off, its lease expires, worker-3 finishes, worker-1 acks late."""
    return task("z1", (0.0, "submitted", {}),
                (1.0, "claimed", {"worker": "worker-1", "token": 1}),
                (4.0, "lease_expired", {"worker": "worker-1", "token": 1}),
                (4.1, "claimed", {"worker": "worker-3", "token": 2}),
                (4.5, "succeeded", {"worker": "worker-3", "token": 2}),
                (9.0, "stale_ack", {"worker": "worker-1", "token": 1, "detail": "ok"}))


def test_attempts_follow_tokens_and_mark_lost_leases() -> None:
    a1, a2 = attempts(zombie_task(), EPOCH0)
    assert (a1.worker, a1.start, a1.end, a1.outcome, a1.applied) == ("worker-1", 1.0, 9.0, "stale_ack", False)
    assert (a2.worker, a2.outcome, a2.applied) == ("worker-3", "succeeded", True)
    assert round(a2.end - a2.start, 3) == 0.4


def test_worker_loads_count_events_per_worker() -> None:
    loads = {w.worker: w for w in worker_loads([zombie_task()])}
    assert loads["worker-1"].leases_lost == 1 and loads["worker-1"].stale_acks == 1
    assert loads["worker-1"].succeeded == 0 and loads["worker-3"].succeeded == 1


def test_jain_index_and_max_min() -> None:
    assert jain_index([10, 10, 10]) == 1.0
    assert round(jain_index([30, 0, 0]), 3) == round(1 / 3, 3)
    assert jain_index([]) is None
    assert max_min_ratio([10, 20]) == 2.0
    assert max_min_ratio([10, 0]) is None


def test_named_task_ids_come_only_from_failed_checks() -> None:
    results = {"checks": [
        {"name": "no_lost_tasks", "passed": False, "observed": {"lost": ["a1", "zz"]}, "explanation": "a2 vanished"},
        {"name": "max_duplicates", "passed": True, "observed": ["a3"]}]}
    assert named_task_ids(results, {"a1", "a2", "a3"}) == ["a1", "a2"]


def test_select_gantt_puts_named_tasks_first_and_respects_the_limit() -> None:
    tasks = [task(f"t{i:03d}", (i, "submitted", {}), (i + 0.1, "claimed", {"worker": "worker-1", "token": 1}),
                  (i + 0.5, "succeeded", {"worker": "worker-1", "token": 1}), submitted=i) for i in range(200)]
    tasks[150] = {**zombie_task(), "id": "t150", "submitted_at": EPOCH0 + 150}
    results = {"checks": [{"name": "p99_latency_ms", "passed": False, "observed": {"slowest": ["t007", "t199"]}}]}
    sel = select_gantt(tasks, results, limit=20)
    ids = [t["id"] for t in sel.tasks]
    assert len(ids) == 20 and sel.named == 2 and sel.eventful == 1
    assert {"t007", "t199", "t150"} <= set(ids)
    assert ids == sorted(ids)  # shown in submit order


def test_records_without_events_still_give_attempts_and_loads() -> None:
    """GET /tasks may return records without their event history: fall back to the fields."""
    bare = {"id": "b1", "status": "succeeded", "worker": "worker-2", "token": 1, "failures": 1,
            "submitted_at": EPOCH0, "started_at": EPOCH0 + 1, "finished_at": EPOCH0 + 2.5}
    (a,) = attempts(bare, EPOCH0)
    assert (a.worker, a.start, a.end, a.applied) == ("worker-2", 1.0, 2.5, True)
    (w,) = worker_loads([bare])
    assert (w.worker, w.succeeded, w.claimed, w.failed) == ("worker-2", 1, 1, 1)
    from harness.report.tasksview import successes_by_worker
    assert successes_by_worker([bare, zombie_task()], EPOCH0) == {"worker-2": [2.5], "worker-3": [4.5]}
    (r,) = attempts({**bare, "claimed_at": EPOCH0 + 0.5}, EPOCH0)  # claim, buffer, run
    assert (r.start, r.began, r.end) == (0.5, 1.0, 2.5)


def test_an_attempt_splits_buffer_wait_from_execution() -> None:
    t = task("b1", (0.0, "submitted", {}),
             (1.0, "claimed", {"worker": "worker-1", "token": 1}),
             (1.5, "started", {"worker": "worker-1", "token": 1}),
             (2.0, "succeeded", {"worker": "worker-1", "token": 1}))
    (a,) = attempts(t, EPOCH0)
    assert (a.start, a.began, a.end) == (1.0, 1.5, 2.0)
    (old,) = attempts(task("o1", (0.0, "submitted", {}), (1.0, "claimed", {"worker": "w", "token": 1}),
                           (2.0, "succeeded", {"worker": "w", "token": 1})), EPOCH0)
    assert old.began is None  # runs recorded before the `started` event: claim to end, as before
