"""The Redis, client and clock fault kinds: strict validation with clear errors, which backends
can do them, and the no_wedged_workers check on hand-made runs that must pass and must fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends import capabilities_of
from harness.checks import run_checks
from harness.history import FaultRecord, PhaseRecord, SampleRecord, read_history
from harness.loader import ScenarioError, parse_scenario, validate
from harness.recorder import node_figures
from harness.scenario import FAULTS, SERVICE_FAULTS


def scenario(*timeline: dict, checks: list | None = None):
    return parse_scenario({"name": "x", "load": {"rate": 10, "duration": "10s"},
                           "timeline": list(timeline), "checks": checks or ["no_lost_tasks"]})


def errors(*timeline: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario(*timeline)
    return str(info.value)


@pytest.mark.parametrize("entry, message", [
    ({"fault": "redis_oom"}, "timeline[0].for: missing; redis_oom is a window that must end: add for: 5s"),
    ({"fault": "redis_misconf"}, "redis_misconf is a window that must end"),
    ({"fault": "redis_stall"}, "redis_stall is a window that must end"),
    ({"fault": "slow_client_flood"}, "slow_client_flood is a window that must end"),
    ({"fault": "replica_pause"}, "timeline[0].for: missing; replica_pause is a window that must end"),
    ({"fault": "replica_pause", "for": "3s", "target": "worker-1"},
     "replica_pause cannot target worker-1; use one of: redis"),
    ({"fault": "redis_oom", "for": "3s", "headroom_kb": -1}, "timeline[0].headroom_kb: -1 is out of range"),
    ({"fault": "redis_oom", "for": "3s", "target": "worker-1"}, "redis_oom cannot target worker-1; use one of: redis"),
    ({"fault": "redis_stall", "for": "3s", "mode": "read"},
     "timeline[0].mode: 'read' is not valid; use one of: all, write"),
    ({"fault": "client_kill", "for": "3s"}, "timeline[0].for: client_kill cannot have a duration"),
    ({"fault": "client_kill", "type": "master"}, "timeline[0].type: 'master' is not valid; use one of: normal, pubsub"),
    ({"fault": "slow_client_flood", "for": "3s", "connections": 0}, "timeline[0].connections: 0 is out of range"),
    ({"fault": "slow_client_flood", "for": "3s", "connections": 5000},
     "connections: 5000 is out of range; use a value from 1 to 2000"),
    ({"fault": "slow_client_flood", "for": "3s", "target": "worker-1"},
     "slow_client_flood cannot target worker-1; use one of: gateway"),
    ({"fault": "clock_skew", "target": "worker-1", "for": "3s"},
     "timeline[0].offset: missing; clock_skew needs offset"),
    ({"fault": "clock_skew", "target": "gateway", "for": "3s", "offset": "5s"}, "clock_skew cannot target gateway"),
    ({"fault": "clock_skew", "target": "worker-1", "for": "3s", "offset": "soon"},
     'timeline[0].offset: expected a duration like "10s"'),
    ({"fault": "clock_skew", "target": "worker-1", "for": "3s", "offset": "0s"}, "an offset must be non-zero"),
    ({"fault": "clock_skew", "target": "worker-1", "for": "3s", "offset": "9000h"}, "at most a year either way"),
    ({"fault": "clock_skew", "target": "worker-1", "for": "3s", "offset": [1]}, "expected a signed duration"),
])
def test_bad_parameters_are_named_with_a_fix(entry, message):
    assert message in errors({"at": "1s", **entry})


def test_defaults_and_signed_offsets():
    s = scenario({"at": "1s", "fault": "redis_oom", "for": "3s"},
                 {"at": "1s", "fault": "redis_stall", "for": "2s"},
                 {"at": "1s", "fault": "client_kill"},
                 {"at": "1s", "fault": "slow_client_flood", "for": "3s"},
                 {"at": "1s", "fault": "clock_skew", "target": "worker-2", "for": "3s", "offset": "-90s"},
                 {"at": "1s", "fault": "clock_skew", "target": "worker-1", "for": "3s", "offset": "+1h"})
    got = [(e.fault, e.target, dict(e.params)) for e in s.timeline]
    assert got == [("redis_oom", "redis", {"headroom_kb": 64}), ("redis_stall", "redis", {"mode": "all"}),
                   ("client_kill", "redis", {"type": "normal"}),
                   ("slow_client_flood", "gateway", {"connections": 200}),
                   ("clock_skew", "worker-2", {"offset": -90.0}), ("clock_skew", "worker-1", {"offset": 3600.0})]


def test_fault_table_says_which_backends_and_they_agree():
    assert FAULTS["clock_skew"].backends == {"local"}
    assert SERVICE_FAULTS <= capabilities_of("local")
    assert SERVICE_FAULTS - {"clock_skew"} <= capabilities_of("docker")
    assert "clock_skew" not in capabilities_of("docker")
    s = scenario({"at": "1s", "fault": "clock_skew", "target": "worker-1", "for": "3s", "offset": "5s"})
    with pytest.raises(ScenarioError, match="the chosen backend cannot do 'clock_skew'"):
        validate(s, capabilities_of("docker"))


def test_node_figures_keep_counts_heartbeat_and_thread_liveness():
    info = {"id": "worker-1", "processed": "7", "running": "2", "prefetched": "0",
            "last_heartbeat": "1700000000.5", "current": "[]", "loops": '{"ack": 12.5, "claim": 0.1}'}
    assert node_figures(info) == {"processed": 7, "running": 2, "prefetched": 0, "holding": 0,
                                  "heartbeat": 1700000000.5, "loops": {"ack": 12.5, "claim": 0.1}}
    assert node_figures({"current": '["a", "b"]'})["holding"] == 2
    assert node_figures({"processed": "x", "loops": "not json"}) == {"processed": None}


# -- no_wedged_workers ---------------------------------------------------------------------------

def sample(t, queued=0, **nodes):
    return SampleRecord(t=t, queues={"high": 0, "normal": queued, "low": 0}, workers=len(nodes),
                        nodes=nodes)


def node(processed, running=0, prefetched=0, **extra):
    return {"processed": processed, "running": running, "prefetched": prefetched, **extra}


def wedged_check(results):
    """The scenario's own check (the implicit ones follow it)."""
    return next(r for r in results if r.name == "no_wedged_workers")


def judge(samples, faults=((2.0, 6.0),), **params):
    history = [PhaseRecord(0.0, "load")]
    for i, (start, end) in enumerate(faults):
        history += [FaultRecord(start, "start", "redis_oom", "redis", f"f{i}"),
                    FaultRecord(end, "end", "redis_oom", "redis", f"f{i}")]
    history += samples
    s = parse_scenario({"name": "x", "timeline": [{"at": "2s", "fault": "redis_oom", "for": "4s"}],
                        "checks": [{"no_wedged_workers": params} if params else "no_wedged_workers"]})
    return wedged_check(run_checks(s, history, [], wall_start=0.0))


def test_workers_that_keep_acknowledging_pass():
    samples = [sample(7 + i, queued=3, **{"worker-1": node(10 + i, running=2),
                                          "worker-2": node(20 + 2 * i, running=1)}) for i in range(12)]
    r = judge(samples)
    assert r.passed is True, r
    assert r.observed == {"workers": ["worker-1", "worker-2"]}


def test_a_worker_holding_tasks_without_acks_after_the_fault_is_wedged():
    # the bug of issue 13: the ack thread died under OOM; the node runs, claims, heartbeats
    samples = [sample(7 + i, **{"worker-1": node(10 + i, running=1), "worker-2": node(31, running=4)})
               for i in range(12)]
    r = judge(samples)
    assert r.passed is False
    assert list(r.observed) == ["worker-2"]
    assert "held 4" in r.observed["worker-2"] and "processed stayed 31" in r.observed["worker-2"]


def test_an_idle_worker_with_queued_work_is_wedged_but_an_idle_one_without_is_not():
    claims_dead = [sample(7 + i, queued=5, **{"worker-1": node(4)}) for i in range(8)]
    assert judge(claims_dead).passed is False
    nothing_to_do = [sample(7 + i, **{"worker-1": node(4)}) for i in range(8)]
    assert judge(nothing_to_do).passed is True


def test_stuck_during_the_fault_is_not_judged_and_stuck_is_a_parameter():
    during = [sample(2 + i * 0.5, **{"worker-1": node(3, running=2)}) for i in range(8)]  # 2..5.5 s
    after = [sample(7 + i, **{"worker-1": node(4 + i, running=2)}) for i in range(6)]
    assert judge(during + after).passed is True
    slow = [sample(7 + i, **{"worker-1": node(4 + (i >= 5), running=1)}) for i in range(8)]
    assert judge(slow).passed is True                    # 4 s without an ack < 5 s default
    assert judge(slow, stuck="3s").passed is False


def test_a_silent_loop_in_the_heartbeat_is_wedged_but_one_blocked_by_the_fault_is_not():
    # judged from 7 s (fault end 6 s + settle 1 s); loops report seconds since their last round
    dead_ack = [sample(7 + i, **{"worker-1": node(4, loops={"claim": 0.2, "ack": 3.0 + i})})
                for i in range(10)]
    r = judge(dead_ack)
    assert r.passed is False and "its ack loop had not run for" in r.observed["worker-1"]
    came_back = [sample(7 + i, **{"worker-1": node(4 + i, loops={"claim": 0.2, "ack": 6.0 if i == 0 else 0.3})})
                 for i in range(10)]
    assert judge(came_back).passed is True


def test_no_samples_after_the_fault_is_unknown_not_a_pass():
    r = judge([sample(3, **{"worker-1": node(1)})])
    assert r.passed is None and "cannot judge" in r.explanation


def test_a_worker_that_vanished_after_a_redis_fault_is_wedged_but_a_killed_one_is_not():
    before = [sample(1.0 + i * 0.5, **{"worker-1": node(i), "worker-2": node(i)}) for i in range(2)]
    after = [sample(7 + i, **{"worker-1": node(3 + i)}) for i in range(5)]
    r = judge(before + after)
    assert r.passed is False and "worker-2" in r.observed and "heartbeat stopped" in r.observed["worker-2"]
    none_left = judge(before + [sample(7 + i) for i in range(5)])
    assert none_left.passed is False and set(none_left.observed) == {"worker-1", "worker-2"}
    history = [PhaseRecord(0.0, "load"), FaultRecord(2.0, "start", "kill", "worker-2", "f1",
                                                    {"targets": ["worker-2"]}), *before, *after]
    s = parse_scenario({"name": "x", "timeline": [{"at": "2s", "fault": "kill", "target": "worker-2"}],
                        "checks": ["no_wedged_workers"]})
    killed = wedged_check(run_checks(s, history, [], wall_start=0.0))
    assert killed.passed is True, killed


def test_a_recorded_oom_run_before_the_worker_hardening_is_judged_wedged():
    """tests/fixtures/runs/redis-oom-wedged: scenarios/redis-oom.yaml on the local backend before
    the workers survived Redis errors (each worker's heartbeat and ack threads died on OOM; the
    processes ran on, unregistered, holding their tasks). Submit records are left out."""
    run = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "redis-oom-wedged"
    s = parse_scenario({"name": "x", "timeline": [{"at": "5s", "fault": "redis_oom", "for": "5s"}],
                        "checks": ["no_wedged_workers"]})
    r = wedged_check(run_checks(s, read_history(run / "history.jsonl"), [], wall_start=0.0))
    assert r.passed is False
    assert set(r.observed) == {"worker-1", "worker-2", "worker-3"}


def test_after_start_judges_inside_the_window():
    # a skewed worker that is registered but never acknowledges during its 8 s window
    during = [sample(3 + i, **{"worker-1": node(10 + i, running=1), "worker-2": node(0, running=2)})
              for i in range(8)]
    after = [sample(11 + i, **{"worker-1": node(20 + i, running=1), "worker-2": node(1 + i, running=1)})
             for i in range(4)]
    assert judge(during + after, faults=((2.0, 10.0),)).passed is True
    r = judge(during + after, faults=((2.0, 10.0),), after="start")
    assert r.passed is False and list(r.observed) == ["worker-2"]


def test_attempts_run_but_not_acknowledged_count_as_held():
    samples = [sample(7 + i, **{"worker-1": node(3, running=0, holding=4)}) for i in range(8)]
    assert judge(samples).passed is False


def test_faults_effective_judges_the_redis_kinds_by_work_in_flight():
    from harness.checks.faultchecks import REDIS_FAULTS
    assert {"redis_oom", "redis_misconf", "redis_stall", "client_kill", "redis_failover"} <= REDIS_FAULTS
