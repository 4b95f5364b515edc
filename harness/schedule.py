"""The fault timeline as a pure value: every start and end event, computed from the scenario
and the seed before anything runs (as Jepsen's generators are), so one interpreter in the
runner owns the clock and the side effects, and the same seed gives the same schedule.

Public: build_schedule(scenario, *, seed, workers=None) -> Schedule; Schedule, FaultEvent,
ScheduleError (problems: list of (timeline index, field, message)); scale_plan; worker_number.
Times are seconds from the start of the load phase.
"""

from __future__ import annotations

import heapq
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.scenario import FAULTS, LOAD_FAULTS, NETWORK_FAULTS, Scenario, TimelineEntry, frozen_map, worker_names

_WORKER = re.compile(r"worker-(\d+)")
_UNDOABLE = frozenset({"kill", "terminate"})   # `for` on these: start the worker again at the end


class ScheduleError(ValueError):
    def __init__(self, problems: list[tuple[int, str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"timeline[{i}].{f}: {m}" for i, f, m in problems))


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One thing the runner does at `t`: start a fault, or end (undo) one started earlier."""

    t: float
    phase: str                    # start | end
    fault: str
    target: str                   # worker-N resolved, or leader/all-workers/gateway/redis, or ""
    id: str                       # f1, f2, ... shared by a start and its end
    params: Mapping[str, Any] = field(default_factory=frozen_map)
    entry: int = -1               # index in scenario.timeline; -1 for load.bursts / load.flood
    duration: float | None = None  # on starts with `for`
    idle_ok: bool = False          # the entry's opt-out of faults_effective


@dataclass(frozen=True, slots=True)
class Schedule:
    events: tuple[FaultEvent, ...]
    horizon: float                # length of the load + timeline phase
    seed: int

    def unhealed(self) -> tuple[FaultEvent, ...]:
        """Starts of undoable faults with no end event: the heal phase must undo them."""
        ended = {e.id for e in self.events if e.phase == "end"}
        return tuple(e for e in self.events if e.phase == "start" and e.id not in ended
                     and (e.fault in NETWORK_FAULTS or e.fault == "pause"))

    def starts(self) -> tuple[FaultEvent, ...]:
        return tuple(e for e in self.events if e.phase == "start")


def worker_number(name: str) -> int | None:
    match = _WORKER.fullmatch(name)
    return int(match.group(1)) if match else None


def scale_plan(alive: Sequence[str], n: int, *, highest: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Workers to add and to remove to have `n` alive. The naming rule the backends share:
    new workers are numbered after the highest number ever used; scaling down stops the
    highest-numbered live workers first."""
    ordered = sorted(alive, key=lambda w: worker_number(w) or 0)
    if n >= len(ordered):
        return tuple(f"worker-{i}" for i in range(highest + 1, highest + 1 + n - len(ordered))), ()
    return (), tuple(reversed(ordered[n:]))


def _occurrences(entry: TimelineEntry, default_until: float, rng: random.Random) -> list[float]:
    timing = entry.timing
    if timing.count is not None and timing.within is not None:
        low, high = timing.within
        times = sorted(rng.uniform(low, high) for _ in range(timing.count))
    elif timing.every is not None:
        until = timing.until if timing.until is not None else default_until
        times, t = [], timing.at
        while t <= until + 1e-9:
            times.append(t)
            t += timing.every
    else:
        times = [timing.at]
    return [t + rng.uniform(0, timing.jitter) if timing.jitter else t for t in times]


class _Simulation:
    """Walks the events in time order, tracking live workers and open faults."""

    def __init__(self, scenario: Scenario, seed: int, workers: Sequence[str]) -> None:
        self.alive = list(workers)   # running now: random picks come from here
        self.known = list(workers)   # named targets must be here; random kills do not remove from it,
        #                              so whether a file is valid does not depend on the seed
        self.highest = max((worker_number(w) or 0 for w in workers), default=0)
        self.rng = random.Random(f"{seed}:targets")
        self.open: dict[str, FaultEvent] = {}
        self.events: list[FaultEvent] = []
        self.problems: list[tuple[int, str, str]] = []
        self.queue: list[tuple[float, int, int, Any]] = []
        self.counter = 0
        self.next_id = 1

    def push(self, t: float, order: int, item: Any) -> None:
        self.counter += 1
        heapq.heappush(self.queue, (round(t, 9), order, self.counter, item))

    def run(self) -> None:
        while self.queue:
            t, _, _, item = heapq.heappop(self.queue)
            if isinstance(item, FaultEvent):
                self._end(item)
            else:
                self._start(t, item)

    def _problem(self, entry: TimelineEntry, fld: str, message: str) -> None:
        self.problems.append((entry.index, fld, message))

    def _valid_targets(self) -> str:
        return ", ".join(sorted(self.known, key=lambda w: worker_number(w) or 0) +
                         ["random-worker", "leader", "all-workers", "gateway"])

    def _resolve(self, t: float, entry: TimelineEntry) -> str | None:
        target = entry.target
        if target == "random-worker":
            if not self.alive:
                self._problem(entry, "target", f"no worker is running at {t:g}s to pick at random")
                return None
            return self.rng.choice(sorted(self.alive, key=lambda w: worker_number(w) or 0))
        if worker_number(target) is not None and target not in self.known and entry.fault != "restart":
            self._problem(entry, "target", f"{target} is not running at {t:g}s; valid targets then: "
                                           f"{self._valid_targets()}")
            return None
        return target

    def _start(self, t: float, entry: TimelineEntry) -> None:
        if entry.fault in ("heal", "resume"):
            self._close(t, entry)
            return
        target = self._resolve(t, entry)
        if target is None:
            return
        params = dict(entry.params)
        if entry.fault == "scale":
            add, remove = scale_plan(self.alive, params["workers"], highest=self.highest)
            params.update(add=list(add), remove=list(remove))
        event = FaultEvent(t, "start", entry.fault, target, f"f{self.next_id}", frozen_map(params),
                           entry.index, entry.duration, entry.idle_ok)
        self.next_id += 1
        self.events.append(event)
        self._apply(event, named=entry.target != "random-worker")
        if entry.duration is not None:
            self.open[event.id] = event
            self.push(t + entry.duration, 0, event)
        elif entry.fault in NETWORK_FAULTS or entry.fault == "pause":
            self.open[event.id] = event

    def _apply(self, event: FaultEvent, named: bool) -> None:
        def without(names: list[str]) -> list[str]:
            return [] if event.target == "all-workers" else [w for w in names if w != event.target]
        if event.fault in _UNDOABLE:
            self.alive = without(self.alive)
            if named:
                self.known = without(self.known)
        elif event.fault == "restart" and worker_number(event.target) is not None:
            self.alive += [event.target] if event.target not in self.alive else []
            self.known += [event.target] if event.target not in self.known else []
        elif event.fault == "scale":
            add, remove = event.params["add"], event.params["remove"]
            self.alive = [w for w in self.alive if w not in remove] + list(add)
            self.known = [w for w in self.known if w not in remove] + list(add)
            self.highest = max([self.highest] + [worker_number(w) or 0 for w in self.alive])

    def _end(self, start: FaultEvent, t: float | None = None) -> None:
        if self.open.pop(start.id, None) is None:
            return  # already ended by an explicit heal/resume
        end_t = start.t + (start.duration or 0.0) if t is None else t
        self.events.append(FaultEvent(end_t, "end", start.fault, start.target, start.id, start.params,
                                      start.entry))
        if start.fault in _UNDOABLE:
            revived = [start.target] if start.target.startswith("worker-") else []
            self.alive.extend(w for w in revived if w not in self.alive)
            self.known.extend(w for w in revived if w not in self.known)

    def _close(self, t: float, entry: TimelineEntry) -> None:
        kinds = NETWORK_FAULTS if entry.fault == "heal" else {"pause"}
        target = entry.target
        matching = [e for e in self.open.values() if e.fault in kinds and target in ("", "all", e.target)]
        if not matching:
            what = "network fault" if entry.fault == "heal" else "pause"
            self._problem(entry, "fault", f"{entry.fault} at {t:g}s: no open {what} on "
                                          f"{target or 'any target'} to end")
        for event in matching:
            self._end(event, t)


def build_schedule(scenario: Scenario, *, seed: int, workers: Sequence[str] | None = None) -> Schedule:
    """Expand the timeline (and load.bursts / load.flood) into start/end events.

    `workers`: names of the initial workers (default worker-1..N as the backends name them).
    Raises ScheduleError listing every impossible step (unknown worker at that time, a heal
    with nothing to heal, a random pick with no worker alive)."""
    sim = _Simulation(scenario, seed, workers if workers is not None else worker_names(scenario.system.workers))
    times_rng = random.Random(f"{seed}:times")
    for entry in scenario.timeline:
        for t in _occurrences(entry, scenario.load.duration, times_rng):
            sim.push(t, 1, entry)
    sim.run()
    load_events = _load_events(scenario, first_id=sim.next_id)
    if sim.problems:
        raise ScheduleError(sim.problems)
    events = sorted(sim.events + load_events, key=lambda e: (e.t, e.phase == "start", int(e.id[1:])))
    last = max((e.t for e in events), default=0.0)
    return Schedule(tuple(events), max(scenario.load.duration, last), seed)


def _load_events(scenario: Scenario, *, first_id: int) -> list[FaultEvent]:
    load, out = scenario.load, []
    for burst in load.bursts:
        out.append(FaultEvent(burst.at, "start", "burst", "", "", frozen_map(
            {"count": burst.count, "priority": burst.priority, "task": burst.task})))
    if load.flood is not None:
        f = load.flood
        out.append(FaultEvent(f.at, "start", "flood", "", "", frozen_map(
            {"low": f.low, "normal": f.normal, "high": f.high, "task": f.task})))
    out.sort(key=lambda e: e.t)
    return [FaultEvent(e.t, e.phase, e.fault, e.target, f"f{first_id + i}", e.params)
            for i, e in enumerate(out)]


assert LOAD_FAULTS <= set(FAULTS)
