"""Measure the Swarm backend on this machine (docs/swarm.md): time to deploy, throughput with the
workers on 3 vs 1 nodes, Redis failover recovery, time for Swarm to reschedule a lost node's
workers, tasks recovered.

All nodes are containers on one host, so 1 vs 3 nodes compares placement and overlay-network
cost, not extra hardware. The order alternates, 3 nodes then 1 node, `--pairs` times (same run):
each pair gives a ratio, and the medians are over the pairs; before each row the workers are
scaled to 0 and back so every row starts from fresh worker processes.
Usage: python3 -m benchmarks.swarm_measure [--tasks 300] [--ms 20] [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
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
        size = min(100, n - start)
        for _ in range(10):  # a batch the loaded gateway answered 503 or timed out on: again
            out = client.submit_batch([{"type": "sleep", "data": {"ms": ms}}] * size, [None] * size)
            if all(o.id for o in out):
                break
            time.sleep(1.0)
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
    wait(lambda: not placement(b), 240, "the workers to stop")
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


def failover(b: SwarmBackend, client: GatewayClient) -> dict:
    """Kill the Redis primary (harness redis_failover): time until Sentinel names the replica,
    and until a task submitted after the kill is accepted and done; tasks submitted 2 s before
    the kill (so the replica has them) must all succeed."""
    before = [o.id for o in client.submit_batch([{"type": "sleep", "data": {"ms": 200}}] * 30, [None] * 30)]
    time.sleep(2.0)
    b.ready_for_faults(frozenset({"redis_failover"}))
    down: list[float] = []
    new = b.redis_failover(on_down=lambda: down.append(time.monotonic()))
    promoted = time.monotonic() - down[0]

    def one_task_done() -> bool:
        try:
            out = client.submit_batch([{"type": "sleep", "data": {"ms": 10}}], [None])
            if not out[0].id:
                return False
            return wait(lambda: (client.task(str(out[0].id)) or {}).get("status") == "succeeded",
                        30, "the probe task", interval=0.05) >= 0
        except Exception:  # noqa: BLE001 - Redis or the gateway still switching over
            return False
    wait(one_task_done, 120, "a task to complete after the failover", interval=0.2)
    recovered = time.monotonic() - down[0]
    wait(lambda: queue_empty(client), 120, "the queue to empty")
    tasks = read(client, before)
    return {"new_primary": new, "sentinel_promoted_s": round(promoted, 1),
            "first_task_done_after_kill_s": round(recovered, 1),
            "tasks_before_kill": len(before), "succeeded": sum(t.get("status") == "succeeded" for t in tasks)}


def ratios(rows: list[dict]) -> dict:
    """3-node / 1-node throughput per consecutive pair, and the medians (pure)."""
    three = [r["tasks_per_s"] for r in rows if r["placement"] == "3 nodes"]
    one = [r["tasks_per_s"] for r in rows if r["placement"] == "1 node"]
    pairs = [round(a / b, 2) for a, b in zip(three, one, strict=False) if b]
    return {"ratios_3_over_1": pairs, "median_ratio": statistics.median(pairs) if pairs else None,
            "median_3_nodes": statistics.median(three) if three else None,
            "median_1_node": statistics.median(one) if one else None}


def show(part: dict) -> None:
    """Print one finished part at once (a later failure keeps the figures already taken)."""
    print(yaml.safe_dump(part, sort_keys=False), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=300)
    p.add_argument("--ms", type=int, default=20)
    p.add_argument("--pairs", type=int, default=3, help="alternating 3-node / 1-node rows")
    args = p.parse_args()
    state = Path(tempfile.mkdtemp(prefix="swarm-measure-"))
    b = SwarmBackend(ledger=Ledger(state / "ledger.jsonl"))
    result: dict = {}
    try:
        t0 = time.monotonic()
        b.start(SystemSpec(workers=WORKERS, config={"LEASE_TTL_MS": "3000", "WORKER_CONCURRENCY": "2"}))
        result["deploy"] = {**b.timings, "total_s": round(time.monotonic() - t0, 1)}
        show({"deploy": result["deploy"]})
        client = GatewayClient(b.endpoints().gateway_url, timeout=30, token=b.endpoints().gateway_token)
        rows = []
        for label in ("3 nodes", "1 node") * args.pairs:
            place(b, spread=label == "3 nodes")
            for w in b.workers():
                b._wait_ready(w)
            rows.append({"placement": label, "workers_per_node": placement(b),
                         "tasks_per_s": throughput(b, client, n=args.tasks, ms=args.ms)})
            show({"row": rows[-1]})
        result["throughput"] = rows
        result["throughput_summary"] = ratios(rows)
        place(b, spread=True)
        for w in b.workers():
            b._wait_ready(w)
        show({"throughput_summary": result["throughput_summary"]})
        result["redis_failover"] = failover(b, client)
        show({"redis_failover": result["redis_failover"]})
        result["node_loss"] = node_loss(b, client)
    finally:
        result["teardown_problems"] = b.teardown()
        b.remove_workdir()
    print(yaml.safe_dump(result, sort_keys=False))


if __name__ == "__main__":
    main()
