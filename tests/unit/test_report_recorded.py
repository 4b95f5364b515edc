"""The report of a real recorded run (tests/fixtures/runs/zombie-worker-recorded: local backend,
worker-2 frozen with SIGSTOP for 6 s; its two leases expired, other workers re-ran the tasks, and
its two late results were rejected as stale acks)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.report import build_report
from harness.report.build import figure_blocks
from harness.report.faultsummary import fault_impacts
from harness.report.rundata import load_run
from harness.report.series import completion_times, fault_spans, load_window, timebase
from harness.report.tasksview import select_gantt

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "zombie-worker-recorded"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("recorded") / "zombie-worker" / "20261128-161636"
    shutil.copytree(RECORDED, dest)
    return dest


def test_recorded_run_aligns_redis_clock_with_history(run_dir: Path) -> None:
    run = load_run(run_dir)
    tb = timebase(run)
    done = completion_times(run, tb)
    load_start, _ = load_window(run, tb)
    assert len(done) == 60 and load_start < done[0] < done[-1] <= tb.t1


def test_pause_fault_shows_redeliveries_and_stale_acks(run_dir: Path) -> None:
    run = load_run(run_dir)
    tb = timebase(run)
    (impact,) = fault_impacts(fault_spans(run, t1=tb.t1), completion_times(run, tb), run.tasks,
                              offset=tb.offset, load=load_window(run, tb), t1=tb.t1)
    assert impact.span.label == "pause worker-2"
    assert impact.redelivered == 2 and impact.stale_acks == 2


def test_zombie_attempts_are_in_the_timeline_as_lost_leases(run_dir: Path) -> None:
    run = load_run(run_dir)
    blocks = {b.id: b for b in figure_blocks(run)}
    gantt = blocks["gantt"].figure
    lost = next(t for t in gantt.data if t.name == "lease lost: result not applied")
    assert len(lost.base) == 2
    stale = next(t for t in gantt.data if t.name == "stale ack (rejected)")
    pause = fault_spans(run)[0]
    assert all(x >= pause.end - 0.5 for x in stale.x), "the zombie acks after it is resumed"
    assert select_gantt(run.tasks, run.results).eventful == 2


def test_recorded_run_page_has_every_section(run_dir: Path) -> None:
    page = build_report(run_dir).read_text()
    assert "zombie-worker" in page and "PASSED" in page
    assert "harness run scenarios/zombie-worker.yaml --backend local --seed 1" in page
    assert len(re.findall(r'<div class="figure" data-fig=', page)) == 8
    assert "2 stale ack(s) rejected by fencing" in page
