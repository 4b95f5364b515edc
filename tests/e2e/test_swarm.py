"""The Swarm backend for real: three Docker-in-Docker nodes form a swarm, the generated stack is
deployed, tasks run, a whole node is stopped, and every task still succeeds; teardown leaves no
container, volume or network of the cluster behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.backends.base import SystemSpec
from harness.backends.swarm import SwarmBackend
from harness.client import GatewayClient
from harness.ledger import Ledger
from harness.swarm.nodes import leftovers, run
from tests.support.servers import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]
FAST = {"LEASE_TTL_MS": "3000", "HEARTBEAT_INTERVAL_MS": "500", "WORKER_TTL_MS": "3000",
        "WORKER_CONCURRENCY": "2"}


def test_node_loss_on_a_three_node_swarm(docker_ready: None, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    backend = SwarmBackend(ledger=ledger)
    name = backend.cluster.name
    try:
        backend.start(SystemSpec(workers=3, config=FAST))
        nodes = run(backend.cluster.manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}}"))
        assert sorted(nodes.stdout.strip().splitlines()) == ["node-1 Ready", "node-2 Ready", "node-3 Ready"]
        on_node3 = backend.workers_on("node-3")
        assert on_node3, "the spread preference should put a worker on every node"
        ends = backend.endpoints()
        assert ends.gateway_token, "the swarm backend passes the gateway token on"
        client = GatewayClient(ends.gateway_url, timeout=10, token=ends.gateway_token)
        out = client.submit_batch([{"type": "sleep", "data": {"ms": 1500}}] * 12, [None] * 12)
        ids = [o.id for o in out if o.id]
        assert len(ids) == 12
        def statuses() -> list[str]:
            return [(client.task(i) or {}).get("status", "missing") for i in ids]
        wait_until(lambda: "running" in statuses(),
                   timeout=30, interval=0.5, message="a task to be running")
        assert backend.node_kill("node-3") == on_node3
        t_kill = time.monotonic()

        def elsewhere() -> bool:
            return len(backend.workers()) == 3 and not backend.workers_on("node-3")
        wait_until(elsewhere, timeout=240, interval=1, message="the lost workers to run elsewhere")
        print(f"lost workers {on_node3} running elsewhere after {time.monotonic() - t_kill:.1f}s")

        def all_done() -> bool:
            return statuses() == ["succeeded"] * len(ids)
        wait_until(all_done, timeout=120, interval=1, message="every task to succeed")
        client.close()
    finally:
        problems = backend.teardown()
        backend.remove_workdir()
        ledger.close()
    assert problems == []
    assert leftovers(name) == []
