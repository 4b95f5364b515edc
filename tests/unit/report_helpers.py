"""Shared helpers of the report tests: the synthetic run generator and hand-made runs."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "runs"))

import synth_run  # noqa: E402

from harness.report.rundata import Run  # noqa: E402

write_run = synth_run.write_run
simulate = synth_run.simulate
EPOCH0 = synth_run.EPOCH0


def hand_run(*, history: list[dict[str, Any]] | None = None, tasks: list[dict[str, Any]] | None = None,
             results: dict[str, Any] | None = None, scenario: dict[str, Any] | None = None) -> Run:
    return Run(meta={"backend": "local", "seed": 1}, scenario=scenario or {"name": "hand"},
               history=history or [], tasks=tasks or [], results=results)


def task(tid: str, *events: tuple[float, str, dict[str, Any]], status: str = "succeeded",
         priority: str = "normal", submitted: float = 0.0) -> dict[str, Any]:
    """A task record with events at EPOCH0 + t."""
    evs = [{"t": EPOCH0 + t, "event": name, **kw} for t, name, kw in events]
    fin = next((e["t"] for e in reversed(evs) if e["event"] in ("succeeded", "dead")), None)
    return {"id": tid, "type": "sleep", "priority": priority, "status": status,
            "submitted_at": EPOCH0 + submitted, "finished_at": fin, "events": evs}
