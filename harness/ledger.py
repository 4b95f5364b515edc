"""An append-only record on disk of everything a run started or broke, written *before* acting.

If the harness is killed (SIGKILL, power loss), `harness cleanup` reads the ledgers left in the
state directory and undoes what they list: processes spawned and not reaped, faults applied and
not healed, compose projects brought up, swarm node clusters formed. A ledger that was fully torn down is moved into the
run directory (as `ledger.jsonl`), so the state directory only ever holds unfinished runs.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = ".harness"


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where ledgers of running/unfinished runs live: $HARNESS_STATE_DIR, else ./.harness."""
    raw = explicit or os.environ.get("HARNESS_STATE_DIR") or DEFAULT_STATE_DIR
    path = Path(raw).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


class Ledger:
    """One run's ledger file; every `write` is flushed and fsynced before it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "a", encoding="utf-8")

    @classmethod
    def create(cls, directory: Path, run_id: str) -> Ledger:
        return cls(directory / f"ledger-{run_id}-{os.getpid()}.jsonl")

    def write(self, op: str, **fields: Any) -> None:
        record = {"op": op, "wall": time.time(), **fields}
        line = json.dumps(record, default=str)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()

    def archive(self, run_dir: Path | None) -> None:
        """Close and move into the run directory (or delete when there is none)."""
        self.close()
        if run_dir is None:
            self.path.unlink(missing_ok=True)
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.path), str(run_dir / "ledger.jsonl"))


@dataclass
class Outstanding:
    """What a ledger says is still out there (pure summary of its records)."""

    processes: dict[int, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    compose: dict[str, dict[str, Any]] = field(default_factory=dict)
    swarm: dict[str, dict[str, Any]] = field(default_factory=dict)     # dind clusters by name
    toxiproxy: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.processes or self.faults or self.compose or self.swarm)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a ledger; a torn last line (killed mid-write) is skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def outstanding(records: Iterator[dict[str, Any]]) -> Outstanding:
    """Fold records into what was started and not yet stopped/healed."""
    out = Outstanding()
    for rec in records:
        op = rec.get("op")
        if op == "spawn":
            out.processes[int(rec["pid"])] = rec
        elif op == "reaped":
            out.processes.pop(int(rec["pid"]), None)
        elif op == "fault":
            out.faults[str(rec["id"])] = rec
        elif op == "healed":
            out.faults.pop(str(rec["id"]), None)
        elif op == "compose_up":
            out.compose[str(rec["project"])] = rec
        elif op == "compose_down":
            out.compose.pop(str(rec["project"]), None)
        elif op == "swarm_up":
            out.swarm[str(rec["cluster"])] = rec
        elif op == "swarm_down":
            out.swarm.pop(str(rec["cluster"]), None)
        elif op == "toxiproxy":
            out.toxiproxy[str(rec["api_url"])] = rec
        elif op == "tempdir":
            out.dirs.append(str(rec["path"]))
    return out


def ledgers(directory: Path) -> list[Path]:
    return sorted(directory.glob("ledger-*.jsonl"))
