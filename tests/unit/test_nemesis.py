"""The nemesis's bookkeeping (harness/faults.py): timing fields of fault records, a failed fault
is never undone, a `leader` target waits for a live leader. The backend here is a recorder of
calls: what is under test is what the nemesis asks for and records, not the processes."""

from __future__ import annotations

import pytest

from harness.faults import Nemesis
from harness.history import FaultRecord
from harness.ledger import Ledger
from harness.schedule import FaultEvent


class CallLog:
    """Backend stand-in: logs calls; `kill` of a name in `dead` fails as a real backend does."""

    name = "calls"

    def __init__(self, dead=()):
        self.calls, self.dead = [], set(dead)

    def kill(self, node):
        if node in self.dead:
            raise RuntimeError(f"{node} is not running (killed, terminated or scaled away)")
        self.calls.append(("kill", node))
        self.dead.add(node)

    def workers(self):
        return [w for w in ("worker-1", "worker-2", "worker-3") if w not in self.dead]

    def start_node(self, node, *, wait=True):
        self.calls.append(("start_node", node, wait))
        self.dead.discard(node)

    def add_toxic(self, node, *, type, stream, attributes, toxicity=1.0, name=None):
        from harness.backends.base import ToxicHandle
        self.calls.append(("toxic", node, stream))
        return ToxicHandle(f"redis-{node}", name)

    def remove_toxic(self, handle):
        self.calls.append(("untoxic", handle.proxy))

    def redis_failover(self, *, on_down=None):
        self.calls.append(("failover",))
        on_down()
        self.clock[0] += 5.0          # the promotion takes a while after the primary is gone
        return "127.0.0.1:7000"

    def heal_network(self):
        return []


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.create(tmp_path, "t")
    yield led
    led.close()


def make(led, backend, *, leader=lambda: "worker-1", leader_wait=0.0, late_after=0.5):
    records: list[FaultRecord] = []
    clock = [10.0]
    backend.clock = clock
    n = Nemesis(backend, ledger=led, record=records.append,
                clock=lambda: clock[0], leader=leader, leader_wait=leader_wait, late_after=late_after)
    return n, records, clock


def start(fid, fault, target, t, duration=None, **params):
    return FaultEvent(t, "start", fault, target, fid, params, 0, duration)


def end(fid, fault, target, t):
    return FaultEvent(t, "end", fault, target, fid)


def test_a_failed_fault_is_never_undone(ledger):
    """The issue's timeline: kill the leader at 3s, then kill `leader` for 3s at 4s; the second
    resolves to the worker killed a second ago. Its end must not restart that worker."""
    backend = CallLog()
    n, records, clock = make(ledger, backend)
    n.apply(start("f1", "kill", "leader", 3.0), requested=3.0)
    n.apply(start("f2", "kill", "leader", 4.0, duration=3.0), requested=4.0)
    n.apply(end("f2", "kill", "leader", 7.0), requested=7.0)
    assert backend.calls == [("kill", "worker-1")]            # no start_node of worker-1
    f2 = [r for r in records if r.id == "f2"]
    assert [r.phase for r in f2] == ["start", "end"]
    assert "not running" in f2[0].detail["error"] and f2[0].effective is None
    assert f2[1].detail["skipped"] == "the start failed; nothing to undo"
    assert n.errors and "f2" in n.errors[0]


def test_fault_records_carry_requested_effective_and_late(ledger):
    backend = CallLog()
    n, records, clock = make(ledger, backend, late_after=0.5)
    clock[0] = 6.2                          # the nemesis got to it 0.2 s after the schedule
    n.apply(start("f1", "redis_failover", "redis", 6.0), requested=6.0)
    (rec,) = records
    assert rec.requested == 6.0 and rec.t == 6.2
    assert rec.effective == 6.2             # the primary was gone before the promotion ...
    assert rec.late is False and rec.at == 6.2   # ... so checks use 6.2, not 11.2
    clock[0] = 9.0
    n.apply(start("f2", "kill", "worker-2", 8.0), requested=8.0)
    assert records[-1].late is True and records[-1].effective == 9.0


def test_leader_target_waits_for_a_live_leader_and_records_the_wait(ledger):
    answers = iter([None, None, "worker-3"])
    backend = CallLog()
    n, records, _ = make(ledger, backend, leader=lambda: next(answers), leader_wait=2.0)
    n.apply(start("f1", "kill", "leader", 1.0), requested=1.0)
    assert backend.calls == [("kill", "worker-3")]
    assert records[0].detail["targets"] == ["worker-3"] and records[0].detail["leader_wait_s"] > 0


def test_no_live_leader_within_the_wait_is_a_failed_fault(ledger):
    n, records, _ = make(ledger, CallLog(), leader=lambda: None, leader_wait=0.1)
    n.apply(start("f1", "kill", "leader", 1.0), requested=1.0)
    assert "no live leader" in records[0].detail["error"]


def test_idle_ok_is_recorded_for_faults_effective(ledger):
    n, records, _ = make(ledger, CallLog())
    event = FaultEvent(1.0, "start", "kill", "worker-2", "f1", {}, 0, None, True)
    n.apply(event, requested=1.0)
    assert records[0].detail["idle_ok"] is True


def test_pick_live_leader_skips_a_dead_or_frozen_leader():
    from harness.faults import pick_live_leader
    running = ["worker-2", "worker-3"]
    assert pick_live_leader(("worker-2", 0.3), running, fresh_s=2.0) == "worker-2"
    assert pick_live_leader(("worker-1", 0.3), running, fresh_s=2.0) is None      # killed: key outlives it
    assert pick_live_leader(("worker-2", 4.0), running, fresh_s=2.0) is None      # frozen: stale heartbeat
    assert pick_live_leader(("worker-2", float("inf")), running, fresh_s=2.0) is None  # no registration
    assert pick_live_leader(None, running, fresh_s=2.0) is None


def test_a_graceful_stop_takes_effect_at_the_signal(ledger):
    class Slow(CallLog):
        def terminate(self, node):
            self.calls.append(("terminate", node))
            self.clock[0] += 1.2          # the worker finishes its running tasks, then exits

    n, records, clock = make(ledger, Slow())
    clock[0] = 4.0
    n.apply(start("f1", "terminate", "worker-1", 4.0), requested=4.0)
    (rec,) = records
    assert rec.effective == 4.0 and rec.late is False and rec.detail["stopped_s"] == 1.2


def test_a_worker_restarted_behind_a_partition_is_not_waited_for(ledger):
    """Partition worker-1 for 6 s at 3 s, kill it for 2 s at 4 s: at 6 s it is started again but
    cannot register until the heal at 9 s; waiting for it would stall every later event."""
    backend = CallLog()
    n, records, clock = make(ledger, backend)
    n.apply(start("f1", "partition", "worker-1", 3.0, duration=6.0, direction="both"), requested=3.0)
    n.apply(start("f2", "kill", "worker-1", 4.0, duration=2.0), requested=4.0)
    n.apply(end("f2", "kill", "worker-1", 6.0), requested=6.0)
    assert ("start_node", "worker-1", False) in backend.calls
    assert "its link is cut by f1" in records[-1].detail["not_ready"]
    n.apply(end("f1", "partition", "worker-1", 9.0), requested=9.0)
    n.apply(start("f3", "kill", "worker-1", 10.0, duration=1.0), requested=10.0)
    n.apply(end("f3", "kill", "worker-1", 11.0), requested=11.0)
    assert backend.calls[-1] == ("start_node", "worker-1", True)   # nothing cuts it now


def test_a_scheduled_fault_never_applied_is_recorded_as_failed(ledger):
    from harness.checks.base import build_view
    from harness.checks.faultchecks import faults_applied
    n, records, _ = make(ledger, CallLog())
    n.missed(start("f4", "kill", "worker-2", 30.0), requested=30.0, why="the timeline stopped before its time")
    r = faults_applied(build_view(records, [], wall_start=0.0), {})
    assert r.passed is False and "not applied: the timeline stopped" in r.explanation
