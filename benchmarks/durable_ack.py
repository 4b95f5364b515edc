"""What DURABLE_ACK (WAIT for a replica after each submit) costs a submit, with a replica attached.

Starts a redis-server primary and a replica (AOF off, loopback), then alternates rounds of
single-task submits through `Broker.submit` with DURABLE_ACK off and on, from `--threads`
threads for `--seconds` each, and prints submits/s and latency percentiles per round. Rounds
alternate so a busy machine hurts both settings alike: read the ratio, not the figures.

    python3 -m benchmarks.durable_ack --rounds 3 --seconds 5 --threads 8
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis

from benchmarks.procs import Launcher, free_port, wait_for
from system.broker import Broker
from system.config import Settings
from system.model import parse_task


def _start_pair(launcher: Launcher, work: Path) -> tuple[int, redis.Redis]:
    ports = free_port(), free_port()
    for i, port in enumerate(ports):
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(work), "--dbfilename", f"d{i}.rdb", "--protected-mode", "no"]
        if i:
            cmd += ["--replicaof", "127.0.0.1", str(ports[0])]
        launcher.start(f"redis-{i}", cmd)
    replica = redis.Redis(port=ports[1], decode_responses=True)
    wait_for(lambda: _link_up(replica), timeout=15, what="the replica to sync")
    return ports[0], replica


def _link_up(client: redis.Redis) -> bool:
    try:
        return client.info("replication").get("master_link_status") == "up"
    except redis.ConnectionError:
        return False


def _round(broker: Broker, *, threads: int, seconds: float) -> tuple[float, list[float]]:
    """Submits/s and each submit's latency (ms) over one round."""
    spec = parse_task({"type": "noop", "data": "x"}, default_max_retries=3, default_timeout=30.0)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop_at = time.monotonic() + seconds

    def submit(mine: list[float]) -> None:
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            broker.submit([spec])
            mine.append(1000 * (time.perf_counter() - began))

    pool = [threading.Thread(target=submit, args=(lat,)) for lat in latencies]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    flat = sorted(x for lat in latencies for x in lat)
    return len(flat) / seconds, flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-durable-"))
    launcher = Launcher(work / "logs")
    try:
        port, _ = _start_pair(launcher, work)
        base = Settings(redis_url=f"redis://127.0.0.1:{port}/0")
        client = redis.Redis(port=port, decode_responses=True, max_connections=4 * args.threads)
        figures: dict[bool, list[float]] = {False: [], True: []}
        for n in range(args.rounds):
            for durable in (False, True):
                client.flushall()
                broker = Broker(base.with_overrides(durable_ack=durable), client=client)
                rate, lat = _round(broker, threads=args.threads, seconds=args.seconds)
                figures[durable].append(rate)
                p50, p99 = statistics.median(lat), lat[int(0.99 * (len(lat) - 1))]
                print(f"round {n + 1} DURABLE_ACK={int(durable)}: {rate:,.0f} submits/s, "
                      f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        off, on = statistics.median(figures[False]), statistics.median(figures[True])
        print(f"median: off {off:,.0f}/s, on {on:,.0f}/s, on/off {on / off:.2f}")
    finally:
        launcher.stop_all()


if __name__ == "__main__":
    main()
