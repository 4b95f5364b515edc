"""The harness on the Docker backend: a short scenario passes, and SIGINT mid-run leaves no
container, network, volume or toxic behind."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from harness.backends.compose import leftovers
from harness.ledger import ledgers, read_records
from harness.loader import parse_scenario
from harness.runner import RunOptions, run_scenario
from tests.support.harness_process import harness_run, wait_for_faults

pytestmark = pytest.mark.timeout(600)
FAST = {"LEASE_TTL_MS": "3000", "HEARTBEAT_INTERVAL_MS": "500", "LEADER_TTL_MS": "2000",
        "WORKER_TTL_MS": "3000", "SHUTDOWN_GRACE_S": "3"}


def projects(ledger: Path) -> list[str]:
    return [r["project"] for r in read_records(ledger) if r["op"] == "compose_up"]


def test_short_scenario_on_docker(docker_ready: None, tmp_path: Path) -> None:
    sc = parse_scenario({
        "name": "docker-smoke", "seed": 2, "system": {"workers": 2, "config": FAST},
        # 300 ms tasks: ~6 running, so each fault target holds work when hit (faults_effective)
        "load": {"rate": 20, "duration": "8s", "tasks": [{"type": "sleep", "ms": 300}]},
        "timeline": [{"at": "1s", "fault": "kill", "target": "worker-1", "for": "2s"},
                     {"at": "2s", "fault": "partition", "target": "worker-2", "for": "2s"},
                     {"at": "5s", "fault": "scale", "workers": 3}],
        "checks": ["no_lost_tasks", {"max_duplicates": 0.1}], "drain": {"timeout": "60s"},
    }, source="<docker-smoke>")
    result = run_scenario(sc, RunOptions(backend="docker", out=tmp_path / "out",
                                         state_dir=tmp_path / "state"))
    assert result.error is None, result.error
    assert result.exit_code == 0, [c.to_dict() for c in result.checks]
    ledger = result.run_dir / "ledger.jsonl"
    (project,) = projects(ledger)
    assert leftovers(project) == []
    assert (result.run_dir / "logs" / "worker-1.log").exists()


def test_sigint_on_docker_leaves_nothing(docker_ready: None, tmp_path: Path) -> None:
    file = tmp_path / "probe.yaml"
    file.write_text("""
name: docker-probe
system: {workers: 2}
load: {rate: 10, duration: 120s, tasks: [{type: sleep, ms: 50}]}
timeline:
  - {at: 1s, fault: partition, target: worker-1, for: 100s}
  - {at: 1s, fault: pause, target: worker-2, for: 100s}
checks: [no_lost_tasks]
""")
    state = tmp_path / "state"
    with harness_run(file, backend="docker", out=tmp_path / "out", state=state) as proc:
        ledger = wait_for_faults(state, proc, timeout=400)
        (project,) = projects(ledger)
        assert leftovers(project) != []
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, out.decode()[-3000:]
    assert leftovers(project) == []
    assert ledgers(state) == []
