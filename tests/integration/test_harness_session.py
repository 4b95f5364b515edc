"""`harness up | fault | down` on the local backend, as a user runs them from two terminals:
a fault by hand is recorded in the session's history with its times and really happens, `down`
writes the usual results, Ctrl-C ends the session cleanly, and without a session `fault` says so."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.ledger import ledgers, read_records
from tests.integration.test_harness_local import assert_nothing_left, pid_alive
from tests.support.harness_process import ROOT, harness_env, harness_process
from tests.support.servers import wait_until

pytestmark = pytest.mark.timeout(240)


def cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=harness_env(state),
                          capture_output=True, text=True, timeout=180)


def wait_session(state: Path, proc: subprocess.Popen[bytes], *, timeout: float = 90) -> dict[str, Any]:
    """The session file once the system is up (it names the dashboard then)."""
    def ready() -> dict[str, Any] | None:
        assert proc.poll() is None, proc.communicate()[0].decode()[-3000:]
        try:
            doc = json.loads((state / "session.json").read_text())
        except (OSError, ValueError):
            return None
        return doc if "dashboard_url" in doc else None
    return wait_until(ready, timeout=timeout, interval=0.2, message="the session to be up")


def up(tmp_path: Path, *extra: str) -> Any:
    return harness_process(["up", "--backend", "local", "--workers", "2", "--out", str(tmp_path / "out"),
                            *extra], state=tmp_path / "state")


def worker_pids(state: Path, name: str) -> list[int]:
    return [r["pid"] for path in ledgers(state) for r in read_records(path)
            if r["op"] == "spawn" and r.get("name") == name]


def test_fault_without_a_session_is_a_clear_error(tmp_path: Path) -> None:
    for args in (("fault", "kill", "worker-2"), ("down",), ("status",)):
        done = cli(tmp_path / "state", *args)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "no session running" in done.stdout and "harness up" in done.stdout


def test_fault_by_hand_is_recorded_and_down_reports(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with up(tmp_path) as proc:
        doc = wait_session(state, proc)
        gateway = doc["gateway_url"]
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {doc['gateway_token']}"  # the backend's API token
        ids = [http.post(gateway + "/tasks", json={"type": "sleep", "data": {"ms": 50}}, timeout=5).json()["id"]
               for _ in range(5)]
        killed = worker_pids(state, "worker-2")
        assert killed and all(pid_alive(p) for p in killed)

        done = cli(state, "fault", "kill", "worker-2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "m1 start kill worker-2: effective" in done.stdout
        assert not any(pid_alive(p) for p in killed), "the worker process is gone"
        wait_until(lambda: "worker-2" not in [w["id"] for w in http.get(gateway + "/workers", timeout=5)
                                              .json()["workers"]],
                   timeout=30, message="worker-2 to leave workers:active")

        bad = cli(state, "fault", "kill", "worker-2")      # not running any more
        assert bad.returncode == 2 and "worker-2 is not running; running workers: worker-1" in bad.stdout
        bad = cli(state, "fault", "redis_failover")          # this session has no Sentinel
        assert bad.returncode == 2 and "harness up --sentinel" in bad.stdout, bad.stdout
        bad = cli(state, "fault", "partition", "worker-1", "--for", "10")
        assert bad.returncode == 2 and "for: '10' has no unit" in bad.stdout, bad.stdout

        second = cli(state, "up", "--backend", "local", "--out", str(tmp_path / "out2"))
        assert second.returncode == 2 and "a session is already running" in second.stdout, second.stdout
        status = json.loads(cli(state, "status").stdout)
        assert status["phase"] == "load" and "worker-2" not in status["workers"]

        down = cli(state, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "pass    faults_applied" in down.stdout
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()[-3000:]
    assert not (state / "session.json").exists()
    assert not (tmp_path / "out2").exists()
    run_dir = next((tmp_path / "out" / "session").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    checks = {c["name"]: c["passed"] for c in results["checks"]}
    assert {"no_lost_tasks", "conservation", "max_duplicates", "faults_applied"} <= set(checks)
    assert all(checks.values()), results["checks"]
    tasks = [json.loads(line) for line in (run_dir / "tasks.jsonl").read_text().splitlines()]
    assert set(ids) <= {t["id"] for t in tasks}, "tasks submitted by curl are read back and judged"
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    start = next(r for r in history if r["kind"] == "fault" and r["id"] == "m1")
    assert start["fault"] == "kill" and start["detail"]["targets"] == ["worker-2"]
    assert start["requested"] <= start["effective"] < start["requested"] + 5
    assert (run_dir / "report.html").exists()
    assert_nothing_left(run_dir / "ledger.jsonl")


def test_ctrl_c_ends_the_session_and_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with up(tmp_path) as proc:
        wait_session(state, proc)
        done = cli(state, "fault", "pause", "worker-1", "--for", "60s")  # still open at Ctrl-C: healed
        assert done.returncode == 0, done.stdout + done.stderr
        pids = worker_pids(state, "worker-1") + worker_pids(state, "gateway")
        assert pids and all(pid_alive(p) for p in pids)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out.decode()[-3000:]
    assert not (state / "session.json").exists()
    assert ledgers(state) == [], "the ledger is archived in the run dir"
    run_dir = next((tmp_path / "out" / "session").iterdir())
    assert_nothing_left(run_dir / "ledger.jsonl")
    assert [p for p in pids if pid_alive(p)] == []
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    phases = [r["phase"] for r in history if r["kind"] == "fault" and r["id"] == "m1"]
    assert phases == ["start", "end"], "the open pause was healed at the end"
    assert json.loads((run_dir / "results.json").read_text())["checks"]


SCENARIO = """
name: tiny
system: {workers: 3, config: {LEASE_TTL_MS: 2000, WORKER_CONCURRENCY: 2}}
load: {count: 6, duration: 1s, tasks: [{type: sleep, ms: 300}]}
timeline:
  - {at: 500ms, fault: kill, target: worker-3, idle_ok: true}
checks: [{all_done_within: 20s}]
"""


def test_a_scenario_runs_first_and_the_session_stays_up(tmp_path: Path) -> None:
    state, file = tmp_path / "state", tmp_path / "tiny.yaml"
    file.write_text(SCENARIO)
    with harness_process(["up", str(file), "--backend", "local", "--out", str(tmp_path / "out")],
                         state=state) as proc:
        wait_session(state, proc)
        wait_until(lambda: json.loads(cli(state, "status").stdout)["scenario_load"] == "done", timeout=60,
                   interval=0.5, message="the scenario's load and timeline to finish")
        done = cli(state, "fault", "kill", "worker-3")       # the timeline killed it: refused
        assert done.returncode == 2 and "worker-3 is not running" in done.stdout, done.stdout
        done = cli(state, "fault", "kill", "worker-2")
        assert done.returncode == 0, done.stdout + done.stderr
        down = cli(state, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        proc.communicate(timeout=60)
    run_dir = next((tmp_path / "out" / "session").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    names = [c["name"] for c in results["checks"]]
    assert names[:4] == ["all_done_within", "no_lost_tasks", "conservation", "max_duplicates"], names
    assert all(c["passed"] for c in results["checks"]), results["checks"]
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    kills = [(r["id"], r["target"]) for r in history if r["kind"] == "fault" and r["phase"] == "start"]
    assert kills == [("f1", "worker-3"), ("m1", "worker-2")]
    assert sum(1 for r in history if r["kind"] == "submit") == 6
