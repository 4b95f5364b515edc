"""What an open dashboard costs the queue: drain throughput, and CPU, with and without one open.

    python -m benchmarks.dashboard_cost --rounds 6 --n 20000 [--json FILE]

One Redis, one gateway (`python -m system.gateway`, where the dashboard's stream is served) and
2 default workers; each round drains N no-ops (submitted in batches straight to Redis) three
ways: `closed` (no dashboard), `stream` (a plain client reading /dashboard/stream: what the
gateway and Redis pay) and `browser` (a headless Chromium showing /dashboard with its stream
live, on this same 2-core machine, so its rendering competes with the workers as it would not
on a user's own computer).

A shared machine moves throughput by more than the effect looked for, so:
- the modes are interleaved within each round, in an order that puts every mode in every
  position equally often over 6 rounds (ABC, CBA, BCA, ACB, CAB, BAC), and each mode is judged
  by the median of its per-round ratios to `closed` of the same round, with their spread;
- the dashboard's own CPU is measured too, which other load hardly moves: CPU seconds used by
  the gateway (beyond what it used in the same round's `closed` drain) and by the browser's
  processes, per second of drain, against the CPU the drain itself used (workers + redis-server)
  per second. That share bounds the throughput effect on a machine whose CPU is the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from benchmarks.drain_cpu import cpu_seconds
from benchmarks.peers.body import DONE
from benchmarks.procs import Launcher, group_pids, wait_for
from benchmarks.project import ProjectGateway
from benchmarks.redis_server import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from cdp import Browser, find_chromium  # noqa: E402

MODES = ("closed", "stream", "browser")
#: every mode in every position twice over 6 rounds (A=closed, B=stream, C=browser)
ORDERS = ("ABC", "CBA", "BCA", "ACB", "CAB", "BAC")
WORKERS = 2


def mode_order(round_: int) -> tuple[str, ...]:
    """The modes of round `round_` (0-based), in the balanced order above."""
    return tuple(MODES["ABC".index(c)] for c in ORDERS[round_ % len(ORDERS)])


def group_cpu(pgid: int) -> float:
    """CPU seconds of every live process of a process group (a browser, a gunicorn)."""
    total = 0.0
    for pid in group_pids(pgid):
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):  # exited meanwhile
            continue
    return total


@dataclass(frozen=True)
class Drain:
    """One drain: its steady rate and who used how much CPU over its window (spawn to last ack)."""

    mode: str
    rate: float
    window_s: float
    workers_cpu: float
    redis_cpu: float
    gateway_cpu: float
    browser_cpu: float


def drain_once(sut: ProjectGateway, r: redis.Redis, *, mode: str, n: int, redis_pgid: int,
               browser_pgid: int | None) -> Drain:
    """Queue N no-ops with no worker running, start the workers, time the drain, read CPU."""
    r.flushall()
    sut.enqueue_noop_batch(n)

    def shared() -> tuple[float, float, float]:
        return (group_cpu(redis_pgid), group_cpu(sut._gateway.pgid),
                group_cpu(browser_pgid) if browser_pgid else 0.0)

    before = shared()
    t_spawn = time.perf_counter()
    groups = sut.start_workers(WORKERS)
    first, t_first, deadline = 0, 0.0, t_spawn + max(300.0, n / 50)
    while (done := int(r.get(DONE) or 0)) < n:
        if done and not first:
            first, t_first = done, time.perf_counter()
        if time.perf_counter() > deadline:
            sut.stop_workers()
            raise TimeoutError(f"{mode}: drained {done} of {n} no-ops in {deadline - t_spawn:.0f} s")
        time.sleep(0.005)
    t_end = time.perf_counter()
    workers = sum(group_cpu(g.pgid) for g in groups)
    after = shared()
    sut.stop_workers()
    used = [b - a for a, b in zip(before, after, strict=True)]
    return Drain(mode=mode, rate=(n - first) / (t_end - t_first), window_s=t_end - t_spawn,
                 workers_cpu=workers, redis_cpu=used[0], gateway_cpu=used[1], browser_cpu=used[2])


class StreamReader:
    """Reads the dashboard's event stream in a thread, as a browser tab would, without rendering."""

    def __init__(self, url: str) -> None:
        import requests
        self.frames = 0
        self._response = requests.get(url, stream=True, timeout=10)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._response.iter_lines():
                if line.startswith(b"event: frame"):
                    self.frames += 1
        except Exception:  # noqa: BLE001 - closed by close()
            pass

    def close(self) -> None:
        self._response.close()
        self._thread.join(timeout=5)


@contextmanager
def dashboard(mode: str, base: str) -> Iterator[int | None]:
    """The dashboard of `mode` open (and showing frames) while the block runs; yields the
    browser's process group, the only one of its CPU that is the dashboard's own."""
    if mode == "closed":
        yield None
    elif mode == "stream":
        reader = StreamReader(base + "/dashboard/stream")
        try:
            wait_for(lambda: reader.frames >= 1, timeout=15, interval=0.05, what="a dashboard frame")
            yield None
        finally:
            reader.close()
    else:
        chromium = find_chromium()
        if chromium is None:
            raise SystemExit("chromium is not installed: apt-get install -y chromium")
        with Browser(chromium) as browser:
            browser.open(base + "/dashboard", ready="document.body.dataset.frames >= 2", timeout=30)
            yield browser.proc.pid


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(rounds: list[dict[str, Drain]], n: int, *, cpus: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per mode: throughput ratio to the same round's `closed` drain, the dashboard's CPU per
    second of drain (gateway beyond `closed`'s, plus the browser), and that CPU as a share of
    the machine (`cpus` CPU-seconds a second: what a CPU-bound drain loses to it when the CPU is
    saturated) and of the CPU the `closed` drain got per second (workers + redis-server; the
    bound if every CPU-second of the dashboard came out of the drain's, which on a crowded
    machine is small because others take most of it). Pure."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    drain_cpu_per_s = [(row["closed"].workers_cpu + row["closed"].redis_cpu) / row["closed"].window_s
                       for row in rounds]
    out["closed"] = {"drain_cpu_us_per_task": _spread([
        1e6 * (row["closed"].workers_cpu + row["closed"].redis_cpu) / n for row in rounds]),
        "drain_cpu_per_s": _spread(drain_cpu_per_s)}
    for mode in MODES[1:]:
        ratios, dash, share, machine = [], [], [], []
        for row, drain_rate in zip(rounds, drain_cpu_per_s, strict=True):
            d, c = row[mode], row["closed"]
            own = (d.gateway_cpu - c.gateway_cpu * d.window_s / c.window_s + d.browser_cpu) / d.window_s
            ratios.append(d.rate / c.rate)
            dash.append(own)
            share.append(own / drain_rate)
            machine.append(own / cpus)
        out[mode] = {"rate_ratio": _spread(ratios), "dashboard_cpu_per_s": _spread(dash),
                     "cpu_share": _spread(share), "machine_share": _spread(machine)}
    return out


def _line(round_: int, row: dict[str, Drain]) -> str:
    parts = [f"{m} {row[m].rate:,.0f}/s (gw {1000 * row[m].gateway_cpu / row[m].window_s:.0f} ms/s"
             + (f", browser {1000 * row[m].browser_cpu / row[m].window_s:.0f} ms/s)" if m == "browser" else ")")
             for m in mode_order(round_)]
    return f"round {round_ + 1}: " + "  ".join(parts)


def report(summary: dict[str, dict[str, dict[str, float]]], *, rounds: int, n: int, cpus: int,
           say: Callable[[str], None] = print) -> None:
    cpu = summary["closed"]
    say(f"drain CPU (workers + redis-server), closed: {cpu['drain_cpu_us_per_task']['median']:.0f} µs/task, "
        f"{cpu['drain_cpu_per_s']['median']:.2f} CPU-s/s")
    for mode in MODES[1:]:
        s = summary[mode]
        say(f"{mode}/closed throughput: median {s['rate_ratio']['median']:.3f} "
            f"(min {s['rate_ratio']['min']:.3f}, max {s['rate_ratio']['max']:.3f}) over {rounds} rounds of {n} no-ops")
        say(f"{mode} dashboard CPU: median {1000 * s['dashboard_cpu_per_s']['median']:.1f} ms/s "
            f"(min {1000 * s['dashboard_cpu_per_s']['min']:.1f}, max {1000 * s['dashboard_cpu_per_s']['max']:.1f}) "
            f"= {100 * s['machine_share']['median']:.2f} % of the machine's {cpus} CPUs, "
            f"{100 * s['cpu_share']['median']:.1f} % of the CPU the drain got "
            f"({100 * s['cpu_share']['min']:.1f}-{100 * s['cpu_share']['max']:.1f} %)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6, help="rounds (each drains once per mode); "
                        "a multiple of 6 balances the order")
    parser.add_argument("--n", type=int, default=20000, help="no-op tasks per drain")
    parser.add_argument("--json", type=Path, help="also write every drain and the summary here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.n < 100:
        parser.error("--rounds must be at least 1 and --n at least 100")
    launcher = Launcher(Path(tempfile.mkdtemp(prefix="dashboard-cost-")))
    rounds: list[dict[str, Drain]] = []
    try:
        with RedisServer(launcher=launcher) as server:
            sut = ProjectGateway(launcher=launcher, redis_url=server.url)
            sut.open()
            r = redis.Redis.from_url(server.url)
            base = f"http://127.0.0.1:{sut._port}"
            for round_ in range(args.rounds):
                row = {}
                for mode in mode_order(round_):
                    with dashboard(mode, base) as browser_pgid:
                        row[mode] = drain_once(sut, r, mode=mode, n=args.n, redis_pgid=server.group.pgid,
                                               browser_pgid=browser_pgid)
                rounds.append(row)
                print(_line(round_, row), flush=True)
            sut.close()
    finally:
        launcher.stop_all()
    cpus = os.cpu_count() or 1
    summary = summarize(rounds, args.n, cpus=cpus)
    report(summary, rounds=len(rounds), n=args.n, cpus=cpus)
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "cpus": cpus, "summary": summary,
                                         "rounds": [{m: asdict(d) for m, d in row.items()} for row in rounds]},
                                        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
