"""No wedged node after the faults: judged from the sampler's per-worker heartbeat figures.

A node is wedged when it looks alive (its registration is fresh) but has stopped working: the
failure the hardening issue found, where a Redis error killed a worker's ack thread while its
heartbeat kept the node registered and its leases extended. From the last fault's end (or,
with `after: start`, its start) plus `settle`, for every worker the sampler saw registered:
- it held work (running, prefetched, or done but not acknowledged), or work was queued, for `stuck` seconds on end
  without its `processed` count rising (no acknowledgement); or
- its heartbeat carries per-loop liveness (`loops`: claim, ack, heartbeat, leader -> seconds
  since the loop's last round) and a loop had been silent for more than `stuck` in a sample at
  least `stuck` into the judged time (so a loop that was merely blocked by the fault and came
  back is not counted).
Also wedged: a worker registered before the first fault that is not registered at the end
(its heartbeat thread died, or the whole process), unless a process or scale fault stopped it.
Long tasks need a `stuck` longer than they run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.history import SampleRecord
from harness.scenario import LOAD_FAULTS


def faults_over_at(view: RunView, after: str = "end") -> float | None:
    """When the last fault ended (an instantaneous fault: when it started), or with
    after="start" when the last one started (to judge inside a window, e.g. a skewed clock's);
    None: no fault."""
    times = [f.t for f in view.faults if f.fault not in LOAD_FAULTS
             and (after == "end" or f.phase == "start")]
    return max(times) if times else None


STOPPING_FAULTS = frozenset({"kill", "terminate", "restart", "pause", "scale", "clock_skew"})


def vanished(view: RunView, samples: list[SampleRecord]) -> list[str]:
    """Workers registered just before the first fault and missing from the last sample, except
    those a process or scale fault stopped (they may legitimately be gone)."""
    starts = [f.t for f in view.faults if f.fault not in LOAD_FAULTS and f.phase == "start"]
    before = [s for s in view.samples if starts and s.t < min(starts) and s.nodes]
    if not before or not samples:
        return []
    stopped = set()
    for f in view.faults:
        if f.fault in STOPPING_FAULTS:
            stopped |= set(f.detail.get("targets") or []) | set(f.detail.get("removed") or [])
    return sorted(set(before[-1].nodes) - stopped - set(samples[-1].nodes))


def _held(node: Mapping[str, Any]) -> int:
    """Attempts the node holds: running, buffered, or run and waiting for their ack."""
    return max(int(node.get("running") or 0) + int(node.get("prefetched") or 0),
               int(node.get("holding") or 0))


def stuck_spell(series: list[tuple[float, Mapping[str, Any], int]], stuck: float) -> str | None:
    """The first spell of `stuck` seconds in which the node had work (held or queued) and
    acknowledged none; series: (t, node figures, queued) in time order. None if there is none."""
    since: float | None = None
    base: int | None = None
    for t, node, queued in series:
        processed = node.get("processed")
        busy = _held(node) > 0 or queued > 0
        if not busy or processed is None or processed != base:
            since, base = (t, processed) if busy else (None, None)
            continue
        if since is not None and t - since >= stuck:
            return (f"had work (held {_held(node)}, queued {queued}) from {since:.1f}s to {t:.1f}s "
                    f"and acknowledged nothing (processed stayed {processed})")
    return None


def silent_loop(series: list[tuple[float, Mapping[str, Any], int]], stuck: float,
                start: float) -> str | None:
    """A loop of the node silent for more than `stuck`, seen at least `stuck` after `start`."""
    for t, node, _ in series:
        loops = node.get("loops")
        if t - start < stuck or not isinstance(loops, Mapping):
            continue
        for name, age in sorted(loops.items()):
            if isinstance(age, (int, float)) and age > stuck:
                return f"its {name} loop had not run for {age:.1f}s at {t:.1f}s"
    return None


def _series(samples: list[SampleRecord], worker: str) -> list[tuple[float, Mapping[str, Any], int]]:
    return [(s.t, s.nodes[worker], sum(s.queues.values())) for s in samples if worker in s.nodes]


def no_wedged_workers(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    stuck, settle = float(params["stuck"]), float(params["settle"])
    over = faults_over_at(view, str(params.get("after", "end")))
    start = (view.load_window()[0] if over is None else over) + settle
    samples = sorted((s for s in view.samples if s.t >= start), key=lambda s: s.t)
    expected = f"no worker with work and no ack for {stuck:g}s after {start:.1f}s"
    gone = vanished(view, samples)
    if not samples or not (gone or any(s.nodes for s in samples)):
        return CheckResult("no_wedged_workers", None, None, expected,
                           "no per-worker samples after the faults: cannot judge "
                           "(the run ended too soon, or its history predates per-worker samples)")
    workers = sorted({w for s in samples for w in s.nodes})
    wedged = {w: "was registered before the faults and is not at the end (its heartbeat stopped)"
              for w in gone}
    for w in workers:
        series = _series(samples, w)
        why = stuck_spell(series, stuck) or silent_loop(series, stuck, start)
        if why:
            wedged[w] = why
    if wedged:
        text = "; ".join(f"{w} {why}" for w, why in wedged.items())
        return CheckResult("no_wedged_workers", False, wedged, expected, f"wedged after the faults: {text}")
    return CheckResult("no_wedged_workers", True, {"workers": workers}, expected,
                       f"{len(workers)} worker(s) kept working after {start:.1f}s")
