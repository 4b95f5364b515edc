"""The load as a pure plan: which task to submit at which time, from the scenario, its
schedule (bursts, floods, poison tasks) and the seed. The load generator only walks the plan
(sending each submit at its time, or at once when it is late) and records the outcomes.

Public: plan_submits(scenario, schedule, *, seed) -> tuple[PlannedSubmit, ...];
PlannedSubmit (.body() -> the POST /tasks object); rate_at(load, t); choose_task(mix, rng);
choose_priority(mix, rng); flood_priorities(low, normal, high).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
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
    load = scenario.load
    tasks_rng, prio_rng = random.Random(f"{seed}:tasks"), random.Random(f"{seed}:priorities")
    raw: list[tuple[float, TaskMix, str, str, str]] = []

    def add(t: float, task: TaskMix | None, priority: str | None, tag: str, fault_id: str = "") -> None:
        chosen = task or choose_task(load.tasks, tasks_rng)
        raw.append((t, chosen, priority or choose_priority(load.priorities, prio_rng), tag, fault_id))

    for t in _base_times(load):
        add(t, None, None, "base")
    for event in schedule.starts():
        params = event.params
        if event.fault == "burst":
            for _ in range(params["count"]):
                add(event.t, params.get("task"), params.get("priority"), "burst", event.id)
        elif event.fault == "flood":
            for priority in flood_priorities(params["low"], params.get("normal", 0), params["high"]):
                add(event.t, params.get("task"), priority, "flood", event.id)
        elif event.fault == "poison":
            task = TaskMix(POISON.type, POISON.data, 1.0, params.get("max_retries"))
            for _ in range(params["count"]):
                add(event.t, task, params.get("priority", "normal"), "poison", event.id)
    raw.sort(key=lambda item: item[0])
    # own generators: plans of scenarios without resend/cancel stay exactly what they were
    resend_rng, cancel_rng = random.Random(f"{seed}:resend"), random.Random(f"{seed}:cancel")
    return tuple(PlannedSubmit(round(t, 6), i, m.type, m.data, prio, m.max_retries, m.timeout, tag, fid,
                               load.resend > 0 and resend_rng.random() < load.resend,
                               load.cancel > 0 and cancel_rng.random() < load.cancel)
                 for i, (t, m, prio, tag, fid) in enumerate(raw))
