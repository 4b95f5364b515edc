"""How fast the harness reads task records back from Redis: a real redis-server filled with N
finished task records in the system's own shape (a hash and an event list each, listed in the
task index), then `harness.readback.read_back` reads every one into tasks.jsonl, pipelined
CHUNK ids per round trip, as a run does after its drain.

    python -m benchmarks.readback --n 1000000 [--like RUN_DIR/tasks.jsonl] [--out /tmp/readback]

`--like` copies the shapes of a recorded run's records (ids and times made new); by default a
plain `process` task with its four events, the soak's shape. Each record read is compared with
the one written, so the figure is of a read-back that returns the records whole. Prints one
JSON object (records, seconds, records/s, round trips, Redis used memory). Figures go to
docs/benchmarks.md, "The soak".
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from benchmarks.procs import Launcher
from benchmarks.redis_server import RedisServer
from harness.readback import CHUNK, TaskSink, read_back
from system.keys import Keys

TEMPLATE: dict[str, Any] = {
    "type": "process", "data": "Hello World", "priority": "normal", "status": "succeeded", "attempts": 1,
    "failures": 0, "expiries": 0, "max_retries": 3, "timeout": 300.0, "worker": "worker-3",
    "result": {"upper": "HELLO WORLD", "length": 11,
               "sha256": "a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e"},
    "error": None, "submitted_at": 0.0, "claimed_at": 0.001, "started_at": 0.004, "finished_at": 0.111,
    "idempotency_key": "soak", "token": 1, "traceparent": None, "tracestate": None,
    "events": [{"t": 0.0, "event": "submitted", "detail": "normal"},
               {"t": 0.001, "event": "claimed", "worker": "worker-3", "token": 1},
               {"t": 0.004, "event": "started", "worker": "worker-3", "token": 1},
               {"t": 0.111, "event": "succeeded", "worker": "worker-3", "token": 1}],
}
TIMES = ("submitted_at", "claimed_at", "started_at", "finished_at")


def redis_fields(record: dict[str, Any]) -> dict[str, str]:
    """The Redis hash the system keeps for a task record (system.model.task_record's inverse)."""
    out: dict[str, str] = {}
    for name, value in record.items():
        if name == "events" or value is None:
            continue
        if name in TIMES:
            out[name] = str(round(value * 1000))
        elif name in ("data", "result"):
            out[name] = json.dumps(value, separators=(",", ":"))
        else:
            out[name] = str(value)
    return out


def redis_events(record: dict[str, Any]) -> list[str]:
    return [json.dumps({**e, "t": round(e["t"] * 1000)}, separators=(",", ":")) for e in record["events"]]


def shapes(like: Path | None, limit: int = 1000) -> list[dict[str, Any]]:
    """Record shapes to copy, their times relative to their submit."""
    if like is None:
        return [TEMPLATE]
    out = []
    with open(like, encoding="utf-8") as f:
        for line in itertools.islice(f, limit):
            record = json.loads(line)
            base = record["submitted_at"]
            for name in TIMES:
                if record.get(name) is not None:
                    record[name] = round(record[name] - base, 3)
            record["events"] = [{**e, "t": round(e["t"] - base, 3)} for e in record.get("events", ())]
            out.append(record)
    return out


def records(n: int, like: list[dict[str, Any]], t0: float) -> Iterator[dict[str, Any]]:
    """n records: each a shape of `like` with a new id and times 2 ms apart from t0."""
    for i in range(n):
        shape = like[i % len(like)]
        t = round(t0 + i * 0.002, 3)
        record = {**shape, "id": uuid.uuid4().hex, "idempotency_key": f"bench-{i}"}
        for name in TIMES:
            if shape.get(name) is not None:
                record[name] = round(t + shape[name], 3)
        record["events"] = [{**e, "t": round(t + e["t"], 3)} for e in shape["events"]]
        yield record


def fill(r: redis.Redis, keys: Keys, n: int, like: list[dict[str, Any]], sample_every: int) -> list[dict[str, Any]]:
    """Write n records as the system would; returns every sample_every-th one (to compare)."""
    kept = []
    pipe = r.pipeline(transaction=False)
    for i, record in enumerate(records(n, like, t0=1_796_000_000.0)):
        pipe.hset(keys.task(record["id"]), mapping=redis_fields(record))
        pipe.rpush(keys.events(record["id"]), *redis_events(record))
        pipe.zadd(keys.index, {record["id"]: round(record["submitted_at"] * 1000)})
        if i % sample_every == 0:
            kept.append(record)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="task records to write and read back")
    parser.add_argument("--like", type=Path, help="a recorded run's tasks.jsonl to copy record shapes from")
    parser.add_argument("--out", type=Path, help="where tasks.jsonl goes (default: a temporary directory)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="readback-"))
    out.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(log_dir=out / "logs")
    keys = Keys()
    try:
        server = RedisServer(launcher=launcher).start()
        r = redis.Redis.from_url(server.url, decode_responses=True)
        began = time.perf_counter()
        written = fill(r, keys, args.n, shapes(args.like), sample_every=max(1, args.n // 1000))
        fill_s = time.perf_counter() - began
        memory = r.info("memory")["used_memory"]
        (out / "tasks.jsonl").unlink(missing_ok=True)
        sink = TaskSink(out / "tasks.jsonl")
        stats = read_back(lambda: server.url, keys, sink, ())
        sink.close()
        read = {}
        wanted = {w["id"] for w in written}
        with open(out / "tasks.jsonl", encoding="utf-8") as f:
            for line in f:
                if line[7:39] in wanted:  # records start {"id":"<32 hex digits>"
                    record = json.loads(line)
                    read[record["id"]] = record
        mismatched = [w["id"] for w in written if read.get(w["id"]) != w]
        print(json.dumps({
            "records": stats.records, "seconds": round(stats.seconds, 2),
            "records_per_s": round(stats.records / stats.seconds) if stats.seconds else None,
            "round_trips": stats.round_trips, "chunk": CHUNK, "fill_s": round(fill_s, 1),
            "redis_used_memory_mb": round(memory / 1e6, 1),
            "tasks_jsonl_mb": round((out / "tasks.jsonl").stat().st_size / 1e6, 1),
            "compared": len(written), "mismatched": len(mismatched), "first_mismatch": mismatched[:1],
        }))
    finally:
        launcher.stop_all()


if __name__ == "__main__":
    main()
