"""`harness up | fault | down | status`: the hands-on session's commands (argument parsing and
printing; the work is in harness.session, harness.control and harness.manual).

Exit codes as `run`: 0 every check passed, 1 a check failed (or, for `fault`, the fault was
recorded as failed), 2 bad usage, a bad fault, or no session running, 3 the system could not be
brought up or torn down, 130 interrupted twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
from pathlib import Path
from typing import Any

from harness.backends import BACKEND_NAMES, capabilities_of, docker_available
from harness.backends.procs import pid_running
from harness.control import SessionError, call, read_session, wait_result
from harness.ledger import state_dir
from harness.loader import ScenarioError, validate
from harness.manual import fault_entry, parse_params
from harness.runner import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_PASS, EXIT_SYSTEM, RunOptions
from harness.scenario import FAULTS
from harness.session import run_session, session_scenario


def add_commands(sub: Any) -> None:
    up = sub.add_parser("up", help="bring the system up and keep it up for faults by hand, until `down`")
    up.add_argument("file", nargs="?", type=Path, help="a scenario whose load and timeline to run meanwhile")
    up.add_argument("--backend", choices=BACKEND_NAMES,
                    help="default: the scenario's, else docker when an engine answers, else local")
    up.add_argument("--workers", type=int, help="workers to start (default: the scenario's, else 3)")
    up.add_argument("--sentinel", action="store_true",
                    help="also start Sentinel, so that `harness fault redis_failover` can run")
    up.add_argument("--out", type=Path, default=Path("reports"), help="default: reports/ (run dir session/<time>)")
    up.add_argument("--state-dir", type=Path, help="default $HARNESS_STATE_DIR or .harness")
    flt = sub.add_parser("fault", help="apply a fault to the running session, as a timeline entry would")
    flt.add_argument("kind", help=f"one of: {', '.join(FAULTS)}")
    flt.add_argument("target", nargs="?", help="worker-N, leader, random-worker, all-workers, gateway; "
                                                "for scale the worker count")
    flt.add_argument("--for", dest="duration", metavar="DURATION", help="undo it after this long, e.g. 10s")
    flt.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="a parameter of the fault, e.g. latency_ms=200 (repeatable)")
    flt.add_argument("--state-dir", type=Path)
    down = sub.add_parser("down", help="end the running session: heal, drain, check, report")
    down.add_argument("--state-dir", type=Path)
    down.add_argument("--timeout", type=float, default=600, help="seconds to wait for the report (default 600)")
    st = sub.add_parser("status", help="the running session: phase, URLs, workers, open faults")
    st.add_argument("--state-dir", type=Path)


def _error(console: Any, lines: list[str]) -> int:
    for line in lines:
        console.print(f"[red]error:[/red] {line}", markup=True, soft_wrap=True, highlight=False)
    return EXIT_BAD_INPUT


def cmd_up(args: argparse.Namespace, console: Any, say: Any, interrupt: Any) -> int:
    if args.workers is not None and not 1 <= args.workers <= 64:
        return _error(console, [f"--workers {args.workers}: give 1 to 64"])
    try:
        scenario = session_scenario(args.file, args.workers)
        backend = args.backend or scenario.system.backend or ("docker" if docker_available() else "local")
        validate(scenario, capabilities_of(backend))
    except ScenarioError as exc:
        return _error(console, exc.errors)
    signal.signal(signal.SIGTERM, interrupt)
    # `harness up &` from a script (no job control) starts with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt: a session is ended by SIGINT, so take it back explicitly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    opts = RunOptions(backend=backend, out=args.out, state_dir=args.state_dir, say=say)
    try:
        result = run_session(scenario, opts, with_load=args.file is not None, sentinel=args.sentinel)
    except KeyboardInterrupt:
        console.print("interrupted: the system was torn down")
        return 130
    if result.exit_code == EXIT_BAD_INPUT and result.error:
        return _error(console, [result.error])
    _print_checks(console, [dataclasses.asdict(c) for c in result.checks], result.error)
    console.print(f"report: {result.run_dir / 'report.html'}", markup=False)
    return result.exit_code


def _print_checks(console: Any, checks: list[dict[str, Any]], error: str | None) -> None:
    if error:
        console.print(f"error: {error}", markup=False, soft_wrap=True)
    for c in checks:
        mark = "unknown" if c.get("passed") is None else "pass" if c["passed"] else "FAIL"
        console.print(f"  {mark:7} {c['name']}: {c.get('explanation', '')}", markup=False, soft_wrap=True)


def _session(console: Any, states: Path | None) -> dict[str, Any] | None:
    try:
        return read_session(state_dir(states))
    except SessionError as exc:
        _error(console, [str(exc)])
        return None


def cmd_fault(args: argparse.Namespace, console: Any) -> int:
    doc = _session(console, args.state_dir)
    if doc is None:
        return EXIT_BAD_INPUT
    try:
        entry = fault_entry(args.kind, args.target, args.duration, parse_params(args.param))
        status, body = call(doc, "POST", "/fault", entry)
    except ScenarioError as exc:
        return _error(console, exc.errors)
    except SessionError as exc:
        return _error(console, [str(exc)])
    if status != 200:
        errors = body.get("errors") or [str(body.get("error", f"HTTP {status}"))]
        kind = FAULTS.get(args.kind)
        if status == 400 and kind is not None and kind.params:
            errors.append(f"{args.kind} takes --param KEY=VALUE with KEY one of: {', '.join(kind.params)} "
                          "(docs/scenarios.md, Faults)")
        return _error(console, errors)
    for rec in body["records"]:
        detail = rec["detail"]
        targets = ",".join(detail.get("targets") or []) or rec["target"] or ""
        if rec["fault"] == "scale":
            targets = f"added {_names(detail.get('added'))}, removed {_names(detail.get('removed'))}"
        when = (f"effective {rec['effective'] - rec['requested']:+.3f}s after the request"
                if rec.get("effective") is not None and rec.get("requested") is not None else "not effective")
        problem = f" ERROR {rec['detail']['error']}" if rec["detail"].get("error") else ""
        console.print(f"{rec['id']} {rec['phase']} {rec['fault']} {targets}: {when}{problem}", markup=False)
    return EXIT_PASS if body.get("ok") else EXIT_CHECK_FAILED


def _names(names: list[str] | None) -> str:
    return ",".join(names or []) or "-"


def cmd_down(args: argparse.Namespace, console: Any) -> int:
    doc = _session(console, args.state_dir)
    if doc is None:
        return EXIT_BAD_INPUT
    def alive() -> bool:
        return pid_running(int(doc["pid"]), self_counts=True)
    try:
        call(doc, "POST", "/down", {})
    except SessionError as exc:
        return _error(console, [str(exc)])
    console.print(f"ending the session (pid {doc['pid']}): heal, drain, read back, check, report…", markup=False)
    result = wait_result(doc, alive=alive, timeout=args.timeout)
    if result is None:
        console.print("the session ended without a verdict; see its output and run dir "
                      f"{doc.get('run_dir', '')}", markup=False)
        return EXIT_SYSTEM
    _print_checks(console, result.get("checks", []), result.get("error"))
    console.print(f"report: {Path(result['run_dir']) / 'report.html'}", markup=False)
    return int(result["exit_code"])


def cmd_status(args: argparse.Namespace, console: Any) -> int:
    doc = _session(console, args.state_dir)
    if doc is None:
        return EXIT_BAD_INPUT
    try:
        status, body = call(doc, "GET", "/status", timeout=10)
    except SessionError as exc:
        return _error(console, [str(exc)])
    print(json.dumps(body, indent=2))
    return EXIT_PASS if status == 200 else EXIT_SYSTEM
