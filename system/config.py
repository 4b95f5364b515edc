"""Every setting of the gateway and the workers, read from the environment in one place.

The table in README.md is generated from `SETTINGS_DOC` (see `python -m system.config`),
so the documentation cannot drift from the code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from system.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """Configuration shared by gateway and worker; defaults work against a local redis-server."""

    redis_url: str = "redis://localhost:6379/0"
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = "mymaster"
    redis_password: str | None = None
    redis_socket_timeout: float = 2.0
    key_prefix: str = ""
    gateway_host: str = "0.0.0.0"
    gateway_port: int = 5000
    gateway_workers: int = 2
    gateway_threads: int = 8
    worker_concurrency: int = 8
    worker_prefetch_ms: int = 20
    worker_id: str | None = None
    worker_stall_ms: int = 10000
    lease_ttl_ms: int = 5000
    heartbeat_interval_ms: int = 1000
    worker_ttl_ms: int = 5000
    reaper_interval_ms: int = 1000
    leader_ttl_ms: int = 3000
    max_lease_expiries: int = 5
    shutdown_grace_s: float = 10.0
    max_retries: int = 3
    retry_base_ms: int = 200
    retry_max_ms: int = 30000
    default_timeout_s: float = 300.0
    max_payload_bytes: int = 1024 * 1024
    max_batch: int = 1000
    result_ttl_s: int = 86400
    durable_ack: bool = False
    durable_ack_replicas: int = 1
    durable_ack_timeout_ms: int = 500
    process_work_ms: int = 0
    otel_exporter_otlp_endpoint: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables; raise ConfigError naming every bad one."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        errors: list[str] = []
        for f in fields(cls):
            name = f.name.upper()
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse(f.name, raw)
            except ValueError as exc:
                errors.append(f"{name}={raw!r}: {exc}")
        settings = cls(**values)
        errors += settings.problems()  # range rules too, so one run names every bad variable
        if errors:
            raise ConfigError("invalid environment: " + "; ".join(errors))
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def problems(self) -> list[str]:
        """Cross-field rules; each message names the variable and what would be valid."""
        out = []
        for name in ("lease_ttl_ms", "heartbeat_interval_ms", "worker_ttl_ms", "reaper_interval_ms",
                     "leader_ttl_ms", "worker_concurrency", "max_payload_bytes", "max_batch",
                     "gateway_workers", "gateway_threads", "retry_base_ms", "retry_max_ms", "worker_stall_ms"):
            if getattr(self, name) <= 0:
                out.append(f"{name.upper()} must be a positive number")
        for name in ("redis_socket_timeout", "default_timeout_s", "result_ttl_s", "durable_ack_timeout_ms"):
            value = getattr(self, name)
            if not (0 < value < float("inf")):  # also rejects nan; 0 means "never" or "no record" here
                out.append(f"{name.upper()} must be a positive number")
        for name in ("max_retries", "shutdown_grace_s", "process_work_ms", "durable_ack_replicas",
                     "max_lease_expiries", "worker_prefetch_ms"):
            value = getattr(self, name)
            if not (0 <= value < float("inf")):
                out.append(f"{name.upper()} must be 0 or more")
        if self.heartbeat_interval_ms >= self.worker_ttl_ms:
            out.append("HEARTBEAT_INTERVAL_MS must be less than WORKER_TTL_MS, "
                       "or live workers vanish between two heartbeats")
        if self.heartbeat_interval_ms * 2 > self.lease_ttl_ms:
            out.append("HEARTBEAT_INTERVAL_MS must be at most half of LEASE_TTL_MS, "
                       "or leases expire between two extensions")
        slowest = max(self.heartbeat_interval_ms, self.reaper_interval_ms, 1000 * self.redis_socket_timeout)
        if self.worker_stall_ms <= slowest:
            out.append(f"WORKER_STALL_MS must exceed HEARTBEAT_INTERVAL_MS, REAPER_INTERVAL_MS and "
                       f"REDIS_SOCKET_TIMEOUT (now {slowest:g} ms), or a healthy loop looks stuck")
        if not 0 < self.gateway_port < 65536:
            out.append("GATEWAY_PORT must be between 1 and 65535")
        return out

    def env(self) -> dict[str, str]:
        """The inverse of from_env: variables that reproduce these settings in a child process."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if f.name == "redis_sentinels":
                out[f.name.upper()] = ",".join(f"{h}:{p}" for h, p in value)
            elif isinstance(value, bool):
                out[f.name.upper()] = "1" if value else "0"
            else:
                out[f.name.upper()] = str(value)
        return out


def _parse(name: str, raw: str) -> Any:
    kind = _KINDS[name]
    if kind is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected one of 1/0, true/false, yes/no, on/off")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
    if kind == "hostports":
        return parse_hostports(raw)
    return raw


def parse_hostports(raw: str) -> tuple[tuple[str, int], ...]:
    """'h1:26379,h2:26379' -> ((h1, 26379), (h2, 26379))."""
    out = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port[,host:port...], got {part!r}")
        out.append((host, int(port)))
    return tuple(out)


_KINDS: dict[str, Any] = {
    f.name: ("hostports" if f.name == "redis_sentinels" else
             bool if f.type in ("bool",) else
             int if f.type in ("int",) else
             float if f.type in ("float",) else str)
    for f in fields(Settings)
}

SETTINGS_DOC: dict[str, str] = {
    "redis_url": "Redis to use when no Sentinel is configured (password may be in the URL).",
    "redis_sentinels": "Comma-separated host:port of Sentinels; when set, the primary is found through them.",
    "redis_sentinel_master": "Name of the monitored primary in Sentinel.",
    "redis_password": "Password for Redis (and for the primary/replica found through Sentinel).",
    "redis_socket_timeout": "Seconds before a Redis command counts as failed (keeps partitions visible).",
    "key_prefix": "Prefix for every Redis key, to share one Redis between systems.",
    "gateway_host": "Address the gateway binds.",
    "gateway_port": "Port of the HTTP gateway.",
    "gateway_workers": "gunicorn worker processes.",
    "gateway_threads": "Threads per gunicorn worker (gthread).",
    "worker_concurrency": "Tasks one worker node runs at once (threads).",
    "worker_prefetch_ms": "Expected work (ms per slot, at most 4 tasks per slot) a node may claim beyond its "
                          "free slots, so short tasks never wait for a round trip; 2 at most while only "
                          "low-priority tasks are queued. A high-priority task does not wait behind it: "
                          "claims and acks report it and a free slot takes it next. 0: claim only for free slots.",
    "worker_id": "Name of the worker node; default host-pid-random.",
    "worker_stall_ms": "A worker loop (claim, ack, heartbeat, leader) with no round in this time marks its node "
                       "degraded in /health and /workers; while the acker is stalled the node claims nothing "
                       "and stops extending its leases, so its tasks run elsewhere.",
    "lease_ttl_ms": "How long a claimed task stays leased without an extension.",
    "heartbeat_interval_ms": "How often a worker extends its leases and refreshes its registration.",
    "worker_ttl_ms": "A worker whose registration is not refreshed within this time is dead.",
    "reaper_interval_ms": "How often the leader re-queues expired leases and releases due retries.",
    "leader_ttl_ms": "Leader lease; another worker takes over within this time when the leader dies.",
    "max_lease_expiries": "A task whose lease expired more often than this is dead (it may be killing workers).",
    "shutdown_grace_s": "On SIGTERM, seconds to finish running tasks before they are handed back.",
    "max_retries": "Default retries after the first attempt before a task goes to the dead-letter queue.",
    "retry_base_ms": "First retry delay; doubles each attempt (with jitter).",
    "retry_max_ms": "Cap on one retry delay.",
    "default_timeout_s": "Default per-attempt time limit of a task.",
    "max_payload_bytes": "Largest accepted request body (413 above it).",
    "max_batch": "Most tasks in one POST /tasks/batch.",
    "result_ttl_s": "How long finished task records are kept.",
    "durable_ack": "Answer 202 only after WAIT confirms a replica holds the task.",
    "durable_ack_replicas": "Replicas WAIT must confirm with DURABLE_ACK.",
    "durable_ack_timeout_ms": "How long WAIT may take before the gateway answers 503.",
    "process_work_ms": "Simulated work time of the built-in `process` task.",
    "otel_exporter_otlp_endpoint": "OTLP/HTTP collector (e.g. Jaeger's `http://localhost:4318`); when set, the gateway "
                                   "and workers export traces (docs/tracing.md). Empty: tracing off, SDK not loaded.",
}


def settings_table() -> str:
    """Markdown table of every variable with its default, for the README."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    defaults = Settings()
    for f in fields(Settings):
        value = getattr(defaults, f.name)
        shown = "" if value in (None, ()) else (",".join(value) if isinstance(value, tuple) else value)
        rows.append(f"| `{f.name.upper()}` | `{shown}` | {SETTINGS_DOC[f.name]} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
