"""Discovery: a worker stopped gracefully (SIGTERM) deregisters on its way out, so the live
workers the recorder samples (registered, registration not expired) drop at once, not a
registration TTL later. Pure over the history's fault and sample records.

Leaving the live list in time is not enough: the leader also removes a worker whose connections
closed (crash recovery, about a reaper tick after the exit), and that path bumps the counter
`stats.worker_lost` in the same Lua call. So the worker must also leave without that counter
rising between the SIGTERM and REAP_MARGIN_S after the drop (a registration that expired is
counted by the next reaper tick). Samples without the counter (older runs) skip that part.

Public: deregistered_within(view, params) -> CheckResult.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.history import FaultRecord, SampleRecord


def _drop_time(samples: list[SampleRecord], fault: FaultRecord) -> float | None:
    """When the sampled live-worker count first fell below its value just before the fault."""
    before = [s for s in samples if s.t <= fault.t]
    if not before:
        return None
    n0 = before[-1].workers
    return next((s.t for s in samples if s.t > fault.t and s.workers < n0), None)


REAP_MARGIN_S = 2.0  # after the drop: a pruned (expired) registration is counted a reaper tick later


def _reaped(samples: list[SampleRecord], fault: FaultRecord, drop: float | None) -> int | None:
    """How far stats.worker_lost rose from just before the fault to REAP_MARGIN_S after the drop
    (the run's end if none); None when the samples do not carry the counter."""
    before = [s for s in samples if s.t <= fault.t and "worker_lost" in s.stats]
    end = float("inf") if drop is None else drop + REAP_MARGIN_S
    after = [s for s in samples if fault.t < s.t <= end and "worker_lost" in s.stats]
    if not after:
        return None
    base = before[-1].stats["worker_lost"] if before else 0
    return max(s.stats["worker_lost"] for s in after) - base


def _exited(fault: FaultRecord) -> float:
    """When the stopped process was gone. A graceful stop takes effect at its SIGTERM and records
    the time until the exit in detail.stopped_s; older records have effective = the exit, or only
    the stop's duration (took_s) from its start."""
    stopped = fault.detail.get("stopped_s")
    if fault.effective is not None:
        return fault.effective + (float(stopped) if isinstance(stopped, (int, float)) else 0.0)
    took = fault.detail.get("took_s")
    return fault.t + float(took) if isinstance(took, (int, float)) else fault.t


def deregistered_within(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    within = float(params.get("within", 1.0))
    stops = [f for f in view.faults if f.phase == "start" and f.fault == "terminate"
             and not f.detail.get("error")]
    expected = f"live workers drop within {within:g}s of each SIGTERM'd worker exiting, none reaped as lost"
    if not stops:
        return CheckResult("deregistered_within", None, None, expected,
                           "no terminate fault in this run: nothing to judge")
    samples = sorted(view.samples, key=lambda s: s.t)
    observed: dict[str, float | None] = {}
    late = []
    for f in stops:
        drop = _drop_time(samples, f)
        exited = _exited(f)
        delay = None if drop is None else round(max(0.0, drop - exited), 3)
        observed[f"{f.id} {f.target}"] = delay
        if delay is None or delay > within:
            late.append(f"{f.target} at {f.t:.1f}s: " + ("still listed at the end of the run" if delay is None
                                                         else f"listed {delay:.1f}s after it exited"))
        elif reaped := _reaped(samples, f, drop):
            late.append(f"{f.target} at {f.t:.1f}s: removed by the leader as a lost worker (stats.worker_lost "
                        f"+{reaped}), not deregistered by itself")
    if late:
        return CheckResult("deregistered_within", False, observed, expected,
                           "a gracefully stopped worker did not deregister: " + "; ".join(late))
    return CheckResult("deregistered_within", True, observed, expected,
                       f"all {len(stops)} terminated worker(s) left the live list within {within:g}s")
