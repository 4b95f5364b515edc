"""Redis memory per task, queued and after an echo ran, and the size of one GET /tasks page.

    python3 -m benchmarks.memory_per_task --tasks 20000 --kib 8
    PYTHONPATH=/tmp/base python3 benchmarks/memory_per_task.py --root /tmp/base   # another checkout

Uses the `system` package found first on the path (so an older checkout can be measured with
the same script), a throw-away redis-server and `python -m system.worker --burst` from `--root`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from system.broker import Broker
from system.config import Settings
from system.model import parse_task


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def measure(root: Path, *, tasks: int, kib: int) -> dict[str, object]:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="mem-redis-") as work:
        server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
        try:
            return _run(root, port, tasks=tasks, kib=kib)
        finally:
            server.terminate()
            server.wait(10)


def _run(root: Path, port: int, *, tasks: int, kib: int) -> dict[str, object]:
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0")
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    broker = Broker(settings)
    spec = parse_task({"type": "echo", "data": "x" * (kib * 1024)}, default_max_retries=3, default_timeout=30)
    before = _used(client)
    for start in range(0, tasks, 500):
        broker.submit([spec] * min(500, tasks - start))
    queued = _used(client)
    env = {**os.environ, "PYTHONPATH": str(root), **settings.env()}
    subprocess.run([sys.executable, "-m", "system.worker", "--burst", "--concurrency", "8"], cwd=root, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    done = broker.stats()["completed"]
    finished = _used(client)
    page = json.dumps(broker.list_tasks(limit=100)[0])
    return {"root": str(root), "tasks": tasks, "kib": kib, "completed": done,
            "queued_bytes_per_task": round((queued - before) / tasks),
            "finished_bytes_per_task": round((finished - before) / tasks),
            "finished_total_mb": round((finished - before) / 2**20, 1),
            "list_page_100_bytes": len(page)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--kib", type=int, default=8)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout whose worker runs the tasks")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.root, tasks=args.tasks, kib=args.kib)))


if __name__ == "__main__":
    main()
