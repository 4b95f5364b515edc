"""Restart policy of the compose stack as a user meets it: a crashed worker comes back by itself
under the same name; a `docker kill`ed one does not (Docker disables every restart policy for a
killed container until its next start) and `docker compose up -d` brings it back."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.e2e.stack import Stack, wait_for

pytestmark = pytest.mark.docker

# SIGKILL the app process from inside the container: a crash as Docker sees it (not `docker kill`).
CRASH = ("import os, signal\n"
         "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
         "    if int(pid) != os.getpid() and b'entrypoint.py' in open(f'/proc/{pid}/cmdline', 'rb').read():\n"
         "        os.kill(int(pid), signal.SIGKILL)\n")


def _state(stack: Stack, container: str) -> dict:
    return json.loads(stack.docker("inspect", "-f", "{{json .State}}", container))


def _restarts(stack: Stack, container: str) -> int:
    return int(stack.docker("inspect", "-f", "{{.RestartCount}}", container))


def test_crashed_worker_restarts_but_a_docker_killed_one_waits_for_compose_up(stack: Stack) -> None:
    crashed = stack.container("worker", 2)
    # the SIGKILL ends the container's main process, so the exec may be cut off with it and exit
    # non-zero without a word: what counts is the restart below
    subprocess.run(["docker", "exec", crashed, "python3", "-c", CRASH], capture_output=True, timeout=60)
    wait_for("the crashed worker to be restarted by Docker",
             lambda: _restarts(stack, crashed) >= 1 and _state(stack, crashed)["Running"], timeout=30)
    wait_for("worker-2 to register again", lambda: "worker-2" in stack.workers(), timeout=30)

    killed = stack.container("worker", 3)
    stack.docker("kill", killed)
    wait_for("the killed worker to exit", lambda: not _state(stack, killed)["Running"], timeout=15)
    deadline = time.monotonic() + 5  # a restart policy would act within about a second
    while time.monotonic() < deadline:
        assert not _state(stack, killed)["Running"], "docker kill is expected to disable the restart policy"
        time.sleep(0.5)
    stack.up()  # docker compose up -d --wait
    assert _state(stack, killed)["Running"]
    wait_for("worker-3 to register again", lambda: "worker-3" in stack.workers(), timeout=30)
