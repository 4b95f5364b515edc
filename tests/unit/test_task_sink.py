"""TaskSink: records appended to tasks.jsonl, and which ids it already holds (packed)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.readback import TaskSink


def test_holds_what_it_wrote_also_after_later_writes(tmp_path: Path) -> None:
    sink = TaskSink(tmp_path / "tasks.jsonl")
    hex_ids = [f"{i:016x}{0:016x}" for i in range(1, 6)]
    sink.write({"id": i, "status": "succeeded"} for i in hex_ids[:3])
    sink.write([{"id": "odd-id", "status": "dead"}])
    assert all(sink.holds(i) for i in hex_ids[:3]) and sink.holds("odd-id")
    assert not sink.holds(hex_ids[3]) and not sink.holds("other")
    sink.write({"id": i, "status": "succeeded"} for i in hex_ids[3:])   # after a lookup sorted them
    assert all(sink.holds(i) for i in hex_ids)
    sink.close()
    lines = (tmp_path / "tasks.jsonl").read_text().splitlines()
    assert sink.count == len(lines) == 6 and json.loads(lines[3])["id"] == "odd-id"


def test_task_lines_read_back_as_the_records_written() -> None:
    from harness.history import task_line
    from system.model import loads_json as _loads

    plain = {"id": "a", "result": {"upper": "HÉ", "length": 2}, "submitted_at": 1796003337.939, "events": []}
    odd = {"id": "b", "result": {"value": float("nan")}, "data": 2 ** 70}
    assert _loads(task_line(plain)) == plain and task_line(plain).endswith("}\n")
    line = task_line(odd)
    assert "NaN" in line and str(2 ** 70) in line   # not null, not refused: what json writes
