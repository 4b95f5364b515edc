"""The nemesis: applies the schedule's fault events to a backend, and undoes them.

Every fault is written to the ledger (fsynced) *before* it touches the system and marked healed
after its undo, so a killed harness leaves a list of what to repair. Each start and end goes to
the history as a fault record with the concrete targets (a `leader` or `all-workers` target is
resolved when the fault starts, and its end undoes exactly those nodes). A fault that cannot be
applied is recorded with its error and does not stop the run; the implicit check faults_applied
then fails it, and its end (a `for`) only records that there was nothing to undo.

Timing truth: a start record carries `requested` (when the schedule asked for it), `t` (when
applying began), `effective` (when it took effect: the backend calls return once the process is
gone, the toxic is in place, the primary is down; for a graceful SIGTERM stop, the signal, with
the time until the process exited in `detail.stopped_s`) and `late` (effective more than
`late_after` seconds after requested); its end record's `t` is when it ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness import faultkit
from harness.backends.base import Backend, ToxicHandle
from harness.history import FaultRecord
from harness.ledger import Ledger
from harness.scenario import FAULTS, LOAD_FAULTS, NETWORK_FAULTS, SERVICE_FAULTS

NODE_FAULTS = frozenset(n for n, k in FAULTS.items() if k.category == "node")

# scenario parameter -> Toxiproxy attribute, per network fault (partition: a black hole).
TOXIC_PARAMS: dict[str, tuple[str, dict[str, str]]] = {
    "latency": ("latency", {"latency_ms": "latency", "jitter_ms": "jitter"}),
    "bandwidth": ("bandwidth", {"rate_kbps": "rate"}),
    "timeout": ("timeout", {"timeout_ms": "timeout"}),
    "reset_peer": ("reset_peer", {"timeout_ms": "timeout"}),
    "slow_close": ("slow_close", {"delay_ms": "delay"}),
    "slicer": ("slicer", {"average_size": "average_size", "size_variation": "size_variation",
                          "delay_us": "delay"}),
    "limit_data": ("limit_data", {"bytes": "bytes"}),
    "partition": ("timeout", {}),
}
STREAMS = {"both": ("upstream", "downstream"), "upstream": ("upstream",),
           "downstream": ("downstream",)}
SIGNAL_ACTIONS = {"KILL": "kill", "SIGKILL": "kill", "9": "kill",
                  "TERM": "terminate", "SIGTERM": "terminate", "15": "terminate"}


def toxic_specs(fault: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The toxics that make up a network fault (pure): one per direction."""
    toxic_type, names = TOXIC_PARAMS[fault]
    attributes = {attr: int(params[p]) for p, attr in names.items() if params.get(p) is not None}
    if fault == "partition":
        attributes = {"timeout": 0}
    streams = STREAMS[str(params.get("direction", "both"))]
    return [{"type": toxic_type, "stream": s, "attributes": attributes,
             "toxicity": float(params.get("toxicity", 1.0))} for s in streams]


def pick_live_leader(found: tuple[str, float] | None, running: Sequence[str], *,
                     fresh_s: float) -> str | None:
    """The leader a `leader` target may hit (pure): the worker in the leader key, if its
    process is running and its last heartbeat is at most `fresh_s` old. The key of a killed or
    frozen leader outlives it by up to LEADER_TTL_MS; that worker is not the leader any more.
    `found`: (worker in the leader key, heartbeat age in seconds), or None."""
    if found is None:
        return None
    worker, age = found
    return worker if age <= fresh_s and worker in running else None


def _graceful(event: Any) -> bool:
    """A SIGTERM stop (terminate, restart, kill with signal TERM, redis_restart with aof): the
    backend call returns when the process has exited, after its running tasks (or, for Redis,
    after its replica caught up, clients paused meanwhile); the fault took effect at the signal."""
    if event.fault in ("terminate", "restart"):
        return True
    if event.fault == "redis_restart":
        return bool(event.params.get("aof", True))
    return event.fault == "kill" and SIGNAL_ACTIONS.get(str(event.params.get("signal", "KILL")).upper()) == "terminate"


@dataclass
class Applied:
    """What one started fault did, so that its end undoes exactly that."""

    fault: str
    targets: list[str]
    toxics: list[ToxicHandle] = field(default_factory=list)
    undo: Callable[[], Mapping[str, Any] | None] | None = None  # service faults (harness.faultkit)


class Nemesis:
    """Applies FaultEvents (harness.schedule) to a backend; `heal_all` undoes what is open."""

    def __init__(self, backend: Backend, *, ledger: Ledger, record: Callable[[FaultRecord], None],
                 clock: Callable[[], float], leader: Callable[[], str | None],
                 leader_wait: float = 0.0, late_after: float = 0.5) -> None:
        """leader: the live leader now (fresh heartbeat, process running) or None; a `leader`
        target waits up to `leader_wait` seconds for one (the next election)."""
        self.backend = backend
        self.leader_wait = leader_wait
        self.late_after = late_after
        self.failed: set[str] = set()   # ids whose start failed: their end undoes nothing
        self.started: set[str] = set()  # ids of every start event applied (or attempted)
        self.ledger = ledger
        self.record = record
        self.clock = clock
        self.leader = leader
        self.open: dict[str, Applied] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def active(self) -> list[str]:
        """Open faults for the progress display, e.g. ['partition worker-1']."""
        with self._lock:
            return [f"{a.fault} {','.join(a.targets)}" for a in self.open.values()]

    def apply(self, event: Any, *, requested: float | None = None) -> None:
        """Apply one start or end event; never raises (errors are recorded). `requested`: the
        run-relative time the schedule asked for it."""
        if event.fault in LOAD_FAULTS:
            t = self.clock()
            self._record(event, event.phase, [], {"params": dict(event.params)}, t=t,
                         timing={"requested": requested, "effective": t})
            return
        if event.phase == "start":
            self.started.add(event.id)
            self._start(event, requested)
        else:
            self._end(event.id, event, requested)

    def _targets(self, event: Any, detail: dict[str, Any]) -> list[str]:
        if event.target == "all-workers":
            return self.backend.workers()
        if event.target == "leader":
            return [self._live_leader(detail)]
        return [event.target] if event.target else []

    def missed(self, event: Any, *, requested: float, why: str) -> None:
        """Record a scheduled fault that was never applied as a failed one (faults_applied)."""
        self.errors.append(f"{event.id} {event.fault} {event.target}: not applied: {why}")
        self._record(event, "start", [], {"params": dict(event.params), "error": f"not applied: {why}"},
                     t=self.clock(), timing={"requested": requested})

    def _live_leader(self, detail: dict[str, Any]) -> str:
        """The live leader, waiting up to leader_wait for an election; the wait is recorded."""
        began = time.monotonic()
        deadline = began + self.leader_wait
        while (leader := self.leader()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        detail["leader_wait_s"] = round(time.monotonic() - began, 3)
        if leader is None:
            raise LookupError(f"no live leader (fresh heartbeat, process running) within "
                              f"{self.leader_wait:g}s")
        return leader

    def _start(self, event: Any, requested: float | None) -> None:
        t = self.clock()
        targets: list[str] = []
        detail: dict[str, Any] = {"params": dict(event.params)}
        if getattr(event, "idle_ok", False):  # events built outside the schedule may lack it
            detail["idle_ok"] = True
        effective: float | None = None
        try:
            targets = self._targets(event, detail)
            self.ledger.write("fault", id=event.id, fault=event.fault, targets=targets,
                              params=dict(event.params), backend=self.backend.name)
            applied = Applied(event.fault, targets)
            with self._lock:
                self.open[event.id] = applied
            signalled = self.clock()
            detail.update(self._do(event, applied))
            effective = detail.pop("_effective", None) or self.clock()
            if _graceful(event):  # it takes effect at the SIGTERM (stop claiming, hand back);
                detail["stopped_s"] = round(effective - signalled, 3)  # the exit waits for tasks
                effective = signalled
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            detail.pop("_effective", None)
            detail["error"] = f"{exc.__class__.__name__}: {exc}"
            self.errors.append(f"{event.id} {event.fault} {event.target}: {detail['error']}")
            with self._lock:
                self.failed.add(event.id)
            self._forget(event.id)  # a fault that failed is never undone
        if event.fault not in NETWORK_FAULTS and event.fault != "pause" and event.duration is None:
            self._forget(event.id)  # nothing to undo later
        detail["took_s"] = round(self.clock() - t, 3)
        self._record(event, "start", targets, detail, t=t,
                     timing={"requested": requested, "effective": effective})

    def _do(self, event: Any, applied: Applied) -> dict[str, Any]:
        fault, params, b = event.fault, event.params, self.backend
        if fault in NODE_FAULTS:
            return _node_fault(b, fault, applied.targets)
        if fault in SERVICE_FAULTS:
            effect = faultkit.apply(b, fault, params, applied.targets, event.duration)
            applied.undo = effect.undo
            return effect.detail
        if fault in NETWORK_FAULTS:
            for node in applied.targets:
                for i, spec in enumerate(toxic_specs(fault, params)):
                    applied.toxics.append(b.add_toxic(node, name=f"{event.id}_{fault}_{i}", **spec))
            return {"toxics": [h.name for h in applied.toxics]}
        if fault in ("kill", "terminate", "pause", "resume", "restart"):
            _process_fault(b, fault, params, applied.targets)
        elif fault == "scale":
            added, removed = b.scale(int(params["workers"]))
            return {"added": added, "removed": removed}
        elif fault == "redis_failover":
            down: list[float] = []   # the moment the primary is gone, before the promotion
            new = b.redis_failover(on_down=lambda: down.append(self.clock()))
            return {"new_primary": new, **({"_effective": down[0]} if down else {})}
        elif fault == "redis_restart":
            stopped: list[float] = []   # the moment the primary is down, before it is back
            b.redis_restart(aof=bool(params.get("aof", True)), on_down=lambda: stopped.append(self.clock()))
            return {"_effective": stopped[0]} if stopped else {}
        else:
            raise ValueError(f"fault {fault!r} is not known to the nemesis")
        return {}

    def _cut_off(self, node: str) -> list[str]:
        """Open network faults on the node: a worker restarted behind one cannot register
        until the heal, so waiting for it would stall the timeline."""
        with self._lock:
            return [fid for fid, a in self.open.items() if a.fault in NETWORK_FAULTS and node in a.targets]

    def _undo(self, applied: Applied, detail: dict[str, Any]) -> None:
        b = self.backend
        if applied.undo is not None:
            detail.update(applied.undo() or {})
            return
        if applied.fault in NETWORK_FAULTS:
            for handle in applied.toxics:
                b.remove_toxic(handle)
        elif applied.fault == "pause":
            for node in applied.targets:
                b.resume(node)
        elif applied.fault in NODE_FAULTS:
            for node in applied.targets:
                b.node_heal(applied.fault, node)  # type: ignore[attr-defined]
        elif applied.fault in ("kill", "terminate"):
            for node in applied.targets:
                if node not in b.workers():
                    cut = self._cut_off(node)
                    b.start_node(node, wait=not cut)
                    if cut:
                        detail["not_ready"] = f"{node} started; its link is cut by {', '.join(cut)}"

    def _end(self, fault_id: str, event: Any | None, requested: float | None = None) -> None:
        with self._lock:
            applied = self.open.pop(fault_id, None)
            failed = fault_id in self.failed
        if applied is None:
            if failed and event is not None:  # record it, undo nothing: the start never happened
                self._record(event, "end", [], {"skipped": "the start failed; nothing to undo"},
                             t=self.clock(), timing={"requested": requested})
            return
        detail: dict[str, Any] = {}
        t = self.clock()
        try:
            self._undo(applied, detail)
            self.ledger.write("healed", id=fault_id)
        except Exception as exc:  # noqa: BLE001
            detail["error"] = f"{exc.__class__.__name__}: {exc}"
            self.errors.append(f"{fault_id} end: {detail['error']}")
        rec = FaultRecord(t=t, phase="end", fault=applied.fault,
                          target=event.target if event is not None else ",".join(applied.targets),
                          id=fault_id, detail={"targets": applied.targets, **detail},
                          requested=requested, effective=None if "error" in detail else self.clock())
        self.record(rec)

    def _forget(self, fault_id: str) -> None:
        with self._lock:
            self.open.pop(fault_id, None)
        self.ledger.write("healed", id=fault_id)

    def _record(self, event: Any, phase: str, targets: list[str], detail: dict[str, Any], *,
                t: float, timing: Mapping[str, float | None]) -> None:
        requested, effective = timing.get("requested"), timing.get("effective")
        late = (None if requested is None or effective is None or phase != "start"
                else effective - requested > self.late_after)
        self.record(FaultRecord(t=t, phase=phase, fault=event.fault, target=event.target,
                                id=event.id, detail={"targets": targets, **detail},
                                requested=None if requested is None else round(requested, 6),
                                effective=effective, late=late))

    def heal_all(self) -> list[str]:
        """End every open fault (newest first), then clear every link; returns problems."""
        with self._lock:
            ids = list(self.open)
        for fault_id in reversed(ids):
            self._end(fault_id, None)
        problems = list(self.backend.heal_network())
        restart = getattr(self.backend, "redis_start_stopped", None)
        if restart is not None:
            try:
                restart()
            except Exception as exc:  # noqa: BLE001
                problems.append(f"restarting stopped Redis nodes: {exc}")
        return problems


def _node_fault(b: Backend, fault: str, nodes: list[str]) -> dict[str, Any]:
    """A node fault (swarm backend only); the detail lists the workers the nodes ran, which
    node_tasks_recovered needs to find the tasks in flight there."""
    return {"workers": [w for node in nodes for w in getattr(b, fault)(node)]}


def _process_fault(b: Backend, fault: str, params: Mapping[str, Any], nodes: list[str]) -> None:
    """kill (with its signal), terminate, pause, resume or restart each target process."""
    action = fault
    if fault == "kill":
        action = SIGNAL_ACTIONS.get(str(params.get("signal", "KILL")).upper()) or ""
        if not action:
            raise ValueError(f"signal {params.get('signal')!r} not supported; use KILL or TERM")
    for node in nodes:
        getattr(b, action)(node)
