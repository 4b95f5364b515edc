"""The fault schedule and the submit plan: pure values from the scenario and the seed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.loader import ScenarioError, parse_scenario
from harness.loadshape import plan_submits, rate_at
from harness.schedule import ScheduleError, build_schedule, scale_plan


def scenario(timeline=(), **load):
    return parse_scenario(
        {
            "name": "s",
            "system": {"workers": 3},
            "load": load or {"rate": 10, "duration": "30s"},
            "timeline": list(timeline),
        }
    )


def brief(schedule):
    return [(e.t, e.phase, e.fault, e.target, e.id) for e in schedule.events]


def test_fixed_time_with_duration_gives_start_and_end():
    s = build_schedule(scenario([{"at": "10s", "fault": "partition", "target": "worker-1", "for": "8s"}]), seed=1)
    assert brief(s) == [(10, "start", "partition", "worker-1", "f1"), (18, "end", "partition", "worker-1", "f1")]
    assert s.horizon == 30 and s.unhealed() == ()


def test_every_until_and_unhealed():
    s = build_schedule(scenario([{"every": "10s", "fault": "latency", "target": "worker-2", "latency_ms": 5}]), seed=1)
    assert [e.t for e in s.events] == [10, 20, 30]
    assert [e.id for e in s.unhealed()] == ["f1", "f2", "f3"]


def test_explicit_heal_and_resume_become_end_events():
    s = build_schedule(
        scenario(
            [
                {"at": "2s", "fault": "latency", "target": "worker-1", "latency_ms": 5},
                {"at": "3s", "fault": "bandwidth", "target": "worker-2", "rate_kbps": 5},
                {"at": "4s", "fault": "pause", "target": "worker-3"},
                {"at": "5s", "fault": "heal"},
                {"at": "6s", "fault": "resume", "target": "worker-3"},
            ]
        ),
        seed=1,
    )
    assert brief(s) == [
        (2, "start", "latency", "worker-1", "f1"),
        (3, "start", "bandwidth", "worker-2", "f2"),
        (4, "start", "pause", "worker-3", "f3"),
        (5, "end", "latency", "worker-1", "f1"),
        (5, "end", "bandwidth", "worker-2", "f2"),
        (6, "end", "pause", "worker-3", "f3"),
    ]
    assert s.unhealed() == ()


def test_heal_before_timed_end_ends_once():
    s = build_schedule(
        scenario(
            [
                {"at": "2s", "fault": "partition", "target": "worker-1", "for": "10s"},
                {"at": "4s", "fault": "heal", "target": "worker-1"},
            ]
        ),
        seed=1,
    )
    assert [(e.t, e.phase) for e in s.events] == [(2, "start"), (4, "end")]


def test_ends_come_before_starts_at_the_same_time():
    s = build_schedule(
        scenario(
            [
                {"at": "2s", "fault": "pause", "target": "worker-1", "for": "2s"},
                {"at": "4s", "fault": "pause", "target": "worker-1", "for": "1s"},
            ]
        ),
        seed=1,
    )
    assert [(e.t, e.phase, e.id) for e in s.events] == [
        (2, "start", "f1"),
        (4, "end", "f1"),
        (4, "start", "f2"),
        (5, "end", "f2"),
    ]


def test_random_targets_and_times_are_seeded():
    sc = scenario(
        [{"random": {"count": 4, "within": ["5s", "25s"]}, "fault": "kill", "target": "random-worker", "for": "1s"}]
    )
    a, b = build_schedule(sc, seed=42), build_schedule(sc, seed=42)
    assert a == b
    starts = a.starts()
    assert len(starts) == 4 and all(5 <= e.t <= 25 for e in starts)
    assert all(e.target in ("worker-1", "worker-2", "worker-3") for e in starts)
    others = {tuple(brief(build_schedule(sc, seed=n))) for n in range(10)}
    assert len(others) > 1, "different seeds should give different schedules"


def test_random_pick_never_hits_a_dead_worker():
    sc = scenario(
        [
            {"at": "1s", "fault": "kill", "target": "worker-1"},
            {"at": "1s", "fault": "kill", "target": "worker-2"},
            {"every": "1s", "until": "10s", "at": "2s", "fault": "pause", "target": "random-worker", "for": "100ms"},
        ]
    )
    assert {e.target for e in build_schedule(sc, seed=3).starts() if e.fault == "pause"} == {"worker-3"}


def test_random_pick_with_no_worker_alive_is_an_error():
    ok = scenario([{"at": "1s", "fault": "kill", "target": "all-workers"}])
    ok_with_pick = ok.timeline + (
        replace(ok.timeline[0], index=1, target="random-worker", timing=replace(ok.timeline[0].timing, at=2)),
    )
    with pytest.raises(ScheduleError, match=r"timeline\[1\].target: no worker is running at 2s"):
        build_schedule(replace(ok, timeline=ok_with_pick), seed=1)
    with pytest.raises(ScenarioError, match=r"timeline\[1\].target: no worker is running at 2s"):
        parse_scenario(
            {
                "name": "x",
                "timeline": [
                    {"at": "1s", "fault": "kill", "target": "all-workers"},
                    {"at": "2s", "fault": "kill", "target": "random-worker"},
                ],
            }
        )


def test_scale_names_follow_the_shared_rule():
    assert scale_plan(["worker-1", "worker-2"], 5, highest=2) == (("worker-3", "worker-4", "worker-5"), ())
    assert scale_plan(["worker-1", "worker-3", "worker-10"], 1, highest=10) == ((), ("worker-10", "worker-3"))
    s = build_schedule(
        scenario(
            [
                {"at": "1s", "fault": "kill", "target": "worker-3"},
                {"at": "2s", "fault": "scale", "workers": 4},
                {"at": "3s", "fault": "kill", "target": "worker-5"},
            ]
        ),
        seed=1,
    )
    scale = s.events[1]
    assert (scale.params["add"], scale.params["remove"]) == (["worker-4", "worker-5"], [])


def test_kill_for_revives_the_worker():
    s = build_schedule(
        scenario(
            [
                {"at": "1s", "fault": "kill", "target": "worker-1", "for": "2s"},
                {"at": "4s", "fault": "pause", "target": "worker-1", "for": "1s"},
            ]
        ),
        seed=1,
    )
    assert [(e.t, e.phase, e.fault) for e in s.events][:2] == [(1, "start", "kill"), (3, "end", "kill")]


def test_load_events_are_scheduled_and_planned():
    sc = parse_scenario(
        {
            "name": "p",
            "load": {
                "count": 10,
                "duration": "5s",
                "flood": {"at": "2s", "low": 4, "high": 2},
                "bursts": [{"at": "1s", "count": 3, "priority": "high"}],
            },
            "timeline": [{"at": "3s", "fault": "poison", "count": 2, "max_retries": 0}],
        }
    )
    s = build_schedule(sc, seed=9)
    assert [(e.t, e.fault) for e in s.events] == [(1, "burst"), (2, "flood"), (3, "poison")]
    plan = plan_submits(sc, s, seed=9)
    assert [p.index for p in plan] == list(range(len(plan))) == list(range(10 + 3 + 6 + 2))
    assert [p.t for p in plan] == sorted(p.t for p in plan)
    flood = [p.priority for p in plan if p.tag == "flood"]
    assert flood == ["low"] * 4 + ["high"] * 2
    assert {p.priority for p in plan if p.tag == "burst"} == {"high"}
    poison = [p for p in plan if p.tag == "poison"]
    assert all(
        p.body() == {"type": "fail", "data": {"always": True}, "priority": "normal", "max_retries": 0} for p in poison
    )
    base = [p.t for p in plan if p.tag == "base"]
    assert base == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]


def test_task_and_priority_mix_follow_weights_and_seed():
    sc = parse_scenario(
        {
            "name": "m",
            "load": {
                "rate": 200,
                "duration": "10s",
                "tasks": [{"type": "sleep", "ms": 1, "weight": 3}, {"type": "echo", "data": 1}],
                "priorities": {"high": 0.1, "normal": 0.8, "low": 0.1},
            },
        }
    )
    s = build_schedule(sc, seed=5)
    plan = plan_submits(sc, s, seed=5)
    assert len(plan) == 2000
    sleeps = sum(p.type == "sleep" for p in plan) / len(plan)
    highs = sum(p.priority == "high" for p in plan) / len(plan)
    assert 0.70 < sleeps < 0.80 and 0.07 < highs < 0.13
    assert plan == plan_submits(sc, s, seed=5)
    assert plan != plan_submits(sc, s, seed=6)


def test_rate_at():
    sc = scenario(rate=20, duration="10s")
    assert (rate_at(sc.load, 0), rate_at(sc.load, 9.9), rate_at(sc.load, 10), rate_at(sc.load, -1)) == (20, 20, 0, 0)
    assert rate_at(scenario(count=50, duration="10s").load, 3) == 5
    assert rate_at(scenario(count=50).load, 0) == 0
    assert [p.t for p in plan_submits(scenario(count=3), build_schedule(scenario(count=3), seed=1), seed=1)] == [
        0,
        0,
        0,
    ]
