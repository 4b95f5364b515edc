"""What a brief connection blip costs: `CLIENT KILL` of every connection of one live worker.

  python -m benchmarks.blip [--blips 10]

Two workers with default settings on a local redis-server, each holding tasks of 3 s. Each
blip closes every connection of one worker at once; the worker reconnects on its next command,
and if the leader's CLIENT LIST look falls in the gap it takes the worker for lost and re-queues
its tasks (docs/architecture.md, "Lost workers"). Counts, per blip, the tasks re-queued that
way and the extra executions, and checks that no task applied two results (fencing).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.procs import Launcher, wait_for
from benchmarks.redis_server import RedisServer
from system.broker import Broker
from system.config import Settings
from system.connection import worker_instance
from system.model import TaskSpec, parse_task

ROOT = Path(__file__).resolve().parents[1]


def connections(broker: Broker, worker: str) -> list[int]:
    return [int(c["id"]) for c in broker.client.client_list(_type="normal")
            if (worker_instance(broker.keys.prefix, c.get("name", "")) or "").startswith(worker + "#")]


def one_blip(broker: Broker, task: TaskSpec, victim: str) -> tuple[int, int, int, int]:
    """(tasks the victim held, re-queued as lost, extra executions, tasks with two results)."""
    ids = [i for i, _ in broker.submit([task] * 8)]
    wait_for(lambda: sum(r["status"] == "running" for r in broker.get_many(ids)) == 8, timeout=30,
             what="8 tasks running")
    held = sum(r["worker"] == victim for r in broker.get_many(ids))
    for client_id in connections(broker, victim):
        broker.client.client_kill_filter(_id=client_id)
    wait_for(lambda: all(r["status"] == "succeeded" for r in broker.get_many(ids)), timeout=60,
             what="the tasks to finish")
    time.sleep(1.5)  # late acks of re-run tasks land
    requeued = reruns = twice = 0
    for record in broker.get_many(ids, events=True):
        names = [e["event"] for e in record["events"]]
        reruns += names.count("claimed") - 1
        requeued += sum(e["event"] == "lease_expired" and "worker lost" in e.get("detail", "")
                        for e in record["events"])
        twice += names.count("succeeded") > 1
    return held, requeued, reruns, twice


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.blip", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blips", type=int, default=10)
    args = parser.parse_args(argv)
    launcher = Launcher(Path(tempfile.mkdtemp(prefix="bench-blip-")))
    held = requeued = reruns = applied_twice = 0
    try:
        server = RedisServer(launcher=launcher).start()
        settings = Settings(redis_url=server.url)
        broker = Broker(settings)
        for w in ("w1", "w2"):
            env = settings.with_overrides(worker_id=w, worker_concurrency=4).env()
            launcher.start(w, [sys.executable, "-m", "system.worker"], env={**env, "PYTHONPATH": str(ROOT)},
                           cwd=str(ROOT))
        wait_for(lambda: connections(broker, "w1") and connections(broker, "w2"), timeout=30, what="workers")
        time.sleep(3)  # every node's leader loop has seen both connected (settle, not a test)
        task = parse_task({"type": "sleep", "data": {"ms": 3000}}, default_max_retries=3, default_timeout=60)
        for n in range(args.blips):
            counts = one_blip(broker, task, "w1" if n % 2 == 0 else "w2")
            held, requeued, reruns, applied_twice = (a + b for a, b in
                                                     zip((held, requeued, reruns, applied_twice), counts, strict=True))
        print(f"{args.blips} blips: {held} tasks held by the blipped worker, {requeued} re-queued as lost, "
              f"{reruns} extra executions, {applied_twice} tasks with two results applied")
    finally:
        launcher.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
