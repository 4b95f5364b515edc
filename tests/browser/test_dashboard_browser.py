"""The live dashboard in real headless Chromium against a real gateway, Redis and workers: it loads
without console errors, shows the workers, updates after submits without a reload, drops a
killed worker within its TTL, re-drives a dead task and draws one task's event history.

A screenshot is kept in REPORT_SCREENSHOT_DIR when that is set (docs/dashboard-screenshot.png).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from cdp import Browser

from tests.support.servers import Process, free_port, wait_for_gateway, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
LIVE = "document.body.dataset.frames >= 2"


@pytest.fixture
def system(spawn: Callable[..., Process]) -> tuple[str, dict[str, Process]]:
    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_host="127.0.0.1", gateway_workers=1)
    workers = {f"worker-{i}": spawn("system.worker", name=f"worker-{i}", worker_id=f"worker-{i}") for i in (1, 2)}
    url = wait_for_gateway(f"http://127.0.0.1:{port}")
    wait_until(lambda: requests.get(url + "/workers", timeout=2).json()["count"] == 2, timeout=20,
               message="both workers registered")
    return url, workers


def _shown_workers(b: Browser) -> list[str]:
    return b.evaluate("[...document.querySelectorAll('#workers tbody tr')].map(r => r.dataset.worker)")


def _poll(b: Browser, expression: str, *, timeout: float = 20.0, message: str) -> object:
    return wait_until(lambda: b.evaluate(expression), timeout=timeout, interval=0.1, message=message)


def test_dashboard_is_live(chromium: str, system: tuple[str, dict[str, Process]], tmp_path: Path) -> None:
    url, workers = system
    with Browser(chromium, width=1300, height=1000) as b:
        b.open(url + "/dashboard", ready=LIVE)
        assert sorted(_shown_workers(b)) == ["worker-1", "worker-2"]
        assert b.evaluate("document.body.dataset.state") == "live"

        # updates after a submit, without a reload: the processed counts move
        processed = "[...document.querySelectorAll('#workers tbody tr')].reduce((s, r) => s + Number(r.cells[5]" \
                    ".textContent.replace(/,/g, '')), 0)"
        before = b.evaluate(processed)
        http = requests.Session()
        http.post(url + "/tasks/batch", json={"tasks": [{"type": "echo", "data": i} for i in range(30)]}, timeout=5)
        _poll(b, f"({processed}) >= {before + 30}", message="the dashboard to count 30 more processed tasks")

        # a dead task shows in the DLQ table, and its button re-drives it
        dead = http.post(url + "/tasks", json={"type": "fail", "data": {"always": True}, "max_retries": 0},
                         timeout=5).json()["id"]
        _poll(b, f"!!document.querySelector('[data-redrive=\"{dead}\"]')", message="the dead task in the DLQ table")
        b.evaluate(f"document.querySelector('[data-redrive=\"{dead}\"]').click()")
        wait_until(lambda: any(e["event"] == "redriven" for e in http.get(f"{url}/tasks/{dead}", timeout=5)
                               .json()["events"]), timeout=10, message="the re-drive to reach the task")

        # one task's history as a timeline
        b.evaluate(f"document.getElementById('task-id').value = '{dead}';"
                   "document.getElementById('search').requestSubmit()")
        _poll(b, "document.querySelectorAll('#task-events tbody tr').length >= 4",
              message="the task's events in the table")
        marks = b.evaluate("document.querySelectorAll('#task-timeline circle').length")
        events = [e["event"] for e in http.get(f"{url}/tasks/{dead}", timeout=5).json()["events"]]
        assert marks == b.evaluate("document.querySelectorAll('#task-events tbody tr').length") >= 4, events

        # a killed worker disappears within its TTL (WORKER_TTL_MS 1500 in the tests' settings)
        workers["worker-2"].signal(signal.SIGKILL)
        _poll(b, "[...document.querySelectorAll('#workers tbody tr')].map(r => r.dataset.worker).join() == 'worker-1'",
              timeout=15, message="worker-2 to leave the dashboard")
        assert b.evaluate("document.querySelectorAll('#chart-rate polyline').length") == 1
        errors = b.errors()
        png = b.screenshot(tmp_path / "dashboard.png")
    assert errors == [], errors
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("REPORT_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / "dashboard-screenshot.png")


def test_streams_are_bounded_per_process(system: tuple[str, dict[str, Process]]) -> None:
    """A fifth dashboard stream of one gateway process gets a JSON 503, so open dashboards cannot
    take the threads the API needs; closing one frees its slot."""
    url, _ = system
    opened = [requests.get(url + "/dashboard/stream", stream=True, timeout=5) for _ in range(4)]
    try:
        assert all(r.status_code == 200 for r in opened)
        fifth = requests.get(url + "/dashboard/stream", stream=True, timeout=5)
        assert fifth.status_code == 503 and fifth.json()["error"]["code"] == "busy"
        first = opened.pop()
        first.close()

        def reopened() -> bool:
            r = requests.get(url + "/dashboard/stream", stream=True, timeout=5)
            r.close()
            return r.status_code == 200
        wait_until(reopened, timeout=10, message="a closed stream to give its slot back")
    finally:
        for r in opened:
            r.close()


def test_stream_frames_are_json_with_the_queue_state(system: tuple[str, dict[str, Process]]) -> None:
    url, _ = system
    with requests.get(url + "/dashboard/stream", stream=True, timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events: list[tuple[str, object]] = []
        event = ""
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line[5:])))
            if sum(1 for e, _ in events if e == "frame") >= 2:
                break
    frames = [d for e, d in events if e == "frame"]
    assert events[0][0] == "history"
    assert all(f["ok"] and set(f["queues"]) >= {"high", "normal", "low", "leased", "delayed", "dead"} for f in frames)
    assert frames[1]["point"] is not None and "completed_per_s" in frames[1]["point"]


def test_with_a_token_the_page_asks_for_it_and_then_goes_live(chromium: str, spawn: Callable[..., Process]) -> None:
    """Behind access control the page loads (it holds no data), its stream is refused until the
    token is given, and a read-only token is enough to watch."""
    token, read_token = "write-token-0123456789abcdef", "read-token-0123456789abcdef"
    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_workers=1, gateway_api_token=token,
          gateway_read_token=read_token)
    spawn("system.worker", name="worker-1", worker_id="worker-1")
    url = wait_for_gateway(f"http://127.0.0.1:{port}", token=token)
    assert requests.get(url + "/dashboard/stream", timeout=5).status_code == 401
    with Browser(chromium) as b:
        b.open(url + "/dashboard", ready="!document.getElementById('auth').hidden")
        assert b.evaluate("document.body.dataset.frames") is None
        b.evaluate(f"document.getElementById('token').value = '{read_token}';"
                   "document.getElementById('auth').requestSubmit()")
        _poll(b, LIVE, message="the dashboard to go live with the read-only token")
        _poll(b, "document.querySelectorAll('#workers tbody tr').length == 1", message="worker-1 in the table")
        errors = [e for e in b.errors() if "401" not in e]  # the first, refused stream is logged by Chromium
    assert errors == [], errors
