"""Figure builders on a synthetic run with a kill and a partition (pure: data -> figures)."""
from __future__ import annotations

from pathlib import Path

import pytest
from report_helpers import write_run

from harness.report.build import figure_blocks
from harness.report.faultsummary import fault_impacts
from harness.report.figures_tasks import gantt_figure, worker_load_figure
from harness.report.figures_time import (
    Axis,
    fault_bands,
    latency_figure,
    queue_figure,
    throughput_figure,
    workers_figure,
)
from harness.report.rundata import load_run
from harness.report.series import completion_times, fault_spans, load_window, phase_marks, timebase
from harness.report.style import PRIORITY_COLORS, worker_color
from harness.report.tasksview import select_gantt, worker_loads


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return load_run(write_run(tmp_path_factory.mktemp("runs") / "kill" / "20251128-143000"))


@pytest.fixture(scope="module")
def axis(run) -> Axis:
    tb = timebase(run)
    return Axis(tb=tb, spans=fault_spans(run, t1=tb.t1), phases=phase_marks(run))


def _bands(fig) -> list:
    return [s for s in fig.layout.shapes if s.type == "rect"]


def test_every_time_figure_draws_each_fault_as_a_labelled_band(run, axis) -> None:
    blocks = {b.id: b for b in figure_blocks(run)}
    assert set(blocks) == {"throughput", "queues", "workers", "latency", "redis", "worker-rate", "worker-load",
                           "gantt"}
    for b in blocks.values():
        if b.shared_x:
            bands = _bands(b.figure)
            assert [(s.x0, s.x1) for s in bands] == [(s.start, s.end) for s in axis.spans], b.id
            labels = [a.text for a in b.figure.layout.annotations]
            assert "<b>kill worker-2</b>" in labels and "<b>partition worker-1</b>" in labels
            assert list(b.figure.layout.xaxis.range) == [0.0, axis.tb.t1], b.id


def test_throughput_completed_series_accounts_for_every_success(run, axis) -> None:
    fig = throughput_figure(run, axis)
    completed = next(t for t in fig.data if t.name == "completed/s")
    succeeded = sum(1 for t in run.tasks if t["status"] == "succeeded")
    assert sum(completed.y) * axis.tb.bin_s == pytest.approx(succeeded)
    submitted = next(t for t in fig.data if t.name == "submitted/s")
    assert sum(submitted.y) * axis.tb.bin_s == pytest.approx(len(run.tasks))


def test_throughput_drops_while_the_leader_is_partitioned(run, axis) -> None:
    impacts = fault_impacts(axis.spans, completion_times(run, axis.tb), run.tasks, offset=axis.tb.offset,
                            load=load_window(run, axis.tb), t1=axis.tb.t1)
    part = next(i for i in impacts if i.span.fault == "partition")
    assert part.redelivered >= 1 and part.stale_acks >= 1
    assert part.before is not None and part.during is not None and part.recovered


def test_queue_figure_uses_priority_colors_and_stacks_waiting_tasks(run, axis) -> None:
    fig = queue_figure(run, axis)
    waiting = [t for t in fig.data if t.name.startswith("queued ")]
    assert [t.line.color for t in waiting] == [PRIORITY_COLORS[p] for p in ("high", "normal", "low")]
    assert {t.stackgroup for t in waiting} == {"queued"}
    assert {t.name for t in fig.data} >= {"leased", "delayed", "dead"}


def test_workers_figure_shows_the_leader_moving(run, axis) -> None:
    fig = workers_figure(run, axis)
    leaders = [t.name for t in fig.data if t.name and t.name.startswith("leader ")]
    assert leaders == ["leader worker-1", "leader worker-3"]
    assert min(y for y in fig.data[0].y if y is not None) == 2  # one worker down at a time


def test_latency_figure_has_percentiles_per_priority_on_a_log_axis(run, axis) -> None:
    fig = latency_figure(run, axis)
    names = {t.name for t in fig.data}
    assert {"high p50", "high p99", "normal p95", "low p99"} <= names
    assert fig.layout.yaxis.type == "log"
    for t in fig.data:
        if t.name.endswith("p99"):
            assert t.line.color == PRIORITY_COLORS[t.name.split()[0]]


def test_worker_load_figure_colors_bars_per_worker_and_reports_fairness(run) -> None:
    loads = worker_loads(run.tasks)
    fig = worker_load_figure(loads)
    bars = fig.data[0]
    assert list(bars.x) == ["worker-1", "worker-2", "worker-3"]
    assert list(bars.marker.color) == [worker_color(w) for w in bars.x]
    assert "Jain's index 0.9" in fig.layout.title.text


def test_gantt_marks_lease_expiries_and_stale_acks(run, axis) -> None:
    sel = select_gantt(run.tasks, run.results)
    fig = gantt_figure(sel, axis)
    names = {t.name for t in fig.data}
    assert {"lease expired", "stale ack (rejected)", "dead-lettered"} <= names
    lost = next(t for t in fig.data if t.name == "lease lost: result not applied")
    assert len(lost.base) >= 4 and lost.marker.opacity < 1  # 2 leases lost to the kill, 2 to the partition
    assert len(fig.layout.yaxis.categoryarray) == len(sel.tasks) <= 60


def test_fault_bands_draw_instantaneous_faults_as_lines(axis) -> None:
    from harness.report.series import FaultSpan
    inst = Axis(tb=axis.tb, spans=[FaultSpan("f1", "scale", "", 10.0, 10.0, {})], phases=[])
    shapes, notes = fault_bands(inst)
    assert shapes[0]["type"] == "line" and notes[0]["text"] == "<b>scale</b>"


def test_figures_are_built_without_tasks_from_samples_only(tmp_path: Path) -> None:
    d = write_run(tmp_path / "r" / "20251128-143000", duration=20)
    (d / "tasks.jsonl").unlink()
    run = load_run(d)
    blocks = {b.id: b for b in figure_blocks(run)}
    assert set(blocks) == {"throughput", "queues", "workers", "redis"}
    completed = next(t for t in blocks["throughput"].figure.data if t.name == "completed/s")
    assert sum(completed.y) > 0  # from the sampler's completed counter


def test_latency_and_throughput_limits_of_checks_are_drawn(axis) -> None:
    from harness.report.figures_time import limit_lines
    from harness.report.rundata import Run
    results = {"checks": [
        {"name": "p99_latency_ms", "passed": False, "expected": "<= 3000", "observed": 4100.0},
        {"name": "p95_latency_ms[high]", "passed": True, "expected": 800, "observed": 300.0},
        {"name": "throughput_min", "passed": True, "expected": ">= 5/s", "observed": 9.1},
        {"name": "no_lost_tasks", "passed": True, "expected": {"lost": 0}}]}
    lines = limit_lines(results)
    assert [(y, c) for y, _, c, _ in lines["latency"]] == [(3000.0, "#30343f"), (800.0, PRIORITY_COLORS["high"])]
    assert lines["throughput"][0][0] == 5.0
    run = Run(meta={}, scenario={}, history=[], tasks=[], results=results)
    fig = latency_figure(run, axis)
    hlines = [s for s in fig.layout.shapes if s.type == "line" and s.y0 == s.y1]
    assert {s.y0 for s in hlines} == {3000.0, 800.0}
    assert any("FAILED" in (a.text or "") for a in fig.layout.annotations)
    assert any(s.y0 == 5.0 for s in throughput_figure(run, axis).layout.shapes)


def test_gantt_draws_the_buffer_wait_apart_from_execution(axis) -> None:
    from report_helpers import task

    from harness.report.tasksview import GanttSelection
    t = task("b1", (0.0, "submitted", {}), (1.0, "claimed", {"worker": "worker-1", "token": 1}),
             (1.5, "started", {"worker": "worker-1", "token": 1}),
             (2.0, "succeeded", {"worker": "worker-1", "token": 1}))
    fig = gantt_figure(GanttSelection([t], 0, 0, 1, 1), axis)
    buffered = next(tr for tr in fig.data if tr.name == "claimed, in a worker's buffer")
    claimed, began = [x for x in buffered.x if x is not None]
    assert round(began - claimed, 3) == 0.5
    bar = next(tr for tr in fig.data if tr.name == "worker-1")
    assert (bar.base[0], bar.x[0]) == (began, 0.5) and "buffered 500 ms" in bar.hovertext[0]
