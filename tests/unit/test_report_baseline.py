"""Baseline regression checks (pure) and loading a baseline."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.report import baseline_checks, key_figures, load_baseline


def results(throughput: float | None = 50.0, p99: float | None = 800.0, recovery: float | None = 4.0) -> dict:
    summary = {k: v for k, v in (("throughput", throughput), ("p99_latency_ms", p99),
                                 ("recovery_time_s", recovery)) if v is not None}
    return {"scenario": "s", "passed": True, "checks": [], "summary": summary}


def by_name(checks: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in checks}


def test_same_figures_pass_with_the_check_shape() -> None:
    checks = baseline_checks(results(), results())
    assert [c["name"] for c in checks] == ["baseline_throughput", "baseline_p99_latency_ms", "baseline_recovery_time_s"]
    for c in checks:
        assert set(c) == {"name", "passed", "observed", "expected", "explanation"} and c["passed"] is True


def test_throughput_drop_beyond_threshold_fails() -> None:
    c = by_name(baseline_checks(results(throughput=39.0), results(throughput=50.0)))["baseline_throughput"]
    assert c["passed"] is False and c["expected"] == {"baseline": 50.0, "at_least": 40.0}
    assert "-22 %" in c["explanation"] and "regressed beyond the 20 % threshold" in c["explanation"]
    assert by_name(baseline_checks(results(throughput=41.0), results()))["baseline_throughput"]["passed"]


def test_latency_and_recovery_regress_upwards() -> None:
    c = by_name(baseline_checks(results(p99=1000.0, recovery=6.0), results(p99=800.0, recovery=4.0)))
    assert c["baseline_p99_latency_ms"]["passed"] is False  # +25 %
    assert c["baseline_recovery_time_s"]["passed"] is False  # +50 %, +2 s
    faster = by_name(baseline_checks(results(p99=100.0, recovery=0.5), results()))
    assert faster["baseline_p99_latency_ms"]["passed"] and faster["baseline_recovery_time_s"]["passed"]


def test_threshold_comes_from_the_caller() -> None:
    c = by_name(baseline_checks(results(p99=1000.0), results(p99=800.0), threshold=0.3))
    assert c["baseline_p99_latency_ms"]["passed"] is True
    with pytest.raises(ValueError, match="fraction such as 0.2"):
        baseline_checks(results(), results(), threshold=-1)


def test_small_absolute_changes_are_noise_not_regressions() -> None:
    c = by_name(baseline_checks(results(p99=60.0, recovery=0.4), results(p99=30.0, recovery=0.1)))
    assert c["baseline_p99_latency_ms"]["passed"] and c["baseline_recovery_time_s"]["passed"]


def test_missing_figure_is_skipped_and_says_so() -> None:
    c = by_name(baseline_checks(results(recovery=None), results()))["baseline_recovery_time_s"]
    assert c["passed"] is True and c["explanation"] == "skipped: this run has no recovery_time_s"


def test_key_figures_fall_back_to_check_observations() -> None:
    res = {"checks": [{"name": "throughput_min", "observed": 12.5}, {"name": "p99_latency_ms",
                                                                      "observed": {"p99_ms": 900}},
                      {"name": "recovery_time_max", "observed": {"seconds": 3.0}}]}
    figs = key_figures(res)
    assert (figs["throughput"], figs["p99_latency_ms"], figs["recovery_time_s"]) == (12.5, 900.0, 3.0)


def test_load_baseline_accepts_a_run_dir_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(results()))
    assert load_baseline(tmp_path)["summary"]["throughput"] == 50.0
    assert load_baseline(tmp_path / "results.json")["scenario"] == "s"
    with pytest.raises(ValueError, match="no results.json found; pass a run directory"):
        load_baseline(tmp_path / "nope")
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ValueError, match="not a results.json"):
        load_baseline(tmp_path / "bad.json")
