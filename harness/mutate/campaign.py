"""The campaign runner: for each mutant, a throwaway copy of `system/` with the bug planted, and
its suspect scenarios run through the ordinary `harness run` (local backend) with
HARNESS_SYSTEM_ROOT pointing the spawned gateway and workers at the copy. Verdicts come from each
run's results.json. The real checkout is only read.

Each run is a child process (`python -m harness run`), so a budget can end it: on overrun it gets
SIGTERM (the harness tears its system down, as on Ctrl-C), then SIGKILL and `harness cleanup`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends.local import SYSTEM_ROOT_ENV
from harness.mutate.matrix import (
    CAUGHT,
    ERROR,
    Campaign,
    Cell,
    MutantResult,
    columns,
    plan,
    scenario_cost,
    verdict_of,
)
from harness.mutate.mutant import Mutant, MutantError, copy_system, plant

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CampaignOptions:
    out: Path
    scenario_dir: Path = PROJECT_ROOT / "scenarios"
    full: bool = False              # whole matrix instead of stopping at the first catch
    budget: float = 240.0           # seconds per run before it is stopped (no verdict)
    project_root: Path = PROJECT_ROOT
    python: str = sys.executable
    say: Callable[[str], None] = print


def scenario_costs(scenario_dir: Path) -> dict[str, float]:
    """Estimated wall time of every shipped scenario, keyed by file stem."""
    from harness.loader import load_scenarios
    costs: dict[str, float] = {}
    for path in sorted(scenario_dir.glob("*.yaml")):
        s = load_scenarios([path])[0]
        ends = [e.timing.at + (e.duration or 0.0) for e in s.timeline]
        costs[path.stem] = scenario_cost(s.load.duration, max(ends, default=0.0), s.drain.timeout)
    return costs


def _new_results(runs_dir: Path, before: set[Path]) -> tuple[Path | None, dict[str, Any] | None]:
    """The run directory this run created (not an earlier run's) and its results.json, if any."""
    created = sorted(set(runs_dir.glob("*/*/")) - before, key=lambda p: p.stat().st_mtime)
    if not created:
        return None, None
    run_dir = created[-1]
    try:
        return run_dir, json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return run_dir, None


def _stop(proc: subprocess.Popen[bytes], opts: CampaignOptions, state_dir: Path) -> None:
    """End an overrunning run: SIGTERM lets the harness tear down; SIGKILL + cleanup if it hangs."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        subprocess.run([opts.python, "-m", "harness", "cleanup", "--state-dir", str(state_dir)],
                       cwd=opts.project_root, check=False, capture_output=True, timeout=120)


def run_one(mutant: str, scenario: str, root: Path, opts: CampaignOptions) -> Cell:
    """One `harness run` of scenarios/<scenario>.yaml against the system copy at `root`."""
    runs_dir = opts.out / "runs" / mutant
    runs_dir.mkdir(parents=True, exist_ok=True)
    state_dir = opts.out / "state"
    log = opts.out / "logs" / f"{mutant}--{scenario}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, SYSTEM_ROOT_ENV: str(root)}
    cmd = [opts.python, "-m", "harness", "run", str(opts.scenario_dir / f"{scenario}.yaml"),
           "--backend", "local", "--out", str(runs_dir), "--state-dir", str(state_dir)]
    before = set(runs_dir.glob("*/*/"))
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=opts.project_root, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=opts.budget)
        except subprocess.TimeoutExpired:
            _stop(proc, opts, state_dir)
            return Cell(mutant, scenario, ERROR, seconds=time.monotonic() - started,
                        error=f"over the budget of {opts.budget:g}s; stopped (log {log})")
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM of the campaign: the run tears down first
            _stop(proc, opts, state_dir)
            raise
    seconds = time.monotonic() - started
    run_dir, results = _new_results(runs_dir, before)
    verdict, failed, error = verdict_of(code, results)
    if error:
        error += f" (log {log})"
    return Cell(mutant, scenario, verdict, failed, seconds, str(run_dir or ""), error)


def try_mutant(mutant: Mutant, suspects: Sequence[str], opts: CampaignOptions) -> MutantResult:
    """Plant the mutant in a fresh copy and run its suspects; stop at the first catch unless full."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        root = copy_system(opts.project_root, Path(tmp))
        try:
            plant(mutant, root)
        except MutantError as exc:
            opts.say(f"  {mutant.name}: NOT PLANTED: {exc}")
            return MutantResult(mutant, error=str(exc))
        cells: list[Cell] = []
        if not suspects:
            opts.say(f"  {mutant.name}: no shipped scenario exercises it: survives")
        for scenario in suspects:
            opts.say(f"  {mutant.name} x {scenario} ...")
            cell = run_one(mutant.name, scenario, root, opts)
            cells.append(cell)
            what = (f"caught by {', '.join(cell.caught_by)}" if cell.verdict == CAUGHT
                    else cell.error or cell.verdict)
            opts.say(f"  {mutant.name} x {scenario}: {cell.verdict.upper()} {what} ({cell.seconds:.0f}s)")
            if cell.verdict == CAUGHT and not opts.full:
                break
        return MutantResult(mutant, tuple(cells))


def run_campaign(mutants: Sequence[Mutant], opts: CampaignOptions) -> Campaign:
    """Every mutant in turn (each in its own copy); the matrix with its kill rate."""
    costs = scenario_costs(opts.scenario_dir)
    missing = sorted({s for m in mutants for s in m.scenarios} - set(costs))
    if missing:
        raise MutantError(f"the mutant table names scenarios that are not in {opts.scenario_dir}: "
                          f"{missing}; fix the names in harness/mutate/table.py")
    started = time.time()
    results: list[MutantResult] = []
    todo = plan(mutants, costs, full=opts.full)
    for i, (mutant, suspects) in enumerate(todo, 1):
        opts.say(f"[{i}/{len(todo)}] {mutant.name} ({mutant.guarantee}): {mutant.bug}")
        results.append(try_mutant(mutant, suspects, opts))
    meta = {"started": started, "seconds": round(time.time() - started, 1), "full": opts.full,
            "budget_s": opts.budget, "backend": "local", "command": " ".join(["python3 -m harness", *sys.argv[1:]]),
            "costs": {k: round(v, 1) for k, v in costs.items()}}
    return Campaign(tuple(results), columns(results, costs), meta)


def write_outputs(campaign: Campaign, out: Path) -> Mapping[str, Path]:
    """mutants.json and mutants.html in `out`."""
    from harness.mutate.matrix import to_json
    from harness.mutate.page import render_campaign
    from harness.report.page import write_page
    out.mkdir(parents=True, exist_ok=True)
    doc = out / "mutants.json"
    doc.write_text(json.dumps(to_json(campaign), indent=2) + "\n", encoding="utf-8")
    page = out / "mutants.html"
    write_page(page, render_campaign(campaign, out))
    state = out / "state"
    if state.is_dir() and not any(state.rglob("*.json")):
        shutil.rmtree(state, ignore_errors=True)
    return {"json": doc, "html": page}
