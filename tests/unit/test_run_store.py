"""The compact run stores (harness.tasktable, harness.submittable, harness.recorded): lossless,
small for plain tasks, the same answers as the lists they replace; and the report's rules for
long runs (peaks survive downsampling, the Gantt keeps every eventful task)."""

from __future__ import annotations

import json
import random
import sys
import uuid
from pathlib import Path

from harness.checks.base import build_view
from harness.checks.queue import analyse
from harness.history import SubmitRecord, TaskEvent, TaskRecord, record_to_dict, task_to_dict
from harness.recorded import load_history, load_tasks
from harness.report.rundata import TaskDicts, _plain_task
from harness.report.series import downsample
from harness.report.tasksview import EVENTFUL, GANTT_LIMIT, select_gantt
from harness.submittable import SubmitTable
from harness.tasktable import TaskTable

T0 = 1_795_996_697.957


def plain(i: int, *, key: str | None = None, started: bool = True) -> TaskRecord:
    s, w = round(T0 + i * 0.002, 3), f"worker-{i % 3 + 1}"
    events = [TaskEvent(s, "submitted", None, None, "normal"), TaskEvent(round(s + 0.001, 3), "claimed", w, 1)]
    if started:
        events.append(TaskEvent(round(s + 0.002, 3), "started", w, 1))
    events.append(TaskEvent(round(s + 0.003, 3), "succeeded", w, 1))
    return TaskRecord(id=uuid.UUID(int=random.Random(i).getrandbits(128)).hex, type="process", priority="normal",
                      status="succeeded", attempts=1, worker=w, submitted_at=s,
                      started_at=round(s + 0.002, 3) if started else None, finished_at=round(s + 0.003, 3),
                      idempotency_key=key if key is not None else f"soak-20261130-011536-{i}", token=1,
                      events=tuple(events), data="Hello World",
                      result={"upper": "HELLO WORLD", "length": 11, "sha256": "a591"})


def zombie(i: int) -> TaskRecord:
    """Lease lost on worker-1, re-run by worker-2, worker-1's late ack rejected as stale."""
    t = plain(i)
    s = t.submitted_at or 0.0
    events = (TaskEvent(s, "submitted", None, None, "normal"), TaskEvent(s + 0.1, "claimed", "worker-1", 1),
              TaskEvent(s + 5, "lease_expired", "worker-1", 1), TaskEvent(s + 5.1, "claimed", "worker-2", 2),
              TaskEvent(s + 5.2, "succeeded", "worker-2", 2), TaskEvent(s + 9, "stale_ack", "worker-1", 1, "ok"))
    return TaskRecord(**{**{f: getattr(t, f) for f in TaskRecord.__slots__}, "attempts": 2, "expiries": 1,
                         "token": 2, "worker": "worker-2", "events": events})


def test_task_table_gives_back_exactly_the_records_it_was_given() -> None:
    tasks = [plain(0), plain(1, started=False), zombie(2), plain(3, key=""), plain(4, key="odd key"),
             TaskRecord(id="not-hex", status="queued"), plain(5)]
    table = TaskTable.from_records(tasks)
    assert list(table) == tasks and table[2] == tasks[2] and table[-1] == tasks[-1]
    assert table.eventful_rows() == [2, 3, 4, 5]   # the zombie, the odd key and id, the empty key; not plain ones
    for row, t in enumerate(tasks):
        assert table.row_of(t.id) == row
        assert table.id_at(row) == t.id and table.submitted_at(row) == t.submitted_at
    assert table.row_of("f" * 32) is None and table.row_of(None) is None


def test_plain_tasks_cost_bytes_not_objects() -> None:
    table = TaskTable.from_records(plain(i) for i in range(2000))
    assert table.eventful_rows() == []
    held = sum(sys.getsizeof(a) for a in (table._ids, table._times, table._codes, table._keys, table._flags))
    assert held / len(table) < 100, f"{held / len(table):.0f} bytes a plain task"


def test_task_table_finds_keys_and_their_duplicates() -> None:
    tasks = [plain(0, key="run-a-1"), plain(1, key="run-a-2"), plain(2, key="run-a-1"), plain(3, key="x y")]
    table = TaskTable.from_records(tasks)
    assert table.rows_with_key("run-a-1") == [0, 2] and table.rows_with_key("x y") == [3]
    assert table.rows_with_key("run-a-3") == [] and table.duplicate_keys() == {"run-a-1": 2}


def _old_groups(submits: list[SubmitRecord]) -> list[list[SubmitRecord]]:
    """The grouping analyse used before the compact table (one request per key, else id)."""
    groups: dict[str, list[SubmitRecord]] = {}
    for i, s in enumerate(submits):
        groups.setdefault(s.key or s.id or f"#{i}", []).append(s)
    return list(groups.values())


def test_submit_table_round_trips_and_groups_like_the_list_did() -> None:
    ids = [uuid.UUID(int=i + 1).hex for i in range(6)]
    submits = [SubmitRecord(0.1, 0.2, "run-1", "process", "normal", "ok", ids[0]),
               SubmitRecord(0.2, 0.3, "run-2", "process", "high", "info", None, "HTTP 503 x: y"),
               SubmitRecord(0.3, 0.4, "run-1", "process", "normal", "ok", ids[0]),      # a re-send
               SubmitRecord(0.4, 0.5, None, "echo", "low", "ok", ids[3]),
               SubmitRecord(0.5, 0.6, None, "echo", "low", "fail", None, "HTTP 422"),
               SubmitRecord(0.6, 0.7, "odd key", "echo", "low", "ok", "not-hex"),
               SubmitRecord(0.7, 0.8, None, "echo", "low", "ok", ids[3])]              # same id, no key
    table = SubmitTable.from_records(submits)
    assert list(table) == submits and len(table) == 7
    assert list(table.groups()) == _old_groups(submits)
    assert list(table.times()[1]) == [s.t_done for s in submits]


def test_analysis_of_a_table_matches_hand_counts(tmp_path: Path) -> None:
    tasks = [plain(i) for i in range(50)] + [zombie(50)]
    submits = [SubmitRecord(i * 0.01, i * 0.01 + 0.005, t.idempotency_key, "process", "normal", "ok", t.id)
               for i, t in enumerate(tasks)]
    submits.append(SubmitRecord(1.0, 1.1, "soak-20261130-011536-99", "process", "normal", "ok",
                                uuid.UUID(int=7).hex))  # accepted, never read back: lost
    hist, task_file = tmp_path / "history.jsonl", tmp_path / "tasks.jsonl"
    hist.write_text("".join(json.dumps(record_to_dict(s)) + "\n" for s in submits))
    task_file.write_text("".join(json.dumps(task_to_dict(t)) + "\n" for t in tasks))
    view = build_view(load_history(hist), load_tasks(task_file), wall_start=T0)
    q = analyse(view)
    assert q.accepted_count == 52 and len(q.accepted) == 51 and q.lost == [uuid.UUID(int=7).hex]
    assert q.stale_acks == 1 and q.executions_extra == 1 and q.applied_twice == [] and q.unfinished == []
    assert analyse(view) is q   # computed once per table


def test_downsampling_keeps_peaks_between_even_picks() -> None:
    samples = [{"t": i * 0.25, "queues": {"normal": 0}, "leased": 0, "memory": 1000} for i in range(8000)]
    samples[4321]["queues"] = {"normal": 9000}
    samples[6007]["memory"] = 5_000_000
    kept = downsample(samples, 800)
    assert len(kept) <= 800 and kept[-1] is samples[-1]
    assert samples[4321] in kept and samples[6007] in kept
    assert [s["t"] for s in kept] == sorted(s["t"] for s in kept)
    short = samples[:700]
    assert downsample(short, 800) == short


def _eventful_dicts(n: int) -> list[dict]:
    return [_plain_task(zombie(100_000 + i)) for i in range(n)]


def test_gantt_keeps_every_eventful_task_and_a_sample(tmp_path: Path) -> None:
    tasks = [_plain_task(plain(i)) for i in range(3000)] + _eventful_dicts(150)
    sel = select_gantt(tasks, None)
    eventful_ids = {t["id"] for t in tasks if any(e["event"] in EVENTFUL for e in t["events"])}
    assert eventful_ids <= {t["id"] for t in sel.tasks}
    assert sel.eventful == 150 and sel.sampled >= GANTT_LIMIT // 3
    task_file = tmp_path / "tasks.jsonl"
    task_file.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    lazy = select_gantt(TaskDicts(load_tasks(task_file)), None)
    assert [t["id"] for t in lazy.tasks] == [t["id"] for t in sel.tasks]


def test_gantt_of_a_short_run_is_what_it_was() -> None:
    """Few eventful tasks: named, all eventful, the rest sampled up to the limit (as before)."""
    tasks = [_plain_task(plain(i)) for i in range(200)] + _eventful_dicts(10)
    sel = select_gantt(tasks, None)
    assert len(sel.tasks) == GANTT_LIMIT and sel.eventful == 10 and sel.sampled == GANTT_LIMIT - 10


def test_packing_straight_from_the_dict_loses_nothing() -> None:
    """Every variant of a nearly-plain record comes back as task_from_dict would make it."""
    from harness.history import task_from_dict
    base = task_to_dict(plain(1))
    variants = [base, task_to_dict(plain(2, started=False))]
    changes = [("status", "dead"), ("attempts", 2), ("token", 2), ("error", "boom"), ("traceparent", "00-x"),
               ("worker", None), ("started_at", None), ("idempotency_key", "no dash"), ("id", "short"),
               ("result", {"upper": "X"}), ("submitted_at", 1)]
    variants += [{**base, k: v} for k, v in changes]
    for i, event in enumerate(base["events"]):
        variants.append({**base, "events": [*base["events"][:i], {**event, "detail": "extra"},
                                            *base["events"][i + 1:]]})
        variants.append({**base, "events": [*base["events"][:i], {**event, "t": event["t"] + 1},
                                            *base["events"][i + 1:]]})
    variants.append({**base, "events": base["events"][:2]})
    table = TaskTable.from_records(variants)
    assert list(table) == [task_from_dict(v) for v in variants]
    # still plain, so packed: another result (a code of its own), another claim time (a column)
    assert table.eventful_rows() == [i for i in range(2, len(variants)) if i not in (11, 16)]


def test_submits_packed_from_their_lines_are_the_records(tmp_path: Path) -> None:
    from harness.history import record_from_dict
    lines_ = [record_to_dict(SubmitRecord(0.5, 0.75, "run-1", "process", "normal", "ok", uuid.UUID(int=1).hex)),
              record_to_dict(SubmitRecord(0.5, 0.75, None, "echo", "high", "info", None, "HTTP 503 x")),
              {**record_to_dict(SubmitRecord(0.5, 0.75, "run-2", "echo", "low", "ok", None)), "t": 1},
              {**record_to_dict(SubmitRecord(0.5, 0.75, "run-3", "echo", "low", "ok", None)), "extra": 1},
              record_to_dict(SubmitRecord(0.5, 0.75, "a b", "echo", "low", "ok", "odd"))]
    hist = tmp_path / "history.jsonl"
    hist.write_text("".join(json.dumps(r) + "\n" for r in lines_))
    assert list(load_history(hist).submits) == [record_from_dict(r) for r in lines_]
