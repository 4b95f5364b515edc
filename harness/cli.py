"""`harness`: run, validate, list, report, compare, cleanup, mutate; up, fault, down, status (cli_session).
Parses arguments and calls library functions.

Exit codes: 0 every check passed, 1 a check failed, 2 bad scenario file or usage, 3 the system
could not be brought up or torn down (130 when interrupted; teardown has still run).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness import cli_session, junit
from harness.backends import BACKEND_NAMES, capabilities_of, docker_available
from harness.cli_session import add_commands as add_session_commands
from harness.loader import ScenarioError, load_scenarios, validate
from harness.runinfo import Progress
from harness.runner import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_PASS,
    EXIT_SYSTEM,
    RunOptions,
    RunResult,
    run_scenario,
)

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
console = Console(stderr=False, highlight=False)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description="Chaos harness for the task queue.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenario files")
    run.add_argument("files", nargs="+", type=Path)
    run.add_argument("--backend", choices=BACKEND_NAMES,
                     help="default: the scenario's, else docker when an engine answers, else local")
    run.add_argument("--out", type=Path, default=Path("reports"), help="default: reports/")
    run.add_argument("--seed", type=int, help="overrides the scenario's seed")
    run.add_argument("--junit", type=Path, help="also write one JUnit XML for all scenarios")
    run.add_argument("--keep-up", action="store_true", help="leave the system running afterwards")
    run.add_argument("--state-dir", type=Path, help="ledgers of runs (default $HARNESS_STATE_DIR or .harness)")
    run.add_argument("--baseline", type=Path, metavar="FILE_OR_DIR",
                     help="compare throughput, p99 and recovery with a baseline: a results.json, a run "
                          "directory, or a reports/ folder (the newest run of the same scenario)")
    run.add_argument("--baseline-threshold", type=float, metavar="FRACTION",
                     help="regression beyond this fraction fails a check (default: the scenario's "
                          "baseline.threshold, else 0.20 = 20 %%)")
    run.add_argument("--late-after", type=float, default=0.5, metavar="SECONDS",
                     help="flag a fault (results.json late_faults, the report) that took effect more "
                          "than this after its scheduled time (default 0.5)")
    run.add_argument("--realtime-load", action="store_true",
                     help="run the load generator's thread under SCHED_RR (root or CAP_SYS_NICE), so a "
                          "busy machine delays its sends less: pacing lag p99 about 2 ms instead of tens "
                          "of ms at load average 70+ (meta.json load.scheduling says how it ran)")
    cmp = sub.add_parser("compare", help="side-by-side page of two runs")
    cmp.add_argument("run_a", type=Path)
    cmp.add_argument("run_b", type=Path)
    cmp.add_argument("--out", type=Path, help="HTML file to write (default: RUN_B/compare.html)")
    val = sub.add_parser("validate", help="check scenario files without running anything")
    val.add_argument("files", nargs="+", type=Path)
    val.add_argument("--backend", choices=BACKEND_NAMES, help="also check what this backend can do")
    lst = sub.add_parser("list", help="the shipped scenarios with their descriptions")
    lst.add_argument("dir", nargs="?", type=Path, default=SCENARIO_DIR)
    rep = sub.add_parser("report", help="(re)build the report of a run directory")
    rep.add_argument("run_dir", type=Path)
    add_session_commands(sub)
    cln = sub.add_parser("cleanup", help="undo what killed or --keep-up runs left behind")
    cln.add_argument("--state-dir", type=Path)
    mut = sub.add_parser("mutate", help="mutation campaign: seed known bugs into a copy of system/ and "
                                        "check the shipped scenarios catch them (local backend)")
    mut.add_argument("--mutant", action="append", default=[], metavar="NAME",
                     help="only this mutant (repeatable); see --list")
    mut.add_argument("--full", action="store_true",
                     help="run every shipped scenario against every mutant (default: its suspects, "
                          "cheapest first, stopping at the first catch)")
    mut.add_argument("--out", type=Path, help="output directory (default reports/mutate/<time>/)")
    mut.add_argument("--budget", type=float, default=240.0, metavar="SECONDS",
                     help="wall time allowed per run before it is stopped (default 240)")
    mut.add_argument("--list", action="store_true", help="print the mutant table and exit")
    return p


def _backend_for(flag: str | None, scenario: Any) -> str:
    if flag:
        return flag
    if scenario.system.backend:
        return str(scenario.system.backend)
    return "docker" if docker_available() else "local"


def _load(files: Sequence[Path], backend_flag: str | None, *,
          probe: bool = True) -> tuple[list[Any], list[str]]:
    """Every scenario, checked against the backend each would run on; all errors at once.
    probe=False (validate): without --backend, check against the scenario's backend or local,
    without asking Docker."""
    try:
        scenarios = load_scenarios(files)
    except ScenarioError as exc:
        return [], exc.errors
    errors: list[str] = []
    for s in scenarios:
        backend = (_backend_for(backend_flag, s) if probe
                   else backend_flag or s.system.backend or "local")
        try:
            validate(s, capabilities_of(backend))
        except ScenarioError as exc:
            errors.extend(exc.errors)
    return scenarios, errors


def _bad(errors: list[str]) -> int:
    for line in errors:
        console.print(f"[red]error:[/red] {line}", markup=True, soft_wrap=True)
    return EXIT_BAD_INPUT


def _progress_table(p: Progress) -> Table:
    t = Table.grid(padding=(0, 2))
    total = f"/{p.total:.0f}s" if p.phase == "load" else f" (drain deadline {p.total:.0f}s)"
    t.add_row(f"[bold]{p.scenario}[/bold]", f"phase {p.phase}", f"{p.elapsed:5.1f}s{total}")
    t.add_row(f"submitted {p.submitted} (ok {p.ok}, unknown {p.info}, rejected {p.fail})",
              f"completed {p.completed}  dead {p.dead}  in flight {p.queued}",
              f"{p.throughput:6.1f} tasks/s")
    t.add_row(f"workers {p.workers} (leader {p.leader or '-'})",
              "faults: " + (", ".join(p.faults) or "none"), "")
    return t


class _Display:
    """Live table on a terminal; a line every 5 s otherwise (CI logs)."""

    def __init__(self) -> None:
        self.live: Live | None = None
        self.last_line = 0.0

    def __call__(self, p: Progress) -> None:
        if console.is_terminal:
            if self.live is None:
                self.live = Live(_progress_table(p), console=console, refresh_per_second=4)
                self.live.start()
            self.live.update(_progress_table(p))
        elif time.monotonic() - self.last_line > 5:
            self.last_line = time.monotonic()
            console.print(f"  {p.phase} {p.elapsed:.0f}s submitted={p.submitted} "
                          f"completed={p.completed} {p.throughput:.1f}/s workers={p.workers} "
                          f"faults={','.join(p.faults) or '-'}")

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _summary(results: list[RunResult]) -> None:
    table = Table(title="checks")
    for col in ("scenario", "check", "result", "explanation"):
        table.add_column(col)
    for r in results:
        if r.error:
            table.add_row(r.scenario, "run", "[red]ERROR[/red]", r.error[:300])
        for c in r.checks:
            mark = ("[yellow]unknown[/yellow]" if c.passed is None
                    else "[green]pass[/green]" if c.passed else "[red]FAIL[/red]")
            table.add_row(r.scenario, c.name, mark, c.explanation)
    console.print(table)
    for r in results:
        console.print(f"{r.scenario}: seed {r.seed}, report {r.run_dir / 'report.html'}")


def _say(message: str) -> None:
    console.print(message, markup=False, soft_wrap=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _baselines(path: Path | None, scenarios: Sequence[Any]) -> tuple[dict[str, Any], list[str]]:
    """The baseline results of each scenario, or errors naming what is wrong with --baseline."""
    from harness.report import load_baseline
    found: dict[str, Any] = {}
    errors: list[str] = []
    if path is None:
        return found, errors
    for s in scenarios:
        source = path
        if path.is_dir() and (path / s.name).is_dir():  # a reports/ folder: newest run of this scenario
            runs = sorted(d for d in (path / s.name).iterdir() if (d / "results.json").is_file())
            source = runs[-1] if runs else path / s.name
        try:
            base = load_baseline(source)
        except ValueError as exc:
            errors.append(f"--baseline: {exc}")
            continue
        if base.get("scenario") not in (None, s.name):
            errors.append(f"--baseline: {source} is a run of {base.get('scenario')!r}, not {s.name!r}; "
                          "pass a run of the same scenario or a reports/ folder")
            continue
        found[s.name] = base
    return found, errors


def _threshold(flag: float | None, scenario: Any) -> float:
    if flag is not None:
        return flag
    return scenario.baseline.threshold if scenario.baseline is not None else 0.20


def cmd_run(args: argparse.Namespace) -> int:
    scenarios, errors = _load(args.files, args.backend)
    if args.baseline_threshold is not None and not 0 <= args.baseline_threshold < 10:
        errors.append(f"--baseline-threshold {args.baseline_threshold:g} is out of range; "
                      "give a fraction such as 0.2 for 20 %")
    if not 0 < args.late_after <= 60:
        errors.append(f"--late-after {args.late_after:g} is out of range; give seconds such as 0.5")
    baselines, baseline_errors = _baselines(args.baseline, scenarios)
    errors += baseline_errors
    if errors:
        return _bad(errors)
    signal.signal(signal.SIGTERM, _interrupt)
    results: list[RunResult] = []
    display = _Display()
    try:
        for s in scenarios:
            opts = RunOptions(backend=_backend_for(args.backend, s), out=args.out, seed=args.seed,
                              keep_up=args.keep_up, state_dir=args.state_dir,
                              baseline=baselines.get(s.name),
                              baseline_threshold=_threshold(args.baseline_threshold, s),
                              late_after=args.late_after, realtime_load=args.realtime_load,
                              on_progress=display, say=_say)
            results.append(run_scenario(s, opts))
            display.close()
    except KeyboardInterrupt:
        display.close()
        console.print("interrupted: the system was torn down")
        return 130
    finally:
        if args.junit:
            junit.write_suites(args.junit, [junit.suite(r.scenario, r.checks, error=r.error,
                                                        duration=r.duration)
                                            for r in results])
    _summary(results)
    codes = [r.exit_code for r in results]
    if EXIT_SYSTEM in codes:
        return EXIT_SYSTEM
    return EXIT_CHECK_FAILED if EXIT_CHECK_FAILED in codes else EXIT_PASS


def cmd_validate(args: argparse.Namespace) -> int:
    scenarios, errors = _load(args.files, args.backend, probe=False)
    if errors:
        return _bad(errors)
    for s in scenarios:
        console.print(f"ok: {s.source or s.name} ({s.name})", markup=False)
    return EXIT_PASS


def cmd_list(args: argparse.Namespace) -> int:
    files = sorted(args.dir.glob("*.yaml")) + sorted(args.dir.glob("*.yml"))
    table = Table(title=f"scenarios in {args.dir}")
    table.add_column("file")
    table.add_column("name")
    table.add_column("description")
    for f in files:
        try:
            s = load_scenarios([f])[0]
            table.add_row(f.name, s.name, s.description.strip())
        except ScenarioError as exc:
            table.add_row(f.name, "[red]invalid[/red]", exc.errors[0])
    console.print(table)
    return EXIT_PASS


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import build_report
    if not (args.run_dir / "history.jsonl").exists():
        console.print(f"error: {args.run_dir} is not a run directory (no history.jsonl); "
                      "pass reports/<scenario>/<timestamp>", markup=False)
        return EXIT_BAD_INPUT
    console.print(f"wrote {build_report(args.run_dir)}", markup=False)
    return EXIT_PASS


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report import compare_runs
    for run_dir in (args.run_a, args.run_b):
        if not (run_dir / "results.json").is_file():
            console.print(f"error: {run_dir} is not a finished run directory (no results.json); "
                          "pass reports/<scenario>/<timestamp>", markup=False)
            return EXIT_BAD_INPUT
    out = args.out or args.run_b / "compare.html"
    console.print(f"wrote {compare_runs(args.run_a, args.run_b, out)}", markup=False)
    return EXIT_PASS


def cmd_cleanup(args: argparse.Namespace) -> int:
    from harness.cleanup import cleanup_leftovers
    from harness.control import stale_session
    from harness.ledger import state_dir
    problems = cleanup_leftovers(state_dir(args.state_dir),
                                 say=_say)
    stale_session(state_dir(args.state_dir))  # a killed `harness up`'s session.json
    for p in problems:
        console.print(f"problem: {p}", markup=False)
    console.print("clean" if not problems else "some leftovers could not be removed")
    return EXIT_SYSTEM if problems else EXIT_PASS


def cmd_mutate(args: argparse.Namespace) -> int:
    from harness.mutate.cli import mutate
    return mutate(args, console)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list,
               "report": cmd_report, "compare": cmd_compare, "cleanup": cmd_cleanup, "mutate": cmd_mutate,
               "up": lambda a: cli_session.cmd_up(a, console, _say, _interrupt),
               "fault": lambda a: cli_session.cmd_fault(a, console),
               "down": lambda a: cli_session.cmd_down(a, console),
               "status": lambda a: cli_session.cmd_status(a, console)}[args.command]
    return handler(args)


def entry() -> None:
    sys.exit(main())
