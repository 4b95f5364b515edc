"""Undo what killed harness runs left behind, from their ledgers (`harness cleanup`).

Every run also calls this first. Ledgers whose owning harness process is still alive belong to
a run in progress and are left alone; a `--keep-up` run's harness has exited, so the next run
(or `harness cleanup`) tears its system down.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from harness.backends.procs import kill_leftover, pid_running
from harness.ledger import Outstanding, ledgers, outstanding, read_records


def owner_pid(ledger_path: Path) -> int | None:
    """ledger-<run>-<pid>.jsonl -> pid."""
    tail = ledger_path.stem.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def undo(left: Outstanding, *, say: Callable[[str], None]) -> list[str]:
    """Kill recorded processes, bring compose projects down, remove temp dirs; returns problems."""
    problems: list[str] = []
    # Faults need no undo of their own: a local run's processes are killed below, and a docker
    # run's toxics, paused and stopped containers go with its compose project.
    for project, rec in left.compose.items():
        from harness.backends.compose import compose_down
        say(f"docker compose -p {project} down")
        problems += compose_down(project, rec)
    for cluster in left.swarm:
        from harness.swarm.nodes import remove_cluster
        say(f"removing swarm nodes {cluster}")
        problems += remove_cluster(cluster)
    for pid, rec in sorted(left.processes.items(), reverse=True):
        if kill_leftover(pid, rec.get("argv", [])):
            say(f"killed {rec.get('name')} (pid {pid})")
    for d in left.dirs:
        if Path(d).exists():
            shutil.rmtree(d, ignore_errors=True)
            say(f"removed {d}")
    return problems


def cleanup_leftovers(directory: Path, *, say: Callable[[str], None] = lambda _: None,
                      include_live: bool = False) -> list[str]:
    """Process every finished-but-not-torn-down ledger in `directory`; returns problems."""
    problems: list[str] = []
    for path in ledgers(directory):
        if not include_live and pid_running(owner_pid(path), self_counts=False):
            continue
        left = outstanding(read_records(path))
        found = undo(left, say=say)
        problems += found
        if not found:
            path.unlink(missing_ok=True)
    return problems
