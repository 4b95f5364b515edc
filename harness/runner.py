"""Runs one scenario: the composition root of backend, nemesis, load, recorder and checks.

Phases, each recorded in the history: cleanup leftovers → up → steady (healthy before any
fault) → load + timeline → heal every fault → drain (until idle, with a deadline) → readback →
check → report. Heal and teardown run in `finally`, also on Ctrl-C / SIGTERM (the CLI turns
SIGTERM into KeyboardInterrupt) and on a crash.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import junit
from harness.backends import BackendError, SystemSpec, make_backend
from harness.checks import CheckResult, results_document, run_checks
from harness.cleanup import cleanup_leftovers
from harness.client import GatewayClient
from harness.dump import scenario_yaml
from harness.faults import Nemesis, pick_live_leader
from harness.history import FaultRecord, HistoryWriter, PhaseRecord, Record, lines, write_results
from harness.ledger import Ledger, state_dir
from harness.load import LoadGenerator
from harness.loadshape import iter_submits
from harness.readback import Collector, TaskSink, read_back
from harness.recorded import load_history, load_tasks
from harness.recorder import Recorder
from harness.runinfo import (
    Progress,
    build_report_safely,
    idle,
    ignore_signals,
    meta_document,
    new_run_dir,
    restore_signals,
    steady_state,
)
from harness.scenario import LOAD_FAULTS, Scenario, worker_names
from harness.schedule import ScheduleError, build_schedule
from system.keys import Keys

EXIT_PASS, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_SYSTEM = 0, 1, 2, 3


@dataclass
class RunOptions:
    backend: str = "local"
    out: Path = Path("reports")
    seed: int | None = None
    keep_up: bool = False
    junit: Path | None = None
    state_dir: Path | None = None
    baseline: dict[str, Any] | None = None  # results.json of a run to compare key figures with
    baseline_threshold: float = 0.20
    late_after: float = 0.5   # a fault effective later than this after its schedule is flagged late
    realtime_load: bool = False  # the load thread under SCHED_RR (harness.load.realtime_thread)
    on_progress: Callable[[Progress], None] | None = None
    say: Callable[[str], None] = lambda _: None
    argv: list[str] = field(default_factory=lambda: list(sys.argv))


@dataclass
class RunResult:
    scenario: str
    run_dir: Path
    exit_code: int
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None
    seed: int = 0
    duration: float = 0.0


class SystemFailure(RuntimeError):
    """The system could not be brought up (exit code 3)."""


class Run:
    """State of one run; `execute` walks the phases."""

    def __init__(self, scenario: Scenario, opts: RunOptions) -> None:
        self.scenario, self.opts = scenario, opts
        self.seed = opts.seed if opts.seed is not None else (
            scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**31))
        self.run_dir = new_run_dir(opts.out, scenario.name)
        self.run_id = f"{scenario.name}-{self.run_dir.name}"
        self.t0 = time.monotonic()
        self.wall_start = time.time()
        self.history = HistoryWriter(self.run_dir / "history.jsonl")
        self.states = state_dir(opts.state_dir)
        self.ledger = Ledger.create(self.states, self.run_dir.name)
        try:
            self.backend = make_backend(opts.backend, ledger=self.ledger)
        except BackendError:
            self.history.close()
            self.ledger.archive(None)
            raise
        self.recorder: Recorder | None = None
        self.load: LoadGenerator | None = None
        self.nemesis: Nemesis | None = None
        self.keys = Keys(prefix=str(scenario.system.config.get("KEY_PREFIX", "")))
        self.phase = "init"
        self.load_start = 0.0
        self.timeline: threading.Thread | None = None
        self.problems: list[str] = []
        self.sink: TaskSink | None = None
        self.collector: Collector | None = None
        self.costs: dict[str, Any] = {}    # readback and check times, for meta.json

    def clock(self) -> float:
        return time.monotonic() - self.t0

    def enter(self, phase: str) -> None:
        self.phase = phase
        self.history.write(PhaseRecord(t=self.clock(), phase=phase))
        self.opts.say(f"[{self.scenario.name}] {phase}")

    def progress(self, total: float) -> Progress:
        return Progress.snapshot(self, total)

    # -- phases -----------------------------------------------------------------------------
    def bring_up(self) -> None:
        needs_sentinel = self.needs_sentinel()
        spec = SystemSpec(workers=self.scenario.system.workers,
                          config=dict(self.scenario.system.config), sentinel=needs_sentinel)
        self.enter("up")
        try:
            endpoints = self.backend.start(spec)
        except (BackendError, OSError) as exc:
            raise SystemFailure(f"could not bring the system up: {exc}") from exc
        self.enter("steady")
        problem = steady_state(endpoints.gateway_url, workers=spec.workers, timeout=30)
        if problem:
            raise SystemFailure(f"steady-state check failed before any fault: {problem}")
        try:  # e.g. Sentinel's steady state: reached now, so faults hit at their scheduled time
            self.backend.ready_for_faults(self.scenario.faults_used())
        except BackendError as exc:
            raise SystemFailure(f"steady-state check failed before any fault: {exc}") from exc

    def needs_sentinel(self) -> bool:
        """Start Sentinel (local: 3 redis-sentinel) only for a scenario that fails Redis over."""
        return "redis_failover" in self.scenario.faults_used()

    def prepare(self) -> None:
        """The schedule and submit plan for this seed, before anything starts (ScheduleError:
        the scenario cannot run with this seed, exit 2)."""
        self.schedule = build_schedule(self.scenario, seed=self.seed,
                                       workers=worker_names(self.scenario.system.workers))
        self.plan = iter_submits(self.scenario, self.schedule, seed=self.seed)

    def observe(self) -> None:
        """Start the sampler and the nemesis (once; a session starts them before its load)."""
        if self.nemesis is not None:
            return
        self.recorder = Recorder(redis_url=lambda: self.backend.endpoints().redis_url,
                                 keys=self.keys, record=self.history.write, clock=self.clock)
        self.recorder.start()
        self.nemesis = Nemesis(self.backend, ledger=self.ledger, record=self.record_fault,
                               clock=self.clock, leader=self._leader, late_after=self.opts.late_after,
                               leader_wait=self._leader_wait())

    def record_submit(self, rec: Record) -> None:
        """Where the load generator's records go: the history, and the collector when one runs."""
        self.history.write(rec)
        if self.collector is not None:
            self.collector.note(rec)

    def _start_collector(self, horizon: float) -> None:
        """A run that outlives RESULT_TTL_S (a soak) reads finished tasks back while it goes
        on, a third of the TTL after each submit, before their records expire."""
        ttl = self._setting_ms("RESULT_TTL_S")
        if ttl >= horizon + self.scenario.drain.timeout + 60:
            return
        self.sink = TaskSink(self.run_dir / "tasks.jsonl")
        self.collector = Collector(redis_url=lambda: self.backend.endpoints().redis_url, keys=self.keys,
                                   sink=self.sink, after=ttl / 3)
        self.collector.start()

    def record_fault(self, rec: FaultRecord) -> None:
        """Where the nemesis's fault records go: the history."""
        self.history.write(rec)

    def load_and_timeline(self) -> None:
        schedule, plan = self.schedule, self.plan
        endpoints = self.backend.endpoints()
        self.observe()
        assert self.nemesis is not None
        load = self.scenario.load
        self._start_collector(schedule.horizon)
        self.load = LoadGenerator(plan, gateway_url=endpoints.gateway_url, run_id=self.run_id,
                                  record=self.record_submit, clock=self.clock,
                                  clients=load.clients, batch=load.batch,
                                  timeout=load.submit_timeout, token=endpoints.gateway_token,
                                  realtime=self.opts.realtime_load)
        self.enter("load")
        start = self.load_start = self.clock()
        self.load.start(start)
        timeline = self.timeline = threading.Thread(
            target=self._timeline, args=(schedule.events, start), name="nemesis", daemon=True)
        timeline.start()
        while timeline.is_alive() or not self.load.join(timeout=0):
            self._tick(schedule.horizon)
            timeline.join(timeout=0.5)
        self.problems += self.load.errors
        for event in schedule.starts():
            if event.id not in self.nemesis.started and event.fault not in LOAD_FAULTS:
                self.nemesis.missed(event, requested=start + event.t,
                                    why="the timeline stopped before its time")
        for error in self.nemesis.errors:
            self.opts.say(f"warning: fault not applied: {error}")

    def _timeline(self, events: Any, start: float) -> None:
        assert self.nemesis is not None and self.load is not None
        for event in events:
            while self.clock() < start + event.t:
                if self.load.stop.wait(min(0.2, start + event.t - self.clock())):
                    return
            self.nemesis.apply(event, requested=start + event.t)

    def _tick(self, total: float) -> None:
        if self.opts.on_progress is not None:
            self.opts.on_progress(self.progress(total))

    def _setting_ms(self, name: str) -> float:
        """A system setting as the scenario overrides it, else its default (system/config.py)."""
        from system.config import Settings
        value = self.scenario.system.config.get(name)
        return float(value) if value is not None else float(getattr(Settings(), name.lower()))

    def _leader_wait(self) -> float:
        """How long a `leader` target may wait for the next election: the dead leader's key
        expires within LEADER_TTL_MS, a survivor takes it at its next REAPER_INTERVAL_MS tick."""
        return (self._setting_ms("LEADER_TTL_MS") + self._setting_ms("REAPER_INTERVAL_MS")) / 1000 + 0.5

    def _leader(self) -> str | None:
        """The live leader: named by the leader key, its process running, and its heartbeat
        younger than two heartbeat intervals (a killed or frozen leader's key outlives it)."""
        found = self.recorder.leader_now() if self.recorder is not None else None
        return pick_live_leader(found, self.backend.workers(),
                                fresh_s=2 * self._setting_ms("HEARTBEAT_INTERVAL_MS") / 1000)

    def heal(self) -> None:
        self.enter("heal")
        if self.nemesis is not None:
            self.problems += self.nemesis.heal_all()

    def drain(self) -> bool:
        """Wait until nothing is queued, leased or delayed (3 samples in a row) and no task is
        `running` without a lease (a record the queues cannot see); at the deadline, report
        what is still not done as a problem."""
        self.enter("drain")
        assert self.recorder is not None
        deadline = time.monotonic() + self.scenario.drain.timeout
        quiet, stuck = 0, []
        client = GatewayClient(self.backend.endpoints().gateway_url, timeout=5)
        try:
            while time.monotonic() < deadline:
                quiet = quiet + 1 if idle(self.recorder.last) else 0
                if quiet >= 3:
                    stuck = running_ids(client)
                    if not stuck:
                        return True
                self._tick(self.scenario.drain.timeout)
                time.sleep(0.25)
        finally:
            client.close()
        what = (f"{len(stuck)} task(s) still running without a lease: {', '.join(stuck[:5])}"
                if stuck else "not idle")
        self.problems.append(f"drain: {what} after {self.scenario.drain.timeout:g}s")
        return False

    def readback_and_check(self) -> list[CheckResult]:
        for when, primary in getattr(self.backend, "unscheduled_failovers", ()):
            self.problems.append(f"Sentinel failed Redis over by itself at {when - self.wall_start:.1f}s "
                                 f"(new primary {primary}): a failover the schedule did not ask for")
            self.opts.say(f"warning: {self.problems[-1]}")
        self.enter("readback")
        pending = self.collector.stop() if self.collector is not None else []
        sink = self.sink or TaskSink(self.run_dir / "tasks.jsonl")
        stats = read_back(lambda: self.backend.endpoints().redis_url, self.keys, sink,
                          itertools.chain(pending, submit_ids(self.run_dir / "history.jsonl")))
        stats.collected_early = self.collector.collected if self.collector is not None else 0
        sink.close()
        self.sink = self.collector = None   # its set of ids read (tens of MB in a soak) is not needed now
        self.costs["readback"] = stats.to_dict()
        self.enter("check")
        began = time.perf_counter()
        history = load_history(self.run_dir / "history.jsonl")
        tasks = load_tasks(self.run_dir / "tasks.jsonl")
        self.costs["load_records_s"] = round(time.perf_counter() - began, 3)
        self.costs["tasks"] = len(tasks)
        self.costs["tasks_kept_whole"] = len(tasks.eventful_rows())
        checks = run_checks(self.scenario, history, tasks, wall_start=self.wall_start)
        self.costs["checks_s"] = round(time.perf_counter() - began, 3)
        doc = results_document(self.scenario, checks, history=history, tasks=tasks,
                               meta=self.meta(), wall_start=self.wall_start)
        if self.opts.baseline is not None:
            from harness.report import baseline_checks
            checks += [CheckResult(**c) for c in baseline_checks(doc, self.opts.baseline,
                                                                 threshold=self.opts.baseline_threshold)]
            doc = results_document(self.scenario, checks, history=history, tasks=tasks,
                                   meta=self.meta(), wall_start=self.wall_start)
        write_results(self.run_dir / "results.json", doc)
        junit.write(self.run_dir / "junit.xml", self.scenario.name, checks,
                    duration=self.clock())
        return checks

    def meta(self) -> dict[str, Any]:
        return meta_document(self)

    def teardown(self) -> None:
        """Stop everything; never raises. Leaves the ledger in the state dir when unclean."""
        if self.load is not None:
            self.load.stop.set()
        if self.timeline is not None:  # a fault being applied (e.g. a scale) must finish first
            self.timeline.join(timeout=120)
        if self.nemesis is not None and self.phase not in ("heal", "drain", "readback", "check"):
            self.problems += self.nemesis.heal_all()
        if self.recorder is not None:
            self.recorder.stop()
        if self.collector is not None:
            self.collector.stop()
        if self.sink is not None:
            self.sink.close()
        self.history.close()
        self._copy_logs()
        if self.opts.keep_up:
            self.opts.say(f"--keep-up: system left running: {self.backend.endpoints()}; "
                          "`harness cleanup` stops it")
            self.ledger.close()
            return
        problems = self.backend.teardown()
        (self.run_dir / "meta.json").write_text(json.dumps(self.meta(), indent=2, default=str))
        if problems:
            self.problems += [f"teardown: {p}" for p in problems]
            self.ledger.close()
            return
        remove = getattr(self.backend, "remove_workdir", None)
        if remove is not None:
            remove()
        self.ledger.archive(self.run_dir)

    def _copy_logs(self) -> None:
        src = self.backend.log_dir()
        if src is None or not src.exists():
            return
        dest = self.run_dir / "logs"
        dest.mkdir(exist_ok=True)
        for log in src.glob("*.log"):
            shutil.copy2(log, dest / log.name)


def submit_ids(path: Path) -> Iterator[str]:
    """Ids of the history's submits, streamed from the file."""
    for _, raw in lines(path):
        if raw.get("kind") == "submit" and raw.get("id"):
            yield str(raw["id"])


HELD_STATUSES = ("reserved", "running")  # claimed by a worker: prefetched, or started


def running_ids(client: GatewayClient) -> list[str]:
    """Ids of tasks whose record says a worker holds them, `reserved` or `running` (asked once
    the leases are empty, so none of them holds a lease); unknown (gateway error) counts as
    none, the checks still judge them."""
    ids: list[str] = []
    for held in HELD_STATUSES:
        try:
            status, body = client.get_json(f"/tasks?status={held}&limit=50")
        except Exception:  # noqa: BLE001 - the drain must end; no_lost_tasks sees unfinished tasks
            continue
        if status == 200 and isinstance(body, dict):
            ids += [t["id"] for t in body.get("tasks", [])]
    return ids


def run_scenario(scenario: Scenario, opts: RunOptions, *,
                 make: Callable[[Scenario, RunOptions], Run] = Run) -> RunResult:
    """Run one scenario end to end; returns the exit code it deserves (0/1/3). `make`: the
    Run to walk the phases with (a hands-on session is a Run whose load phase waits)."""
    cleanup_leftovers(state_dir(opts.state_dir), say=opts.say)
    try:
        run = make(scenario, opts)
    except BackendError as exc:
        return RunResult(scenario.name, opts.out, EXIT_SYSTEM, error=str(exc))
    (run.run_dir / "scenario.yaml").write_text(scenario_yaml(scenario))
    result = RunResult(scenario.name, run.run_dir, EXIT_SYSTEM, seed=run.seed)
    opts.say(f"[{scenario.name}] seed {run.seed}, backend {opts.backend}, output {run.run_dir}")
    try:
        run.prepare()
        run.bring_up()
        run.load_and_timeline()
        run.heal()
        run.drain()
        result.checks = run.readback_and_check()
        passed = all(c.passed is True for c in result.checks)
        result.exit_code = EXIT_PASS if passed else EXIT_CHECK_FAILED
    except SystemFailure as exc:
        result.error = str(exc)
    except ScheduleError as exc:
        result.exit_code = EXIT_BAD_INPUT
        result.error = f"{scenario.source or scenario.name}: with seed {run.seed}: {exc}"
    except KeyboardInterrupt:
        result.error = "interrupted"
        ignore_signals()
        raise
    except Exception as exc:  # noqa: BLE001 - recorded; teardown below
        result.error = f"{exc.__class__.__name__}: {exc}"
    finally:
        ignore_signals()
        if result.error:
            opts.say(f"[{scenario.name}] error: {result.error}")
            run.problems.append(result.error)
        run.teardown()
        restore_signals()
        if any(p.startswith("teardown") for p in run.problems):
            result.exit_code = EXIT_SYSTEM
            result.error = "; ".join(run.problems)
        result.duration = run.clock()
        if result.error != "interrupted":
            build_report_safely(run.run_dir, opts.say)
    return result
