"""`python -m benchmarks.run`: every system under test, every scenario, N runs, one Redis.

  python -m benchmarks.run                       # full: this project + Celery, RQ, Dramatiq, 3 runs
  python -m benchmarks.run --quick               # CI smoke: small sizes, no peers, 1 run (< 1 min)
  python -m benchmarks.run --only celery,rq --scenarios drain,latency --runs 3

Runs are interleaved (run 1 of every system, then run 2, ...) so that ratios are taken between
figures measured minutes apart, not hours. Writes JSON (--out) and a Markdown section (--md,
between <!-- bench:begin --> and <!-- bench:end --> markers, so prose around it survives).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from benchmarks import ceiling, report
from benchmarks.peer_systems import DEFAULT_VENV, PEERS
from benchmarks.procs import Launcher
from benchmarks.redis_server import RedisServer
from benchmarks.scenarios import Sizes, run_scenario
from benchmarks.sut import SCENARIOS, SystemUnderTest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("taskq-client", "taskq-http")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, no peers, one run (CI smoke)")
    p.add_argument("--runs", type=int, help="repetitions (default 3; 1 with --quick)")
    p.add_argument("--only", help=f"comma-separated systems: {', '.join((*OURS, *PEERS))}")
    p.add_argument("--scenarios", help=f"comma-separated: {', '.join((*SCENARIOS, 'ceiling'))}")
    p.add_argument("--out", help="JSON results file (default docs/benchmarks.json; with --quick "
                                 "reports/benchmarks/quick.json, which git ignores)")
    p.add_argument("--md", help="Markdown file for the tables (default: --out with .md)")
    p.add_argument("--peers-venv", default=os.environ.get("PEERS_VENV", str(DEFAULT_VENV)))
    p.add_argument("--merge", action="store_true",
                   help="keep what --out already holds and replace only the systems/scenarios measured now")
    p.add_argument("--render", action="store_true",
                   help="measure nothing: recompute summaries and the Markdown from the JSON in --out")
    p.add_argument("--skip-setup", action="store_true", help="do not run benchmarks/setup_peers.sh")
    args = p.parse_args(argv)
    known = (*OURS, *PEERS)
    args.systems = _pick(args.only, known, "--only") if args.only else (
        list(OURS) if args.quick else list(known))
    args.scenario_list = _pick(args.scenarios, (*SCENARIOS, "ceiling"), "--scenarios") if args.scenarios \
        else [*SCENARIOS, "ceiling"]
    args.runs = args.runs or (1 if args.quick else 3)
    if args.runs < 1:
        p.error("--runs must be 1 or more")
    args.out = args.out or ("reports/benchmarks/quick.json" if args.quick else "docs/benchmarks.json")
    args.md = args.md or str(Path(args.out).with_suffix(".md"))
    return args


def _pick(raw: str, known: tuple[str, ...], flag: str) -> list[str]:
    names = [x.strip() for x in raw.split(",") if x.strip()]
    bad = [n for n in names if n not in known]
    if bad:
        raise SystemExit(f"{flag}: unknown {', '.join(bad)}; choose from {', '.join(known)}")
    return names


def make_system(name: str, *, launcher: Launcher, url: str, venv: Path) -> SystemUnderTest:
    if name in PEERS:
        return PEERS[name](launcher=launcher, redis_url=url, venv=venv)
    from benchmarks.project import ProjectClient, ProjectGateway
    return (ProjectClient if name == "taskq-client" else ProjectGateway)(launcher=launcher, redis_url=url)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def measure(args: argparse.Namespace, launcher: Launcher, log) -> dict:
    sizes = Sizes.quick() if args.quick else Sizes()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    records: list[dict] = []
    ceilings: list[dict] = []
    with RedisServer(launcher=launcher) as server:
        r = redis.Redis.from_url(server.url)
        systems = [make_system(n, launcher=launcher, url=server.url, venv=Path(args.peers_venv))
                   for n in args.systems]
        versions = {"redis-server": server.version()}
        for sut in systems:
            versions.update(sut.versions())
        for run in range(args.runs):
            if "ceiling" in args.scenario_list:
                log(f"run {run + 1}: ceiling")
                r.flushall()
                ceilings.append({"run": run, "loadavg": os.getloadavg(),
                                 "metrics": ceiling.run(port=server.port, requests=sizes.ceiling_requests)})
            for sut in systems:
                records += measure_system(sut, r, sizes, run, args.scenario_list, log)
    meta = {"command": "python -m benchmarks.run " + shlex.join(sys.argv[1:]),
            "started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "versions": versions, "runs": args.runs, "quick": args.quick,
            "sizes": asdict(sizes), "systems": args.systems,
            "settings": {s.name: list(s.settings) for s in systems},
            "note": "other processes share this 2-core machine; see each record's loadavg"}
    return finish(meta, records, ceilings)


def finish(meta: dict, records: list[dict], ceilings: list[dict]) -> dict:
    """The result document: raw records plus summaries and ratios computed from them."""
    ours = [s for s in meta["systems"] if s in OURS]
    peers = [s for s in meta["systems"] if s in PEERS]
    return {"meta": meta, "records": records, "ceiling": ceilings,
            "summary": report.summarise(records), "ceiling_summary": report.ceiling_summary(ceilings),
            "ratios": report.ratios(records, ours, peers)}


def merge(old: dict, new: dict) -> dict:
    """Replace in `old` what `new` re-measured (per system and scenario); keep the rest.

    Ratios stay run by run: run i of a re-measured scenario is paired with run i of the others.
    """
    remeasured = {(r["system"], r["scenario"]) for r in new["records"]}
    records = [r for r in old["records"] if (r["system"], r["scenario"]) not in remeasured]
    records += new["records"]
    ceilings = new["ceiling"] or old["ceiling"]
    meta = dict(old["meta"])
    meta["command"] = f"{old['meta']['command']}; then {new['meta']['command']}"
    meta["systems"] = list(dict.fromkeys([*old["meta"]["systems"], *new["meta"]["systems"]]))
    meta["settings"] = {**old["meta"].get("settings", {}), **new["meta"]["settings"]}
    meta["runs"] = max(old["meta"]["runs"], new["meta"]["runs"])
    meta["finished"] = new["meta"].get("finished")
    return finish(meta, records, ceilings)


def measure_system(sut: SystemUnderTest, r: redis.Redis, sizes: Sizes, run: int,
                   scenarios: list[str], log) -> list[dict]:
    out = []
    sut.open()
    try:
        for scenario in (s for s in scenarios if s in sut.scenarios):
            rec: dict[str, Any] = {"run": run, "system": sut.name, "scenario": scenario, "loadavg": os.getloadavg()}
            t0 = time.monotonic()
            try:
                rec["metrics"] = run_scenario(scenario, sut, r, sizes)
                rec["error"] = None
            except Exception as exc:  # noqa: BLE001 - one failing system must not end the run
                sut.stop_workers()
                rec["metrics"], rec["error"] = {}, f"{type(exc).__name__}: {exc}"
            rec["seconds"] = time.monotonic() - t0
            log(f"run {run + 1}: {sut.name} {scenario} {rec['seconds']:.0f} s "
                f"{rec['error'] or _brief(rec['metrics'])}")
            out.append(rec)
    finally:
        sut.close()
    return out


def _brief(metrics: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))


def _no_nan(value):
    """JSON has no NaN: a figure never reached (e.g. recovery past the cap) is written as null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def write_markdown(path: Path, section: str) -> None:
    """Replace the marked section, or append it, so hand-written prose in the file survives."""
    block = f"{BEGIN}\n{section}{END}\n"
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = (text + "\n" if text else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` stops its processes."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        old = json.loads(Path(args.out).read_text())
        result = finish(old["meta"], old["records"], old["ceiling"])
        Path(args.out).write_text(json.dumps(_no_nan(result), indent=1, default=str) + "\n")
        write_markdown(Path(args.md), report.markdown(result))
        return 0
    if any(s in PEERS for s in args.systems) and not args.skip_setup:
        subprocess.run(["bash", str(ROOT / "benchmarks" / "setup_peers.sh"), args.peers_venv], check=True)
    signal.signal(signal.SIGTERM, _interrupt)
    launcher = Launcher(Path(tempfile.mkdtemp(prefix="bench-logs-")))

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {msg}", flush=True)

    log(f"worker logs in {launcher.log_dir}")
    try:
        result = measure(args, launcher, log)
    except KeyboardInterrupt:
        log("interrupted: stopping every process started, writing nothing")
        return 130
    finally:
        launcher.stop_all()
    out = Path(args.out)
    if args.merge and out.exists():
        result = merge(json.loads(out.read_text()), result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_no_nan(result), indent=1, default=str) + "\n")
    write_markdown(Path(args.md), report.markdown(result))
    log(f"wrote {out} and {args.md}")
    failed = [r for r in result["records"] if r["error"]]
    return 1 if failed and args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
