"""Small pieces of a run that are not phases: the steady-state probe, the idle test of the drain,
the live progress snapshot, and meta.json."""

from __future__ import annotations

import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from harness.history import SampleRecord


def steady_state(gateway_url: str, *, workers: int, timeout: float) -> str | None:
    """Poll GET /health until it is 200 with `workers` live workers; the last problem, or None."""
    deadline = time.monotonic() + timeout
    problem = "no answer yet"
    while time.monotonic() < deadline:
        try:
            resp = requests.get(f"{gateway_url}/health", timeout=2)
            body = resp.json()
            seen = int(body.get("workers", 0))
            if resp.status_code == 200 and seen >= workers:
                return None
            problem = f"GET /health: HTTP {resp.status_code}, {seen}/{workers} workers: {body}"
        except (requests.RequestException, ValueError, AttributeError) as exc:
            problem = f"GET /health: {exc.__class__.__name__}: {exc}"
        time.sleep(0.2)
    return f"{problem} (after {timeout:g}s)"


def idle(sample: SampleRecord | None) -> bool:
    """Nothing queued, leased or waiting for a retry."""
    if sample is None:
        return False
    return (sum(sample.queues.values()) == 0 and sample.leased == 0 and sample.delayed == 0)


@dataclass
class Progress:
    """What the live display shows, taken from the run's parts without locking."""

    scenario: str
    phase: str
    elapsed: float
    total: float
    submitted: int = 0
    ok: int = 0
    info: int = 0
    fail: int = 0
    completed: int = 0
    dead: int = 0
    throughput: float = 0.0
    workers: int = 0
    leader: str | None = None
    faults: list[str] = field(default_factory=list)
    queued: int = 0

    @classmethod
    def snapshot(cls, run: Any, total: float) -> "Progress":
        p = cls(run.scenario.name, run.phase, run.clock(), total)
        if run.load is not None:
            c = run.load.counters
            p.submitted, p.ok, p.info, p.fail = c.submitted, c.ok, c.info, c.fail
        if run.nemesis is not None:
            p.faults = run.nemesis.active()
        rec = run.recorder
        if rec is not None and rec.last is not None:
            s = rec.last
            p.completed = int(s.stats.get("completed", 0))
            p.dead = int(s.stats.get("dead", 0))
            p.workers, p.leader = s.workers, s.leader
            p.queued = sum(s.queues.values()) + s.leased + s.delayed
            p.throughput = _throughput(rec, s)
        return p


def _throughput(rec: Any, now: SampleRecord) -> float:
    """Completions per second over the last ~2 s of samples (kept on the recorder)."""
    window = getattr(rec, "_tp_window", [])
    window.append((now.t, int(now.stats.get("completed", 0))))
    while len(window) > 2 and window[-1][0] - window[0][0] > 2.0:
        window.pop(0)
    rec._tp_window = window
    (t0, c0), (t1, c1) = window[0], window[-1]
    return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


def _version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def meta_document(run: Any) -> dict[str, Any]:
    load = run.load
    return {
        "scenario": run.scenario.name, "backend": run.opts.backend, "seed": run.seed,
        "run_id": run.run_id, "command": run.opts.argv,
        "start_wall": run.wall_start, "end_wall": time.time(),
        "versions": {"python": platform.python_version(),
                     "redis": _version(["redis-server", "--version"]),
                     "toxiproxy": _version(["toxiproxy-server", "-version"])},
        "sampler": run.recorder.cost() if run.recorder is not None else None,
        "load": None if load is None else {"submitted": load.counters.submitted,
                                            "max_lag_s": round(load.counters.lag_max, 3),
                                            "errors": load.errors},
        "fault_errors": run.nemesis.errors if run.nemesis is not None else [],
        "problems": run.problems,
    }
