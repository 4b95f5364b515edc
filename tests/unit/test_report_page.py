"""build_report / render_report: one self-contained page with every section and figure."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_helpers import write_run

from harness.report import build_report
from harness.report.page import plotly_js


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """p99 limit below what the run achieves: one failed check naming the slowest tasks."""
    return write_run(tmp_path_factory.mktemp("runs") / "kill" / "20251128-143000", p99_limit_ms=1000)


@pytest.fixture(scope="module")
def page(failing_run: Path) -> str:
    return build_report(failing_run).read_text()


def test_report_is_written_next_to_the_run_and_inlines_plotly_once(failing_run: Path, page: str) -> None:
    assert (failing_run / "report.html").is_file()
    assert page.count(plotly_js()[:200]) == 1
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", page), "the page must not load anything"


def test_verdict_header_names_scenario_verdict_seed_and_rerun_command(page: str) -> None:
    assert "kill-and-partition" in page and "FAILED" in page
    assert "harness run scenarios/kill-and-partition.yaml --backend local --seed 7" in page
    assert "4 of 5 checks passed" in page


def test_failed_check_links_to_latency_and_its_tasks(page: str, failing_run: Path) -> None:
    results = json.loads((failing_run / "results.json").read_text())
    slow = next(c for c in results["checks"] if c["name"] == "p99_latency_ms")["observed"]["slowest"]
    row = re.search(r'<tr class="failed">.*?</tr>', page, re.S).group(0)
    assert "p99_latency_ms" in row and 'href="#latency"' in row and ">its tasks</a>" in row
    gantt = re.search(r'id="fig-data-gantt">(.*?)</script>', page, re.S).group(1)
    assert all(t[:12] in gantt for t in slow), "the tasks a failed check names must be in the timeline"
    assert "5 named by failed checks" in page


def test_every_figure_has_a_div_and_its_data(page: str) -> None:
    ids = re.findall(r'<div class="figure" data-fig="([^"]+)"', page)
    assert ids == ["throughput", "queues", "workers", "latency", "redis", "worker-rate", "worker-load", "gantt"]
    for i in ids:
        blob = re.search(r'id="fig-data-' + re.escape(i) + r'">(.*?)</script>', page, re.S).group(1)
        assert json.loads(blob.replace("<\\/", "</"))["data"]


def test_fault_table_and_what_to_look_at(page: str) -> None:
    assert "Faults: what changed" in page and "partition</b> <span class=\"mono\">worker-1" in page
    assert "What to look at" in page and "stale acks worker-1 sends" in page
    assert re.search(r"stale ack\(s\) rejected by fencing", page)


def test_scenario_text_is_escaped(tmp_path: Path) -> None:
    d = write_run(tmp_path / "x" / "20251128-143000", duration=10)
    (d / "scenario.yaml").write_text("name: evil\ndescription: '<script>alert(1)</script> & more'\n")
    page = build_report(d).read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


def test_interrupted_run_without_results_or_tasks_still_gets_a_report(tmp_path: Path) -> None:
    d = write_run(tmp_path / "x" / "20251128-143000", duration=10)
    (d / "results.json").unlink()
    (d / "tasks.jsonl").unlink()
    page = build_report(d).read_text()
    assert "NO RESULTS" in page and "stopped before the check phase" in page
    assert "Missing from the run directory: tasks.jsonl, results.json" in page


def test_missing_history_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="history.jsonl is missing"):
        build_report(tmp_path)


def test_five_minute_run_stays_small(tmp_path: Path) -> None:
    """Size, not speed: build time is measured by `benchmarks.soak`, never asserted here."""
    d = write_run(tmp_path / "long" / "20251128-143000", duration=300, rate=14, seed=3)
    out = build_report(d)
    figure_bytes = out.stat().st_size - len(plotly_js())
    assert figure_bytes < 1_500_000, f"figure data is {figure_bytes} bytes: downsampling is broken"


def test_inlined_bundle_is_the_vendored_basic_one_of_the_same_version() -> None:
    from plotly.offline import get_plotlyjs_version

    from harness.report.page import VENDORED, bundle_version
    vendored = bundle_version(VENDORED.read_text())
    assert vendored == get_plotlyjs_version(), (
        f"harness/report/vendor/plotly-basic.min.js is plotly.js {vendored} but the plotly package uses "
        f"{get_plotlyjs_version()}: reports fall back to the 4x bigger full bundle; refresh it with "
        "`npm pack plotly.js-basic-dist-min@<version>` (see docs/report.md)")
    assert plotly_js() == VENDORED.read_text()


def test_figures_use_only_trace_types_of_the_basic_bundle(failing_run: Path) -> None:
    from harness.report.build import figure_blocks
    from harness.report.rundata import load_run
    types = {t.type for b in figure_blocks(load_run(failing_run)) for t in b.figure.data}
    assert types <= {"scatter", "bar"}, f"{types}: the vendored plotly.js 'basic' bundle cannot draw these"


def test_rerun_command_narrows_the_recorded_command_to_this_scenario() -> None:
    from harness.report.rundata import Run
    from harness.report.sections import rerun_command
    run = Run(meta={"backend": "docker", "seed": 42, "command": ["/x/harness/__main__.py", "run", "--out", "r",
                                                                 "scenarios/a.yaml", "scenarios/zombie.yaml"]},
              scenario={"name": "zombie"}, history=[], tasks=[], results=None)
    assert rerun_command(run) == "harness run scenarios/zombie.yaml --backend docker --seed 42"
    bare = Run(meta={}, scenario={"name": "x"}, history=[], tasks=[], results=None, run_dir=Path("/r/x/1"))
    assert rerun_command(bare) == "harness run /r/x/1/scenario.yaml --backend local"


def test_odd_but_legal_records_do_not_break_the_report() -> None:
    """Sampler gaps (None memory, no leader, worker lists), unknown submits, an unfinished
    task and a fault without id: the page still renders every section."""
    from harness.report import render_report
    from harness.report.rundata import Run
    e0 = 1_700_000_000.0
    history = [
        {"kind": "phase", "t": 0.0, "phase": "load"},
        {"kind": "submit", "t": 0.1, "t_done": None, "key": "k1", "type": "sleep", "priority": "high",
         "outcome": "info", "id": None, "error": "timeout"},
        {"kind": "submit", "t": 0.2, "t_done": 0.25, "key": "k2", "type": "sleep", "priority": "low",
         "outcome": "ok", "id": "a", "error": None},
        {"kind": "sample", "t": 0.5, "queues": {}, "leased": 0, "delayed": 0, "dead": 0, "workers": ["worker-1"],
         "leader": None, "stats": {}, "memory": None, "ops_per_sec": None},
        {"kind": "fault", "t": 1.0, "phase": "start", "fault": "latency", "target": "worker-1", "id": None},
        {"kind": "sample", "t": 1.5, "queues": {"low": 1}, "leased": 1, "delayed": 0, "dead": 0, "workers": 0,
         "leader": "worker-1", "stats": {"completed": 0}, "memory": 1000, "ops_per_sec": 3.0},
    ]
    tasks = [{"id": "a", "status": "running", "priority": "low", "submitted_at": e0 + 0.22, "started_at": e0 + 0.3,
              "finished_at": None, "worker": "worker-1", "events": [
                  {"t": e0 + 0.22, "event": "submitted"}, {"t": e0 + 0.3, "event": "claimed", "worker": "worker-1",
                                                           "token": 1}]},
             {"id": "b", "status": "queued", "submitted_at": None, "events": []}]
    run = Run(meta={}, scenario={}, history=history, tasks=tasks, results={"passed": None, "checks": [
        {"name": "no_lost_tasks", "passed": None, "observed": None, "expected": None, "explanation": "crashed"}]})
    page = render_report(run)
    assert "UNKNOWN" in page and "unnamed scenario" in page
    assert len(re.findall(r'<div class="figure" data-fig=', page)) == 8
