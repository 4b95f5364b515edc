"""The load as a pure plan: which task to submit at which time, from the scenario, its
schedule (bursts, floods, poison tasks) and the seed. The load generator only walks the plan
(sending each submit at its time, or at once when it is late) and records the outcomes.

Public: plan_submits(scenario, schedule, *, seed) -> tuple[PlannedSubmit, ...]; iter_submits (the
same plan, made as it is walked);
PlannedSubmit (.body() -> the POST /tasks object); rate_at(load, t); choose_task(mix, rng);
choose_priority(mix, rng); flood_priorities(low, normal, high).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from harness.scenario import Load, PriorityMix, Scenario, TaskMix
from harness.schedule import Schedule

POISON = TaskMix("fail", {"always": True})


@dataclass(frozen=True, slots=True)
class PlannedSubmit:
    t: float                      # seconds from the start of the load phase
    index: int                    # position in the plan; use it in the idempotency key
    type: str
    data: Any
    priority: str
    max_retries: int | None = None
    timeout: float | None = None
    tag: str = "base"             # base | burst | flood | poison
    fault_id: str = ""            # the schedule event that caused it (bursts, floods, poison)
    resend: bool = False          # send it again with the same key (a client retry after a lost reply)
    cancel: bool = False          # cancel it (DELETE /tasks/<id>) right after it was accepted

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "data": self.data, "priority": self.priority}
        if self.max_retries is not None:
            out["max_retries"] = self.max_retries
        if self.timeout is not None:
            out["timeout"] = self.timeout
        return out


def rate_at(load: Load, t: float) -> float:
    """Target base submit rate (tasks/s) at elapsed t; bursts and floods come on top.
    A fixed count with no duration is submitted all at once, shown as rate 0."""
    if t < 0 or t >= load.duration:
        return 0.0
    if load.rate is not None:
        return load.rate
    if load.count:
        return load.count / load.duration
    return 0.0


def choose_task(mix: Sequence[TaskMix], rng: random.Random) -> TaskMix:
    return mix[0] if len(mix) == 1 else rng.choices(mix, weights=[m.weight for m in mix])[0]


def choose_priority(mix: PriorityMix, rng: random.Random) -> str:
    names, weights = zip(*mix.weights(), strict=False)
    return rng.choices(names, weights=weights)[0]


def flood_priorities(low: int, normal: int, high: int) -> list[str]:
    """A priority flood: every low task first, then normal, then high (all at the same time)."""
    return ["low"] * low + ["normal"] * normal + ["high"] * high


def _base_times(load: Load) -> Iterable[float]:
    if load.rate is not None:
        n = int(load.rate * load.duration + 1e-9)
        return (i / load.rate for i in range(n))
    if load.count:
        step = load.duration / load.count if load.duration else 0.0
        return (i * step for i in range(load.count))
    return ()


def plan_submits(scenario: Scenario, schedule: Schedule, *, seed: int) -> tuple[PlannedSubmit, ...]:
    """Every submit of the run in time order (stable: a flood keeps low-before-high order)."""
    return tuple(iter_submits(scenario, schedule, seed=seed))


def iter_submits(scenario: Scenario, schedule: Schedule, *, seed: int) -> Iterator[PlannedSubmit]:
    """The plan of `plan_submits`, made one submit at a time as the load walks it.

    Why: a soak plans about a million submits, 170 MB held whole for the run (docs/benchmarks.md,
    "The soak"). Only the schedule's extras (bursts, floods, poison) are made now; the base load
    is drawn on the way, from generators advanced as the whole plan would have advanced them,
    so each seed still gives the same plan."""
    load = scenario.load
    base_rng = _Draws(scenario, seed)
    extra_rng = _Draws(scenario, seed)
    for _ in _base_times(load):  # the extras drew after every base submit: skip as many draws
        extra_rng.draw(None, None)
    extras: list[tuple[float, TaskMix, str, str, str]] = []
    for event in schedule.starts():
        params = event.params
        if event.fault == "burst":
            for _ in range(params["count"]):
                extras.append((event.t, *extra_rng.draw(params.get("task"), params.get("priority")), "burst",
                               event.id))
        elif event.fault == "flood":
            for priority in flood_priorities(params["low"], params.get("normal", 0), params["high"]):
                extras.append((event.t, *extra_rng.draw(params.get("task"), priority), "flood", event.id))
        elif event.fault == "poison":
            task = TaskMix(POISON.type, POISON.data, 1.0, params.get("max_retries"))
            for _ in range(params["count"]):
                extras.append((event.t, *extra_rng.draw(task, params.get("priority", "normal")), "poison",
                               event.id))
    extras.sort(key=lambda item: item[0])
    base = ((t, *base_rng.draw(None, None), "base", "") for t in _base_times(load))
    # heapq.merge is stable: at one time, base submits first, then the extras in schedule order,
    # as the sort of the whole plan put them
    merged = heapq.merge(base, extras, key=lambda item: item[0])
    return _numbered(merged, load, seed)


class _Draws:
    """The task and priority generators of a plan (one pair per seed)."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.load = scenario.load
        self.tasks, self.priorities = random.Random(f"{seed}:tasks"), random.Random(f"{seed}:priorities")

    def draw(self, task: TaskMix | None, priority: str | None) -> tuple[TaskMix, str]:
        chosen = task or choose_task(self.load.tasks, self.tasks)
        return chosen, priority or choose_priority(self.load.priorities, self.priorities)


def _numbered(raw: Iterable[tuple[float, TaskMix, str, str, str]], load: Load, seed: int) -> Iterator[PlannedSubmit]:
    # own generators: plans of scenarios without resend/cancel stay exactly what they were
    resend_rng, cancel_rng = random.Random(f"{seed}:resend"), random.Random(f"{seed}:cancel")
    for i, (t, m, prio, tag, fid) in enumerate(raw):
        yield PlannedSubmit(round(t, 6), i, m.type, m.data, prio, m.max_retries, m.timeout, tag, fid,
                            load.resend > 0 and resend_rng.random() < load.resend,
                            load.cancel > 0 and cancel_rng.random() < load.cancel)
