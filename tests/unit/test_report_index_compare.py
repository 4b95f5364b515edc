"""reports/index.html and the compare page."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_helpers import write_run

from harness.report import build_report, compare_runs, update_index


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    for name, stamp, limit in (("kill", "20251128-100000", 20000), ("kill", "20251128-120000", 1000),
                               ("scale", "20251128-110000", 20000)):
        d = write_run(root / name / stamp, name=name, duration=15, p99_limit_ms=limit)
        meta = json.loads((d / "meta.json").read_text())
        meta.pop("started_at")  # order must then come from the directory name
        (d / "meta.json").write_text(json.dumps(meta))
        build_report(d)
    broken = root / "kill" / "20251128-130000"
    broken.mkdir()
    (broken / "history.jsonl").write_text("")  # interrupted before results
    return root


def test_index_lists_every_run_newest_first_with_links(root: Path) -> None:
    page = update_index(root).read_text()
    rows = re.findall(r'<tr class="(?:failed|passed)" data-text="([^"]+)">(.*?)</tr>', page, re.S)
    stamps = [re.search(r"2025-11-28 (\d\d:\d\d)", r[1]).group(1) for r in rows]
    assert stamps == ["13:00", "12:00", "11:00", "10:00"]
    assert "INCOMPLETE" in rows[0][1] and "no report" in rows[0][1]
    assert "FAILED" in rows[1][1] and "failed: p99_latency_ms" in rows[1][1]
    assert 'href="kill/20251128-100000/report.html"' in page
    assert "4 runs, 1 failed" in page


def test_compare_page_shows_both_runs_and_the_change(root: Path, tmp_path: Path) -> None:
    out = compare_runs(root / "kill" / "20251128-100000", root / "scale" / "20251128-110000",
                       tmp_path / "cmp" / "compare.html")
    page = out.read_text()
    assert "RUN A" in page and "RUN B" in page and "Key figures" in page
    assert re.findall(r'data-fig="([^"]+)"', page) == ["cmp-throughput", "cmp-p99", "cmp-queued", "cmp-workers"]
    assert re.search(r"<td>p99 latency</td>.*?%</td>", page, re.S)
    assert "../../" in page  # relative link to each run's report


def test_index_trends_draw_a_sparkline_per_scenario_with_several_runs(root: Path) -> None:
    page = update_index(root).read_text()
    trends = page[page.index("<h2>Scenarios</h2>"):page.index("<h2>Runs</h2>")]
    kill = re.search(r"<b>kill</b>.*?</tr>", trends, re.S).group(0)
    scale = re.search(r"<b>scale</b>.*?</tr>", trends, re.S).group(0)
    assert kill.count("<polyline") == 2 and ">1/3<" in kill  # 2 finished runs (1 passed) + 1 incomplete
    assert "<polyline" not in scale  # one run: nothing to draw
