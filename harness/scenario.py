"""The scenario model: the one definition of what a scenario file means, as frozen dataclasses.

Public: Scenario, System, Load, TaskMix, PriorityMix, Burst, Flood, Timing, TimelineEntry,
CheckSpec, Drain, Baseline; the vocabularies FAULTS (name -> FaultKind), LOAD_FAULTS,
NETWORK_FAULTS, SERVICE_FAULTS, REQUIRED_PARAMS, DEFAULT_PARAMS, PRIORITIES, BACKENDS,
SYMBOLIC_TARGETS; worker_names(n).
Every time is float seconds (relative to the start of the load phase). The loader builds
these objects; nothing else should construct them from raw YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

PRIORITIES = ("high", "normal", "low")
BACKENDS = ("local", "docker", "swarm")
# Targets resolved at run time (the runner asks the system who is leader / alive).
SYMBOLIC_TARGETS = ("random-worker", "leader", "all-workers", "gateway", "redis")



def frozen_map(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only mapping, so frozen dataclasses stay frozen all the way down."""
    return MappingProxyType(dict(values or {}))


def worker_names(n: int) -> tuple[str, ...]:
    """Names the backends give the initial workers (WORKER_ID): worker-1 .. worker-n."""
    return tuple(f"worker-{i}" for i in range(1, n + 1))


@dataclass(frozen=True, slots=True)
class FaultKind:
    """What a fault needs: who it can target, whether `for:` applies, which parameters it takes."""

    name: str
    category: str                  # process | topology | network | redis | load | heal
    targets: frozenset[str]        # subset of {"worker", "gateway", "redis"}; empty: no target
    timed: bool                    # `for: 8s` allowed (an end event undoes it)
    params: Mapping[str, str]      # param name -> kind understood by the loader
    doc: str
    backends: frozenset[str] = frozenset(BACKENDS)  # backends that can apply it
    window: bool = False           # only meaningful as a window: `for` is required


_NET = {"direction": "direction", "toxicity": "probability", "from": "from"}
_PROC = frozenset({"worker", "gateway"})
_NODE = frozenset({"node"})  # node-N: a Swarm node (backend swarm)


def _kinds(*kinds: FaultKind) -> Mapping[str, FaultKind]:
    return MappingProxyType({k.name: k for k in kinds})


FAULTS: Mapping[str, FaultKind] = _kinds(
    FaultKind("kill", "process", _PROC, True, {"signal": "signal"},
              "SIGKILL (or `signal`) the target; with `for`, start it again afterwards"),
    FaultKind("terminate", "process", _PROC, True, {},
              "SIGTERM: graceful stop (running tasks finish or are handed back); `for` restarts it"),
    FaultKind("pause", "process", _PROC, True, {}, "SIGSTOP / docker pause; `for` or a later resume undoes it"),
    FaultKind("resume", "heal", _PROC, False, {}, "SIGCONT / docker unpause of a paused target"),
    FaultKind("restart", "process", _PROC, False, {}, "stop (SIGTERM) and start the target again"),
    FaultKind("scale", "topology", frozenset(), False, {"workers": "count0"},
              "scale the worker pool to `workers` nodes"),
    FaultKind("partition", "network", _PROC, True, dict(_NET),
              "cut the target's link to Redis (Toxiproxy proxy disabled)"),
    FaultKind("latency", "network", _PROC, True, {**_NET, "latency_ms": "ms", "jitter_ms": "ms"},
              "add latency_ms (+- jitter_ms) to the target's Redis link"),
    FaultKind("bandwidth", "network", _PROC, True, {**_NET, "rate_kbps": "count1"},
              "limit the target's Redis link to rate_kbps KB/s"),
    FaultKind("timeout", "network", _PROC, True, {**_NET, "timeout_ms": "ms"},
              "stop all data and close the connection after timeout_ms (0: never close)"),
    FaultKind("reset_peer", "network", _PROC, True, {**_NET, "timeout_ms": "ms"},
              "reset connections (TCP RST) after timeout_ms"),
    FaultKind("slow_close", "network", _PROC, True, {**_NET, "delay_ms": "ms"},
              "delay the TCP close by delay_ms"),
    FaultKind("slicer", "network", _PROC, True,
              {**_NET, "average_size": "count1", "size_variation": "count0", "delay_us": "count0"},
              "slice data into small packets with delay_us between them"),
    FaultKind("limit_data", "network", _PROC, True, {**_NET, "bytes": "count1"},
              "close the connection after `bytes` bytes"),
    FaultKind("heal", "heal", _PROC, False, {},
              "end every open network fault on the target (every target when omitted)"),
    FaultKind("redis_failover", "redis", frozenset({"redis"}), False, {},
              "kill the Redis primary; Sentinel promotes the replica"),
    FaultKind("redis_restart", "redis", frozenset({"redis"}), False, {"aof": "bool"},
              "restart the Redis primary (with `aof: true`, append-only file on, so data survives)"),
    FaultKind("node_drain", "node", _NODE, True, {},
              "swarm only: drain a node (its tasks move to the others); `for` makes it active again"),
    FaultKind("node_kill", "node", _NODE, True, {},
              "swarm only: stop a whole node (its dind container); `for` starts it again"),
    FaultKind("node_partition", "node", _NODE, True, {},
              "swarm only: cut a node off the other nodes (overlay and control traffic); `for` heals it"),
    FaultKind("burst", "load", frozenset(), False,
              {"count": "count1", "priority": "priority", "task": "task"},
              "submit `count` extra tasks at once (from the load's task mix, or `task`)"),
    FaultKind("flood", "load", frozenset(), False,
              {"low": "count0", "high": "count0", "normal": "count0", "task": "task"},
              "priority flood: `low` low-priority tasks, then `normal`, then `high` ones"),
    FaultKind("poison", "load", frozenset(), False,
              {"count": "count1", "priority": "priority", "max_retries": "count0"},
              "submit `count` tasks that always fail ({type: fail, always: true}); they must end dead"),
    FaultKind("redis_oom", "redis", frozenset({"redis"}), True, {"headroom_kb": "count0"},
              "Redis out of memory: maxmemory squeezed to used memory + headroom_kb (noeviction); "
              "the end restores the old limit and policy", window=True),
    FaultKind("redis_misconf", "redis", frozenset({"redis"}), True, {},
              "Redis refuses writes (MISCONF): a background save is killed while "
              "stop-writes-on-bgsave-error is on; the end saves successfully", window=True),
    FaultKind("redis_stall", "redis", frozenset({"redis"}), True, {"mode": "pause_mode"},
              "Redis stalled: CLIENT PAUSE for the window, `mode` all (every command) or write",
              window=True),
    FaultKind("replica_pause", "redis", frozenset({"redis"}), True, {},
              "the Redis replica frozen for the window (SIGSTOP / docker pause; not on swarm): "
              "WAIT gets no replica ack, so DURABLE_ACK submits must be refused", window=True),
    FaultKind("client_kill", "redis", frozenset({"redis"}), False, {"type": "client_type"},
              "CLIENT KILL TYPE `type` (normal): every client's connection is dropped at once"),
    FaultKind("slow_client_flood", "client", frozenset({"gateway"}), True,
              {"connections": "connections"},
              "`connections` sockets to the gateway each send half a request and hold it for "
              "the window; closed at the end", window=True),
    FaultKind("clock_skew", "clock", frozenset({"worker"}), True, {"offset": "offset"},
              "restart the worker with its clock shifted by `offset` (libfaketime); the end "
              "restarts it with the true clock", backends=frozenset({"local"}), window=True),
)
LOAD_FAULTS = frozenset(n for n, k in FAULTS.items() if k.category == "load")
NETWORK_FAULTS = frozenset(n for n, k in FAULTS.items() if k.category == "network")
# Filled in by the loader when a parameter is omitted, so backends never guess a default.
DEFAULT_PARAMS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    **{n: {"direction": "both", "toxicity": 1.0} for n in
       ("partition", "latency", "bandwidth", "timeout", "reset_peer", "slow_close", "slicer", "limit_data")},
    "kill": {"signal": "KILL"},
    "latency": {"direction": "both", "toxicity": 1.0, "jitter_ms": 0},
    "timeout": {"direction": "both", "toxicity": 1.0, "timeout_ms": 0},
    "reset_peer": {"direction": "both", "toxicity": 1.0, "timeout_ms": 0},
    "slow_close": {"direction": "both", "toxicity": 1.0, "delay_ms": 1000},
    "slicer": {"direction": "both", "toxicity": 1.0, "average_size": 64, "size_variation": 32, "delay_us": 100},
    "redis_restart": {"aof": True},
    "flood": {"low": 0, "normal": 0, "high": 0},
    "poison": {"priority": "normal"},
    "redis_oom": {"headroom_kb": 64},
    "redis_stall": {"mode": "all"},
    "client_kill": {"type": "normal"},
    "slow_client_flood": {"connections": 200},
})
REQUIRED_PARAMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "scale": ("workers",), "latency": ("latency_ms",), "bandwidth": ("rate_kbps",),
    "limit_data": ("bytes",), "burst": ("count",), "poison": ("count",), "clock_skew": ("offset",),
})
# Faults that change Redis itself or the clients around the system (apply/undo: harness.faultkit).
SERVICE_FAULTS = frozenset(("redis_oom", "redis_misconf", "redis_stall", "replica_pause", "client_kill",
                           "slow_client_flood", "clock_skew"))


@dataclass(frozen=True, slots=True)
class TaskMix:
    """One entry of the task mix: what to submit and how often relative to the others."""

    type: str
    data: Any = None               # the API's `data` field, e.g. {"ms": 200} or "Hello World"
    weight: float = 1.0
    max_retries: int | None = None  # None: the system default
    timeout: float | None = None    # seconds per attempt; None: the system default


@dataclass(frozen=True, slots=True)
class PriorityMix:
    """Probabilities of each priority (normalised to sum 1)."""

    high: float = 0.0
    normal: float = 1.0
    low: float = 0.0

    def weights(self) -> tuple[tuple[str, float], ...]:
        return tuple((p, getattr(self, p)) for p in PRIORITIES)


@dataclass(frozen=True, slots=True)
class Burst:
    at: float
    count: int
    priority: str | None = None    # None: drawn from the priority mix
    task: TaskMix | None = None    # None: drawn from the load's task mix


@dataclass(frozen=True, slots=True)
class Flood:
    at: float
    low: int
    high: int
    normal: int = 0
    task: TaskMix | None = None


@dataclass(frozen=True, slots=True)
class Load:
    """Base load: `rate` per second for `duration`, or `count` tasks spread over `duration`
    (all at once when duration is 0); plus bursts and one priority flood."""

    rate: float | None = None
    count: int | None = None
    duration: float = 0.0
    tasks: tuple[TaskMix, ...] = (TaskMix("process", "Hello World"),)
    priorities: PriorityMix = PriorityMix()
    bursts: tuple[Burst, ...] = ()
    flood: Flood | None = None
    batch: int | None = None        # submit through POST /tasks/batch in groups of this size
    clients: int = 4                # concurrent HTTP clients of the load generator
    submit_timeout: float = 2.0     # seconds; a submit slower than this is recorded as `info`
    resend: float = 0.0             # fraction of submits sent twice with the same Idempotency-Key
    cancel: float = 0.0             # fraction of accepted submits cancelled (DELETE) right after


@dataclass(frozen=True, slots=True)
class System:
    backend: str | None = None      # local | docker; None: the CLI decides
    workers: int = 3
    config: Mapping[str, str] = field(default_factory=frozen_map)  # env var -> value, e.g. {"LEASE_TTL_MS": "2000"}


@dataclass(frozen=True, slots=True)
class Timing:
    """When an entry fires: once `at`; `every` period from `at` until `until`; or `count` random
    times uniformly within `within` (seeded). `jitter` shifts each time by U(0, jitter)."""

    at: float = 0.0
    every: float | None = None
    until: float | None = None      # None with `every`: the load duration
    jitter: float = 0.0
    count: int | None = None        # random: how many times
    within: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    index: int                      # position in the file's timeline list (for messages)
    fault: str
    timing: Timing = Timing()
    target: str = ""                # worker-N | random-worker | leader | all-workers | gateway | redis | ""
    duration: float | None = None   # `for`: seconds until the automatic end event
    params: Mapping[str, Any] = field(default_factory=frozen_map)
    idle_ok: bool = False           # the fault means to hit an idle target: faults_effective exempts it


@dataclass(frozen=True, slots=True)
class CheckSpec:
    name: str
    params: Mapping[str, Any] = field(default_factory=frozen_map)


@dataclass(frozen=True, slots=True)
class Drain:
    timeout: float = 60.0           # seconds to wait for the queues to empty after the load


@dataclass(frozen=True, slots=True)
class Baseline:
    threshold: float = 0.2          # relative regression allowed against a baseline run


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    seed: int | None = None         # None: the runner picks one and records it
    system: System = System()
    load: Load = Load()
    timeline: tuple[TimelineEntry, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    drain: Drain = Drain()
    baseline: Baseline | None = None
    source: str = field(default="", compare=False)  # file it was read from

    def faults_used(self) -> frozenset[str]:
        return frozenset(e.fault for e in self.timeline)
