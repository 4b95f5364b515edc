"""SIGTERM hand-back: a worker stopped gracefully gives back, itself, the tasks it holds when its
grace runs out (`released` events), so they run again at once. Crash recovery would re-queue
them too, a reaper tick later (`lease_expired`, worker lost); this check tells the two apart,
so a worker that stops handing back cannot hide behind the lost-worker path. Pure over the
history's fault records and the task records' events.

Public: handed_back(view, params) -> CheckResult.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.history import FaultRecord, TaskRecord

ENDS = frozenset({"succeeded", "failed", "released", "lease_expired", "stale_ack"})


def _held_at_stop(task: TaskRecord, worker: str, stop_epoch: float) -> int | None:
    """The token of an attempt `worker` claimed before the stop and had not ended by then."""
    held: int | None = None
    for e in task.events:
        if e.t > stop_epoch:
            break
        if e.event == "claimed" and e.worker == worker:
            held = e.token
        elif e.event in ENDS and e.worker == worker and e.token == held:
            held = None
    return held


def _gave_back(task: TaskRecord, worker: str, token: int, stop_epoch: float) -> str:
    """How the held attempt ended after the stop: 'finished', 'released' or what else happened."""
    for e in task.events:
        if e.t <= stop_epoch or e.token != token:
            continue
        if e.event in ("succeeded", "failed") and e.worker == worker:
            return "finished"
        if e.event == "released" and e.worker == worker:
            return "released"
        if e.event in ("lease_expired", "stale_ack"):
            return f"{e.event}{f' ({e.detail})' if e.detail else ''}"
    return "nothing recorded"


def _judge(view: RunView, stop: FaultRecord) -> tuple[int, list[str]]:
    stop_epoch = (stop.effective if stop.effective is not None else stop.t) + view.offset  # type: ignore[operator]
    judged, missing = 0, []
    for worker in stop.detail.get("targets") or [stop.target]:
        for task in view.tasks:
            token = _held_at_stop(task, worker, stop_epoch)
            if token is None:
                continue
            how = _gave_back(task, worker, token, stop_epoch)
            judged += how != "finished"
            if how not in ("finished", "released"):
                missing.append(f"{task.id[:8]} on {worker}: {how}")
    return judged, missing


def handed_back(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    expected = "every task a SIGTERM'd worker held unfinished shows its own `released` event"
    stops = [f for f in view.faults if f.phase == "start" and f.fault == "terminate" and not f.detail.get("error")]
    if not stops or view.offset is None:
        return CheckResult("handed_back", None, None, expected, "no terminate fault to judge (or no task "
                           "record matched a submit)")
    judged, missing = 0, []
    for stop in stops:
        n, gone = _judge(view, stop)
        judged, missing = judged + n, missing + gone
    if missing:
        return CheckResult("handed_back", False, {"held": judged, "not_handed_back": len(missing)}, expected,
                           f"{len(missing)} held task(s) were not handed back by their worker: "
                           + "; ".join(missing[:5]))
    if judged == 0:
        return CheckResult("handed_back", None, {"held": 0}, expected, "the stopped workers finished everything "
                           "within their grace: nothing was left to hand back, so the check cannot judge")
    return CheckResult("handed_back", True, {"held": judged, "not_handed_back": 0}, expected,
                       f"all {judged} unfinished task(s) of the stopped worker(s) were handed back by it")
