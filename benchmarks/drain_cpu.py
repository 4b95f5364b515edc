"""Where a drain's CPU goes: one big no-op drain, CPU seconds per task for each process.

`python -m benchmarks.drain_cpu [--n 20000] [--workers 2] [--concurrency 8]`

The side-by-side benchmark (benchmarks.run) says how fast; this says who pays: each worker
process, redis-server (and, of that, the time inside each script, from INFO commandstats), so
a change to the worker or to a Lua script can be judged by microseconds per task.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from benchmarks.peers.body import DONE
from benchmarks.procs import Launcher, group_pids
from benchmarks.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc (so no extra dependency)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def context_switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of all a process's threads, from /proc.

    A thread that blocks on a lock, the GIL or a socket switches voluntarily, so this counts
    the hand-offs between threads without strace's cost (which slows the worker tenfold).
    """
    voluntary = involuntary = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    involuntary += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):  # a thread ended meanwhile
            continue
    return voluntary, involuntary


def attach_profiler(directory: str, pid: int, seconds: float) -> subprocess.Popen:
    """`py-spy record` attached to one running worker (so its start-up is not in the profile)."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--gil", "--format", "raw",
                             "--rate", "200", "--duration", str(seconds), "-o", f"{directory}/worker.txt"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count_syscalls(pid: int, seconds: float) -> subprocess.Popen:
    """`strace -c -f` on one running worker for a while; its table arrives on stderr."""
    return subprocess.Popen(["timeout", "-s", "INT", str(seconds), "strace", "-c", "-f", "-p", str(pid)],
                            stderr=subprocess.PIPE, text=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drain_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--empty", action="store_true", help="run the built-in `noop` type (no Redis call in "
                        "the task; completion read from the stats counter): the queue's own cost alone")
    parser.add_argument("--strace", action="store_true", help="count the first worker's system calls for 3 s "
                        "(`strace -c -f`; slows it down, so read counts, not times)")
    parser.add_argument("--profile", metavar="DIR", help="attach `py-spy record` to the first worker for 3 s "
                        "and write collapsed stacks to DIR/worker.txt (py-spy must be installed)")
    parser.add_argument("--timeline", action="store_true", help="print completions per 100 ms from the "
                        "workers' start (warm-up shows here)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.workers < 1 or args.concurrency < 1:
        parser.error("--n, --workers and --concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from benchmarks.project_handlers import register
    from system.broker import Broker
    from system.config import Settings
    from system.model import TaskSpec

    task = TaskSpec(type="noop" if args.empty else "bench_noop", data=None, priority="normal", max_retries=3,
                    timeout=300.0)
    launcher = Launcher(Path(tempfile.mkdtemp(prefix="drain-cpu-")))
    try:
        with RedisServer(launcher=launcher) as server:
            r = redis.Redis.from_url(server.url)
            register()
            broker = Broker(Settings(redis_url=server.url))
            for start in range(0, args.n, 500):
                broker.submit([task] * min(500, args.n - start))

            def completed() -> int:
                if args.empty:
                    return int(r.hget(broker.keys.stats, "completed") or 0)
                return int(r.get(DONE) or 0)

            r.config_resetstat()
            redis_cpu0 = cpu_seconds(server.group.proc.pid)
            env = dict(os.environ, REDIS_URL=server.url, BENCH_REDIS_URL=server.url, PYTHONPATH=str(ROOT),
                       WORKER_CONCURRENCY=str(args.concurrency))
            t0 = time.perf_counter()
            workers = [launcher.start(f"worker-{i}", [
                sys.executable, "-m", "benchmarks.project_handlers", "worker", "--id", f"w{i}", "--log-level",
                "WARNING"], env=env, cwd=str(ROOT)) for i in range(args.workers)]
            profiler = attach_profiler(args.profile, workers[0].proc.pid, 3) if args.profile else None
            tracer = count_syscalls(workers[0].proc.pid, 3) if args.strace else None
            first, first_done = 0.0, 0
            samples: list[tuple[float, int]] = []
            while (done := completed()) < args.n:
                if done and not first:
                    first, first_done = time.perf_counter(), done
                samples.append((time.perf_counter() - t0, done))
                time.sleep(0.01)
            t1 = time.perf_counter()
            worker_cpu = [sum(cpu_seconds(p) for p in group_pids(w.pgid)) for w in workers]
            switches = [context_switches(w.proc.pid) for w in workers]
            redis_cpu = cpu_seconds(server.group.proc.pid) - redis_cpu0
            stats = r.info("commandstats")
            for w in workers:
                w.stop()
            if profiler:
                profiler.wait(timeout=30)
            if tracer:
                print(tracer.communicate(timeout=30)[1])
    finally:
        launcher.stop_all()
    report(args, task.type, t1 - t0, (args.n - first_done) / (t1 - first), worker_cpu, switches, redis_cpu, stats,
           samples)


def report(args: argparse.Namespace, task_type: str, wall: float, steady: float, worker_cpu: list[float],
           switches: list[tuple[int, int]], redis_cpu: float, stats: dict, samples: list[tuple[float, int]]) -> None:
    n = args.n
    print(f"drain {n} {task_type}, {args.workers} workers x {args.concurrency}: {wall:.2f} s wall, "
          f"steady {steady:,.0f} tasks/s")
    per_worker = n / args.workers
    for i, (c, (vol, invol)) in enumerate(zip(worker_cpu, switches, strict=True)):
        print(f"  worker {i}: {c:.2f} CPU s = {1e6 * c / per_worker:.0f} us per task it ran (approx.), "
              f"{vol / per_worker:.1f} voluntary + {invol / per_worker:.1f} involuntary context switches per task")
    print(f"  redis-server: {redis_cpu:.2f} CPU s = {1e6 * redis_cpu / n:.0f} us per task")
    for name, s in sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:8]:
        print(f"    {name}: {s['calls']} calls, {s['usec'] / n:.1f} us per task")
    if args.timeline:
        per_window: dict[int, int] = {}
        for t, done in samples:
            per_window[int(t * 10)] = done
        last = 0
        for window in sorted(per_window):
            print(f"  {window / 10:4.1f} s  done {per_window[window]:6d}  +{per_window[window] - last}")
            last = per_window[window]


if __name__ == "__main__":
    main()
