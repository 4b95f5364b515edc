"""The submit plan made as the load walks it: the same plan as the whole one, never held whole."""

from __future__ import annotations

import random
import tracemalloc
from itertools import islice

from harness.loader import parse_scenario
from harness.loadshape import POISON, PlannedSubmit, choose_priority, choose_task, flood_priorities, iter_submits
from harness.scenario import TaskMix
from harness.schedule import build_schedule


def mixed(rate: int = 200, duration: str = "10s") -> object:
    return parse_scenario({
        "name": "mixed",
        "load": {"rate": rate, "duration": duration, "resend": 0.1, "cancel": 0.05,
                 "tasks": [{"type": "sleep", "ms": 1, "weight": 3}, {"type": "echo", "data": 1}],
                 "priorities": {"high": 0.2, "normal": 0.6, "low": 0.2},
                 "bursts": [{"at": "2s", "count": 7}, {"at": "2s", "count": 3, "priority": "high"}],
                 "flood": {"at": "5s", "low": 4, "normal": 2, "high": 3}},
        "timeline": [{"at": "2s", "fault": "poison", "count": 2, "max_retries": 1}],
    })


def whole_plan(sc, schedule, seed: int) -> list[PlannedSubmit]:
    """The plan as it was made before it was lazy: every submit drawn, then one stable sort."""
    load = sc.load
    tasks_rng, prio_rng = random.Random(f"{seed}:tasks"), random.Random(f"{seed}:priorities")
    raw = []

    def add(t, task, priority, tag, fid=""):
        chosen = task or choose_task(load.tasks, tasks_rng)
        raw.append((t, chosen, priority or choose_priority(load.priorities, prio_rng), tag, fid))

    for i in range(int(load.rate * load.duration + 1e-9)):
        add(i / load.rate, None, None, "base")
    for e in schedule.starts():
        if e.fault == "burst":
            for _ in range(e.params["count"]):
                add(e.t, e.params.get("task"), e.params.get("priority"), "burst", e.id)
        elif e.fault == "flood":
            for p in flood_priorities(e.params["low"], e.params.get("normal", 0), e.params["high"]):
                add(e.t, e.params.get("task"), p, "flood", e.id)
        elif e.fault == "poison":
            task = TaskMix(POISON.type, POISON.data, 1.0, e.params.get("max_retries"))
            for _ in range(e.params["count"]):
                add(e.t, task, e.params.get("priority", "normal"), "poison", e.id)
    raw.sort(key=lambda item: item[0])
    resend, cancel = random.Random(f"{seed}:resend"), random.Random(f"{seed}:cancel")
    return [PlannedSubmit(round(t, 6), i, m.type, m.data, p, m.max_retries, m.timeout, tag, fid,
                          resend.random() < load.resend, cancel.random() < load.cancel)
            for i, (t, m, p, tag, fid) in enumerate(raw)]


def test_lazy_plan_is_the_whole_plan_for_every_seed():
    sc = mixed()
    for seed in (1, 2, 77):
        schedule = build_schedule(sc, seed=seed)
        lazy = list(iter_submits(sc, schedule, seed=seed))
        assert lazy == whole_plan(sc, schedule, seed)
        assert {p.tag for p in lazy} == {"base", "burst", "flood", "poison"}


def test_a_long_plan_is_not_held_whole():
    sc = mixed(rate=2000, duration="100s")   # 200,000 submits: ~40 MB if held
    schedule = build_schedule(sc, seed=3)
    tracemalloc.start()
    try:
        plan = iter_submits(sc, schedule, seed=3)
        first = list(islice(plan, 1000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p.index for p in first] == list(range(1000))
    assert peak < 2_000_000, f"planning held {peak / 1e6:.1f} MB"
