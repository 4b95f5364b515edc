"""deploy/k8s/base/scripts/start.sh for real, without a cluster: Docker containers named like the
StatefulSet pods (hostname redis-0, DNS name redis-0.redis, ...) on one network, as Kubernetes'
headless Services would name them, running as the pods' non-root uid with their own volumes.
Shows replication, a Sentinel failover by hostname, the old primary rejoining, and a Sentinel
restarted with an empty config learning the current primary."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.compose import env_file_values
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "k8s" / "base" / "scripts"
PASSWORD = "k8s-test"
UID = 999  # runAsUser of the redis and sentinel pods (deploy/k8s/base/redis.yaml)


def _docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


class Pods:
    """Containers standing in for the pods of the redis and sentinel StatefulSets."""

    def __init__(self, volumes: Path) -> None:
        self.volumes = volumes
        self.prefix = f"taskq-k8s-{uuid.uuid4().hex[:6]}"
        self.image = os.environ.get("REDIS_IMAGE") or env_file_values().get("REDIS_IMAGE") or "redis:7"
        self.names: list[str] = []
        _docker("network", "create", self.prefix)

    def run(self, pod: str, role: str) -> None:
        name = f"{self.prefix}-{pod}"
        data = self.volumes / f"{pod}-{uuid.uuid4().hex[:4]}"  # a fresh volume, owned like fsGroup makes it
        data.mkdir()
        os.chown(data, UID, UID)
        _docker("run", "-d", "--name", name, "--hostname", pod, "--network", self.prefix,
                "--network-alias", f"{pod}.{role}", "-e", f"REDIS_PASSWORD={PASSWORD}", "--user", f"{UID}:{UID}",
                "-v", f"{SCRIPTS}:/opt/taskq:ro", "-v", f"{data}:/data", self.image, "sh", "/opt/taskq/start.sh", role)
        self.names.append(name)

    def cli(self, pod: str, *args: str, port: int = 6379) -> list[str]:
        auth = ["-e", f"REDISCLI_AUTH={PASSWORD}"] if port == 6379 else []
        out = _docker("exec", *auth, f"{self.prefix}-{pod}", "redis-cli", "-p", str(port), *args, check=False)
        return [line.strip() for line in out.splitlines()]

    def primary(self, sentinel: str) -> str:
        return (self.cli(sentinel, "sentinel", "get-master-addr-by-name", "mymaster", port=26379) or [""])[0]

    def replicating_from(self, pod: str, primary: str) -> bool:
        info = dict(line.split(":", 1) for line in self.cli(pod, "info", "replication") if ":" in line)
        return info.get("master_host") == primary and info.get("master_link_status") == "up"

    def remove(self) -> None:
        for name in self.names:
            _docker("rm", "-f", "-v", name, check=False)
        _docker("network", "rm", self.prefix, check=False)


@pytest.fixture
def pods(docker_ready: None, tmp_path: Path) -> Iterator[Pods]:
    if os.geteuid() != 0:
        pytest.skip("the pod volumes are chowned to uid 999, which needs root")
    p = Pods(tmp_path)
    try:
        yield p
    finally:
        p.remove()


def test_statefulset_scripts_replicate_fail_over_and_rejoin_by_hostname(pods: Pods) -> None:
    for pod in ("redis-0", "redis-1"):
        pods.run(pod, "redis")
    for i in range(3):
        pods.run(f"sentinel-{i}", "sentinel")
    wait_for("redis-1 to replicate from redis-0.redis",
             lambda: pods.replicating_from("redis-1", "redis-0.redis"), timeout=30)
    wait_for("a Sentinel quorum", lambda: pods.cli("sentinel-0", "sentinel", "ckquorum", "mymaster",
                                                   port=26379)[0].startswith("OK"), timeout=30)
    wait_for("every Sentinel to know the replica by name", lambda: all(
        "redis-1.redis" in pods.cli(f"sentinel-{i}", "sentinel", "replicas", "mymaster", port=26379)
        for i in range(3)), timeout=30)

    _docker("kill", f"{pods.prefix}-redis-0")
    wait_for("Sentinel to promote redis-1.redis", lambda: pods.primary("sentinel-1") == "redis-1.redis", timeout=45)
    _docker("start", f"{pods.prefix}-redis-0")
    wait_for("the old primary to rejoin as a replica of redis-1.redis",
             lambda: pods.replicating_from("redis-0", "redis-1.redis"), timeout=60)

    # a rescheduled Sentinel (new emptyDir) monitors the current primary, not redis-0
    _docker("rm", "-f", f"{pods.prefix}-sentinel-2")
    pods.names.remove(f"{pods.prefix}-sentinel-2")
    pods.run("sentinel-2", "sentinel")
    wait_for("the new Sentinel to monitor redis-1.redis", lambda: pods.primary("sentinel-2") == "redis-1.redis",
             timeout=20)
