"""The nemesis: applies the schedule's fault events to a backend, and undoes them.

Every fault is written to the ledger (fsynced) *before* it touches the system and marked healed
after its undo, so a killed harness leaves a list of what to repair. Each start and end goes to
the history as a fault record with the concrete targets (a `leader` or `all-workers` target is
resolved when the fault starts, and its end undoes exactly those nodes). A fault that cannot be
applied is recorded with its error and does not stop the run: the checks judge the outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.backends.base import Backend, ToxicHandle
from harness.history import FaultRecord
from harness.ledger import Ledger
from harness.scenario import FAULTS, LOAD_FAULTS, NETWORK_FAULTS

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


@dataclass
class Applied:
    """What one started fault did, so that its end undoes exactly that."""

    fault: str
    targets: list[str]
    toxics: list[ToxicHandle] = field(default_factory=list)


class Nemesis:
    """Applies FaultEvents (harness.schedule) to a backend; `heal_all` undoes what is open."""

    def __init__(self, backend: Backend, *, ledger: Ledger, record: Callable[[FaultRecord], None],
                 clock: Callable[[], float], leader: Callable[[], str | None]) -> None:
        self.backend = backend
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

    def apply(self, event: Any) -> None:
        """Apply one start or end event; never raises (errors are recorded)."""
        if event.fault in LOAD_FAULTS:
            self._record(event, event.phase, [], {"params": dict(event.params)}, t=self.clock())
            return
        if event.phase == "start":
            self._start(event)
        else:
            self._end(event.id, event)

    def _targets(self, event: Any) -> list[str]:
        if event.target == "all-workers":
            return self.backend.workers()
        if event.target == "leader":
            leader = self.leader()
            if leader is None:
                raise LookupError("no leader is elected right now")
            return [leader]
        return [event.target] if event.target else []

    def _start(self, event: Any) -> None:
        t = self.clock()
        targets: list[str] = []
        detail: dict[str, Any] = {"params": dict(event.params)}
        try:
            targets = self._targets(event)
            self.ledger.write("fault", id=event.id, fault=event.fault, targets=targets,
                              params=dict(event.params), backend=self.backend.name)
            applied = Applied(event.fault, targets)
            with self._lock:
                self.open[event.id] = applied
            detail.update(self._do(event, applied))
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            detail["error"] = f"{exc.__class__.__name__}: {exc}"
            self.errors.append(f"{event.id} {event.fault} {event.target}: {detail['error']}")
        if event.fault not in NETWORK_FAULTS and event.fault != "pause" and event.duration is None:
            self._forget(event.id)  # nothing to undo later
        detail["took_s"] = round(self.clock() - t, 3)
        self._record(event, "start", targets, detail, t=t)

    def _do(self, event: Any, applied: Applied) -> dict[str, Any]:
        fault, params, b = event.fault, event.params, self.backend
        if fault in NETWORK_FAULTS:
            for node in applied.targets:
                for i, spec in enumerate(toxic_specs(fault, params)):
                    applied.toxics.append(b.add_toxic(node, name=f"{event.id}_{fault}_{i}", **spec))
            return {"toxics": [h.name for h in applied.toxics]}
        if fault == "kill":
            action = SIGNAL_ACTIONS.get(str(params.get("signal", "KILL")).upper())
            if action is None:
                raise ValueError(f"signal {params.get('signal')!r} not supported; use KILL or TERM")
            for node in applied.targets:
                getattr(b, action)(node)
        elif fault in ("terminate", "pause", "resume", "restart"):
            for node in applied.targets:
                getattr(b, fault)(node)
        elif fault == "scale":
            added, removed = b.scale(int(params["workers"]))
            return {"added": added, "removed": removed}
        elif fault == "redis_failover":
            return {"new_primary": b.redis_failover()}
        elif fault == "redis_restart":
            b.redis_restart(aof=bool(params.get("aof", True)))
        elif fault in NODE_FAULTS:  # swarm only; the workers the node ran, for the checks
            return {"workers": [w for node in applied.targets for w in getattr(b, fault)(node)]}
        else:
            raise ValueError(f"fault {fault!r} is not known to the nemesis")
        return {}

    def _undo(self, applied: Applied) -> None:
        b = self.backend
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
                    b.start_node(node)

    def _end(self, fault_id: str, event: Any | None) -> None:
        with self._lock:
            applied = self.open.pop(fault_id, None)
        if applied is None:
            return
        detail: dict[str, Any] = {}
        t = self.clock()
        try:
            self._undo(applied)
            self.ledger.write("healed", id=fault_id)
        except Exception as exc:  # noqa: BLE001
            detail["error"] = f"{exc.__class__.__name__}: {exc}"
            self.errors.append(f"{fault_id} end: {detail['error']}")
        rec = FaultRecord(t=t, phase="end", fault=applied.fault,
                          target=event.target if event is not None else ",".join(applied.targets),
                          id=fault_id, detail={"targets": applied.targets, **detail})
        self.record(rec)

    def _forget(self, fault_id: str) -> None:
        with self._lock:
            self.open.pop(fault_id, None)
        self.ledger.write("healed", id=fault_id)

    def _record(self, event: Any, phase: str, targets: list[str], detail: dict[str, Any], *,
                t: float) -> None:
        self.record(FaultRecord(t=t, phase=phase, fault=event.fault, target=event.target,
                                id=event.id, detail={"targets": targets, **detail}))

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
