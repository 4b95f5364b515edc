"""The control channel of `harness up`: the token is required, CORS answers the gateway's origin
only, /down and /result work as `harness down` uses them, and the session file is owner-only
and never trusted once its process is gone."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.backends.procs import pid_running
from harness.control import HEADER, ControlServer, SessionError, read_session, stale_session, write_session
from tests.support.servers import wait_until

GATEWAY = "http://127.0.0.1:5999"


class Stub:
    """Stands in for the Run: the server is what is under test here."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.faults: list[Any] = []

    def status(self) -> dict[str, Any]:
        return {"phase": "load"}

    def fault(self, request: Any) -> tuple[int, dict[str, Any]]:
        self.faults.append(request)
        return 400, {"errors": ["harness fault: fault: 'x' is not valid"]}

    def request_stop(self) -> None:
        self.stopped.set()

    def origins(self) -> list[str]:
        return [GATEWAY]


@pytest.fixture
def control() -> Any:
    server = ControlServer.start()
    server.attach(Stub())
    yield server
    server.stop()


def test_every_request_needs_the_token(control: ControlServer) -> None:
    assert requests.get(control.url + "/status", timeout=5).status_code == 401
    assert requests.get(control.url + "/status", headers={HEADER: "wrong"}, timeout=5).status_code == 401
    ok = requests.get(control.url + "/status", headers={HEADER: control.token}, timeout=5)
    assert ok.status_code == 200 and ok.json() == {"phase": "load"}


def test_cors_answers_the_gateway_origin_only(control: ControlServer) -> None:
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": HEADER}
    mine = requests.options(control.url + "/fault", headers={"Origin": GATEWAY, **ask}, timeout=5)
    assert mine.headers["Access-Control-Allow-Origin"] == GATEWAY
    assert HEADER in mine.headers["Access-Control-Allow-Headers"]
    other = requests.options(control.url + "/fault", headers={"Origin": "http://evil.example", **ask}, timeout=5)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_fault_down_and_result(control: ControlServer) -> None:
    auth = {HEADER: control.token}
    bad = requests.post(control.url + "/fault", json={"fault": "x"}, headers=auth, timeout=5)
    assert bad.status_code == 400 and "not valid" in bad.json()["errors"][0]
    assert requests.get(control.url + "/result", headers=auth, timeout=5).status_code == 409
    assert requests.post(control.url + "/down", json={}, headers=auth, timeout=5).status_code == 202
    assert control.down_requested and control.session.stopped.is_set()  # type: ignore[union-attr]
    reader = threading.Thread(target=control.finish, args=({"exit_code": 0},), kwargs={"linger": 10})
    reader.start()
    assert requests.get(control.url + "/result", headers=auth, timeout=5).json() == {"exit_code": 0}
    reader.join(timeout=5)
    assert not reader.is_alive(), "finish stops lingering once the result was read"


def test_session_file_is_private_and_dies_with_its_process(tmp_path: Path) -> None:
    path = write_session(tmp_path, {"pid": os.getpid(), "url": "http://127.0.0.1:1", "token": "t"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_session(tmp_path)["token"] == "t"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_session(tmp_path, {"pid": int(gone.stdout), "url": "http://127.0.0.1:1", "token": "t"})
    with pytest.raises(SessionError, match="which is gone"):
        read_session(tmp_path)
    assert stale_session(tmp_path) is None and not path.exists()
    with pytest.raises(SessionError, match="no session running"):
        read_session(tmp_path)


def test_a_zombie_session_is_gone_and_only_the_caller_chooses_whether_it_counts(tmp_path: Path) -> None:
    """A `harness up` that died but is not yet reaped (a zombie child of the test or shell that
    started it) serves nothing: its file counts as stale. Cleanup asks the same question with
    the opposite answer for its own pid (its own ledger is not another run's)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_until(lambda: Path(f"/proc/{child.pid}/stat").read_text().split(") ", 1)[1][0] == "Z",
               timeout=10, message="the child to exit unreaped")
    try:
        assert not pid_running(child.pid, self_counts=True)
        write_session(tmp_path, {"pid": child.pid, "url": "http://127.0.0.1:1", "token": "t"})
        with pytest.raises(SessionError, match="which is gone"):
            read_session(tmp_path)
    finally:
        child.wait()
    assert pid_running(os.getpid(), self_counts=True)
    assert not pid_running(os.getpid(), self_counts=False)
    assert not pid_running(None, self_counts=True) and not pid_running(0, self_counts=True)
