"""`harness run --baseline` and `harness compare`: argument handling, before anything starts."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.cli import _baselines, main
from harness.loader import load_scenarios

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "fixtures" / "runs" / "zombie-worker-recorded"


def test_a_reports_folder_gives_the_newest_run_of_the_same_scenario(tmp_path: Path) -> None:
    for stamp in ("20260101-000000", "20260102-000000"):
        shutil.copytree(RECORDED, tmp_path / "zombie-worker" / stamp)
    scenario = load_scenarios([ROOT / "scenarios" / "zombie-worker.yaml"])[0]
    found, errors = _baselines(tmp_path, [scenario])
    assert errors == [] and found["zombie-worker"]["scenario"] == "zombie-worker"


def test_a_baseline_of_another_scenario_is_refused(tmp_path: Path) -> None:
    scenario = load_scenarios([ROOT / "scenarios" / "kill-worker.yaml"])[0]
    found, errors = _baselines(RECORDED, [scenario])
    assert found == {} and "is a run of 'zombie-worker', not 'kill-worker'" in errors[0]


def test_run_with_a_missing_baseline_exits_2_before_starting(tmp_path: Path) -> None:
    code = main(["run", str(ROOT / "scenarios" / "kill-worker.yaml"), "--backend", "local",
                 "--baseline", str(tmp_path / "nothing"), "--out", str(tmp_path)])
    assert code == 2 and not any(tmp_path.iterdir())


def test_compare_writes_a_page_and_refuses_a_non_run(tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    assert main(["compare", str(RECORDED), str(RECORDED), "--out", str(out)]) == 0
    assert "plotly" in out.read_text().lower()
    assert main(["compare", str(tmp_path), str(RECORDED)]) == 2
