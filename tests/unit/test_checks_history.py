"""Run-directory files: history.jsonl / tasks.jsonl / results.json read back as written."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harness.history import (
    FaultRecord,
    HistoryError,
    HistoryWriter,
    PhaseRecord,
    SampleRecord,
    SubmitRecord,
    read_history,
    read_results,
    read_tasks,
    record_from_dict,
    write_results,
    write_tasks,
)

CONTRACT_TASK = {
    "id": "a1",
    "type": "sleep",
    "data": {"ms": 200},
    "priority": "normal",
    "status": "succeeded",
    "attempts": 1,
    "failures": 0,
    "expiries": 0,
    "max_retries": 3,
    "timeout": 300.0,
    "worker": "worker-2",
    "result": {"slept_ms": 200},
    "error": None,
    "submitted_at": 1764340000.123,
    "started_at": 1764340000.2,
    "finished_at": 1764340000.4,
    "idempotency_key": "run-1",
    "token": 1,
    "new_field_from_the_future": 1,
    "events": [
        {"t": 1764340000.123, "event": "submitted", "detail": "normal"},
        {"t": 1764340000.2, "event": "claimed", "worker": "worker-2", "token": 1},
        {"t": 1764340000.4, "event": "succeeded", "worker": "worker-2", "token": 1},
    ],
}


def test_history_round_trip_from_threads(tmp_path: Path):
    path = tmp_path / "history.jsonl"
    records = [
        PhaseRecord(0.0, "up"),
        SubmitRecord(1.0, 1.01, "k", "sleep", "high", "ok", "a1"),
        FaultRecord(2.0, "start", "kill", "worker-2", "f1", {"targets": ["worker-2"]}),
        SampleRecord(
            2.25,
            {"high": 1, "normal": 0, "low": 0},
            leased=2,
            workers=3,
            leader="worker-1",
            stats={"completed": 5},
            memory=1024,
            ops_per_sec=10.5,
        ),
    ]
    with HistoryWriter(path) as writer:
        threads = [threading.Thread(target=lambda: [writer.write(r) for r in records]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    back = read_history(path)
    assert len(back) == 16 and all(r in records for r in back)
    raw = json.loads(path.read_text().splitlines()[0])
    assert raw["kind"] in ("phase", "submit", "fault", "sample")


def test_contract_example_lines_parse():
    rec = record_from_dict(
        {
            "kind": "submit",
            "t": 1,
            "t_done": 1.2,
            "key": "k",
            "type": "sleep",
            "priority": "low",
            "outcome": "info",
            "id": None,
            "error": "timeout",
        }
    )
    assert rec.outcome == "info" and rec.error == "timeout"
    with pytest.raises(HistoryError, match="unknown record kind 'bogus'"):
        record_from_dict({"kind": "bogus"})


def test_torn_last_line_is_ignored_but_corruption_is_not(tmp_path: Path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"kind":"phase","t":0,"phase":"up"}\n{"kind":"pha')
    assert read_history(path) == [PhaseRecord(0, "up")]
    path.write_text('{"kind":"phase","t":0,"phase":"up"}\nnot json\n{"kind":"phase","t":1,"phase":"load"}\n')
    with pytest.raises(HistoryError, match="history.jsonl:2: not JSON"):
        read_history(path)


def test_tasks_and_results(tmp_path: Path):
    write_tasks(tmp_path / "tasks.jsonl", [CONTRACT_TASK])
    (task,) = read_tasks(tmp_path / "tasks.jsonl")
    assert task.worker == "worker-2" and task.final and task.count("succeeded") == 1
    assert task.first("claimed").token == 1
    write_tasks(tmp_path / "again.jsonl", [task])
    assert read_tasks(tmp_path / "again.jsonl") == [task]
    write_results(tmp_path / "results.json", {"scenario": "x", "passed": True, "checks": []})
    assert read_results(tmp_path / "results.json")["passed"] is True
