"""Open generated reports in headless Chromium from disk: no JavaScript errors, every figure
rendered, load time of a 5-minute run, and a screenshot (kept when REPORT_SCREENSHOT_DIR is set).

Needs Debian's `chromium` (apt-get install -y chromium; .ci/run installs it). Without it the
tests skip, except under CI=true where a missing browser is a failure.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "runs"))

from cdp import Browser  # noqa: E402
from synth_run import write_run  # noqa: E402

from harness.report import build_report, compare_runs, update_index  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
READY = "document.body && document.body.dataset.rendered !== undefined"
LOAD_BUDGET_S = float(os.environ.get("REPORT_LOAD_BUDGET_S", "2.0"))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    a = write_run(root / "kill-and-partition" / "20251128-143000", p99_limit_ms=1500)  # one failed check
    b = write_run(root / "kill-and-partition" / "20251128-150000", seed=8)
    for d in (a, b):
        build_report(d)
    update_index(root)
    compare_runs(a, b, root / "compare.html")
    return root


def _keep(png: Path) -> None:
    keep = os.environ.get("REPORT_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)


def _assert_png(png: Path) -> None:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 60_000, f"{png} is {len(data)} bytes: the page looks empty"


def test_report_renders_every_figure_without_errors(chromium: str, reports: Path, tmp_path: Path) -> None:
    page = reports / "kill-and-partition" / "20251128-143000" / "report.html"
    with Browser(chromium) as b:
        b.open(page.as_uri(), ready=READY)
        data = b.evaluate("JSON.stringify(document.body.dataset)")
        figures = b.evaluate("document.querySelectorAll('div.figure[data-fig]').length")
        plots = b.evaluate("document.querySelectorAll('div.figure .js-plotly-plot, div.js-plotly-plot').length")
        svgs = b.evaluate("document.querySelectorAll('div.figure .main-svg').length")
        banner_hidden = b.evaluate("document.getElementById('js-errors').hidden")
        errors = b.errors()
        png = b.screenshot(tmp_path / "report.png")
    assert errors == [], errors
    assert banner_hidden is True and '"jsErrors":"0"' in data, data
    assert figures == 8 and plots == figures, (figures, plots)
    assert svgs >= 2 * figures  # plotly draws a main svg and an overlay per figure
    _assert_png(png)
    _keep(png)


def test_zooming_one_time_figure_zooms_the_others(chromium: str, reports: Path) -> None:
    page = reports / "kill-and-partition" / "20251128-143000" / "report.html"
    with Browser(chromium) as b:
        b.open(page.as_uri(), ready=READY)
        b.evaluate("Plotly.relayout(document.querySelector('[data-fig=throughput]'), {'xaxis.range': [10, 20]})")
        ranges = [b.evaluate(f"JSON.stringify(document.querySelector('[data-fig={f}]')._fullLayout.xaxis.range)")
                  for f in ("queues", "latency", "gantt")]
        assert b.errors() == []
    assert all(r == "[10,20]" for r in ranges), ranges


def test_error_detection_works_on_a_broken_page(chromium: str, reports: Path, tmp_path: Path) -> None:
    """The checks above could fail: a figure with corrupt data is reported, not silently blank."""
    good = (reports / "kill-and-partition" / "20251128-143000" / "report.html").read_text()
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r'(id="fig-data-latency">)\{', r"\1{oops", good, count=1))
    with Browser(chromium) as b:
        b.open(broken.as_uri(), ready=READY)
        shown = b.evaluate("document.getElementById('js-errors').textContent")
        rendered = b.evaluate("document.body.dataset.rendered")
    assert "latency" in shown and rendered == "7"


def test_five_minute_run_loads_within_budget(chromium: str, tmp_path: Path) -> None:
    """Main-thread time (parse + script + layout + paint, CPU time of the page's thread) must fit
    the budget; it does not depend on what else the machine runs. Wall time is checked against
    the budget scaled by the machine's load, so a busy CI machine does not flake."""
    run = write_run(tmp_path / "long" / "20251128-143000", duration=300, rate=14, seed=3)
    page = build_report(run)
    with Browser(chromium) as b:
        b.call("Performance.enable", {"timeDomain": "threadTicks"})
        b.open("about:blank", ready="true")  # warm the browser up: measure the page, not the startup
        seconds = b.open(page.as_uri(), ready=READY)
        metrics = {m["name"]: m["value"] for m in b.call("Performance.getMetrics")["metrics"]}
        rendered = b.evaluate("document.body.dataset.rendered")
        assert b.errors() == []
    main_thread = metrics["TaskDuration"]
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    print(f"5-minute run: main thread {main_thread:.2f}s, wall {seconds:.2f}s at load {load:.1f} per core")
    assert rendered == "8"
    assert main_thread < LOAD_BUDGET_S, f"page needs {main_thread:.2f}s of main-thread time > {LOAD_BUDGET_S}s"
    budget = LOAD_BUDGET_S * max(1.5, load)
    assert seconds < budget, f"{seconds:.2f}s > {budget:.2f}s (budget {LOAD_BUDGET_S}s x machine load {load:.1f})"


def test_index_and_compare_pages_render(chromium: str, reports: Path, tmp_path: Path) -> None:
    with Browser(chromium) as b:
        b.open((reports / "index.html").as_uri(), ready="document.body && document.body.dataset.jsErrors !== undefined"
               " || document.readyState === 'complete'")
        rows = b.evaluate("document.querySelectorAll('#runs tbody tr').length")
        b.evaluate("var f=document.getElementById('filter'); f.value='nothing-matches'; "
                   "f.dispatchEvent(new Event('input'))")
        visible = b.evaluate("[...document.querySelectorAll('#runs tbody tr')].filter(r => r.style.display !== 'none')"
                             ".length")
        b.open((reports / "compare.html").as_uri(), ready=READY)
        plots = b.evaluate("document.querySelectorAll('.js-plotly-plot').length")
        png = b.screenshot(tmp_path / "compare.png")
        assert b.errors() == []
    assert rows == 2 and visible == 0 and plots == 4
    _assert_png(png)
