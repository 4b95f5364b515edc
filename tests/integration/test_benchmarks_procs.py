"""A worker is killed as a whole process group, children included, and stop() leaves nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks.procs import Launcher, group_pids, wait_for

PARENT_WITH_CHILD = ("import subprocess, sys, time; "
                     "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")


def test_kill_takes_the_children_too(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path)
    try:
        group = launcher.start("w", [sys.executable, "-c", PARENT_WITH_CHILD])
        pids = wait_for(lambda: len(group_pids(group.pgid)) == 2 and group_pids(group.pgid), timeout=10)
        assert group.rss_bytes() > 0
        group.kill()
        wait_for(lambda: not group_pids(group.pgid), timeout=10, what="the group to die")
        for pid in pids:
            assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        launcher.stop_all()


def test_stop_all_ends_every_group(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path)
    groups = [launcher.start(f"w{i}", [sys.executable, "-c", PARENT_WITH_CHILD]) for i in range(2)]
    wait_for(lambda: all(len(group_pids(g.pgid)) == 2 for g in groups), timeout=10)
    launcher.stop_all()
    assert all(not g.alive() for g in groups)
    wait_for(lambda: not any(group_pids(g.pgid) for g in groups), timeout=10, what="children to exit")
