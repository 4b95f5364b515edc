"""Faults against the real compose stack: a killed worker, a cut Redis link, a dead Redis primary."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import FAST_TIMINGS, Stack, succeeded_events, wait_for

pytestmark = pytest.mark.docker
LEASE_S = int(FAST_TIMINGS["LEASE_TTL_MS"]) / 1000


def running_on(stack: Stack, worker: str) -> list[str]:
    return list(stack.workers().get(worker, {}).get("current", []))


def claim_token(record: dict[str, Any], worker: str) -> int:
    return max(e["token"] for e in record["events"] if e["event"] == "claimed" and e.get("worker") == worker)


def test_killed_worker_tasks_complete_elsewhere_within_lease_ttl(stack: Stack) -> None:
    ids = [stack.submit("sleep", {"ms": 2000}).json()["id"] for _ in range(30)]
    victim = "worker-2"
    held = wait_for(f"{victim} to run tasks", lambda: running_on(stack, victim), timeout=20)
    stack.docker("kill", stack.container("worker", 2))
    killed_at = time.monotonic()

    records = stack.wait_finished(ids, timeout=60)
    assert all(r["status"] == "succeeded" for r in records.values()), \
        {i: r["status"] for i, r in records.items() if r["status"] != "succeeded"}
    # 30 tasks x 2 s on 2 x 8 slots is ~4 s of work: the victim's tasks must not wait much longer
    # than one lease TTL for re-delivery (margin for the reaper interval and the work itself).
    assert time.monotonic() - killed_at < LEASE_S + 2 * 2 + 10
    for task_id in held:
        record = records[task_id]
        assert any(e["event"] == "lease_expired" for e in record["events"]), record["events"]
        (success,) = succeeded_events(record)
        assert success["token"] > claim_token(record, victim), "the killed attempt cannot be the success"
    assert all(len(succeeded_events(r)) == 1 for r in records.values())


def test_cut_worker_link_moves_its_tasks_and_rejects_its_late_acks(stack: Stack) -> None:
    ids = [stack.submit("sleep", {"ms": 4000}).json()["id"] for _ in range(24)]
    victim, proxy = "worker-1", "redis-worker-1"
    held = wait_for(f"{victim} to run tasks", lambda: running_on(stack, victim), timeout=20)
    stack.set_proxy_enabled(proxy, False)
    try:
        # Longer than the lease TTL (and than the 4 s tasks): leases expire, others take over.
        wait_for(f"{victim}'s tasks to be claimed by another worker",
                 lambda: all(claim_token(stack.task(i), victim) < stack.task(i)["token"] for i in held),
                 timeout=LEASE_S * 4)
        time.sleep(0)  # the cut lasts until here; nothing to wait for without polling
    finally:
        stack.set_proxy_enabled(proxy, True)

    records = stack.wait_finished(ids, timeout=60)
    assert all(r["status"] == "succeeded" for r in records.values())
    assert all(len(succeeded_events(r)) == 1 for r in records.values()), "a task succeeded twice"

    def late_acks_recorded() -> bool:
        return all(any(e["event"] == "stale_ack" and e.get("worker") == victim for e in stack.task(i)["events"])
                   for i in held)
    wait_for(f"{victim}'s late results to be recorded as stale_ack", late_acks_recorded, timeout=30)
    for task_id in held:
        (success,) = succeeded_events(stack.task(task_id))
        assert success["worker"] != victim or success["token"] > claim_token(stack.task(task_id), victim)
    wait_for(f"{victim} to register again after the heal", lambda: victim in stack.workers(), timeout=20)


class Submitter(threading.Thread):
    """Submits echo tasks as fast as one client can; remembers every acknowledged id."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.acked: list[str] = []
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                resp = self.stack.submit("echo", {"n": n})
            except Exception:  # connection trouble during the failover: outcome unknown
                self.refused += 1
                continue
            if resp.status_code == 202:
                self.acked.append(resp.json()["id"])
            else:
                self.refused += 1


@pytest.mark.parametrize("durable_ack", ["0", "1"])
def test_primary_failover_keeps_the_queue_working(make_stack: Callable[..., Stack], durable_ack: str) -> None:
    stack = make_stack({"DURABLE_ACK": durable_ack})
    submitter = Submitter(stack)
    submitter.start()
    wait_for("some acknowledged submits", lambda: len(submitter.acked) >= 50, timeout=20)
    replica_ip = stack.ip_of("redis-replica")
    primary_ip = stack.ip_of("redis")
    # steady state first, as Sentinel needs it: a replica every Sentinel sees healthy and
    # replicating from the primary's address
    wait_for("every Sentinel to see a good replica",
             lambda: stack.sentinels_see_a_good_replica(primary_ip, replica_ip), timeout=30)
    stopped_at = time.monotonic()
    primary = stack.container("redis")
    stack.docker("update", "--restart", "no", primary)  # a crash that stays down until we restart it
    stack.docker("kill", primary)
    try:
        wait_for("Sentinel to promote the replica", lambda: stack.sentinel_primary() == replica_ip,
                 timeout=45)
        promoted_s = time.monotonic() - stopped_at
        if durable_ack == "0":
            acked_before = len(submitter.acked)
            wait_for("submits to be acknowledged by the new primary",
                     lambda: len(submitter.acked) > acked_before + 20, timeout=20)
    finally:
        stack.docker("update", "--restart", "unless-stopped", primary)
        stack.docker("start", primary)
    wait_for("the old primary to rejoin as a replica", lambda: stack.redis_role("redis") == "slave:up", timeout=60)
    acked_before = len(submitter.acked)
    wait_for("submits to be acknowledged after the old primary rejoined",
             lambda: len(submitter.acked) > acked_before + 20, timeout=30)
    submitter.stop.set()
    submitter.join(timeout=15)
    recovered_s = time.monotonic() - stopped_at

    assert stack.get("/health")["redis"]["ok"] is True
    wait_for("all three workers registered", lambda: len(stack.workers()) == 3, timeout=30)
    lost = [i for i in submitter.acked if stack.http.get(f"{stack.gateway}/tasks/{i}", timeout=10).status_code == 404]
    stack.wait_finished([i for i in submitter.acked if i not in lost], timeout=90)
    _record_failover(durable_ack=durable_ack, acked=len(submitter.acked), lost=len(lost),
                     refused=submitter.refused, promoted_s=promoted_s, recovered_s=recovered_s)
    if durable_ack == "1":
        assert lost == [], f"DURABLE_ACK=1 lost {len(lost)} acknowledged tasks"


def _record_failover(**figures: Any) -> None:
    """Append the measured figures for docs/docker.md (reports/ is git-ignored)."""
    out = Path(__file__).resolve().parents[2] / "reports" / "e2e-failover.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps({"t": time.time(), **figures}) + "\n")
    print("failover:", figures)
