"""The mutation campaign's pure parts: the mutant table against the real source, planting in a
copy, verdicts read from results.json, the plan's order, the matrix and kill rate, the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends import local
from harness.backends.base import BackendError, SystemSpec
from harness.mutate.campaign import scenario_costs
from harness.mutate.matrix import (
    CAUGHT,
    ERROR,
    SURVIVED,
    Campaign,
    Cell,
    MutantResult,
    guarantee_coverage,
    kill_rate,
    order_suspects,
    plan,
    to_json,
    verdict_of,
)
from harness.mutate.mutant import Mutant, MutantError, copy_system, plant
from harness.mutate.page import render_campaign
from harness.mutate.table import GUARANTEES, MUTANTS, by_name

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_old_text_is_in_the_real_source_exactly_once(mutant: Mutant) -> None:
    source = (ROOT / mutant.file).read_text(encoding="utf-8")
    assert source.count(mutant.old) == 1, f"{mutant.name}: old text must occur once in {mutant.file}"
    assert mutant.substitute(source) != source


def test_the_table_covers_every_guarantee_with_unique_names() -> None:
    assert len(MUTANTS) >= 15
    assert len(by_name()) == len(MUTANTS), "mutant names must be unique"
    assert {m.guarantee for m in MUTANTS} == set(GUARANTEES)
    for m in MUTANTS:
        assert m.file.startswith("system/"), m.name
        for s in m.scenarios:
            assert (SCENARIOS / f"{s}.yaml").is_file(), f"{m.name}: no scenario {s}"


def test_a_missing_or_repeated_old_text_fails_loudly() -> None:
    m = Mutant("x", "g", "bug", "system/a.py", "needle", "pin", ())
    with pytest.raises(MutantError, match="not found"):
        m.substitute("haystack")
    with pytest.raises(MutantError, match="found 2 times"):
        m.substitute("needle needle")
    assert m.substitute("a needle here") == "a pin here"


def test_plant_changes_only_the_copy(tmp_path: Path) -> None:
    mutant = by_name()["reaper-never-requeues"]
    original = (ROOT / mutant.file).read_text(encoding="utf-8")
    root = copy_system(ROOT, tmp_path / "copy")
    changed = plant(mutant, root)
    assert changed == root / mutant.file
    assert mutant.new in changed.read_text(encoding="utf-8")
    assert (ROOT / mutant.file).read_text(encoding="utf-8") == original
    assert not list((root / "system").rglob("__pycache__"))


def test_plant_refuses_files_outside_system_or_missing(tmp_path: Path) -> None:
    root = copy_system(ROOT, tmp_path)
    with pytest.raises(MutantError, match="outside system/"):
        plant(Mutant("x", "g", "b", "harness/cli.py", "a", "b", ()), root)
    with pytest.raises(MutantError, match="does not exist"):
        plant(Mutant("x", "g", "b", "system/nope.py", "a", "b", ()), root)


def _results(*checks: tuple[str, bool | None]) -> dict:
    return {"passed": all(p is not False for _, p in checks),
            "checks": [{"name": n, "passed": p} for n, p in checks]}


def test_verdict_of_a_run() -> None:
    assert verdict_of(0, _results(("no_lost_tasks", True))) == (SURVIVED, (), "")
    assert verdict_of(1, _results(("no_lost_tasks", False), ("conservation", True))) == \
        (CAUGHT, ("no_lost_tasks",), "")
    assert verdict_of(3, None)[0] == CAUGHT
    assert verdict_of(130, None)[0] == ERROR
    assert verdict_of(1, None)[0] == ERROR                       # exit 1 but nothing to show why
    assert verdict_of(1, _results(("no_lost_tasks", True)))[0] == ERROR
    assert verdict_of(0, None)[0] == ERROR                       # no results.json: no verdict


def _m(name: str, guarantee: str = "g", scenarios: tuple[str, ...] = ()) -> Mutant:
    return Mutant(name, guarantee, "bug", "system/x.py", "a", "b", scenarios)


def test_plan_orders_suspects_cheapest_first_and_full_takes_every_scenario() -> None:
    costs = {"slow": 40.0, "fast": 5.0, "mid": 12.0}
    m = _m("m", scenarios=("slow", "mid", "fast", "unknown"))
    assert plan([m], costs, full=False) == [(m, ("fast", "mid", "slow", "unknown"))]
    assert plan([m], costs, full=True) == [(m, ("fast", "mid", "slow"))]
    assert order_suspects(["b", "a"], {"a": 1.0, "b": 1.0}) == ("b", "a")  # ties keep the table order


def test_kill_rate_matrix_and_json() -> None:
    caught = MutantResult(_m("a", "lost"), (Cell("a", "s1", SURVIVED), Cell("a", "s2", CAUGHT, ("no_lost_tasks",))))
    survived = MutantResult(_m("b", "lost"), (Cell("b", "s1", SURVIVED),))
    unplanted = MutantResult(_m("c", "cancel"), error="old text not found")
    results = (caught, survived, unplanted)
    assert [r.status for r in results] == [CAUGHT, SURVIVED, ERROR]
    assert kill_rate(results) == pytest.approx(1 / 3)
    assert kill_rate(()) == 0.0
    assert guarantee_coverage(results) == {"lost": (1, 2), "cancel": (0, 1)}
    campaign = Campaign(results, ("s1", "s2"))
    assert not campaign.passed and Campaign((caught,), ("s1",)).passed
    doc = to_json(campaign)
    assert (doc["caught"], doc["total"], doc["kill_rate"]) == (1, 3, 0.3333)
    assert doc["mutants"][0]["runs"][1] == {"scenario": "s2", "verdict": CAUGHT, "caught_by": ["no_lost_tasks"],
                                            "seconds": 0.0, "run_dir": "", "error": ""}


def test_scenario_costs_cover_every_shipped_scenario() -> None:
    costs = scenario_costs(SCENARIOS)
    assert set(costs) == {p.stem for p in SCENARIOS.glob("*.yaml")}
    assert all(c > 0 for c in costs.values())
    # the new short scenarios are the cheap suspects the campaign tries first
    assert costs["task-timeout"] < costs["partition-worker"]


def test_page_shows_the_matrix_and_the_kill_rate(tmp_path: Path) -> None:
    caught = MutantResult(_m("a", "lost"), (Cell("a", "s1", CAUGHT, ("no_lost_tasks",), 3.0,
                                                 str(tmp_path / "runs/a/s1/1")),))
    survived = MutantResult(_m("b<x>", "cancel"))
    page = render_campaign(Campaign((caught, survived), ("s1",), {"command": "harness mutate"}), tmp_path)
    assert "1/2 CAUGHT" in page and "50%" in page
    assert "runs/a/s1/1/report.html" in page and "b&lt;x&gt;" in page and "not run" in page


def test_local_backend_honours_the_system_root_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(local.SYSTEM_ROOT_ENV, raising=False)
    assert local.system_root() == local.PROJECT_ROOT
    root = copy_system(ROOT, tmp_path / "copy")
    monkeypatch.setenv(local.SYSTEM_ROOT_ENV, str(root))
    assert local.system_root() == root.resolve()
    backend = object.__new__(local.LocalBackend)
    backend.spec, backend.gateway_port, backend.skews = SystemSpec(), 5000, {}
    assert backend._env("worker-1", 1234)["PYTHONPATH"].split(":")[0] == str(root.resolve())
    monkeypatch.setenv(local.SYSTEM_ROOT_ENV, str(tmp_path / "empty"))
    with pytest.raises(BackendError, match="holds no system/ package"):
        local.system_root()


def test_mutants_doc_lists_every_mutant_with_what_caught_it() -> None:
    from harness.mutate.mdoc import render
    first, second = MUTANTS[0], MUTANTS[1]
    doc = {"caught": 1, "total": 2, "kill_rate": 0.5, "meta": {"seconds": 60},
           "mutants": [{"name": first.name, "status": "caught", "error": "",
                        "runs": [{"scenario": "kill-leader", "verdict": "caught", "caught_by": ["no_lost_tasks"]}]},
                       {"name": second.name, "status": "survived", "error": "",
                        "runs": [{"scenario": "priority-flood", "verdict": "survived", "caught_by": []}]}]}
    text = render(doc)
    assert "**1/2 (50 %)**" in text
    assert "`kill-leader` (no_lost_tasks)" in text and "**SURVIVES** (`priority-flood`)" in text
    assert all(f"`{m.name}`" in text for m in MUTANTS)
    assert "claim-lowest-first" in text  # the excluded (equivalent) mutants are listed too


def test_a_run_reads_only_the_results_it_created(tmp_path: Path) -> None:
    from harness.mutate.campaign import _new_results
    old = tmp_path / "kill-leader" / "20260101-000000"
    old.mkdir(parents=True)
    (old / "results.json").write_text('{"passed": true}')
    before = set(tmp_path.glob("*/*/"))
    assert _new_results(tmp_path, before) == (None, None)  # this run wrote nothing: no verdict
    new = tmp_path / "task-timeout" / "20260101-000100"
    new.mkdir(parents=True)
    assert _new_results(tmp_path, before) == (new, None)   # its directory, without results
    (new / "results.json").write_text('{"passed": false}')
    assert _new_results(tmp_path, before) == (new, {"passed": False})
