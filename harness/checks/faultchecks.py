"""Checks on the faults themselves: each one was applied, and each one hit something.

A fault that failed, or that hit an idle target (a kill of a worker holding nothing), tests
nothing; without these checks every other check would pass as if it had.

Public: attempts(view) -> list[Attempt]; checks faults_applied, faults_effective.
Rules of faults_effective (the fault's hit window is from when the nemesis began applying it,
`t`, to when it took effect, `effective`):
- worker targets (process and network faults): a target held a lease (an attempt claimed by it
  and not ended) at some moment of the hit window;
- the gateway: a submit was in flight from the hit to the fault's end (no end: to the run's end);
- Redis faults: any attempt was held, or any submit in flight, in the hit window;
- node faults (swarm): a worker the node ran (the fault's detail `workers`) held a lease;
- scale: an added worker claimed a task afterwards, or a removed worker held a lease when hit;
- load faults (burst, flood, poison) are the load itself; failed faults are faults_applied's;
- a timeline entry with `idle_ok: true` (recorded in the fault's detail) is exempt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.history import FaultRecord, TaskRecord
from harness.scenario import FAULTS, LOAD_FAULTS

_ENDS = frozenset({"succeeded", "failed", "stale_ack", "lease_expired", "released", "dead", "cancelled"})
# Every kind that targets Redis (failover, restart, oom, misconf, stall, client_kill): the table says.
REDIS_FAULTS = frozenset(n for n, k in FAULTS.items() if "redis" in k.targets)
NODE_FAULTS = frozenset(n for n, k in FAULTS.items() if k.category == "node")
_SHOW = 5


@dataclass(frozen=True, slots=True)
class Attempt:
    """One lease: `worker` held the task from `start` to `end` (run-relative seconds)."""

    task: str
    worker: str
    start: float
    end: float


def attempts(view: RunView, windows: Sequence[tuple[float, float]] | None = None) -> list[Attempt]:
    """Every claim in the task records, ended by the first later event of the same token that
    closes it (success, failure, stale ack, expiry, hand-back); open ones end at infinity.
    With `windows` ((lo, hi) run-relative), only the attempts overlapping one of them: a long
    run's million attempts are never held. A plain task's one attempt (claim to success) is
    read from the table's columns."""
    def wanted(a: Attempt) -> bool:
        return windows is None or any(a.start <= hi and a.end > lo for lo, hi in windows)

    tasks = view.tasks
    out = [a for task in tasks.whole() for a in _task_attempts(view, task) if wanted(a)]
    columns = zip(tasks.times("claimed"), tasks.times("finished_at"), tasks.codes("worker"), tasks.plain(),
                  strict=True)
    for row, (claimed, finished, worker, plain) in enumerate(columns):
        if plain:
            a = Attempt("", "", view.rel(claimed), view.rel(finished) if finished >= claimed else float("inf"))
            if wanted(a):
                out.append(Attempt(tasks.id_at(row), tasks.value(worker), a.start, a.end))
    return out


def _task_attempts(view: RunView, task: TaskRecord) -> Iterator[Attempt]:
    events = sorted(task.events, key=lambda e: e.t)
    for i, e in enumerate(events):
        if e.event != "claimed" or e.worker is None:
            continue
        end = next((x.t for x in events[i + 1:] if x.event in _ENDS and x.token in (None, e.token)), None)
        yield Attempt(task.id, e.worker, view.rel(e.t), float("inf") if end is None else view.rel(end))


def _starts(view: RunView) -> list[FaultRecord]:
    return [f for f in view.faults if f.phase == "start" and f.fault not in LOAD_FAULTS]


def _label(f: FaultRecord) -> str:
    return f"{f.id} {f.fault} {f.target or ''}".rstrip() + f" at {f.t:.2f}s"


def faults_applied(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    """No fault start or end recorded an error: a run never passes on a fault that did not happen."""
    failed = [(f, str(f.detail.get("error"))) for f in view.faults if f.detail.get("error")]
    started = len(_starts(view))
    observed = {"faults": started, "failed": len(failed)}
    if failed:
        what = "; ".join(f"{_label(f)} ({f.phase}): {err}" for f, err in failed[:_SHOW])
        return CheckResult("faults_applied", False, observed, {"failed": 0},
                           f"{len(failed)} fault step(s) could not be applied: {what}")
    return CheckResult("faults_applied", True, observed, {"failed": 0},
                       f"all {started} fault(s) were applied" if started else "no fault in this run")


def _overlaps(a: Attempt, lo: float, hi: float) -> bool:
    return a.start <= hi and a.end > lo


def _end_of(view: RunView, f: FaultRecord) -> float | None:
    return next((e.t for e in view.faults if e.phase == "end" and e.id == f.id), None)


def _window(f: FaultRecord) -> tuple[float, float]:
    """When attempts matter to a fault: from when applying began to when it took effect, and
    for a scale the rest of the run (the workers it added take work later)."""
    return (f.t, float("inf")) if f.fault == "scale" else (f.t, max(f.t, f.at))


def _hit(view: RunView, f: FaultRecord, held: list[Attempt]) -> str | None:
    """What the fault hit (a short description), or None when it hit nothing."""
    lo, hi = f.t, max(f.t, f.at)
    targets = [str(x) for x in f.detail.get("targets") or []]
    if f.fault in NODE_FAULTS:  # the node's workers are what it hits
        targets = [str(w) for w in f.detail.get("workers") or []] or ["(no worker on the node)"]
    if f.fault == "scale":
        added, removed = f.detail.get("added") or [], f.detail.get("removed") or []
        took = sorted({a.worker for a in held if a.worker in added and a.start >= lo})
        lost = sorted({a.worker for a in held if a.worker in removed and _overlaps(a, lo, hi)})
        return ", ".join([f"{w} took work" for w in took] + [f"{w} held leases" for w in lost]) or None
    if "gateway" in targets or f.target == "gateway":
        end = _end_of(view, f)  # no end: the gateway stays down, every later submit meets it
        n = sum(1 for s in view.submits if (end is None or s.t <= max(end, hi)) and s.t_done >= lo)
        return f"{n} submit(s) in flight" if n else None
    if f.fault in REDIS_FAULTS or not targets:
        n_held = sum(1 for a in held if _overlaps(a, lo, hi))
        n_sub = sum(1 for s in view.submits if s.t <= hi and s.t_done >= lo)
        return f"{n_held} lease(s) and {n_sub} submit(s) in flight" if n_held or n_sub else None
    holders = sorted({a.worker for a in held if a.worker in targets and _overlaps(a, lo, hi)})
    return f"{', '.join(holders)} held leases" if holders else None


def faults_effective(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    """Every applied fault hit a target that was doing something (rules in the module doc)."""
    starts = [f for f in _starts(view) if not f.detail.get("error")]
    exempt = [f for f in starts if f.detail.get("idle_ok")]
    judged = [f for f in starts if not f.detail.get("idle_ok")]
    held = attempts(view, [_window(f) for f in judged]) if judged else []
    hits = {f.id: _hit(view, f, held) for f in judged}
    idle = [f for f in judged if hits[f.id] is None]
    observed = {"faults": len(starts), "effective": len(judged) - len(idle), "idle": len(idle),
                "exempt": len(exempt), "hit": {f.id: hits[f.id] for f in judged if hits[f.id]}}
    expected = "every fault hits a target holding work (or is marked idle_ok)"
    if idle:
        return CheckResult("faults_effective", False, observed, expected,
                           f"{len(idle)} fault(s) hit an idle target and tested nothing: "
                           + "; ".join(_label(f) for f in idle[:_SHOW])
                           + " (give the target work then, or mark the timeline entry idle_ok: true)")
    if not starts:
        return CheckResult("faults_effective", True, observed, expected, "no fault in this run")
    note = f" ({len(exempt)} marked idle_ok)" if exempt else ""
    return CheckResult("faults_effective", True, observed, expected,
                       f"all {len(judged)} fault(s) hit a target holding work{note}")
