"""Measure the Swarm backend on this machine (docs/swarm.md): time to deploy, time for Swarm to
reschedule a lost node's workers, tasks recovered, throughput with the workers on 1 vs 3 nodes.

All nodes are containers on one host, so 1 vs 3 nodes compares placement and overlay-network
cost, not extra hardware. The order is 3 nodes, 1 node, 3 nodes, 1 node (same run) to show drift; before each, the
workers are scaled to 0 and back so every row starts from fresh worker processes.
Usage: python3 -m benchmarks.swarm_measure [--tasks 300] [--ms 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from harness.backends.base import SystemSpec
from harness.backends.swarm import STACK, SwarmBackend
from harness.client import GatewayClient
from harness.ledger import Ledger
from harness.swarm.nodes import run

WORKERS = 6


def wait(cond, timeout: float, what: str, interval: float = 0.2) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{what} not within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - t0


def read(client: GatewayClient, ids: list[str]) -> list[dict]:
    """The task records of `ids` (read_back returns every task of the run)."""
    want = set(ids)
    return [t for t in client.read_back(ids) if t and t.get("id") in want]


def queue_empty(client: GatewayClient) -> bool:
    status, body = client.health()
    return status == 200 and not any((body.get("queues") or {}).values())


def throughput(b: SwarmBackend, client: GatewayClient, *, n: int, ms: int) -> float:
    """Tasks/s from the first submit until the queue (incl. leased, delayed) is empty."""
    t0 = time.monotonic()
    ids: list[str] = []
    for start in range(0, n, 100):
        out = client.submit_batch([{"type": "sleep", "data": {"ms": ms}}] * min(100, n - start),
                                  [None] * min(100, n - start))
        ids += [o.id for o in out if o.id]
    wait(lambda: queue_empty(client), 300, "the queue to empty", interval=0.1)
    took = time.monotonic() - t0
    done = sum(1 for t in read(client, ids) if t.get("status") == "succeeded")
    assert done == n == len(ids), f"{done}/{len(ids)} of {n} tasks succeeded"
    return round(n / took, 1)


def placement(b: SwarmBackend) -> dict[str, int]:
    out: dict[str, int] = {}
    for _name, node, _task, state in b.tasks():
        if state.startswith(("Running", "Starting")):
            out[node] = out.get(node, 0) + 1
    return dict(sorted(out.items()))


def all_on(b: SwarmBackend, nodes: set[str]) -> bool:
    p = placement(b)
    return sum(p.values()) == WORKERS and set(p) <= nodes


def place(b: SwarmBackend, *, spread: bool) -> None:
    """Workers 2/2/2 over the nodes (scale to 0 and back: Swarm spreads them evenly), or all six
    on node-1 (node-2 and node-3 drained)."""
    m = b.cluster.manager
    run(m.docker("service", "scale", "-d", f"{STACK}_worker=0"))
    wait(lambda: not placement(b), 120, "the workers to stop")
    for n in ("node-2", "node-3"):
        run(m.docker("node", "update", "--availability", "active" if spread else "drain", n))
    run(m.docker("service", "scale", "-d", f"{STACK}_worker={WORKERS}"))
    shape = {"node-1": 2, "node-2": 2, "node-3": 2} if spread else {"node-1": WORKERS}
    wait(lambda: placement(b) == shape, 180, f"workers placed {shape}")


def node_loss(b: SwarmBackend, client: GatewayClient) -> dict:
    """Kill node-3 while tasks run; time until its worker slots run elsewhere; tasks recovered."""
    ids = [o.id for o in client.submit_batch([{"type": "sleep", "data": {"ms": 2000}}] * 24, [None] * 24)]
    time.sleep(1.0)
    lost = b.node_kill("node-3")
    t_kill = time.monotonic()
    rescheduled = wait(lambda: all_on(b, {"node-1", "node-2"}), 180, "the lost workers to run elsewhere")
    down = run(b.cluster.manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}}")).stdout
    wait(lambda: queue_empty(client), 120, "the queue to empty")
    tasks = read(client, ids)
    expired = [t for t in tasks if any(e.get("event") == "lease_expired" for e in t.get("events") or [])]
    return {"workers_lost": lost, "reschedule_s": round(rescheduled, 1),
            "all_done_after_kill_s": round(time.monotonic() - t_kill, 1),
            "tasks": len(ids), "succeeded": sum(t.get("status") == "succeeded" for t in tasks),
            "recovered_after_lease_expiry": sum(t.get("status") == "succeeded" for t in expired),
            "nodes_after": down.split("\n")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=300)
    p.add_argument("--ms", type=int, default=20)
    args = p.parse_args()
    state = Path(tempfile.mkdtemp(prefix="swarm-measure-"))
    b = SwarmBackend(ledger=Ledger(state / "ledger.jsonl"))
    result: dict = {}
    try:
        t0 = time.monotonic()
        b.start(SystemSpec(workers=WORKERS, config={"LEASE_TTL_MS": "3000", "WORKER_CONCURRENCY": "2"}))
        result["deploy"] = {**b.timings, "total_s": round(time.monotonic() - t0, 1)}
        client = GatewayClient(b.endpoints().gateway_url, timeout=30)
        rows = []
        for label in ("3 nodes", "1 node", "3 nodes", "1 node"):
            place(b, spread=label == "3 nodes")
            for w in b.workers():
                b._wait_ready(w)
            rows.append({"placement": label, "workers_per_node": placement(b),
                         "tasks_per_s": throughput(b, client, n=args.tasks, ms=args.ms)})
        result["throughput"] = rows
        place(b, spread=True)
        for w in b.workers():
            b._wait_ready(w)
        result["node_loss"] = node_loss(b, client)
    finally:
        result["teardown_problems"] = b.teardown()
        b.remove_workdir()
    print(yaml.safe_dump(result, sort_keys=False))


if __name__ == "__main__":
    main()
