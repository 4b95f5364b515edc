"""Checks on node faults (backend swarm): what the lost or drained node was running got done.

The nemesis records, with each node fault, the workers that ran on the node at that moment
(`detail.workers`). A task was in flight on the node when one of those workers had claimed it
before the fault and it had not finished by then. Worker names follow Swarm's task slot, so a
rescheduled worker keeps its name; a new claim after the fault is a new attempt elsewhere (a
killed or cut-off node runs nothing, a drained one gets no new tasks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.history import FaultRecord, TaskRecord

NODE_FAULTS = ("node_drain", "node_kill", "node_partition")


def in_flight(view: RunView, fault: FaultRecord) -> list[TaskRecord]:
    """Tasks claimed by the node's workers before the fault and not finished at it (pure)."""
    workers = set(fault.detail.get("workers") or [])
    out = []
    for task in view.tasks:
        claims = [e for e in task.events if e.event == "claimed" and e.worker in workers
                  and view.rel(e.t) <= fault.t]
        if claims and (task.finished_at is None or view.rel(task.finished_at) > fault.t):
            out.append(task)
    return out


def node_tasks_recovered(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    minimum = int(params.get("min", 1))
    starts = [f for f in view.faults if f.phase == "start" and f.fault in NODE_FAULTS]
    expected = f">= {minimum} task(s) in flight on the node, every one succeeded"
    if not starts:
        return CheckResult("node_tasks_recovered", None, None, expected, "no node fault started")
    value: dict[str, Any] = {}
    bad: list[str] = []
    total = 0
    for f in starts:
        tasks = in_flight(view, f)
        rerun = [t for t in tasks if any(e.event == "claimed" and view.rel(e.t) > f.t for e in t.events)]
        failed = [t.id for t in tasks if t.status != "succeeded"]
        value[f"{f.id}:{f.fault} {f.target}"] = {"workers": list(f.detail.get("workers") or []),
                                                 "in_flight": len(tasks), "rerun_after": len(rerun),
                                                 "not_succeeded": failed[:5]}
        total += len(tasks)
        bad += failed
    ok = not bad and total >= minimum
    why = (f"{len(bad)} task(s) in flight on the node did not succeed: {', '.join(bad[:5])}" if bad
           else f"only {total} task(s) were in flight on the node" if total < minimum
           else f"{total} task(s) in flight on the node all succeeded")
    return CheckResult("node_tasks_recovered", ok, value, expected, why)
