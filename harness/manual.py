"""Faults asked for by hand (`harness fault`, the dashboard's buttons) turned into the same
FaultEvents as a scenario's timeline, by the same code: each request becomes a timeline entry
(a dict as in a scenario file), is read by the loader's `timeline_entry` (same errors, same
FAULTS table) and checked against the backend's capabilities, and the session's whole manual
timeline is expanded by `build_schedule` (so `heal`, `resume`, `scale` naming and `for` ends
work exactly as in a file). Pure apart from the clock the caller passes in.

Public: fault_entry(kind, target, duration, params) -> dict; parse_params(["k=v"]) -> dict;
ManualTimeline(base, seed, workers, capabilities).add(entry, at) -> new FaultEvents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from harness import _read as r
from harness._sections import _TIMING_KEYS, timeline_entry
from harness.loader import ScenarioError, validate
from harness.scenario import Scenario, TimelineEntry
from harness.schedule import FaultEvent, ScheduleError, build_schedule, worker_number

SOURCE = "harness fault"


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """--param k=v pairs; values read as YAML scalars (so `latency_ms=200` is a number)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScenarioError([f"{SOURCE}: --param {pair!r}: write key=value, e.g. latency_ms=200"])
        out[key.strip()] = _scalar(value)
    return out


def _scalar(text: str) -> Any:
    """`200` -> 200, `0.5` -> 0.5, `true` -> True; anything else stays the text (the loader
    then says what the parameter needs)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool, str)) else text


def fault_entry(kind: str, target: str | None, duration: str | None,
                params: Mapping[str, Any]) -> dict[str, Any]:
    """The timeline entry (as in a scenario file, without its time) for a command line such
    as `kill worker-2`, `partition worker-1 --for 10s`, `scale 5`, `heal`."""
    entry: dict[str, Any] = {"fault": kind, **params}
    if kind == "scale" and target is not None and "workers" not in params:
        entry["workers"] = _scalar(target)
    elif target is not None and kind != "scale":
        entry["target"] = target
    if duration is not None:
        entry["for"] = duration
    return entry


def _fault_errors(errors: Sequence[str], index: int) -> list[str]:
    """Loader messages about `timeline[i].x` read as messages about the command's `x`."""
    return [e.replace(f"timeline[{index}].", "").replace(f"timeline[{index}]", "the fault") for e in errors]


class ManualTimeline:
    """Every fault asked for by hand in one session, as a growing timeline (times: seconds
    since the session started taking faults). `add` validates one more entry and returns the
    events it adds (its start, its `for` end, or the ends a heal/resume causes now)."""

    def __init__(self, base: Scenario, *, seed: int, workers: Sequence[str],
                 capabilities: frozenset[str]) -> None:
        self.base, self.seed, self.workers = base, seed, tuple(workers)
        self.capabilities = capabilities
        self.entries: list[TimelineEntry] = []
        self.seen: set[tuple[str, str, float]] = set()

    def read(self, node: Any, at: float) -> TimelineEntry:
        """One request as a timeline entry, with the loader's rules; raises ScenarioError."""
        if not isinstance(node, dict):
            raise ScenarioError([f"{SOURCE}: expected a mapping like {{fault: kill, target: worker-2}}"])
        timing = sorted(k for k in _TIMING_KEYS if k in node)
        if timing:
            raise ScenarioError([f"{SOURCE}: {', '.join(timing)}: a fault by hand starts now; "
                                 "give its length with --for (e.g. --for 10s)"])
        p = r.Problems(SOURCE)
        index = len(self.entries)
        # idle_ok: a fault by hand may hit an idle worker on purpose (faults_effective)
        entry = timeline_entry(p, {"idle_ok": True, **node, "at": f"{max(at, 0.0):.3f}s"}, index)
        if p.errors or entry is None:
            raise ScenarioError(_fault_errors(p.errors or [f"{SOURCE}: not a fault"], index))
        try:
            validate(self._with([entry]), self.capabilities)
        except ScenarioError as exc:
            raise ScenarioError(_fault_errors(exc.errors, index)) from None
        return entry

    def add(self, node: Any, at: float, *, running: Sequence[str]) -> list[FaultEvent]:
        """Validate and expand one more fault; raises ScenarioError (nothing changes then).
        `running`: the workers alive now, the truth for a named worker target."""
        entry = self.read(node, at)
        if worker_number(entry.target) is not None and entry.fault != "restart" and entry.target not in running:
            live = ", ".join(sorted(running, key=lambda w: worker_number(w) or 0)) or "none"
            raise ScenarioError([f"{SOURCE}: target: {entry.target} is not running; running workers: "
                                 f"{live} (or leader, random-worker, all-workers, gateway)"])
        try:
            schedule = build_schedule(self._with(self.entries + [entry]), seed=self.seed, workers=self.workers)
        except ScheduleError as exc:
            raise ScenarioError([f"{SOURCE}: {f}: {m}" for i, f, m in exc.problems if i == entry.index]
                                or [f"{SOURCE}: {exc}"]) from None
        self.entries.append(entry)
        new = [dataclasses.replace(e, id="m" + e.id[1:]) for e in schedule.events
               if (e.id, e.phase, e.t) not in self.seen and e.entry >= 0]
        self.seen.update((e.id, e.phase, e.t) for e in schedule.events)
        return new

    def _with(self, entries: Sequence[TimelineEntry]) -> Scenario:
        load = dataclasses.replace(self.base.load, bursts=(), flood=None)
        return dataclasses.replace(self.base, timeline=tuple(entries), load=load)
