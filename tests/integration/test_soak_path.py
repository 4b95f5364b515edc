"""The soak path, short: a run longer than RESULT_TTL_S reads its tasks back while it goes on
(the collector), before Redis expires them, and still judges every accepted task; the report of
it is built from the compact stores. Real redis-server, gateway, workers (local backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.loader import parse_scenario
from harness.recorded import load_tasks
from harness.runner import RunOptions, run_scenario

pytestmark = pytest.mark.timeout(240)


def test_a_run_longer_than_the_record_ttl_loses_no_task(tmp_path: Path) -> None:
    sc = parse_scenario({
        "name": "soak-short", "seed": 3,
        "system": {"workers": 3, "config": {"RESULT_TTL_S": 15, "PROCESS_WORK_MS": 50,
                                            "LEASE_TTL_MS": 2000, "HEARTBEAT_INTERVAL_MS": 500}},
        "load": {"rate": 100, "duration": "20s", "batch": 10, "tasks": [{"type": "process", "data": "Hello"}]},
        "timeline": [{"at": "5s", "fault": "kill", "target": "worker-2", "for": "3s", "idle_ok": True}],
        "checks": ["no_lost_tasks", "conservation", {"max_duplicates": 0.05}],
        "drain": {"timeout": "30s"},
    }, source="<soak-short>")
    result = run_scenario(sc, RunOptions(backend="local", out=tmp_path / "out", state_dir=tmp_path / "state"))
    assert result.error is None, result.error
    assert result.exit_code == 0, [c.to_dict() for c in result.checks if c.passed is not True]
    run_dir = result.run_dir
    costs = json.loads((run_dir / "meta.json").read_text())["costs"]
    assert costs["readback"]["collected_early"] > 1000, costs   # read while the run went on
    results = json.loads((run_dir / "results.json").read_text())
    accepted = results["summary"]["accepted"]
    assert accepted > 1900 and len(load_tasks(run_dir / "tasks.jsonl")) == accepted
    # most tasks are plain, kept as a few numbers each; the killed worker's are kept whole
    assert costs["tasks_kept_whole"] < accepted / 10
    page = (run_dir / "report.html").read_text()
    assert 'id="gantt"' in page and "sampled evenly" in page
