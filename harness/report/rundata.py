"""Load a run directory (docs/contracts.md) into one plain value the pure report code reads.

Files are parsed by harness.history (the one reader of the formats); records are then kept as
the contract's dicts, so figures can be tested on hand-made or synthetic runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from harness.history import TaskRecord, read_history, read_results, read_tasks

REQUIRED = ("history.jsonl",)


@dataclass(frozen=True)
class Run:
    """Everything recorded about one run. Missing optional files leave empty values."""

    meta: dict[str, Any]
    scenario: dict[str, Any]
    history: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    results: dict[str, Any] | None
    run_dir: Path | None = None
    missing: tuple[str, ...] = field(default=())

    def records(self, kind: str) -> list[dict[str, Any]]:
        """History records of one kind ("submit", "fault", "sample", "phase"), in time order."""
        return [r for r in self.history if r.get("kind") == kind]

    @property
    def name(self) -> str:
        return str(self.scenario.get("name") or self.meta.get("scenario")
                   or (self.results or {}).get("scenario") or "unnamed scenario")


def load_run(run_dir: Path) -> Run:
    """Read a run directory; raises FileNotFoundError naming what is missing and why, and
    harness.history.HistoryError naming file and line for a corrupt file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: not a run directory; pass reports/<scenario>/<timestamp>/")
    for name in REQUIRED:
        if not (run_dir / name).is_file():
            raise FileNotFoundError(
                f"{run_dir / name} is missing: a report needs at least the recorded history; "
                "was the run interrupted before the load phase?")
    missing = tuple(n for n in ("meta.json", "scenario.yaml", "tasks.jsonl", "results.json")
                    if not (run_dir / n).is_file())
    history = [_plain(r) for r in read_history(run_dir / "history.jsonl")]
    history.sort(key=lambda r: float(r.get("t", 0.0)))
    tasks = [_plain_task(t) for t in read_tasks(run_dir / "tasks.jsonl")] if "tasks.jsonl" not in missing else []
    return Run(
        meta=_json_object(run_dir / "meta.json"),
        scenario=_read_yaml(run_dir / "scenario.yaml") or {},
        history=history,
        tasks=tasks,
        results=_json_object(run_dir / "results.json") or None,
        run_dir=run_dir,
        missing=missing,
    )


def _plain(record: Any) -> dict[str, Any]:
    """Shallow dict of a frozen record (dataclasses.asdict deep-copies: seconds on long runs)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _plain_task(task: TaskRecord) -> dict[str, Any]:
    out = _plain(task)
    out["events"] = [{k: v for k, v in _plain(e).items() if v is not None} for e in task.events]
    return out


def _json_object(path: Path) -> dict[str, Any]:
    data = read_results(path) if path.is_file() else {}
    return data if isinstance(data, dict) else {}


def _read_yaml(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None
