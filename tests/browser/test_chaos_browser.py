"""The dashboard's chaos buttons, in real headless Chromium, against a real `harness up` session
(local backend): opened from the URL the session prints, the page shows the buttons, the kill
button kills the worker through the harness's control server (not the gateway), the worker
leaves the dashboard within its TTL, and the kill is in the session's history.

A screenshot is kept in REPORT_SCREENSHOT_DIR when that is set (docs/hands-on-screenshot.png)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cdp import Browser

from tests.integration.test_harness_local import pid_alive
from tests.integration.test_harness_session import cli, up, wait_session, worker_pids
from tests.support.servers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
LIVE = "document.body.dataset.frames >= 2"
ROWS = "[...document.querySelectorAll('#workers tbody tr')].map(r => r.dataset.worker).sort().join()"


def test_kill_button_kills_and_the_worker_leaves(chromium: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with up(tmp_path) as proc:
        doc = wait_session(state, proc)
        assert "#chaos=http://127.0.0.1:" in doc["dashboard_url"] and "&key=" in doc["dashboard_url"]
        victims = worker_pids(state, "worker-2")
        with Browser(chromium, width=1300, height=1000) as b:
            b.open(doc["dashboard_url"], ready=LIVE)
            wait_until(lambda: b.evaluate(ROWS) == "worker-1,worker-2", timeout=20, message="both workers shown")
            assert b.evaluate("document.body.dataset.chaos") == "on"
            assert "key=" not in b.evaluate("location.href"), "the token leaves the address bar"
            b.evaluate("document.querySelector('tr[data-worker=\"worker-2\"] button[data-fault=kill]').click()")
            wait_until(lambda: "done" in b.evaluate("document.getElementById('chaos-msg').textContent"),
                       timeout=30, message="the kill to be confirmed")
            assert not any(pid_alive(p) for p in victims), "the worker process is gone"
            wait_until(lambda: b.evaluate(ROWS) == "worker-1", timeout=20, message="worker-2 to leave the dashboard")
            errors = b.errors()  # before the bad request below (Chromium logs its 400)
            keep = os.environ.get("REPORT_SCREENSHOT_DIR")
            if keep:  # docs/hands-on-screenshot.png
                Path(keep).mkdir(parents=True, exist_ok=True)
                shot = b.screenshot(tmp_path / "chaos.png", full_page=False)
                shutil.copy(shot, Path(keep) / "hands-on-screenshot.png")
            # a bad request shows the loader's error, the page keeps working
            b.evaluate("document.getElementById('chaos-for').value = '10';"
                       "document.querySelector('tr[data-worker=\"worker-1\"] button[data-fault=partition]').click()")
            wait_until(lambda: "has no unit" in b.evaluate("document.getElementById('chaos-msg').textContent"),
                       timeout=20, message="the loader's error about '10'")
        down = cli(state, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        proc.communicate(timeout=60)
    assert errors == [], errors
    run_dir = next((tmp_path / "out" / "session").iterdir())
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    kill = next(r for r in history if r["kind"] == "fault" and r["fault"] == "kill")
    assert kill["detail"]["targets"] == ["worker-2"] and kill["effective"] >= kill["requested"]
