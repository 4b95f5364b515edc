"""The table of checks a scenario may name: function, parameters (and their kinds, validated
by the loader), shorthand parameter, defaults. Public: CHECKS (name -> CheckDef).

Parameter kinds: ms (number >= 0), number (>= 0), ratio (> 0), fraction (0..1), duration,
count0 (int >= 0), count_or_fraction (int count, or a fraction below 1), priority, fault,
task_type, start_or_end.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from harness.checks import acks, discovery, faultchecks, handback, liveness, nodes, queue, results, timing
from harness.checks.base import CheckDef


def _table(*defs: CheckDef) -> Mapping[str, CheckDef]:
    return MappingProxyType({d.name: d for d in defs})


CHECKS: Mapping[str, CheckDef] = _table(
    CheckDef("no_lost_tasks", queue.no_lost_tasks, {},
             doc="every accepted task succeeded, died or was cancelled; none vanished"),
    CheckDef("conservation", queue.conservation, {},
             doc="accepted = succeeded + dead + cancelled, with nothing in flight after the drain"),
    CheckDef("max_duplicates", queue.max_duplicates, {"max": "count_or_fraction"}, "max", ("max",),
             doc="successful executions beyond one per task (a count, or a fraction below 1)"),
    CheckDef("stale_acks_rejected", queue.stale_acks_rejected, {"min": "count0"}, "min",
             defaults={"min": 0},
             doc="late results of a stale lease were never applied; at least `min` were seen"),
    CheckDef("dlq_contains", queue.dlq_contains, {"type": "task_type", "min": "count0"}, "type",
             defaults={"type": "fail", "min": 1},
             doc="every poison task (type fail, always: true) ended in the dead-letter queue"),
    *(CheckDef(f"p{q}_latency_ms", timing.latency_check(q), {"max": "ms", "priority": "priority"}, "max",
               ("max",), doc=f"{q}th percentile of submit-to-finish latency, optionally per priority")
      for q in (50, 95, 99)),
    CheckDef("all_done_within", timing.all_done_within, {"within": "duration"}, "within", ("within",),
             doc="every accepted task finished within this time after the load started"),
    CheckDef("priority_order", timing.priority_order, {"factor": "fraction", "slack_ms": "ms"}, "factor",
             defaults={"factor": 0.5, "slack_ms": 100.0},
             doc="median wait of high-priority tasks <= factor x that of normal/low (+ slack), "
                 "from the flood on"),
    CheckDef("throughput_min", timing.throughput_min, {"min": "number"}, "min", ("min",),
             doc="completed tasks per second from the start of the load to the last completion"),
    CheckDef("throughput_after", timing.throughput_after,
             {"fault": "fault", "at_least": "ratio", "at_most": "ratio", "window": "duration",
              "settle": "duration"}, "fault", ("fault",),
             defaults={"window": 5.0, "settle": 1.0},
             doc="completions/s in `window` after the fault (+ settle) vs the window before"),
    CheckDef("recovery_time_max", timing.recovery_time_max,
             {"max": "duration", "fault": "fault", "threshold": "fraction", "window": "duration"}, "max",
             ("max",), defaults={"threshold": 0.8, "window": 5.0},
             doc="time from each fault's start until throughput is back to threshold x before"),
    CheckDef("results_correct", results.results_correct, {"slack_ms": "ms"}, defaults={"slack_ms": 1.0},
             doc="each succeeded task's result is right for its type (process, echo, sleep, cpu, fail); "
                 "implicit in every scenario"),
    CheckDef("run_time_plausible", results.run_time_plausible, {"slack_ms": "ms"}, defaults={"slack_ms": 2.0},
             doc="each succeeded sleep/cpu task ran at least its ms (record and handler's elapsed_ms); "
                 "implicit in every scenario"),
    CheckDef("faults_applied", faultchecks.faults_applied, {},
             doc="no fault failed to apply (or to end); implicit in every scenario"),
    CheckDef("faults_effective", faultchecks.faults_effective, {},
             doc="every fault hit a target holding work (opt out per timeline entry: idle_ok: true); "
                 "implicit in every scenario"),
    CheckDef("no_wedged_workers", liveness.no_wedged_workers,
             {"stuck": "duration", "settle": "duration", "after": "start_or_end"}, "stuck",
             defaults={"stuck": 5.0, "settle": 1.0, "after": "end"},
             doc="after the last fault ends, no worker holds work (or sees it queued) for `stuck` "
                 "without acknowledging any, and no loop in its heartbeat is silent longer"),
    CheckDef("handed_back", handback.handed_back, {},
             doc="every task a SIGTERM'd worker held unfinished shows its own `released` event (it handed "
                 "it back; crash recovery's re-queue does not count)"),
    CheckDef("deregistered_within", discovery.deregistered_within, {"within": "duration"}, "within",
             defaults={"within": 1.0},
             doc="each worker stopped with SIGTERM leaves the sampled live workers within this time of "
                 "exiting (it deregistered; it did not wait for its registration TTL), and the leader did not "
                 "remove it as a lost worker (stats.worker_lost stays put)"),
    CheckDef("acks_refused_during", acks.acks_refused_during, {"fault": "fault", "settle": "duration"},
             "fault", ("fault",), defaults={"settle": 0.5},
             doc="no submit sent after the fault took effect (+ settle) and answered before its end "
                 "was accepted (202); undecided if none fell there"),
    CheckDef("acks_resume_after", acks.acks_resume_after, {"fault": "fault", "within": "duration"},
             "fault", ("fault",), defaults={"within": 2.0},
             doc="every submit sent `within` after the fault's end or later was accepted (202)"),
    CheckDef("node_tasks_recovered", nodes.node_tasks_recovered, {"min": "count0"}, "min",
             defaults={"min": 1},
             doc="swarm: tasks in flight on a drained/killed/cut-off node's workers all succeeded"),
    CheckDef("leader_changes_max", timing.leader_changes_max, {"max": "count0"}, "max", ("max",),
             doc="changes of the elected leader seen by the sampler"),
)

# Run after the scenario's own checks in every run, unless the scenario names them itself.
IMPLICIT: tuple[str, ...] = ("results_correct", "run_time_plausible", "faults_applied", "faults_effective")
