"""Small pieces of a run that are not phases: the steady-state probe, the idle test of the drain,
the live progress snapshot, and meta.json."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
    def snapshot(cls, run: Any, total: float) -> Progress:
        # elapsed counts from the start of the load phase (total = its planned length)
        p = cls(run.scenario.name, run.phase, run.clock() - run.load_start, total)
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
                                            "lag_p99_s": round(load.counters.lag_p99, 4),
                                            "scheduling": load.scheduling,
                                            "errors": load.errors},
        "fault_errors": run.nemesis.errors if run.nemesis is not None else [],
        "problems": run.problems,
        "costs": getattr(run, "costs", None) or None,
        "tracing": tracing_meta(os.environ),
    }


def tracing_meta(env: Mapping[str, str]) -> dict[str, str] | None:
    """Where this run's traces went (the system's processes inherit OTEL_EXPORTER_OTLP_ENDPOINT)
    and the Jaeger UI the report links each task to (JAEGER_UI_URL, default localhost:16686)."""
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return None
    return {"otlp_endpoint": endpoint, "ui": (env.get("JAEGER_UI_URL") or "http://localhost:16686").rstrip("/")}


_SAVED: dict[int, Any] = {}


def ignore_signals() -> None:
    """A second Ctrl-C must not cut the teardown short (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            _SAVED.setdefault(sig, signal.signal(sig, signal.SIG_IGN))


def restore_signals() -> None:
    if threading.current_thread() is threading.main_thread():
        for sig, handler in list(_SAVED.items()):
            signal.signal(sig, handler)
            del _SAVED[sig]


def new_run_dir(out: Path, name: str) -> Path:
    """reports/<scenario>/<YYYYmmdd-HHMMSS>[-n]: a fresh directory for one run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = out / name / stamp, 1
    while path.exists():
        n += 1
        path = out / name / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def build_report_safely(run_dir: Path, say: Callable[[str], None]) -> None:
    try:
        from harness.report import build_report, update_index
        build_report(run_dir)
        update_index(run_dir.parent.parent)
    except Exception as exc:  # noqa: BLE001 - a report bug must not hide the verdict
        say(f"warning: report not built: {exc.__class__.__name__}: {exc}")
