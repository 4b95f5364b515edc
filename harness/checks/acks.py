"""Checks on what the gateway answered around a fault: durable acks (DURABLE_ACK=1).

With DURABLE_ACK on, a 202 means a replica has the task (WAIT confirmed it); while the replica
is frozen (fault replica_pause) every submit must be refused (503 not_replicated: outcome
`info`) or fail, and once it is back acks must resume. Both checks are undecided (None), never
passed, when the fault did not take effect or no submit fell in the judged window.

Public: acks_refused_during, acks_resume_after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks.base import CheckResult, RunView
from harness.history import FaultRecord, SubmitRecord

_SHOW = 5


def _window(view: RunView, name: str) -> tuple[FaultRecord, float | None] | None:
    """The first start of fault `name` (a kind or an id) that took effect, and its end's t."""
    start = next((f for f in view.faults if f.phase == "start" and name in (f.fault, f.id)
                  and f.effective is not None and not f.detail.get("error")), None)
    if start is None:
        return None
    end = next((f.t for f in view.faults if f.phase == "end" and f.id == start.id), None)
    return start, end


def _ids(submits: list[SubmitRecord]) -> str:
    return ", ".join(str(s.id or s.key) for s in submits[:_SHOW])


def acks_refused_during(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    """No submit sent after the fault's effect (+ settle) and answered before its end was `ok`."""
    name, settle = params["fault"], params.get("settle", 0.5)
    label, expected = f"acks_refused_during[{name}]", "no submit accepted (ok) inside the fault's window"
    found = _window(view, name)
    if found is None:
        return CheckResult(label, None, None, expected, f"fault {name!r} never took effect in this run")
    start, end = found
    if end is None:
        return CheckResult(label, None, None, expected, f"fault {name!r} ({start.id}) never ended")
    lo = start.at + settle
    inside = [s for s in view.submits if s.t >= lo and s.t_done <= end]
    accepted = [s for s in inside if s.outcome == "ok"]
    observed = {"in_window": len(inside), "accepted": len(accepted), "window": [round(lo, 3), round(end, 3)]}
    if not inside:
        return CheckResult(label, None, observed, expected,
                           f"no submit was sent and answered within {lo:.2f}s..{end:.2f}s; cannot judge")
    if accepted:
        return CheckResult(label, False, observed, expected,
                           f"{len(accepted)} of {len(inside)} submit(s) in {lo:.2f}s..{end:.2f}s were "
                           f"accepted (202) while {name} held: {_ids(accepted)}")
    return CheckResult(label, True, observed, expected,
                       f"all {len(inside)} submit(s) in {lo:.2f}s..{end:.2f}s were refused or failed")


def acks_resume_after(view: RunView, params: Mapping[str, Any]) -> CheckResult:
    """Every submit sent `within` after the fault's end or later was accepted (ok)."""
    name, within = params["fault"], params.get("within", 2.0)
    label, expected = f"acks_resume_after[{name}]", f"every submit sent {within:g}s after the end is accepted"
    found = _window(view, name)
    if found is None or found[1] is None:
        return CheckResult(label, None, None, expected, f"fault {name!r} never took effect and ended")
    lo = found[1] + within
    after = [s for s in view.submits if s.t >= lo]
    refused = [s for s in after if s.outcome != "ok"]
    observed = {"after": len(after), "refused": len(refused)}
    if not after:
        return CheckResult(label, None, observed, expected, f"no submit was sent after {lo:.2f}s; cannot judge")
    if refused:
        return CheckResult(label, False, observed, expected,
                           f"{len(refused)} of {len(after)} submit(s) sent after {lo:.2f}s were not "
                           f"accepted: {_ids(refused)}")
    return CheckResult(label, True, observed, expected,
                       f"all {len(after)} submit(s) sent after {lo:.2f}s were accepted")
