"""A hands-on session (`harness up`): a Run whose load phase lasts until `harness down` or
Ctrl-C, taking faults by hand through the control channel (harness.control) meanwhile.

Everything else is the Run's: the ledger, cleanup of leftovers, bring-up and steady state,
the sampler and the history, heal, drain, read-back, checks, report and teardown. Faults by
hand go through harness.manual (the scenario loader's rules and build_schedule) and are
applied by the Run's own Nemesis, so they are recorded with requested/effective/end times and
a failed one fails faults_applied. Without a scenario file the session has no load (submit
with curl) and is judged by no_lost_tasks, conservation and max_duplicates 0 (plus the
implicit checks); with one, by the scenario's checks plus those it does not name.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import Any

from harness.backends import capabilities_of
from harness.client import GatewayClient
from harness.control import ControlServer, SessionError, session_path, stale_session, write_session
from harness.history import FaultRecord, SubmitRecord, read_history
from harness.ledger import state_dir
from harness.loader import ScenarioError, load_scenario, parse_scenario
from harness.manual import ManualTimeline
from harness.runner import EXIT_BAD_INPUT, Run, RunOptions, RunResult, run_scenario
from harness.scenario import Scenario
from harness.schedule import FaultEvent

NAME = "session"
BASE_CHECKS: tuple[Any, ...] = ("no_lost_tasks", "conservation", {"max_duplicates": 0})
HOW_TO = ("faults:    harness fault kill worker-2 | pause worker-1 --for 5s | partition worker-1 --for 10s"
          " | scale 5 | heal")


def session_scenario(file: Path | None, workers: int | None) -> Scenario:
    """The scenario a session runs: none (no load, the base checks) or a file's, renamed
    `session` (run dir reports/session/<time>/) with the base checks it does not name."""
    if file is None:
        doc = {"name": NAME, "description": "hands-on session (harness up): faults by hand, tasks by curl",
               "system": {"workers": workers or 3}, "checks": list(BASE_CHECKS), "drain": {"timeout": "60s"}}
        return parse_scenario(doc, source="harness up")
    s = load_scenario(file)
    named = {c.name for c in s.checks}
    extra = [c for c in BASE_CHECKS if (c if isinstance(c, str) else next(iter(c))) not in named]
    checks = parse_scenario({"name": NAME, "checks": extra}, source=str(file)).checks
    system = dataclasses.replace(s.system, workers=workers) if workers else s.system
    return dataclasses.replace(s, name=NAME, checks=s.checks + checks, system=system,
                               description=f"hands-on session with {s.name}: {s.description}".strip())


class Session(Run):
    """A Run that stays in its load phase until stopped, applying faults asked for by hand."""

    def __init__(self, scenario: Scenario, opts: RunOptions, *, control: ControlServer,
                 with_load: bool, sentinel: bool = False) -> None:
        super().__init__(scenario, opts)
        self.control, self.with_load, self.sentinel = control, with_load, sentinel
        self.stopping = threading.Event()
        self.manual: ManualTimeline | None = None
        self.manual_t0 = 0.0
        self.pending: dict[str, FaultEvent] = {}      # `for` ends still to come, by fault id
        self.fault_lock = threading.Lock()            # one fault at a time, as on a timeline
        self.records: dict[tuple[str, str], FaultRecord] = {}
        self.urls: dict[str, str] = {}
        self.scenario_load = "running" if with_load else "none"   # the file's load + timeline

    def needs_sentinel(self) -> bool:
        return self.sentinel or super().needs_sentinel()

    # -- the control channel's view --------------------------------------------------------
    def origins(self) -> list[str]:
        gateway = self.urls.get("gateway_url", "")
        return [gateway, gateway.replace("127.0.0.1", "localhost")] if gateway else []

    def status(self) -> dict[str, Any]:
        up = self.nemesis is not None
        return {"phase": self.phase, "run_dir": str(self.run_dir), "pid": os.getpid(), **self.urls,
                "workers": sorted(self.backend.workers()) if up else [],
                "open_faults": self.nemesis.active() if self.nemesis is not None else [],
                "manual_faults": len(self.manual.entries) if self.manual is not None else 0,
                "scenario_load": self.scenario_load}

    def request_stop(self) -> None:
        self.stopping.set()
        if self.load is not None:
            self.load.stop.set()

    def fault(self, request: Any) -> tuple[int, dict[str, Any]]:
        """Validate one fault by hand and apply it now (its `for` end later); the records of
        what happened, or 400 with the loader's errors, or 409 when the session cannot take it."""
        if self.manual is None or self.nemesis is None or self.stopping.is_set():
            return 409, {"error": f"the session is in phase {self.phase!r}; faults are taken while it "
                                  "is up (after steady state, before `harness down`)"}
        if isinstance(request, dict) and request.get("fault") == "redis_failover" and not self.needs_sentinel():
            return 400, {"errors": ["harness fault: redis_failover needs Sentinel, which this session did not "
                                    "start; start it with `harness up --sentinel`"]}
        with self.fault_lock:
            try:
                events = self.manual.add(request, self.clock() - self.manual_t0, running=self.backend.workers())
            except ScenarioError as exc:
                return 400, {"errors": exc.errors}
            now = self.clock()
            for event in events:
                if event.phase == "start":
                    self.nemesis.apply(event, requested=now)
                else:
                    self.pending[event.id] = event
            self._apply_due()
            done = [self.records[(e.id, e.phase)] for e in events if (e.id, e.phase) in self.records]
        errors = [r.detail.get("error") for r in done if r.detail.get("error")]
        return 200, {"ok": not errors, "errors": errors, "records": [dataclasses.asdict(r) for r in done]}

    # -- the phases ----------------------------------------------------------------------------
    def record_fault(self, rec: FaultRecord) -> None:
        """Into the history, and kept so that `fault` can answer with what happened."""
        super().record_fault(rec)
        self.records[(rec.id, rec.phase)] = rec

    def load_and_timeline(self) -> None:
        self.observe()
        self.manual = ManualTimeline(self.scenario, seed=self.seed, workers=self.backend.workers(),
                                     capabilities=capabilities_of(self.opts.backend))
        self.manual_t0 = self.clock()
        timer = threading.Thread(target=self._timer, name="manual-faults", daemon=True)
        timer.start()
        self._announce()
        try:
            if self.with_load:
                super().load_and_timeline()
                self.scenario_load = "done"
                if not self.stopping.is_set():
                    self.opts.say("[session] the scenario's load and timeline are done; still up")
            else:
                self.enter("load")
                self.load_start = self.clock()
            while not self.stopping.wait(0.5):
                pass
            self.opts.say("[session] ending: heal, drain, read back, check, report")
        except KeyboardInterrupt:
            self.opts.say("[session] interrupted: heal, drain, read back, check, report "
                          "(interrupt again to stop at once)")
            self.request_stop()
        finally:
            self.stopping.set()
            timer.join(timeout=130)

    def readback_and_check(self) -> list[Any]:
        self._adopt_outside_submits()
        return super().readback_and_check()

    def _adopt_outside_submits(self) -> None:
        """Tasks submitted by hand (curl, the API) are judged too: each task the gateway lists
        that the load did not submit is recorded as an accepted submit at its submitted_at."""
        endpoints = self.backend.endpoints()
        client = GatewayClient(endpoints.gateway_url, timeout=10, token=endpoints.gateway_token)
        try:
            listed = list(client.all_tasks())
        finally:
            client.close()
        known = {r.id for r in read_history(self.run_dir / "history.jsonl") if isinstance(r, SubmitRecord)}
        ours = f"{self.run_id}-"  # the load's idempotency keys (a submit of unknown outcome has no id)
        outside = [t for t in listed if t.get("id") and t["id"] not in known
                   and not str(t.get("idempotency_key") or "").startswith(ours)]
        for task in sorted(outside, key=lambda t: float(t.get("submitted_at") or 0)):
            at = max(float(task.get("submitted_at") or self.wall_start) - self.wall_start, 0.0)
            self.history.write(SubmitRecord(t=at, t_done=at, key=None, type=str(task.get("type", "")),
                                            priority=str(task.get("priority", "normal")), outcome="ok",
                                            id=task["id"]))
        if outside:
            self.opts.say(f"[session] {len(outside)} task(s) submitted by hand are judged with the rest")

    def _timer(self) -> None:
        while not self.stopping.wait(0.1):
            with self.fault_lock:
                self._apply_due()

    def _apply_due(self) -> None:
        """Apply every `for` end (or heal) whose time has come (caller holds fault_lock)."""
        assert self.nemesis is not None
        now = self.clock()
        for fid, end in sorted(self.pending.items(), key=lambda kv: kv[1].t):
            if self.manual_t0 + end.t <= now + 1e-3:
                del self.pending[fid]
                self.nemesis.apply(end, requested=self.manual_t0 + end.t)

    def _announce(self) -> None:
        endpoints = self.backend.endpoints()
        gateway = endpoints.gateway_url
        token = endpoints.gateway_token
        dashboard = f"{gateway}/dashboard#chaos={self.control.url}&key={self.control.token}"
        self.urls = {"gateway_url": gateway, "redis_url": endpoints.redis_url,
                     "dashboard_url": dashboard + (f"&token={token}" if token else ""),
                     **({"gateway_token": token} if token else {})}
        write_session(self.states, {**self._file_doc(), **self.urls, "run_dir": str(self.run_dir)})
        auth = f" -H 'Authorization: Bearer {token}'" if token else ""
        say = self.opts.say
        say(f"[session] up: {len(self.backend.workers())} workers, backend {self.opts.backend}, "
            f"recording to {self.run_dir}")
        say(f"gateway:   {gateway}" + (f"  (API token {token})" if token else ""))
        say(f"dashboard: {self.urls['dashboard_url']}")
        say(f"redis:     redis-cli -u {endpoints.redis_url} SMEMBERS {self.keys.workers_active}")
        say(f"submit:    curl -s -XPOST {gateway}/tasks{auth} -H 'Content-Type: application/json' "
            "-d '{\"type\": \"sleep\", \"data\": {\"ms\": 500}}'")
        say(HOW_TO)
        say("stop:      Ctrl-C here, or `harness down` from another terminal")

    def _file_doc(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "url": self.control.url, "token": self.control.token,
                "started": time.time()}


def run_session(scenario: Scenario, opts: RunOptions, *, with_load: bool, sentinel: bool = False) -> RunResult:
    """`harness up`: one session at a time per state dir; its session file lives as long as it."""
    states = state_dir(opts.state_dir)
    running = stale_session(states)
    if running is not None:
        return RunResult(scenario.name, opts.out, EXIT_BAD_INPUT,
                         error=f"a session is already running (pid {running.get('pid')}, "
                               f"{running.get('dashboard_url', running.get('url'))}); `harness down` ends it")
    control = ControlServer.start()
    try:
        write_session(states, {"pid": os.getpid(), "url": control.url, "token": control.token,
                               "started": time.time()})

        def make(s: Scenario, o: RunOptions) -> Run:
            session = Session(s, o, control=control, with_load=with_load, sentinel=sentinel)
            control.attach(session)
            return session

        result = run_scenario(scenario, opts, make=make)
        control.finish({"exit_code": result.exit_code, "error": result.error, "run_dir": str(result.run_dir),
                        "checks": [dataclasses.asdict(c) for c in result.checks]},
                       linger=5.0 if control.down_requested else 0.0)
        return result
    finally:
        control.stop()
        session_path(states).unlink(missing_ok=True)


__all__ = ["Session", "SessionError", "run_session", "session_scenario"]
