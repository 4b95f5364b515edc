"""`slowclients compare`: each gateway server design on one redis-server, measured in one run.

Per design: single-submit req/s and gateway CPU ms per submit (wrk, no attack), then the slow-client attack with /health
probes, then the gateway's resident memory while the attack is held. The machine may be shared,
so read the designs against each other (ratios), not as absolute figures.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import redis
import requests

from benchmarks.procs import Group, Launcher, free_port, group_pids, wait_for
from benchmarks.redis_server import RedisServer
from benchmarks.slowclients import Flood, probe, probe_summary, submit_rate

ROOT = Path(__file__).resolve().parents[1]


def design_command(design: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command and extra environment that serve the gateway with one server design."""
    if design in ("gthread", "gevent"):
        return [sys.executable, "-m", "system.gateway"], {"GATEWAY_WORKER_CLASS": design}
    if design == "gthread-256":  # more threads than the attack's half-requests
        return [sys.executable, "-m", "system.gateway"], {"GATEWAY_WORKER_CLASS": "gthread",
                                                          "GATEWAY_THREADS": "256"}
    if design == "waitress":  # one process, 16 threads, its own async reader in front of them
        return [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=16",
                "--connection-limit=2000", "--channel-timeout=5", "system.gateway.wsgi:app"], {}
    raise SystemExit(f"unknown design {design!r}; choose from gthread, gthread-256, gevent, waitress")


def compare(designs: list[str], *, half: int, idle: int, probes: int, timeout: float,
            seconds: float) -> Iterator[dict[str, object]]:
    launcher = Launcher(Path(tempfile.mkdtemp(prefix="slowclients-")))
    try:
        with RedisServer(launcher=launcher) as server:
            client = redis.Redis.from_url(server.url)
            for design in designs:
                client.flushall()
                yield measure(launcher, design, server.url, half=half, idle=idle, probes=probes,
                              timeout=timeout, seconds=seconds)
    finally:
        launcher.stop_all()


def measure(launcher: Launcher, design: str, redis_url: str, *, half: int, idle: int, probes: int,
            timeout: float, seconds: float) -> dict[str, object]:
    port = free_port()
    cmd, extra = design_command(design, port)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url, "GATEWAY_HOST": "127.0.0.1",
           "GATEWAY_PORT": str(port), **extra}
    group = launcher.start(f"gateway-{design}", cmd, env=env, cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=30, interval=0.1, what=f"the {design} gateway")
        cpu_before = cpu_seconds(group)
        rate = submit_rate(url, seconds=seconds)
        cpu_ms = (cpu_seconds(group) - cpu_before) * 1000 / max(1.0, rate * seconds)
        with Flood("127.0.0.1", port, half, idle) as flood:
            held = flood.open_count
            settle_s = flood.settle()
            open_at_probes = flood.open_count
            summary = probe_summary(probe("127.0.0.1", port, count=probes, timeout=timeout), timeout)
            rss = group.rss_bytes()
            summary.update(settle_s=round(settle_s, 2), open_at_probes=open_at_probes, reopened=flood.reopened,
                           idle_closed=flood.idle_closed,
                           refused=flood.refused)
        return {"design": design, "submit_per_s": round(rate), "cpu_ms_per_submit": round(cpu_ms, 3), **summary,
                "held_at_start": held, "gateway_rss_mb": round(rss / 2**20, 1)}
    finally:
        group.stop()


def cpu_seconds(group: Group) -> float:
    """User + system CPU time of every process of the gateway: per request, this figure barely
    depends on what else the (shared) machine runs, unlike req/s."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in group_pids(group.pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/queues", timeout=1).status_code == 200
    except requests.RequestException:
        return False
