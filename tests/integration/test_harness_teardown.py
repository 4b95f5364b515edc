"""Teardown always runs: SIGINT / SIGTERM mid-run leave no process, proxy or temp dir; after a
SIGKILL of the harness itself, `harness cleanup` removes what its ledger lists."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from harness.ledger import ledgers, read_records
from tests.integration.test_harness_local import assert_nothing_left, pid_alive
from tests.support.harness_process import harness_run, wait_for_faults

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """
name: teardown-probe
seed: 5
system: {workers: 2, config: {LEASE_TTL_MS: "2000", HEARTBEAT_INTERVAL_MS: "500", SHUTDOWN_GRACE_S: "2"}}
load: {rate: 20, duration: 60s, tasks: [{type: sleep, ms: 50}]}
timeline:
  - {at: 1s, fault: partition, target: worker-1, for: 50s}
  - {at: 1s, fault: pause, target: worker-2, for: 50s}
checks: [no_lost_tasks]
"""


def scenario_file(tmp_path: Path) -> Path:
    file = tmp_path / "probe.yaml"
    file.write_text(SCENARIO)
    return file


def harness(tmp_path: Path) -> AbstractContextManager[subprocess.Popen[bytes]]:
    return harness_run(scenario_file(tmp_path), backend="local", out=tmp_path / "out", state=tmp_path / "state")


def spawned(path: Path) -> list[int]:
    return [r["pid"] for r in read_records(path) if r["op"] == "spawn"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_tears_everything_down(tmp_path: Path, sig: int) -> None:
    with harness(tmp_path) as proc:
        ledger = wait_for_faults(tmp_path / "state", proc)
        pids = spawned(ledger)
        assert len(pids) >= 6 and all(pid_alive(p) for p in pids)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out.decode()
    run_dir = next((tmp_path / "out" / "teardown-probe").iterdir())
    archived = run_dir / "ledger.jsonl"
    assert archived.exists(), "a clean teardown archives the ledger in the run directory"
    assert_nothing_left(archived)
    assert ledgers(tmp_path / "state") == []


def test_cleanup_after_the_harness_was_killed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with harness(tmp_path) as proc:
        ledger = wait_for_faults(state, proc)
        proc.kill()
        proc.communicate(timeout=10)
    pids = spawned(ledger)
    assert any(pid_alive(p) for p in pids), "children outlive a SIGKILLed harness"
    env = {**os.environ, "HARNESS_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "harness", "cleanup"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "killed" in done.stdout
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if pid_alive(p)] == []
    assert ledgers(state) == []
    temp = [json.loads(line)["path"] for line in ledger.read_text().splitlines()
            if '"tempdir"' in line] if ledger.exists() else []
    assert all(not Path(t).exists() for t in temp)
