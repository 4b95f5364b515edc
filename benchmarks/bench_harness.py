"""How fast the harness itself is: the load generator's maximum submit rate against a local
gateway, and the sampler's cost per sample. `python benchmarks/bench_harness.py [N]`.
Figures go to docs/benchmarks.md."""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import SystemSpec
from harness.backends.local import LocalBackend
from harness.ledger import Ledger
from harness.load import LoadGenerator
from harness.recorder import Recorder
from system.keys import Keys


@dataclass
class Planned:
    t: float
    index: int
    type: str = "echo"
    priority: str = "normal"

    def body(self) -> dict:
        return {"type": self.type, "data": {"i": self.index}, "priority": self.priority}


def burst(base: LocalBackend, n: int, *, clients: int, batch: int | None, tag: str) -> float:
    records: list = []
    endpoints = base.endpoints()
    gen = LoadGenerator([Planned(0.0, i) for i in range(n)], gateway_url=endpoints.gateway_url,
                        token=endpoints.gateway_token,
                        run_id=f"bench-{tag}-{time.time_ns()}", record=records.append,
                        clock=time.monotonic, clients=clients, batch=batch, timeout=10)
    start = time.monotonic()
    gen.start(start)
    gen.join()
    took = time.monotonic() - start
    ok = sum(1 for r in records if r.outcome == "ok")
    print(f"{tag}: {n} submits, {clients} clients, batch {batch}: {n / took:.0f}/s ({ok} ok)")
    return n / took


def main(n: int = 2000) -> None:
    work = Path(tempfile.mkdtemp())
    base = LocalBackend(ledger=Ledger.create(work, "bench"))
    try:
        base.start(SystemSpec(workers=1, config={"GATEWAY_WORKERS": "2", "GATEWAY_THREADS": "8"}))
        for clients in (1, 4, 8):
            burst(base, n, clients=clients, batch=None, tag="single")
        burst(base, n * 5, clients=4, batch=100, tag="batch")
        rec = Recorder(redis_url=lambda: base.endpoints().redis_url, keys=Keys(),
                       record=lambda s: None, clock=time.monotonic)
        for _ in range(400):
            rec.sample()
        print(f"sampler: {rec.cost()}")
    finally:
        base.teardown()
        base.remove_workdir()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
