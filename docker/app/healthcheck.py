"""Docker HEALTHCHECK for the app image: exit 0 when healthy, 1 otherwise (reason on stdout).

gateway: GET /health answers and Redis is reachable (status "ok" or "degraded", not "down").
worker: its registration `worker:<id>` exists in Redis, i.e. its heartbeats arrive. Redis is
asked directly (through Sentinel), not through the worker's Toxiproxy proxy: a worker cut off by
chaos stops heartbeating and shows up unhealthy, which is the truth.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from system.config import Settings


def check_gateway() -> str | None:
    port = os.environ.get("GATEWAY_PORT") or "5000"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    except OSError as exc:
        return f"gateway does not answer on port {port}: {exc}"
    try:
        status = json.loads(body).get("status")
    except ValueError:
        return f"/health answered non-JSON: {body[:100]!r}"
    return None if status in ("ok", "degraded") else f"/health status is {status!r}"


def check_worker() -> str | None:
    from system.config import Settings
    from system.keys import Keys

    worker_id = _read("worker-id") or os.environ.get("WORKER_ID", "")
    settings = Settings.from_env()
    try:
        host, port = _primary(settings)
        with socket.create_connection((host, port), timeout=2) as sock:
            if settings.redis_password:
                _command(sock, "AUTH", settings.redis_password)
            registered = _command(sock, "EXISTS", Keys(settings.key_prefix).worker(worker_id))
    except (OSError, ValueError) as exc:  # any Redis trouble means: not healthy now
        return f"cannot reach Redis: {exc}"
    return None if registered == 1 else f"worker {worker_id!r} is not registered (no heartbeat)"


def _primary(settings: Settings) -> tuple[str, int]:
    """The primary as the Sentinels see it (or REDIS_URL's host without Sentinel)."""
    if not settings.redis_sentinels:
        parts = urlsplit(settings.redis_url)
        return parts.hostname or "localhost", parts.port or 6379
    for address in settings.redis_sentinels:
        try:
            with socket.create_connection(address, timeout=1) as sock:
                if settings.redis_sentinel_password:
                    _command(sock, "AUTH", settings.redis_sentinel_password)
                reply = _command(sock, "SENTINEL", "get-master-addr-by-name", settings.redis_sentinel_master)
            if isinstance(reply, list) and len(reply) == 2:
                return reply[0], int(reply[1])
        except (OSError, ValueError):
            continue
    raise ValueError("no Sentinel knows the primary")


def _command(sock: socket.socket, *args: str) -> Any:
    """One RESP2 round trip. Plain sockets: importing redis-py costs ~0.5 s a check."""
    sock.sendall(f"*{len(args)}\r\n".encode()
                 + b"".join(f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args))
    return _reply(sock.makefile("rb"))


def _reply(f: Any) -> Any:
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise ValueError(f"Redis error: {rest}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        return None if rest == "-1" else f.read(int(rest) + 2)[:-2].decode()
    if kind == b"*":
        return None if rest == "-1" else [_reply(f) for _ in range(int(rest))]
    raise ValueError(f"unexpected Redis reply {line!r}")


def _read(name: str) -> str:
    try:
        with open(os.path.join("/tmp", name)) as f:
            return f.read().strip()
    except OSError:
        return ""


if __name__ == "__main__":
    problem = check_worker() if _read("role") == "worker" else check_gateway()
    print(problem or "healthy")
    sys.exit(1 if problem else 0)
