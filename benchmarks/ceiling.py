"""What Redis itself does on this machine: `redis-benchmark` against the benchmark's server."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

TESTS = "set,get,lpush,lpop"


def find_redis_benchmark() -> str:
    path = shutil.which("redis-benchmark")
    if path is None:
        raise FileNotFoundError("redis-benchmark not found; install it with "
                                "`apt-get install -y redis-tools` (or redis-server)")
    return path


def parse_csv(text: str) -> dict[str, float]:
    """redis-benchmark --csv output -> {"SET": rps, ...} (upper-case test names)."""
    rows = csv.DictReader(io.StringIO(text))
    return {row["test"].upper(): float(row["rps"]) for row in rows if row.get("rps")}


def measure(*, port: int, requests: int = 100_000, pipeline: int = 1, clients: int = 50) -> dict[str, float]:
    """Requests per second of each test, with `pipeline` commands in flight per client."""
    argv = [find_redis_benchmark(), "-h", "127.0.0.1", "-p", str(port), "-t", TESTS,
            "-n", str(requests), "-c", str(clients), "-P", str(pipeline), "--csv"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True).stdout
    return parse_csv(out)


def run(*, port: int, requests: int = 100_000) -> dict:
    """Flat figures: set_per_s, ..., set_p16_per_s, ... (unpipelined and 16-deep pipelines)."""
    out: dict[str, float] = {}
    for depth, suffix in ((1, ""), (16, "_p16")):
        for test, rps in measure(port=port, requests=requests if depth == 1 else requests * 5,
                                 pipeline=depth).items():
            out[f"{test.lower()}{suffix}_per_s"] = rps
    return out
