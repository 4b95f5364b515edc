"""Can the harness's load generator load the gateway? `wrk` and harness.load against one gateway.

  python -m benchmarks.loadgen                  # 3 rounds of: wrk 6 s, generator flat out, paced
  python -m benchmarks.loadgen --fraction 0.8 --paced-clients 256 --out reports/benchmarks/loadgen.json

One redis-server and one gateway (`python -m system.gateway`, GATEWAY_WORKERS 2, the default
GATEWAY_WORKER_CLASS, no workers: submits only). Each round first runs `wrk` (single
`POST /tasks` of a noop, each with its own Idempotency-Key, as the generator sends them) for
its maximum rate; then the generator flat out (as many submits as wrk sent, all planned at
once: the most it can send through `--clients` requests in flight); then the generator paced at
`--fraction` of wrk's rate for as long (`--paced-clients` in flight at most: an open-loop plan
needs rate x latency of them, latency under load included). It reports the rate each sustained
(accepted submits per second) and its ratio to wrk's, the pacing lag of the paced run
(p50/p99/max: how late each send started behind its plan), the outcomes, the generator's CPU
(process CPU time over wall time; it runs in this process, which does nothing else meanwhile),
the gateway's connections per gunicorn process halfway through, the load average, and the
medians over the rounds with a verdict against issue 16's targets. Figures go to
docs/benchmarks.md with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from benchmarks.procs import Launcher, free_port, wait_for
from benchmarks.redis_server import RedisServer
from harness.history import SubmitRecord
from harness.load import TRANSPORTS, LoadGenerator
from harness.loadshape import PlannedSubmit
from system.config import Settings

ROOT = Path(__file__).resolve().parents[1]

# Every request gets its own Idempotency-Key (thread number + counter), like the generator's.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"type":"noop","data":{}}'
wrk.headers["Content-Type"] = "application/json"
local counter, prefix = 0, "wrk"
function setup(thread) thread:set("id", tostring(math.random(1, 1e9))) end
function init(args) prefix = "wrk-" .. (id or "0") .. "-" .. tostring(os.time()) end
function request()
  counter = counter + 1
  return wrk.format(nil, nil, {["Content-Type"] = "application/json",
                               ["Idempotency-Key"] = prefix .. "-" .. counter})
end
"""


def planned(t: float, index: int, *, type: str = "echo", priority: str = "normal") -> PlannedSubmit:
    """One planned submit of the benchmark, in the harness's own shape (harness.loadshape)."""
    return PlannedSubmit(t=t, index=index, type=type, data={"i": index}, priority=priority)


def run_wrk(url: str, *, seconds: float, connections: int, script: Path) -> dict[str, float]:
    """wrk's requests/s and mean latency for single submits."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url + "/tasks"],
                         capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:  # a rate of errors says nothing about the gateway's capacity
        raise RuntimeError(f"wrk got {non2xx.group(1)} error answers; its script or the gateway is wrong")
    return {"rate": rate}


def run_generator(url: str, *, rate: float | None, seconds: float, clients: int, run_id: str,
                  count: int = 0, transport: str = "pool", gateway_port: int = 0,
                  realtime: bool = False) -> dict[str, Any]:
    """The generator at a planned rate for `seconds`, or (rate None) `count` submits planned at
    once, sent as fast as `clients` requests in flight allow: what it sustained, its lag, its CPU,
    and (given the gateway's port) its connections per gateway process halfway through the run."""
    n = int(rate * seconds) if rate else count
    plan = [planned(i / rate if rate else 0.0, i, type="noop") for i in range(n)]
    records: list[SubmitRecord] = []
    gen = LoadGenerator(plan, gateway_url=url, run_id=run_id, record=records.append, clock=time.monotonic,
                        clients=clients, timeout=5.0, transport=transport, realtime=realtime)
    spread = connections_later(gateway_port, after=seconds / 2) if gateway_port else None
    cpu0, wall0 = time.process_time(), time.monotonic()
    gen.start(wall0)
    gen.join()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    ok = [r for r in records if r.outcome == "ok"]
    span = max(r.t_done for r in records) - min(r.t for r in records) if records else 1.0
    c = gen.counters
    return {"planned_rate": rate, "clients": clients, "sent": len(records), "ok": len(ok), "fail": c.fail,
            "info": c.info, "rate": len(ok) / span, "lag_p50_ms": 1000 * c.lag_quantile(0.5),
            "lag_p99_ms": 1000 * c.lag_p99, "lag_max_ms": 1000 * c.lag_max, "cpu_cores": cpu / wall,
            "cpu_us_per_submit": 1e6 * cpu / max(1, len(records)), "keys_unique": len({r.key for r in records}),
            "connections_per_gateway_process": _counted(spread), "scheduling": gen.scheduling,
            "errors": gen.errors}


def connections_later(port: int, *, after: float) -> subprocess.Popen[str] | None:
    """`ss` listing the established connections to `port`, run by a shell `after` seconds from
    now. Not from this process: its Python would take the GIL from the load thread, which a
    real-time load thread then waits for behind a normal-priority one (tens of ms at p99)."""
    try:
        return subprocess.Popen(["sh", "-c", f"sleep {after:.2f}; ss -Htnp state established '( sport = :{port} )'"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None


def _counted(ss: subprocess.Popen[str] | None) -> list[int]:
    """Connections per serving process, most first, from `connections_later`'s listing."""
    if ss is None:
        return []
    try:
        out, _ = ss.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        ss.kill()
        ss.communicate()
        return []
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def start_gateway(launcher: Launcher, redis_url: str) -> tuple[str, int]:
    """The gateway with 2 processes and the default worker class: (url, port)."""
    port = free_port()
    env = Settings(redis_url=redis_url, gateway_host="127.0.0.1", gateway_port=port, gateway_workers=2).env()
    launcher.start("gateway", [sys.executable, "-m", "system.gateway"], env={**env, "PYTHONPATH": str(ROOT)},
                   cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url), timeout=30, what=f"the gateway on port {port}")
    return url, port


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/queues", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each wrk and generator run")
    parser.add_argument("--fraction", type=float, default=0.85, help="generator's planned rate / wrk's rate")
    parser.add_argument("--clients", type=int, default=32, help="generator requests in flight at most, flat out")
    parser.add_argument("--paced-clients", type=int, default=256,
                        help="generator requests in flight at most, paced (needs rate x latency of them)")
    parser.add_argument("--wrk-connections", type=int, default=16)
    parser.add_argument("--transports", default="pool", help="generator transports to compare: pool,aiohttp")
    parser.add_argument("--out", help="JSON file for the figures")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    bad = set(args.transports.split(",")) - set(TRANSPORTS)
    if bad:
        parser.error(f"--transports {','.join(sorted(bad))}: use {' or '.join(TRANSPORTS)}")
    return args


def run_round(n: int, args: argparse.Namespace, url: str, port: int, script: Path) -> dict[str, Any]:
    """wrk, then each transport flat out and paced: one row of figures."""
    load_average = os.getloadavg()[0]
    wrk = run_wrk(url, seconds=args.seconds, connections=args.wrk_connections, script=script)
    row: dict[str, Any] = {"wrk": wrk, "load_average": load_average}
    for transport in args.transports.split(","):
        fastest = run_generator(url, rate=None, seconds=args.seconds, clients=args.clients,
                                count=int(wrk["rate"] * args.seconds), transport=transport, gateway_port=port,
                                run_id=f"loadgen-max-{transport}-{n}-{time.time_ns()}")
        row[transport] = {"max": fastest, "ratio_max": fastest["rate"] / wrk["rate"]}
        for key in ("paced", "paced_realtime"):
            paced = run_generator(url, rate=args.fraction * wrk["rate"], seconds=args.seconds,
                                  clients=args.paced_clients, transport=transport, gateway_port=port,
                                  realtime=key == "paced_realtime", run_id=f"loadgen-{key}-{n}-{time.time_ns()}")
            row[transport] |= {key: paced, f"ratio_{key}": paced["rate"] / wrk["rate"]}
    row["load_average_after"] = os.getloadavg()[0]
    return row


def round_line(n: int, row: dict[str, Any]) -> str:
    wrk = row["wrk"]["rate"]
    line = f"round {n + 1} (load average {row['load_average']:.1f}): wrk {wrk:.0f}/s"
    for transport in TRANSPORTS:
        if transport not in row:
            continue
        fastest = row[transport]["max"]
        line += (f"; {transport}: flat out {fastest['rate']:.0f}/s = {fastest['rate'] / wrk:.2f} x "
                 f"(CPU {fastest['cpu_cores']:.2f}, {fastest['cpu_us_per_submit']:.0f} us/submit, "
                 f"connections {fastest['connections_per_gateway_process']})")
        for key in ("paced", "paced_realtime"):
            paced = row[transport].get(key)
            if paced:
                line += (f"; {key.replace('_', ' ')} at {paced['planned_rate']:.0f}/s sustained "
                         f"{paced['rate']:.0f}/s = {paced['rate'] / wrk:.2f} x, lag p50 {paced['lag_p50_ms']:.2f} "
                         f"/ p99 {paced['lag_p99_ms']:.2f} / max {paced['lag_max_ms']:.1f} ms "
                         f"(CPU {paced['cpu_cores']:.2f}, {paced['scheduling']}, "
                         f"connections {paced['connections_per_gateway_process']}), "
                         f"fail {paced['fail']} info {paced['info']}")
    return line


def summarize(rounds: list[dict[str, Any]], transport: str) -> dict[str, Any]:
    """Medians over the rounds and the verdict against issue 16's targets for each way of pacing
    (normal scheduling, and the load thread real-time) (pure)."""
    rows = [r[transport] for r in rounds if transport in r]
    if not rows:
        return {}

    def med(get: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(get(r) for r in rows)
    out: dict[str, Any] = {"ratio_max": med(lambda r: r["ratio_max"]),
                           "cpu_us_per_submit": med(lambda r: r["max"]["cpu_us_per_submit"]),
                           "load_average": statistics.median(r["load_average"] for r in rounds)}
    for key in ("paced", "paced_realtime"):
        if not all(key in r for r in rows):
            continue
        ratio = statistics.median(r[f"ratio_{key}"] for r in rows)
        lag = statistics.median(r[key]["lag_p99_ms"] for r in rows)
        cpu = max(max(r["max"]["cpu_cores"], r[key]["cpu_cores"]) for r in rows)
        out[key] = {"ratio": ratio, "lag_p99_ms": lag, "cpu_cores": cpu,
                    "verdict": {"sustained >= 0.8 x wrk": ratio >= 0.8, "lag p99 <= 5 ms": lag <= 5.0,
                                "CPU <= 1 core": cpu <= 1.0,
                                "fail": sum(r["max"]["fail"] + r[key]["fail"] for r in rows)}}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-loadgen-"))
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    launcher = Launcher(work)
    rounds = []
    try:
        server = RedisServer(launcher=launcher).start()
        url, port = start_gateway(launcher, server.url)
        run_wrk(url, seconds=2, connections=args.wrk_connections, script=script)  # warm-up
        for n in range(args.rounds):
            rounds.append(run_round(n, args, url, port, script))
            print(round_line(n, rounds[-1]), flush=True)
    finally:
        launcher.stop_all()
    summary = {t: summarize(rounds, t) for t in args.transports.split(",")}
    for transport, figures in summary.items():
        line = (f"median over {len(rounds)} rounds (load average {figures['load_average']:.1f}), {transport}: "
                f"flat out {figures['ratio_max']:.2f} x wrk ({figures['cpu_us_per_submit']:.0f} us/submit)")
        for key in ("paced", "paced_realtime"):
            if key in figures:
                f = figures[key]
                line += (f"; {key.replace('_', ' ')} {f['ratio']:.2f} x wrk, lag p99 {f['lag_p99_ms']:.2f} ms, "
                         f"CPU at most {f['cpu_cores']:.2f} core: {f['verdict']}")
        print(line, flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "rounds": rounds, "summary": summary},
                                             indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
