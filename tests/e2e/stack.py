"""A compose stack of the project under its own project name, and small clients for it.

Every test gets a fresh stack (own project name, free host ports) and `down -v` at the end.
Images: docker/offline.env (written by scripts/offline-images.sh) when present, else the
public defaults of docker-compose.yml.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

from harness.backends.compose import env_file_values
from harness.backends.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Short timings so that lease expiry and failover happen within a test's time.
FAST_TIMINGS = {"LEASE_TTL_MS": "3000", "HEARTBEAT_INTERVAL_MS": "500", "WORKER_TTL_MS": "3000",
                "REAPER_INTERVAL_MS": "500", "LEADER_TTL_MS": "2000"}


def wait_for(what: str, check: Callable[[], T | None], *, timeout: float, interval: float = 0.25) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (requests.RequestException, subprocess.SubprocessError, AssertionError, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}"
                         + (f" (last error: {last_error})" if last_error else ""))


class Stack:
    """`docker compose -p <project>` for one test, with its gateway and Toxiproxy clients."""

    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        self.project = f"taskq-e2e-{uuid.uuid4().hex[:8]}"
        self.gateway_port = free_port()
        self.toxiproxy_port = free_port()
        self.env = {**os.environ, **{k: v for k, v in env_file_values().items() if k not in os.environ},
                    **FAST_TIMINGS, **(env or {}),
                    "GATEWAY_HOST_PORT": str(self.gateway_port),
                    "TOXIPROXY_HOST_PORT": str(self.toxiproxy_port)}
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.toxiproxy = f"http://127.0.0.1:{self.toxiproxy_port}"
        # fresh secrets, as the files docker-compose.yml mounts (TASKQ_SECRETS_DIR)
        self.secrets_dir = Path(tempfile.mkdtemp(prefix="taskq-e2e-secrets-"))
        self.secrets = {"redis_password": secrets.token_urlsafe(18),
                        "redis_sentinel_password": secrets.token_urlsafe(18),
                        "gateway_api_token": secrets.token_urlsafe(24)}
        for name, value in self.secrets.items():
            (self.secrets_dir / name).write_text(value)
            (self.secrets_dir / name).chmod(0o644)
        self.secrets_dir.chmod(0o755)
        self.env["TASKQ_SECRETS_DIR"] = str(self.secrets_dir)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.secrets['gateway_api_token']}"

    # --- compose --------------------------------------------------------------------------
    def compose(self, *args: str, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", self.project, *args]
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def up(self, *extra: str) -> float:
        """Start (or change) the stack and wait until every service is healthy; returns seconds."""
        start = time.monotonic()
        self.compose("up", "-d", "--wait", *extra)
        return time.monotonic() - start

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "-t", "3", check=False, timeout=120)
        self.remove_secrets()

    def remove_secrets(self) -> None:
        shutil.rmtree(self.secrets_dir, ignore_errors=True)

    def logs(self, tail: int = 60) -> str:
        return self.compose("logs", "--no-color", "--tail", str(tail), check=False).stdout

    def container(self, service: str, index: int = 1) -> str:
        return f"{self.project}-{service}-{index}"

    def docker(self, *args: str, timeout: float = 60) -> str:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def ip_of(self, service: str, index: int = 1) -> str:
        return self.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                           self.container(service, index)).strip()

    def sentinel_primary(self) -> str:
        """Address (an IP: Sentinel runs without hostnames, see docker/redis/sentinel.sh) of the primary."""
        out = self.docker("exec", "-e", f"REDISCLI_AUTH={self.secrets['redis_sentinel_password']}",
                          self.container("sentinel-1"), "redis-cli", "-p", "26379",
                          "sentinel", "get-master-addr-by-name", "mymaster")
        return out.split()[0]

    def sentinels_see_a_good_replica(self, primary_ip: str, replica_ip: str) -> bool:
        """Every Sentinel lists the replica as healthy and replicating from the primary's IP.

        Sentinel promotes only such a replica; right after start-up it may still be fixing the
        replica's config (+fix-slave-config: the replica was set up by hostname), and a primary
        lost in that window is a failover Sentinel aborts ("no good slave")."""
        for index in (1, 2, 3):
            out = self.docker("exec", "-e", f"REDISCLI_AUTH={self.secrets['redis_sentinel_password']}",
                              self.container(f"sentinel-{index}"), "redis-cli", "-p", "26379",
                              "sentinel", "replicas", "mymaster").split("\n")
            fields = dict(zip(out[::2], out[1::2], strict=False))
            if not (fields.get("ip") == replica_ip and fields.get("flags") == "slave"
                    and fields.get("master-link-status") == "ok" and fields.get("master-host") == primary_ip):
                return False
        return True

    def redis_role(self, service: str) -> str:
        out = self.docker("exec", "-e", f"REDISCLI_AUTH={self.password}", self.container(service),
                          "redis-cli", "info", "replication")
        fields = dict(line.split(":", 1) for line in out.split() if ":" in line)
        return fields["role"] + ("" if fields["role"] == "master" else ":" + fields.get("master_link_status", ""))

    @property
    def password(self) -> str:
        return self.secrets["redis_password"]

    # --- gateway --------------------------------------------------------------------------
    def submit(self, type_: str, data: Any = None, **extra: Any) -> requests.Response:
        body = {"type": type_, "data": data, **extra}
        return self.http.post(f"{self.gateway}/tasks", json=body, timeout=10)

    def get(self, path: str) -> Any:
        resp = self.http.get(f"{self.gateway}{path}", timeout=10)
        resp.raise_for_status()
        return resp.json()

    def task(self, task_id: str) -> dict[str, Any]:
        return self.get(f"/tasks/{task_id}")

    def workers(self) -> dict[str, dict[str, Any]]:
        return {w["id"]: w for w in self.get("/workers")["workers"]}

    def wait_finished(self, ids: list[str], *, timeout: float) -> dict[str, dict[str, Any]]:
        """Records of all `ids` once none is queued or running any more."""
        def done() -> dict[str, dict[str, Any]] | None:
            records = {i: self.task(i) for i in ids}
            busy = [i for i, r in records.items() if r["status"] in ("queued", "running", "retry_scheduled")]
            return None if busy else records
        return wait_for(f"{len(ids)} tasks to finish", done, timeout=timeout, interval=0.5)

    # --- toxiproxy ------------------------------------------------------------------------
    def proxies(self) -> dict[str, dict[str, Any]]:
        resp = self.http.get(f"{self.toxiproxy}/proxies", timeout=5)
        resp.raise_for_status()
        return resp.json()

    def set_proxy_enabled(self, name: str, enabled: bool) -> None:
        resp = self.http.post(f"{self.toxiproxy}/proxies/{name}", data=json.dumps({"enabled": enabled}),
                              timeout=5)
        resp.raise_for_status()


def succeeded_events(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in record["events"] if e["event"] == "succeeded"]
