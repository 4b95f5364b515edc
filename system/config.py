"""Every setting of the gateway and the workers, read from the environment in one place.

The table in README.md is generated from `SETTINGS_DOC` (see `python -m system.config`),
so the documentation cannot drift from the code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from system.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """Configuration shared by gateway and worker; defaults work against a local redis-server."""

    redis_url: str = "redis://localhost:6379/0"
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = "mymaster"
    redis_password: str | None = field(default=None, repr=False)
    redis_password_file: str | None = None
    redis_sentinel_password: str | None = field(default=None, repr=False)
    redis_sentinel_password_file: str | None = None
    redis_socket_timeout: float = 2.0
    key_prefix: str = ""
    gateway_host: str = ""
    gateway_api_token: str | None = field(default=None, repr=False)
    gateway_api_token_file: str | None = None
    gateway_read_token: str | None = field(default=None, repr=False)
    gateway_read_token_file: str | None = None
    gateway_allowed_hosts: str = ""
    gateway_port: int = 5000
    gateway_workers: int = 2
    gateway_threads: int = 8
    gateway_worker_class: str = "gevent"
    gateway_connections: int = 2000
    gateway_keepalive_s: int = 5
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
    max_queued: int = 1_000_000
    submit_memory_budget: float = 0.9
    backpressure_retry_after_s: int = 5
    dead_max: int = 10_000
    dead_ttl_s: int = 180 * 86400
    max_events: int = 100
    list_page_bytes: int = 2 * 1024 * 1024
    list_field_bytes: int = 1024
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
                shown = "<hidden>" if f.name in SECRETS else repr(raw)
                errors.append(f"{name}={shown}: {exc}")
        errors += _read_secret_files(values)
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
                     "gateway_workers", "gateway_threads", "dead_max", "dead_ttl_s", "list_page_bytes",
                     "backpressure_retry_after_s", "gateway_connections", "retry_base_ms", "retry_max_ms",
                     "gateway_keepalive_s", "worker_stall_ms"):
            if getattr(self, name) <= 0:
                out.append(f"{name.upper()} must be a positive number")
        for name in ("redis_socket_timeout", "default_timeout_s", "result_ttl_s", "durable_ack_timeout_ms"):
            value = getattr(self, name)
            if not (0 < value < float("inf")):  # also rejects nan; 0 means "never" or "no record" here
                out.append(f"{name.upper()} must be a positive number")
        for name in ("max_retries", "shutdown_grace_s", "process_work_ms", "durable_ack_replicas",
                     "max_lease_expiries", "worker_prefetch_ms", "max_queued", "list_field_bytes"):
            value = getattr(self, name)
            if not (0 <= value < float("inf")):
                out.append(f"{name.upper()} must be 0 or more")
        return out + self._timing_problems() + self._limit_problems()

    def _timing_problems(self) -> list[str]:
        """Intervals that only make sense relative to each other."""
        out = []
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
        return out

    def _limit_problems(self) -> list[str]:
        """Limits, the server choice, the port, tokens and the Redis URL."""
        out = []
        if not 0 <= self.submit_memory_budget <= 1:
            out.append("SUBMIT_MEMORY_BUDGET must be a fraction from 0 (off) to 1 of Redis' maxmemory")
        if self.max_events != 0 and self.max_events < 2:
            out.append("MAX_EVENTS must be 0 (no cap) or at least 2 (the first event and the newest are kept)")
        if self.gateway_worker_class not in ("gevent", "gthread"):
            out.append(f"GATEWAY_WORKER_CLASS must be gevent or gthread, got {self.gateway_worker_class!r}")
        if not 0 < self.gateway_port < 65536:
            out.append("GATEWAY_PORT must be between 1 and 65535")
        out += self._token_problems()
        problem = url_problem(self.redis_url)
        if problem:
            out.append(problem)
        return out

    def _token_problems(self) -> list[str]:
        """Tokens are compared in constant time, but a short one can still be guessed."""
        out = []
        for name in ("gateway_api_token", "gateway_read_token"):
            token = getattr(self, name)
            if token is not None and (len(token) < MIN_TOKEN_LENGTH or not token.isascii()
                                      or any(c.isspace() or not c.isprintable() for c in token)):
                out.append(f"{name.upper()} must be at least {MIN_TOKEN_LENGTH} printable ASCII characters "
                           "without spaces (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
        if self.gateway_read_token and not self.gateway_api_token:
            out.append("GATEWAY_READ_TOKEN needs GATEWAY_API_TOKEN too (otherwise writes would be open)")
        if self.gateway_read_token and self.gateway_read_token == self.gateway_api_token:
            out.append("GATEWAY_READ_TOKEN must differ from GATEWAY_API_TOKEN")
        return out

    def env(self) -> dict[str, str]:
        """The inverse of from_env: variables that reproduce these settings in a child process."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == () or getattr(self, f.name + "_file", None):
                continue  # a secret read from a file is passed on as the file, never as its value
            if f.name == "redis_sentinels":
                out[f.name.upper()] = ",".join(f"{h}:{p}" for h, p in value)
            elif isinstance(value, bool):
                out[f.name.upper()] = "1" if value else "0"
            else:
                out[f.name.upper()] = str(value)
        return out


def redact_url(url: str) -> str:
    """The URL with its password (and anything that cannot be parsed safely) replaced by ***."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{url.split(':', 1)[0]}://***" if "://" in url else "***"
    if "://" not in url or not parts.scheme.isalpha():
        return "***"
    user = f"{parts.username or ''}:***@" if parts.password is not None else \
        (f"{parts.username}@" if parts.username else "")
    return f"{parts.scheme}://{user}{host}{f':{port}' if port is not None else ''}{parts.path}"


def url_problem(url: str) -> str | None:
    """Why REDIS_URL cannot be used, without echoing it: a typo such as 'redis://host:secret'
    would otherwise print the password as a port (redis-py quotes the bad part)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        reason = "port is not a number from 0 to 65535" if "port" in str(exc).lower() else "not a URL"
        return f"REDIS_URL is malformed ({reason}): {redact_url(url)}; expected redis://[:password@]host:port/db"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return f"REDIS_URL must start with redis://, rediss:// or unix://, got {redact_url(url)}"
    if parts.scheme != "unix" and not parts.hostname:
        return f"REDIS_URL has no host: {redact_url(url)}; expected redis://[:password@]host:port/db"
    return None


MIN_TOKEN_LENGTH = 16
SECRETS = ("redis_password", "redis_sentinel_password", "gateway_api_token", "gateway_read_token")


def _read_secret_files(values: dict[str, Any]) -> list[str]:
    """Fill each secret from its *_FILE (Docker secrets), so it never sits in the environment
    or in `docker inspect`. Messages name the file, never its content."""
    errors = []
    for name in SECRETS:
        path = values.get(name + "_file")
        if not path:
            continue
        if values.get(name):
            errors.append(f"set {name.upper()} or {name.upper()}_FILE, not both")
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                values[name] = fh.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{name.upper()}_FILE={path!r}: cannot read it ({type(exc).__name__}: "
                          f"{getattr(exc, 'strerror', None) or 'not UTF-8 text'})")
            continue
        if not values[name]:
            errors.append(f"{name.upper()}_FILE={path!r} is empty")
    return errors


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
    "redis_password_file": "File holding REDIS_PASSWORD (e.g. a Docker secret), so it is not in the environment.",
    "redis_sentinel_password": "Password of the Sentinels themselves (their `requirepass`).",
    "redis_sentinel_password_file": "File holding REDIS_SENTINEL_PASSWORD.",
    "redis_socket_timeout": "Seconds before a Redis command counts as failed (keeps partitions visible).",
    "key_prefix": "Prefix for every Redis key, to share one Redis between systems.",
    "gateway_host": "Address the gateway binds; empty: 0.0.0.0 with a GATEWAY_API_TOKEN, else 127.0.0.1 "
                    "(without a token only a loopback address is allowed).",
    "gateway_api_token": "Bearer token for every endpoint but `/`, `/health` and `/openapi.json`; "
                         "empty: no access control (loopback only).",
    "gateway_api_token_file": "File holding GATEWAY_API_TOKEN (e.g. a Docker secret).",
    "gateway_read_token": "Optional second bearer token that may only read (GET).",
    "gateway_read_token_file": "File holding GATEWAY_READ_TOKEN.",
    "gateway_allowed_hosts": "Comma-separated Host header names the gateway answers (port ignored); always "
                             "includes localhost, 127.0.0.1, [::1] and the bind address. `*`: any.",
    "gateway_port": "Port of the HTTP gateway.",
    "gateway_workers": "gunicorn worker processes.",
    "gateway_threads": "Threads per gunicorn worker (gthread only).",
    "gateway_worker_class": "gunicorn worker class: `gevent` (a greenlet per connection, so slow or idle clients "
                            "never hold a thread) or `gthread` (GATEWAY_THREADS threads per process).",
    "gateway_connections": "Most open connections per gateway process (gevent); more wait in the listen backlog.",
    "gateway_keepalive_s": "Seconds an idle keep-alive connection stays open; with gevent also the most a client "
                           "may take to send a request's line and headers, and to send the next part of a body "
                           "or take the next part of an answer, before it is let go.",
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
    "max_queued": "Back-pressure: a submit that would make more tasks queued than this answers 503 with "
                  "Retry-After and stores nothing (0: no limit).",
    "submit_memory_budget": "Back-pressure: submits answer 503 with Retry-After while Redis uses more than this "
                            "fraction of its maxmemory, before Redis itself refuses writes (0: off; no effect "
                            "when Redis has no maxmemory).",
    "backpressure_retry_after_s": "Retry-After (seconds) of a 503 caused by back-pressure.",
    "dead_max": "Most tasks kept in the dead-letter queue; the oldest dead task is dropped with its record.",
    "dead_ttl_s": "How long a dead task and its record are kept (default 180 days).",
    "max_events": "Most events kept per task: the first (submitted) and the newest (0: no cap).",
    "list_page_bytes": "Byte budget of one GET /tasks or GET /dlq page; a page ends early (next_cursor) "
                       "when the next record would pass it.",
    "list_field_bytes": "In list pages, `data` and `result` larger than this are left out (null, named in "
                        "`omitted`); GET /tasks/<id> has them in full.",
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
