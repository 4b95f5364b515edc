"""Parsers of the `load` and `timeline` sections (internal to the loader): raw YAML nodes in,
model objects out, every problem recorded in `Problems` with its path."""

from __future__ import annotations

import re
from typing import Any

from harness import _read as r
from harness.scenario import (
    DEFAULT_PARAMS,
    FAULTS,
    PRIORITIES,
    REQUIRED_PARAMS,
    Burst,
    Flood,
    Load,
    PriorityMix,
    TaskMix,
    TimelineEntry,
    Timing,
    frozen_map,
)
from system.errors import ValidationError
from system.handlers import REGISTRY

TASK_TYPES = tuple(REGISTRY)
_TASK_KEYS = ("type", "weight", "max_retries", "timeout", "data")
_SIGNALS = ("KILL", "TERM", "INT", "QUIT", "HUP", "USR1", "USR2")
_TIMING_KEYS = ("at", "every", "until", "jitter", "random")
_WORKER = re.compile(r"worker-([1-9]\d*)")
_NODE = re.compile(r"node-([1-9]\d*)")  # a Swarm node (node faults)
_TARGET_CLASS = {"random-worker": "worker", "leader": "worker", "all-workers": "worker",
                 "gateway": "gateway", "redis": "redis"}


def task_mix(p: r.Problems, node: Any, path: str) -> TaskMix | None:
    """{type: sleep, ms: 200, weight: 2}: keys other than type/weight/max_retries/timeout form
    the task's `data` (or give `data:` itself, e.g. for process); validated by the system's
    own validator for that type, so the harness cannot submit what the gateway would reject."""
    if not isinstance(node, dict):
        p.add(path, f"expected a task like {{type: sleep, ms: 200}}, got {r.describe(node)}")
        return None
    kind = r.choice(p, node.get("type"), r.join(path, "type"), TASK_TYPES) if "type" in node else None
    if "type" not in node:
        p.add(r.join(path, "type"), f"missing; one of: {', '.join(TASK_TYPES)}")
    extra = {k: v for k, v in node.items() if k not in _TASK_KEYS}
    if "data" in node and extra:
        p.add(path, f"give either data: or fields like {', '.join(map(str, extra))}, not both")
        return None
    weight = r.number(p, node.get("weight", 1), r.join(path, "weight"), low=0, exclusive_low=True)
    retries = (r.integer(p, node["max_retries"], r.join(path, "max_retries"), low=0, high=100)
               if "max_retries" in node else None)
    timeout = r.duration(p, node["timeout"], r.join(path, "timeout"), positive=True) if "timeout" in node else None
    if kind is None:
        return None
    data = node["data"] if "data" in node else (extra or None)
    if data is None:
        data = "Hello World" if kind == "process" else (None if kind in ("echo", "noop") else {})
    try:
        REGISTRY[kind].validate(data)
    except ValidationError as exc:
        p.add(path, f"bad {kind} task: {exc}")
        return None
    if weight is None:
        return None
    return TaskMix(kind, data, weight, retries, timeout)


def _priorities(p: r.Problems, node: Any, path: str) -> PriorityMix | None:
    if r.mapping(p, node, path, PRIORITIES, what=" like {high: 0.1, normal: 0.8, low: 0.1}") is None:
        return None
    values = {k: r.number(p, v, r.join(path, k), low=0) for k, v in node.items() if k in PRIORITIES}
    if any(v is None for v in values.values()):
        return None
    total = sum(v for v in values.values() if v is not None)
    if total <= 0:
        p.add(path, "the weights add up to 0; give at least one priority a positive weight")
        return None
    return PriorityMix(**{k: (values.get(k) or 0.0) / total for k in PRIORITIES})


def _burst(p: r.Problems, node: Any, path: str) -> Burst | None:
    if r.mapping(p, node, path, ("at", "count", "priority", "task"), ("at", "count")) is None:
        return None
    at = r.duration(p, node.get("at"), r.join(path, "at")) if "at" in node else None
    count = r.integer(p, node.get("count"), r.join(path, "count"), low=1) if "count" in node else None
    priority = r.choice(p, node["priority"], r.join(path, "priority"), PRIORITIES) if "priority" in node else None
    task = task_mix(p, node["task"], r.join(path, "task")) if "task" in node else None
    if at is None or count is None:
        return None
    return Burst(at, count, priority, task)


def _flood(p: r.Problems, node: Any, path: str) -> Flood | None:
    if r.mapping(p, node, path, ("at", "low", "normal", "high", "task"), ("at",)) is None:
        return None
    at = r.duration(p, node.get("at"), r.join(path, "at")) if "at" in node else None
    counts = {k: r.integer(p, node.get(k, 0), r.join(path, k), low=0) for k in ("low", "normal", "high")}
    task = task_mix(p, node["task"], r.join(path, "task")) if "task" in node else None
    if at is None or any(v is None for v in counts.values()):
        return None
    if not counts["high"] or not (counts["low"] or counts["normal"]):
        p.add(path, "a flood needs low (or normal) tasks and high ones, e.g. {at: 2s, low: 300, high: 20}")
        return None
    return Flood(at, counts["low"] or 0, counts["high"] or 0, counts["normal"] or 0, task)


_LOAD_KEYS = ("rate", "count", "duration", "tasks", "priorities", "bursts", "flood", "batch", "clients",
              "submit_timeout", "resend", "cancel")


def load_section(p: r.Problems, node: Any, path: str = "load") -> Load | None:
    if node is None:
        return Load()
    if r.mapping(p, node, path, _LOAD_KEYS) is None:
        return None
    rate = r.number(p, node["rate"], r.join(path, "rate"), low=0, exclusive_low=True) if "rate" in node else None
    count = r.integer(p, node["count"], r.join(path, "count"), low=0) if "count" in node else None
    duration = r.duration(p, node["duration"], r.join(path, "duration")) if "duration" in node else 0.0
    if "rate" in node and "count" in node:
        p.add(r.join(path, "count"), "give rate (tasks per second) or count (a fixed number), not both")
    if "rate" in node and ("duration" not in node or duration == 0.0):
        p.add(r.join(path, "duration"), "a rate needs a duration, e.g. duration: 30s")
    tasks: list[TaskMix | None] = [Load().tasks[0]]
    if "tasks" in node:
        items = r.sequence(p, node["tasks"], r.join(path, "tasks"))
        if items is not None and not items:
            p.add(r.join(path, "tasks"), "empty; list at least one task like {type: sleep, ms: 100}")
        tasks = [task_mix(p, item, r.join(r.join(path, "tasks"), i)) for i, item in enumerate(items or [])]
    priorities = _priorities(p, node["priorities"], r.join(path, "priorities")) if "priorities" in node \
        else PriorityMix()
    bursts = [_burst(p, b, r.join(r.join(path, "bursts"), i))
              for i, b in enumerate(r.sequence(p, node.get("bursts", []), r.join(path, "bursts")) or [])]
    flood = _flood(p, node["flood"], r.join(path, "flood")) if "flood" in node else None
    batch = r.integer(p, node["batch"], r.join(path, "batch"), low=1, high=1000) if "batch" in node else None
    clients = r.integer(p, node.get("clients", 4), r.join(path, "clients"), low=1, high=256)
    timeout = r.duration(p, node.get("submit_timeout", "2s"), r.join(path, "submit_timeout"), positive=True)
    resend, cancel = (r.number(p, node.get(k, 0), r.join(path, k), low=0, high=1) for k in ("resend", "cancel"))
    parts = [duration, priorities, clients, timeout, resend, cancel, *tasks, *bursts]
    if any(x is None for x in parts) or ("flood" in node and flood is None):
        return None
    return Load(rate, count, duration or 0.0, tuple(t for t in tasks if t), priorities or PriorityMix(),
                tuple(b for b in bursts if b), flood, batch, clients or 4, timeout or 2.0,
                float(resend or 0.0), float(cancel or 0.0))


def _timing(p: r.Problems, node: dict, path: str) -> Timing | None:
    given = [k for k in ("at", "every", "random") if k in node]
    if not given:
        p.add(path, "missing a time: add at: 10s, every: 15s or random: {count: 2, within: 30s}")
        return None
    if "random" in node and len(given) > 1:
        p.add(r.join(path, "random"), "random: cannot be combined with at: or every:")
        return None
    if "until" in node and "every" not in node:
        p.add(r.join(path, "until"), "until: only applies with every:")
    jitter = r.duration(p, node.get("jitter", "0s"), r.join(path, "jitter"))
    if "random" in node:
        spec = r.mapping(p, node["random"], r.join(path, "random"), ("count", "within"), ("count", "within"))
        if spec is None or "count" not in spec or "within" not in spec:
            return None
        count = r.integer(p, spec["count"], r.join(path, "random.count"), low=1)
        within = _window(p, spec["within"], r.join(path, "random.within"))
        return None if count is None or within is None or jitter is None else \
            Timing(count=count, within=within, jitter=jitter)
    every = r.duration(p, node["every"], r.join(path, "every"), positive=True) if "every" in node else None
    at = r.duration(p, node["at"], r.join(path, "at")) if "at" in node else every
    until = r.duration(p, node["until"], r.join(path, "until")) if "until" in node else None
    if at is None or jitter is None or ("every" in node and every is None):
        return None
    return Timing(at=at, every=every, until=until, jitter=jitter)


def _window(p: r.Problems, node: Any, path: str) -> tuple[float, float] | None:
    if isinstance(node, list):
        if len(node) != 2:
            p.add(path, "expected [from, to], e.g. [5s, 30s]")
            return None
        low, high = (r.duration(p, v, r.join(path, i)) for i, v in enumerate(node))
    else:
        low, high = 0.0, r.duration(p, node, path, positive=True)
    if low is None or high is None:
        return None
    if high <= low:
        p.add(path, "the end must be after the start")
        return None
    return (low, high)


def _target(p: r.Problems, entry: dict, fault: str, path: str) -> str | None:
    kind, value = FAULTS[fault], entry.get("target")
    if not kind.targets and fault not in ("heal",):
        if "target" in entry:
            p.add(r.join(path, "target"), f"{fault} takes no target"
                  + ("; give workers: N" if fault == "scale" else ""))
            return None
        return ""
    if value is None:
        if fault == "heal":
            return "all"
        if kind.targets in ({"redis"}, {"gateway"}):
            return next(iter(kind.targets))
        if "node" in kind.targets:
            p.add(r.join(path, "target"), f"missing; {fault} needs node-N, e.g. node-3")
            return None
        p.add(r.join(path, "target"), f"missing; {fault} needs one of: worker-N, "
                                       f"{', '.join(t for t, c in _TARGET_CLASS.items() if c in kind.targets)}")
        return None
    if isinstance(value, str) and _NODE.fullmatch(value):
        if "node" not in kind.targets:
            p.add(r.join(path, "target"), f"{fault} cannot target a node ({value}); node-N is for "
                                           "node_drain, node_kill, node_partition")
            return None
        return value
    if "node" in kind.targets:
        p.add(r.join(path, "target"), f"{value!r} is not a node; {fault} needs node-N, e.g. node-3")
        return None
    cls = "worker" if isinstance(value, str) and _WORKER.fullmatch(value) else \
        ("all" if value == "all" and fault == "heal" else _TARGET_CLASS.get(value) if isinstance(value, str) else None)
    valid = ["worker-N"] * ("worker" in kind.targets) + [t for t, c in _TARGET_CLASS.items() if c in kind.targets]
    if cls is None:
        hint = r.suggest(value, list(_TARGET_CLASS)) if isinstance(value, str) else ""
        p.add(r.join(path, "target"), f"{value!r} is not a target{hint}; use one of: {', '.join(valid)}")
        return None
    if cls != "all" and cls not in kind.targets:
        p.add(r.join(path, "target"), f"{fault} cannot target {value}; use one of: {', '.join(valid)}")
        return None
    return value


def _param(p: r.Problems, kind: str, value: Any, path: str) -> Any:
    if kind == "ms":
        return r.number(p, value, path, low=0)
    if kind in ("count0", "count1"):
        return r.integer(p, value, path, low=int(kind[-1]))
    if kind == "probability":
        return r.number(p, value, path, low=0, high=1)
    if kind == "direction":
        return r.choice(p, value, path, ("upstream", "downstream", "both"))
    if kind == "from":
        return r.choice(p, value, path, ("redis",))
    if kind == "signal":
        name = value[3:] if isinstance(value, str) and value.startswith("SIG") else value
        return r.choice(p, name, path, _SIGNALS)
    if kind == "bool":
        return r.boolean(p, value, path)
    if kind == "priority":
        return r.choice(p, value, path, PRIORITIES)
    if kind == "task":
        return task_mix(p, value, path)
    if kind in _SERVICE_PARAMS:
        return _SERVICE_PARAMS[kind](p, value, path)
    raise AssertionError(f"unknown parameter kind {kind}")


MAX_CONNECTIONS = 2000            # slow_client_flood: bounded, so a typo cannot exhaust the machine
MAX_SKEW_S = 366 * 86400.0        # clock_skew: a year either way


def _offset(p: r.Problems, value: Any, path: str) -> float | None:
    """A signed duration such as -90s, +1h or 300s (clock_skew's shift)."""
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    if text is None:
        p.add(path, f"expected a signed duration like -90s or +1h, got {r.describe(value)}")
        return None
    sign = -1.0 if text.startswith("-") else 1.0
    seconds = r.duration(p, text.lstrip("+-") if isinstance(value, str) else value, path)
    if seconds is None:
        return None
    if seconds == 0 or seconds > MAX_SKEW_S:
        p.add(path, f"an offset must be non-zero and at most a year either way, got {value!r}; e.g. -90s or +1h")
        return None
    return sign * seconds


_SERVICE_PARAMS = {
    "pause_mode": lambda p, v, path: r.choice(p, v, path, ("all", "write")),
    "client_type": lambda p, v, path: r.choice(p, v, path, ("normal", "pubsub", "replica")),
    "connections": lambda p, v, path: r.integer(p, v, path, low=1, high=MAX_CONNECTIONS),
    "offset": _offset,
}


def timeline_entry(p: r.Problems, node: Any, index: int) -> TimelineEntry | None:
    path = f"timeline[{index}]"
    if not isinstance(node, dict):
        p.add(path, f"expected a mapping like {{at: 10s, fault: kill, target: worker-2}}, got {r.describe(node)}")
        return None
    fault = r.choice(p, node.get("fault"), r.join(path, "fault"), list(FAULTS)) if "fault" in node else None
    if "fault" not in node:
        p.add(r.join(path, "fault"), f"missing; one of: {', '.join(FAULTS)}")
    timing = _timing(p, node, path)
    if fault is None:
        return None
    kind = FAULTS[fault]
    allowed = _TIMING_KEYS + ("fault", "target", "for", "idle_ok") + tuple(kind.params)
    r.mapping(p, node, path, allowed)
    target = _target(p, node, fault, path)
    duration = None
    if kind.window and "for" not in node:
        p.add(r.join(path, "for"), f"missing; {fault} is a window that must end: add for: 5s")
    if "for" in node:
        if not kind.timed:
            p.add(r.join(path, "for"), f"{fault} cannot have a duration; "
                  + ("faults with one: " + ", ".join(n for n, k in FAULTS.items() if k.timed)))
        else:
            duration = r.duration(p, node["for"], r.join(path, "for"), positive=True)
    params = dict(DEFAULT_PARAMS.get(fault, {}))
    for key, pkind in kind.params.items():
        if key in node:
            params[key] = _param(p, pkind, node[key], r.join(path, key))
    params.pop("from", None)
    for key in REQUIRED_PARAMS.get(fault, ()):
        if key not in node:
            p.add(r.join(path, key), f"missing; {fault} needs {key}")
    if fault == "flood" and not params["high"]:
        p.add(path, "a flood needs high: N (and low: or normal:), e.g. {low: 300, high: 20}")
    idle_ok = r.boolean(p, node["idle_ok"], r.join(path, "idle_ok")) if "idle_ok" in node else False
    if timing is None or target is None or idle_ok is None or any(v is None for v in params.values()):
        return None
    return TimelineEntry(index, fault, timing, target, duration, frozen_map(params), idle_ok)
