"""Docker HEALTHCHECK for the app image: exit 0 when healthy, 1 otherwise (reason on stdout).

gateway: GET /health answers and Redis is reachable (status "ok" or "degraded", not "down").
worker: its registration `worker:<id>` exists in Redis, i.e. its heartbeats arrive. Redis is
asked directly (through Sentinel), not through the worker's Toxiproxy proxy: a worker cut off by
chaos stops heartbeating and shows up unhealthy, which is the truth.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


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
    from system.connection import connect
    from system.keys import Keys

    worker_id = _read("worker-id") or os.environ.get("WORKER_ID", "")
    settings = Settings.from_env()
    try:
        registered = connect(settings).exists(Keys(settings.key_prefix).worker(worker_id))
    except Exception as exc:  # any Redis trouble means: not healthy now
        return f"cannot reach Redis: {exc}"
    return None if registered else f"worker {worker_id!r} is not registered (no heartbeat)"


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
