"""`harness up --backend docker`, then faults by hand from another terminal, then Ctrl-C, as a
user runs them: each fault really happens to the containers (a killed worker's container is
gone, a partition stays open until `heal`, `scale` adds a worker configured like compose's own,
init process included), and Ctrl-C ends the session like `harness down` (heal, drain, check,
report) and leaves no container, network or volume of its compose project behind."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from harness.backends.compose import leftovers
from harness.ledger import ledgers
from tests.integration.test_harness_session import cli, wait_session
from tests.support.harness_process import harness_process

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def _status(state: Path) -> dict[str, Any]:
    done = cli(state, "status")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _fault(state: Path, *args: str) -> str:
    done = cli(state, "fault", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_up_fault_and_ctrl_c_on_docker(docker_ready: None, tmp_path: Path) -> None:
    state = tmp_path / "state"
    client = docker.from_env(timeout=60)  # type: ignore[attr-defined]
    with harness_process(["up", "--backend", "docker", "--workers", "2", "--out", str(tmp_path / "out")],
                         state=state) as proc:
        doc = wait_session(state, proc, timeout=400)  # builds the app image when needed
        (ledger,) = ledgers(state)
        project = next(json.loads(line)["project"] for line in ledger.read_text().splitlines()
                       if json.loads(line)["op"] == "compose_up")
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {doc['gateway_token']}"
        for _ in range(4):
            assert http.post(doc["gateway_url"] + "/tasks", json={"type": "sleep", "data": {"ms": 100}},
                             timeout=10).status_code == 202

        assert "m1 start kill worker-2: effective" in _fault(state, "kill", "worker-2")
        assert client.containers.get(f"{project}-worker-2").status == "exited"
        _fault(state, "partition", "worker-1", "--for", "60s")
        assert _status(state)["open_faults"] == ["partition worker-1"]
        assert "added worker-3" in _fault(state, "scale", "2")
        compose_made = client.containers.get(f"{project}-worker-1").attrs["HostConfig"]
        cloned = client.containers.get(f"{project}-worker-3").attrs["HostConfig"]
        assert compose_made.get("Init") is True
        assert cloned.get("Init") is True, "the added worker has docker-init as PID 1, as compose's have"
        assert cloned["RestartPolicy"] == compose_made["RestartPolicy"]
        assert "m2 end partition worker-1" in _fault(state, "heal")
        status = _status(state)
        assert status["open_faults"] == [] and status["workers"] == ["worker-1", "worker-3"]

        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    client.close()
    assert proc.returncode == 0, out.decode()[-3000:]
    assert leftovers(project) == [], "Ctrl-C leaves no container, network or volume of the session"
    assert not (state / "session.json").exists() and ledgers(state) == []
    run_dir = next((tmp_path / "out" / "session").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    assert all(c["passed"] for c in results["checks"]), results["checks"]
    assert (run_dir / "report.html").exists()
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    started = [(r["id"], r["fault"]) for r in history if r["kind"] == "fault" and r["phase"] == "start"]
    assert started == [("m1", "kill"), ("m2", "partition"), ("m3", "scale")]
