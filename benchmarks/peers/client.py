"""Producer for one peer, run inside the peers' virtualenv; prints one JSON object on stdout.

  python -m benchmarks.peers.client PEER ACTION [options]
  PEER: celery | rq | dramatiq      ACTION: noop | rate | crash | priority | warm
Each submit uses the peer's ordinary one-message API (delay / enqueue / send). Timings cover
only the submit loop, after imports and a first connection.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

Submit = Callable[..., None]  # submit(kind, *args, priority="normal")


def celery_submitter() -> Submit:
    from benchmarks.peers import celery_app as c
    tasks = {"noop": c.noop, "timed": c.timed, "crash": c.crash}
    c.app.connection_for_write().ensure_connection(max_retries=3)
    pri = {"high": 0, "low": 9}

    def submit(kind: str, *args: object, priority: str = "normal") -> None:
        if priority in pri:
            tasks[kind].apply_async(args, priority=pri[priority])
        else:
            tasks[kind].apply_async(args)
    return submit


def rq_submitter() -> Submit:
    import redis
    from rq import Queue, Retry

    from benchmarks.peers import body
    conn = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    conn.ping()
    queues = {name: Queue(name, connection=conn) for name in ("default", "high", "low")}
    funcs = {"noop": body.noop, "timed": body.timed, "crash": body.crash}
    short = os.environ.get("BENCH_PROFILE") == "short"

    def submit(kind: str, *args: object, priority: str = "normal") -> None:
        queue = queues.get(priority, queues["default"])
        if kind == "crash" and short:
            queue.enqueue(funcs[kind], *args, retry=Retry(max=3), job_timeout=5)
        else:
            queue.enqueue(funcs[kind], *args)
    return submit


def dramatiq_submitter() -> Submit:
    from benchmarks.peers import dramatiq_app as d
    d.broker.client.ping()
    actors = {"noop": d.noop, "timed": d.timed, "crash": d.crash}

    def submit(kind: str, *args: object, priority: str = "normal") -> None:
        if kind == "timed" and priority in ("high", "low"):
            (d.timed_high if priority == "high" else d.timed_low).send(*args)
        else:
            actors[kind].send(*args)
    return submit


SUBMITTERS = {"celery": celery_submitter, "rq": rq_submitter, "dramatiq": dramatiq_submitter}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("peer", choices=sorted(SUBMITTERS))
    p.add_argument("action", choices=["noop", "rate", "crash", "priority", "warm"])
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--ms", type=float, default=0.0)
    p.add_argument("--high", type=int, default=20)
    args = p.parse_args(argv)
    submit = SUBMITTERS[args.peer]()
    print(json.dumps(run(submit, args)))


def run(submit: Submit, args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    if args.action == "noop":
        for _ in range(args.n):
            submit("noop")
    elif args.action == "warm":
        for _ in range(args.n):
            submit("timed", "warm", time.time(), args.ms)
    elif args.action == "crash":
        for i in range(args.n):
            submit("crash", f"c{i}", args.ms)
    elif args.action == "priority":
        for _ in range(args.n):
            submit("timed", "low", time.time(), args.ms, priority="low")
        for _ in range(args.high):
            submit("timed", "high", time.time(), args.ms, priority="high")
    else:
        return steady(submit, rate=args.rate, duration=args.duration)
    return {"seconds": time.perf_counter() - t0}


def steady(submit: Submit, *, rate: float, duration: float) -> dict:
    """Submit at fixed instants t0 + i/rate (no coordinated omission: lag is reported)."""
    n = int(rate * duration)
    t0 = time.perf_counter()
    worst_lag = 0.0
    for i in range(n):
        due = t0 + i / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        else:
            worst_lag = max(worst_lag, now - due)
        submit("timed", "lat", time.time(), 0.0)
    return {"seconds": time.perf_counter() - t0, "sent": n, "worst_lag_s": worst_lag}


if __name__ == "__main__":
    main()
