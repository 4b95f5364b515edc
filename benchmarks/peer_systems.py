"""Celery, RQ and Dramatiq as systems under test, driven through the peers' virtualenv."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import run_json
from benchmarks.sut import Submitted, SystemUnderTest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = ROOT / ".venv-peers"


@dataclass
class PeerSystem(SystemUnderTest):
    """A peer: workers are the peer's own CLI, producers are benchmarks.peers.client."""

    venv: Path = DEFAULT_VENV
    peer: str = "?"

    def env(self, profile: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update(BENCH_REDIS_URL=self.redis_url, BENCH_PROFILE=profile, PYTHONPATH=str(ROOT),
                   PATH=f"{self.venv / 'bin'}:{env.get('PATH', '')}", PYTHONUNBUFFERED="1")
        return env

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def client(self, action: str, *args: str, profile: str = "default",
               timeout: float = 300) -> Submitted:
        argv = [self.bin("python"), "-m", "benchmarks.peers.client", self.peer, action, *args]
        out = json.loads(run_json(argv, env=self.env(profile), cwd=str(ROOT), timeout=timeout))
        return Submitted(seconds=out["seconds"], sent=out.get("sent", 0),
                         worst_lag_s=out.get("worst_lag_s", 0.0))

    def enqueue_noop(self, n: int) -> Submitted:
        return self.client("noop", "--n", str(n))

    def submit_warm(self, n: int, *, ms: float, profile: str) -> Submitted:
        return self.client("warm", "--n", str(n), "--ms", str(ms), profile=profile)

    def submit_at_rate(self, *, rate: float, duration: float) -> Submitted:
        return self.client("rate", "--rate", str(rate), "--duration", str(duration),
                           timeout=duration * 3 + 60)

    def submit_crash(self, n: int, *, ms: float, profile: str) -> Submitted:
        return self.client("crash", "--n", str(n), "--ms", str(ms), profile=profile)

    def submit_priority(self, *, low: int, high: int, ms: float) -> Submitted:
        return self.client("priority", "--n", str(low), "--high", str(high), "--ms", str(ms),
                           profile="priority")

    def versions(self) -> dict[str, str]:
        code = ("import json;from importlib.metadata import version as v;"
                "print(json.dumps({p: v(p) for p in ('celery','kombu','rq','dramatiq','redis')}))")
        out = subprocess.run([self.bin("python"), "-c", code], capture_output=True, text=True)
        return json.loads(out.stdout) if out.returncode == 0 else {}


@dataclass
class CelerySystem(PeerSystem):
    name: str = "celery"
    peer: str = "celery"
    settings: tuple[str, ...] = (
        "2 worker nodes, each `--pool prefork --concurrency 1` (one child process each)",
        "task_acks_late, task_reject_on_worker_lost, no result backend, prefetch multiplier 4",
        "--without-gossip --without-mingle --without-heartbeat (cluster chatter off)",
        "crash/short: visibility_timeout 5 s, unacked_restore_interval 1 s, throttle 1",
        "priority: priority_steps 0..9, queue_order_strategy priority, prefetch multiplier 1; "
        "high = priority 0, low = 9",
    )

    pool: str = "prefork"

    def worker_command(self, index: int, *, profile: str):
        argv = [self.bin("celery"), "-A", "benchmarks.peers.celery_app", "worker", "--pool",
                self.pool, "--concurrency", "1", "--loglevel", "WARNING", "-n", f"w{index}@bench",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        return argv, self.env(profile), str(ROOT)


@dataclass
class RQSystem(PeerSystem):
    name: str = "rq"
    peer: str = "rq"
    settings: tuple[str, ...] = (
        "2 × `rq worker -w rq.worker.SimpleWorker` (job runs in the worker process, no fork)",
        "crash/short: jobs enqueued with Retry(max=3) and job_timeout=5 s; workers with "
        "--worker-ttl 20 (an idle worker wakes every 5 s to do maintenance), "
        "--job-monitoring-interval 1, --maintenance-interval 5; a job counts as abandoned "
        "job_timeout + 60 s after it started (fixed 60 s margin in RQ)",
        "crash/defaults: an abandoned job goes to the FailedJobRegistry (no retry)",
        "priority: queues `high`, `default`, `low` on the worker command line (checked in order)",
    )

    def worker_command(self, index: int, *, profile: str):
        argv = [self.bin("rq"), "worker", "--url", self.redis_url, "-w", "rq.worker.SimpleWorker",
                "-n", f"w{index}-{os.getpid()}", "--quiet"]
        if profile == "short":
            argv += ["--worker-ttl", "20", "--job-monitoring-interval", "1", "--maintenance-interval", "5"]
        argv += ["high", "default", "low"] if profile == "priority" else ["default"]
        return argv, self.env(profile), str(ROOT)


@dataclass
class DramatiqSystem(PeerSystem):
    name: str = "dramatiq-8t"
    peer: str = "dramatiq"
    threads: int = 8
    settings: tuple[str, ...] = (
        "2 × `dramatiq --processes 1 --threads 8` (each a supervisor + one worker process)",
        "RedisBroker defaults (ack after the actor returns, Retries middleware)",
        "crash/short: heartbeat_timeout 5000 ms, maintenance_chance 1000000 (every command)",
        "priority: actors on queues `high` (actor priority 0) and `low` (priority 100)",
    )

    def worker_command(self, index: int, *, profile: str):
        argv = [self.bin("dramatiq"), "benchmarks.peers.dramatiq_app", "--processes", "1",
                "--threads", str(self.threads)]
        return argv, self.env(profile), str(ROOT)


def dramatiq_one_thread(**kwargs) -> DramatiqSystem:
    settings = ("2 × `dramatiq --processes 1 --threads 1`",) + DramatiqSystem.settings[1:]
    return DramatiqSystem(name="dramatiq-1t", threads=1, settings=settings,
                          scenarios=("drain", "latency"), **kwargs)


PEERS: dict[str, Callable[..., PeerSystem]] = {
    "celery": CelerySystem,
    "rq": RQSystem,
    "dramatiq-8t": DramatiqSystem,
    "dramatiq-1t": dramatiq_one_thread,
}
