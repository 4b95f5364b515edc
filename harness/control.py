"""The control channel of a hands-on session (`harness up`): a small HTTP server on 127.0.0.1
(random port, random token) that `harness fault|down|status` and the dashboard's buttons call,
and the session file in the state dir (`session.json`) that says where it is.

Endpoints (token in the `X-Harness-Token` header; JSON in and out):
    GET  /status   phase, run dir, URLs, workers, open faults
    POST /fault    {fault, target?, for?, ...params} -> 200 {records} | 400 {errors} | 409 {error}
    POST /down     end the session (heal, drain, read back, check, report) -> 202
    GET  /result   after the end: {exit_code, results, report}
The dashboard is served by the gateway (another origin): CORS answers that origin only.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import requests

from harness.backends.procs import pid_running

SESSION_FILE = "session.json"
HEADER = "X-Harness-Token"


class Controlled(Protocol):
    """What the server asks of the running session."""

    def status(self) -> dict[str, Any]: ...
    def fault(self, request: Any) -> tuple[int, dict[str, Any]]: ...
    def request_stop(self) -> None: ...
    def origins(self) -> list[str]: ...


class SessionError(RuntimeError):
    """No session, or a session that does not answer (exit code 2 for the CLI)."""


@dataclass
class ControlServer:
    """Serves one session; `attach` it once the Run exists, `finish` it with the verdict."""

    token: str
    server: _Server | None = None
    session: Controlled | None = None
    result: dict[str, Any] | None = None
    result_read: threading.Event | None = None
    down_requested: bool = False    # a `harness down` will ask for the result: wait for it

    @classmethod
    def start(cls) -> ControlServer:
        self = cls(token=secrets.token_urlsafe(18), result_read=threading.Event())
        self.server = _Server(self)
        threading.Thread(target=self.server.serve_forever, name="control", daemon=True).start()
        return self

    def attach(self, session: Controlled) -> None:
        """The Run to serve, once it exists (before: 409 `starting`)."""
        self.session = session

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def finish(self, result: dict[str, Any], *, linger: float) -> None:
        """Publish the verdict; wait up to `linger` s for a `harness down` to read it."""
        self.result = result
        assert self.result_read is not None
        self.result_read.wait(linger)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class _Server(ThreadingHTTPServer):
    """127.0.0.1, a free port, a thread per request (status answers during a slow scale)."""

    daemon_threads = True

    def __init__(self, control: ControlServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.control = control


class _Handler(BaseHTTPRequestHandler):
    """One request to the control server."""

    server: _Server

    @property
    def control(self) -> ControlServer:
        return self.server.control

    def log_message(self, *args: Any) -> None:  # quiet: the session prints what matters
        return

    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        session = self.control.session
        if origin and session is not None and origin in session.origins():
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Headers", f"Content-Type, {HEADER}")
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.send_header("Vary", "Origin")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._cors()
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(204)
        self._cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _allowed(self) -> bool:
        given = self.headers.get(HEADER, "")
        if hmac.compare_digest(given.encode(), self.control.token.encode()):
            return True
        self._send(401, {"error": f"missing or wrong {HEADER} header; the token is in the "
                                  f"state dir's {SESSION_FILE}"})
        return False

    def do_GET(self) -> None:  # noqa: N802
        if not self._allowed():
            return
        if self.path == "/result":
            if self.control.result is None:
                self._send(409, {"error": "the session has not ended yet"})
                return
            assert self.control.result_read is not None
            self.control.result_read.set()
            self._send(200, self.control.result)
        elif self.path == "/status":
            session = self.control.session
            self._send(200, session.status() if session is not None else {"phase": "starting"})
        else:
            self._send(404, {"error": "unknown path; GET /status or /result, POST /fault or /down"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._allowed():
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            self._send(400, {"errors": [f"the body is not JSON: {exc}"]})
            return
        session = self.control.session
        if self.path not in ("/fault", "/down"):
            self._send(404, {"error": "unknown path; POST /fault or /down"})
        elif session is None:
            self._send(409, {"error": "the session is still starting; try again in a moment"})
        elif self.path == "/down":
            self.control.down_requested = True
            session.request_stop()
            self._send(202, {"stopping": True})
        else:
            self._send(*session.fault(request))


# -- the session file ---------------------------------------------------------------------------
def session_path(states: Path) -> Path:
    return states / SESSION_FILE


def write_session(states: Path, doc: dict[str, Any]) -> Path:
    """Written owner-only (it holds the token), atomically."""
    states.mkdir(parents=True, exist_ok=True)
    path, tmp = session_path(states), session_path(states).with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
    tmp.replace(path)
    return path


def read_session(states: Path) -> dict[str, Any]:
    """The running session's file; SessionError names what to do when there is none (a file
    left by a killed `harness up` counts as none)."""
    path = session_path(states)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise SessionError(f"no session running (no {path}); start one with `harness up`") from None
    except ValueError as exc:
        raise SessionError(f"{path} is not readable JSON ({exc}); remove it and `harness up` again") from None
    if not pid_running(int(doc.get("pid", 0)), self_counts=True):
        raise SessionError(f"no session running: {path} is left by process {doc.get('pid')}, which is "
                           "gone; `harness cleanup` removes what it left, then `harness up`")
    return doc


def stale_session(states: Path) -> dict[str, Any] | None:
    """A live session's file (a second `up` must not start), else None (a stale file is removed)."""
    try:
        return read_session(states)
    except SessionError:
        session_path(states).unlink(missing_ok=True)
        return None


def call(doc: dict[str, Any], method: str, path: str, body: Any = None, *,
         timeout: float = 130) -> tuple[int, dict[str, Any]]:
    """One request to the session's control server."""
    try:
        res = requests.request(method, doc["url"] + path, json=body, timeout=timeout,
                               headers={HEADER: doc["token"]})
    except requests.RequestException as exc:
        raise SessionError(f"the session at {doc['url']} (pid {doc.get('pid')}) does not answer: {exc}") from None
    try:
        return res.status_code, res.json()
    except ValueError:
        return res.status_code, {"error": res.text[:300]}


def wait_result(doc: dict[str, Any], *, alive: Callable[[], bool], timeout: float) -> dict[str, Any] | None:
    """Poll /result until the session has ended (None if it vanished or the deadline passed)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            status, body = call(doc, "GET", "/result", timeout=5)
        except SessionError:
            return None
        if status == 200:
            return body
        time.sleep(0.5)
    return None
