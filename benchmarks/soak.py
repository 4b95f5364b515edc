"""What a long run costs: runs a soak scenario with the harness as a child process and records
its resident memory every few seconds, then gathers the run's own cost figures (read-back and
check times from meta.json), the report's size and its open time in headless Chromium, Redis
memory (start / peak / end, from the sampler) and the task counts.

    python -m benchmarks.soak scenarios/soak/soak-1m.yaml --out /tmp/soak [--interval 5]
    python -m benchmarks.soak --measure-only RUN_DIR [--recheck]   # a finished run, with this checkout's code

Writes OUT/rss.csv (seconds, VmRSS MB, harness phase) and prints one JSON object (also OUT/soak.json).
Numbers go to docs/benchmarks.md, "The soak".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.recorded import load_history

ROOT = Path(__file__).resolve().parents[1]
READY = "document.body && document.body.dataset.rendered !== undefined"


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_with_rss(scenario: Path, out: Path, interval: float) -> tuple[int, list[tuple[float, float]]]:
    """Run the scenario; (exit code, [(seconds, RSS MB)])."""
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "harness.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario), "--backend", "local",
                             "--out", str(out / "reports")], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    began, series = time.monotonic(), []
    with open(out / "rss.csv", "w") as csv:
        csv.write("seconds,rss_mb\n")
        while proc.poll() is None:
            mb = rss_mb(proc.pid)
            if mb is not None:
                t = round(time.monotonic() - began, 1)
                series.append((t, mb))
                csv.write(f"{t},{mb:.1f}\n")
                csv.flush()
            try:
                proc.wait(timeout=interval)
            except subprocess.TimeoutExpired:
                pass
    log.close()
    return proc.returncode, series


def open_time(page: Path) -> dict[str, float]:
    """Seconds until every Plotly figure has rendered in headless Chromium (tests/browser/cdp.py),
    and the page's main-thread time."""
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from cdp import Browser, find_chromium
    exe = find_chromium()
    if exe is None:
        return {}
    with Browser(exe) as b:
        b.call("Performance.enable", {"timeDomain": "threadTicks"})
        b.open("about:blank", ready="true")
        seconds = b.open(page.as_uri(), ready=READY, timeout=120)
        metrics = {m["name"]: m["value"] for m in b.call("Performance.getMetrics")["metrics"]}
    return {"open_s": round(seconds, 2), "main_thread_s": round(metrics.get("TaskDuration", 0.0), 2)}


def recheck(run_dir: Path) -> dict[str, Any]:
    """Load the recorded run and run its checks again with this checkout's code: (seconds to
    load the records, seconds to check, this process's peak RSS so far)."""
    from harness.checks import run_checks
    from harness.loader import load_scenario
    from harness.recorded import load_tasks
    scenario = load_scenario(run_dir / "scenario.yaml")
    meta = json.loads((run_dir / "meta.json").read_text())
    began = time.perf_counter()
    history, tasks = load_history(run_dir / "history.jsonl"), load_tasks(run_dir / "tasks.jsonl")
    loaded = time.perf_counter()
    checks = run_checks(scenario, history, tasks, wall_start=meta["start_wall"])
    done = time.perf_counter()
    return {"recheck": {"load_s": round(loaded - began, 1), "checks_s": round(done - loaded, 1),
                        "tasks": len(tasks), "kept_whole": len(tasks.eventful_rows()),
                        "failed": [c.name for c in checks if c.passed is not True],
                        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}


def measure(run_dir: Path, *, rebuild: bool = True) -> dict[str, Any]:
    meta = json.loads((run_dir / "meta.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    history = load_history(run_dir / "history.jsonl")
    memory = [s.memory for s in history.others if getattr(s, "kind", "") == "sample" and s.memory]
    page = run_dir / "report.html"
    began = time.perf_counter()
    if rebuild:
        from harness.report import build_report
        build_report(run_dir)
    report_s = time.perf_counter() - began if rebuild else None
    return {
        "run_dir": str(run_dir), "passed": results.get("passed"),
        "failed_checks": [c["name"] for c in results["checks"] if c["passed"] is not True],
        "summary": {k: results["summary"].get(k) for k in ("submitted", "accepted", "succeeded", "dead",
                                                            "duplicates", "stale_acks", "duration_s")},
        "costs": meta.get("costs"),
        "report_build_s": None if report_s is None else round(report_s, 1),
        # this process's peak so far: with --measure-only (no --recheck), reading the samples and
        # rebuilding the report in a fresh process, i.e. what the report costs in memory
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "report_mb": round(page.stat().st_size / 1e6, 2),
        "files_mb": {p.name: round(p.stat().st_size / 1e6, 1) for p in run_dir.glob("*.jsonl")},
        "redis_mb": {"start": _mb(memory[0]), "peak": _mb(max(memory)), "end": _mb(memory[-1])} if memory else None,
        **open_time(page),
        "loadavg": os.getloadavg(),
    }


def _mb(n: int) -> float:
    return round(n / 1e6, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", type=Path)
    p.add_argument("--out", type=Path, default=Path("/tmp/soak"))
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--measure-only", type=Path, metavar="RUN_DIR")
    p.add_argument("--recheck", action="store_true", help="with --measure-only: also time loading and checking")
    p.add_argument("--no-rebuild", action="store_true", help="with --measure-only: open the run's own report")
    args = p.parse_args(argv)
    if args.measure_only:
        doc = recheck(args.measure_only) if args.recheck else {}
        doc.update(measure(args.measure_only, rebuild=not args.no_rebuild))
        (args.measure_only / "soak-measure.json").write_text(json.dumps(doc, indent=2))
        print(json.dumps(doc, indent=2))
        return 0
    if args.scenario is None:
        p.error("give a scenario file (or --measure-only RUN_DIR)")
    load_before = os.getloadavg()
    code, series = run_with_rss(args.scenario, args.out, args.interval)
    runs = sorted((args.out / "reports").glob("*/*/meta.json"))
    doc: dict[str, Any] = {"scenario": str(args.scenario), "exit_code": code, "loadavg_before": load_before,
                           "rss_peak_mb": round(max((m for _, m in series), default=0.0), 1),
                           "rss_samples": len(series)}
    if runs:
        doc.update(measure(runs[-1].parent))
    (args.out / "soak.json").write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
