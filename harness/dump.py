"""Scenario -> plain data (and YAML): the scenario as run, after defaults, for the run
directory's scenario.yaml. Loading the output again gives an equal Scenario.

Public: dump_scenario(scenario) -> dict, scenario_yaml(scenario) -> str.
"""

from __future__ import annotations

from typing import Any

import yaml

from harness.scenario import Load, Scenario, TaskMix, TimelineEntry
from harness.units import format_duration as d


def _task(t: TaskMix) -> dict[str, Any]:
    out: dict[str, Any] = {"type": t.type}
    if isinstance(t.data, dict) and t.data and t.type not in ("echo", "noop", "process"):
        out.update(t.data)
    elif t.data is not None and t.data != {}:
        out["data"] = t.data
    if t.weight != 1.0:
        out["weight"] = t.weight
    if t.max_retries is not None:
        out["max_retries"] = t.max_retries
    if t.timeout is not None:
        out["timeout"] = d(t.timeout)
    return out


def _load(load: Load) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if load.rate is not None:
        out["rate"] = load.rate
    if load.count is not None:
        out["count"] = load.count
    out["duration"] = d(load.duration)
    out["tasks"] = [_task(t) for t in load.tasks]
    out["priorities"] = {p: w for p, w in load.priorities.weights() if w}
    if load.bursts:
        out["bursts"] = [{"at": d(b.at), "count": b.count,
                          **({"priority": b.priority} if b.priority else {}),
                          **({"task": _task(b.task)} if b.task else {})} for b in load.bursts]
    if load.flood is not None:
        f = load.flood
        out["flood"] = {"at": d(f.at), "low": f.low, "normal": f.normal, "high": f.high,
                        **({"task": _task(f.task)} if f.task else {})}
    if load.batch is not None:
        out["batch"] = load.batch
    out["clients"] = load.clients
    out["submit_timeout"] = d(load.submit_timeout)
    return out


def _entry(e: TimelineEntry) -> dict[str, Any]:
    out: dict[str, Any] = {}
    timing = e.timing
    if timing.count is not None and timing.within is not None:
        out["random"] = {"count": timing.count, "within": [d(timing.within[0]), d(timing.within[1])]}
    else:
        out["at"] = d(timing.at)
        if timing.every is not None:
            out["every"] = d(timing.every)
            if timing.until is not None:
                out["until"] = d(timing.until)
    if timing.jitter:
        out["jitter"] = d(timing.jitter)
    out["fault"] = e.fault
    if e.target and not (e.fault == "heal" and e.target == "all"):
        out["target"] = e.target
    if e.duration is not None:
        out["for"] = d(e.duration)
    for key, value in e.params.items():
        out[key] = _task(value) if isinstance(value, TaskMix) else value
    if e.idle_ok:
        out["idle_ok"] = True
    return out


def dump_scenario(s: Scenario) -> dict[str, Any]:
    out: dict[str, Any] = {"name": s.name, "description": s.description}
    if s.seed is not None:
        out["seed"] = s.seed
    out["system"] = {"workers": s.system.workers, "config": dict(s.system.config)}
    if s.system.backend:
        out["system"]["backend"] = s.system.backend
    out["load"] = _load(s.load)
    out["timeline"] = [_entry(e) for e in s.timeline]
    out["checks"] = [{c.name: {k: (d(v) if _is_duration(c.name, k) else v) for k, v in c.params.items()}}
                     if c.params else c.name for c in s.checks]
    out["drain"] = {"timeout": d(s.drain.timeout)}
    if s.baseline is not None:
        out["baseline"] = {"threshold": s.baseline.threshold}
    return out


def _is_duration(check: str, param: str) -> bool:
    from harness.checks.registry import CHECKS  # late: checks import the model, not the dumper
    return CHECKS[check].params.get(param) == "duration"


def scenario_yaml(s: Scenario) -> str:
    return yaml.safe_dump(dump_scenario(s), sort_keys=False, default_flow_style=None, width=100)
