"""The shipped scenarios load, fit the CI time budget, and docs/scenarios.md covers the vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks.registry import CHECKS
from harness.loader import load_scenario
from harness.loadshape import plan_submits
from harness.scenario import FAULTS
from harness.schedule import build_schedule

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
DOC = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")


def test_the_nine_scenarios_are_shipped():
    assert {p.stem for p in SHIPPED} >= {
        "kill-worker",
        "scale-up",
        "priority-flood",
        "partition-worker",
        "redis-failover",
        "zombie-worker",
        "slow-network",
        "poison-tasks",
        "rolling-restart",
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_is_valid_and_short(path):
    s = load_scenario(path)
    assert s.name == path.stem and len(s.description) > 100 and s.seed is not None and s.checks
    schedule = build_schedule(s, seed=s.seed)
    assert schedule.horizon <= 30, "keep the load phase short for CI"
    assert plan_submits(s, schedule, seed=s.seed)
    assert f"`{path.name}`" in DOC


def test_doc_names_every_fault_and_check():
    for name in list(FAULTS) + list(CHECKS):
        assert f"`{name}`" in DOC, f"docs/scenarios.md does not describe {name}"


SOAKS = sorted((ROOT / "scenarios" / "soak").glob("*.yaml"))


def test_the_soaks_are_shipped_outside_the_ci_glob() -> None:
    """scripts/test.sh runs scenarios/*.yaml: the soaks (minutes to half an hour) live below it."""
    assert {p.stem for p in SOAKS} >= {"soak-1m", "soak-10m", "soak-30m"}
    assert not set(SOAKS) & set(SHIPPED)
    assert "scenarios/*.yaml" in (ROOT / "scripts" / "test.sh").read_text()


@pytest.mark.parametrize("path", SOAKS, ids=lambda p: p.stem)
def test_soak_is_valid_fast_and_faulted_throughout(path):
    s = load_scenario(path)
    assert s.name == path.stem and len(s.description) > 100 and s.seed is not None and s.checks
    assert s.load.rate is not None and s.load.rate >= 500
    schedule = build_schedule(s, seed=s.seed)
    starts = sorted(e.t for e in schedule.starts())
    gaps = [b - a for a, b in zip([0.0, *starts], starts, strict=False)]
    assert max(gaps) <= 60 and s.load.duration - starts[-1] <= 60, "a fault at least every minute"
    assert int(s.system.config["RESULT_TTL_S"]) < s.load.duration or s.load.duration <= 60
    assert f"`{path.name}`" in DOC
