"""The Redis side of the local backend: redis-server primary + replica, Sentinels, toxiproxy-server.

Everything binds 127.0.0.1 on free ports, keeps its files in the run's temp directory and needs
no root. Binaries are found on PATH; a missing one is reported with how to install it.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import redis

from harness.backends.base import BackendError
from harness.backends.procs import Child, ProcessError, Supervisor, free_port, port_open, wait_until
from harness.toxiproxy import Toxiproxy

SENTINEL_MASTER = "mymaster"
INSTALL_HINT = {
    "redis-server": "install Redis 7 (apt-get install redis-server)",
    "redis-sentinel": "install Redis 7 (apt-get install redis-sentinel)",
    "toxiproxy-server": "install Toxiproxy 2.x (go install github.com/Shopify/toxiproxy/v2/cmd/server@latest"
                        " and put it on PATH as toxiproxy-server, or see README)",
}


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackendError(f"{name} not found on PATH; {INSTALL_HINT[name]}")
    return path


# As in docker-compose.yml: refuse writes rather than evict tasks; the gateway's back-pressure
# (SUBMIT_MEMORY_BUDGET of this) answers 503 first. A later "--maxmemory" in `extra` wins.
REDIS_MAXMEMORY = "512mb"


@dataclass
class RedisNode:
    """One redis-server we run: its port, data dir and process (None while stopped)."""

    name: str
    port: int
    dir: Path
    args: list[str]
    child: Child | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2,
                           socket_connect_timeout=2, decode_responses=True)


def _pings(node: RedisNode) -> bool:
    try:
        with node.client() as c:
            return bool(c.ping())
    except redis.RedisError:
        return False


class RedisCluster:
    """Primary + optional replica + optional 3 Sentinels (quorum 2, 1 s down-after)."""

    def __init__(self, sup: Supervisor, work: Path, *, aof: bool) -> None:
        self.sup = sup
        self.work = work
        self.aof = aof
        self.nodes: dict[str, RedisNode] = {}
        self.sentinels: list[tuple[int, Child]] = []
        self.primary = ""
        self.roles = threading.RLock()  # a failover the harness causes and one it follows, one at a time
        # Sentinels take commands (even SENTINEL FAILOVER) from anyone who reaches them: a fresh
        # password per run, with protected mode left on (the config file holds it, mode 0600).
        self.sentinel_password = secrets.token_urlsafe(18)

    def _node(self, name: str, extra: list[str]) -> RedisNode:
        port = free_port()
        d = self.work / name
        d.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(d), "--save", "",
                "--appendonly", "yes" if self.aof else "no", "--protected-mode", "no",
                "--daemonize", "no", "--repl-diskless-sync-delay", "0",
                "--maxmemory", REDIS_MAXMEMORY, "--maxmemory-policy", "noeviction", *extra]
        node = RedisNode(name=name, port=port, dir=d, args=args)
        self.nodes[name] = node
        return node

    def start_node(self, name: str) -> None:
        node = self.nodes[name]
        node.child = self.sup.spawn(name, [binary("redis-server"), *node.args])
        try:
            wait_until(lambda: _pings(node), timeout=15, what=f"{name} to answer PING on {node.port}")
        except ProcessError as exc:
            raise BackendError(f"{exc}\n--- {name} log ---\n{node.child.tail()}") from exc

    def stop_node(self, name: str, *, kill: bool) -> None:
        node = self.nodes[name]
        if node.child is not None:
            self.sup.stop(node.child, sig=signal.SIGKILL if kill else signal.SIGTERM, grace=10)
            node.child = None

    def start(self, *, replica: bool, sentinel: bool) -> None:
        self.primary = "redis-primary"
        self._node("redis-primary", [])
        self.start_node("redis-primary")
        if replica or sentinel:
            primary = self.nodes["redis-primary"]
            self._node("redis-replica", ["--replicaof", "127.0.0.1", str(primary.port)])
            self.start_node("redis-replica")
            rep = self.nodes["redis-replica"]
            wait_until(lambda: _link_up(rep), timeout=15, what="the replica to sync")
        if sentinel:
            for i in range(1, 4):
                self._start_sentinel(i)
            wait_until(lambda: all(_sentinel_sees_replica(p, self.sentinel_password) for p, _ in self.sentinels),
                       timeout=20, what="the Sentinels to discover the replica")

    def _start_sentinel(self, i: int) -> None:
        port = free_port()
        conf = self.work / f"sentinel-{i}.conf"
        primary = self.nodes[self.primary]
        conf.touch(mode=0o600)
        conf.write_text("\n".join([
            f"port {port}", "bind 127.0.0.1", f"requirepass {self.sentinel_password}",
            f"sentinel sentinel-pass {self.sentinel_password}", f"dir {self.work}",
            f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary.port} 2",
            f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000",
            f"sentinel failover-timeout {SENTINEL_MASTER} 5000",
            f"sentinel parallel-syncs {SENTINEL_MASTER} 1", ""]))
        child = self.sup.spawn(f"sentinel-{i}", [binary("redis-sentinel"), str(conf)])
        wait_until(lambda: port_open(port), timeout=10, what=f"sentinel-{i} on port {port}")
        self.sentinels.append((port, child))

    def sentinel_primary(self) -> str | None:
        """The primary address a majority of Sentinels report, or None."""
        votes: dict[str, int] = {}
        for port, _ in self.sentinels:
            try:
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, password=self.sentinel_password,
                                 decode_responses=True) as s:
                    addr = s.sentinel_get_master_addr_by_name(SENTINEL_MASTER)
            except redis.RedisError:
                continue
            if addr:
                key = f"{addr[0]}:{addr[1]}"
                votes[key] = votes.get(key, 0) + 1
        best = max(votes.items(), key=lambda kv: kv[1], default=None)
        return best[0] if best and best[1] >= 2 else None

    def adopt_sentinel_primary(self) -> str | None:
        """When a majority of Sentinels name another primary than ours, and it takes writes, take
        it as the primary (a failover the harness did not cause: Sentinel failing over a primary
        that missed its pings on a crowded machine); returns its name, else None."""
        with self.roles:
            addr = self.sentinel_primary()
            current = self.nodes[self.primary]
            if addr is None or addr == current.address:
                return None
            name = next((n for n, node in self.nodes.items() if node.address == addr), None)
            if name is None or not _is_master(self.nodes[name]):
                return None
            self._swap_roles(current, self.nodes[name])
            self.primary = name
            return name

    def failover(self, *, timeout: float = 30.0, on_down: Callable[[], None] | None = None) -> str:
        """SIGKILL the primary; wait for a promoted replica that accepts writes; return its name.
        `on_down` is called once the old primary is gone (the fault's effective time)."""
        if not self.sentinels:
            raise BackendError("redis_failover needs Sentinels; the scenario did not ask for them "
                               "(the runner sets SystemSpec.sentinel when the timeline has one)")
        with self.roles:
            return self._failover(timeout, on_down)

    def _failover(self, timeout: float, on_down: Callable[[], None] | None) -> str:
        old = self.nodes[self.primary]
        self.stop_node(self.primary, kill=True)
        if on_down is not None:
            on_down()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            addr = self.sentinel_primary()
            if addr and addr != old.address:
                name = next(n for n, node in self.nodes.items() if node.address == addr)
                promoted = self.nodes[name]
                wait_until(partial(_is_master, promoted), timeout=10,
                           what=f"{name} to become a writable primary")
                self._swap_roles(old, self.nodes[name])
                self.primary = name
                return name
            time.sleep(0.1)
        raise BackendError(f"no Sentinel failover within {timeout:.0f}s after killing {old.name}")

    @staticmethod
    def _swap_roles(old: RedisNode, new: RedisNode) -> None:
        """Restart arguments follow the roles: the old primary comes back as a replica."""
        def strip(args: list[str]) -> list[str]:
            if "--replicaof" in args:
                i = args.index("--replicaof")
                return args[:i] + args[i + 3:]
            return args
        new.args = strip(new.args)
        old.args = strip(old.args) + ["--replicaof", "127.0.0.1", str(new.port)]

    def stop_all(self) -> list[str]:
        problems = []
        for _, child in self.sentinels:
            try:
                self.sup.stop(child, grace=3)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"sentinel pid {child.pid}: {exc}")
        self.sentinels.clear()
        for name in list(self.nodes):
            try:
                self.stop_node(name, kill=True)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{name}: {exc}")
        return problems


def _info(node: RedisNode, section: str) -> dict[str, object]:
    try:
        with node.client() as c:
            return dict(c.info(section))
    except redis.RedisError:
        return {}


def _link_up(node: RedisNode) -> bool:
    return _info(node, "replication").get("master_link_status") == "up"


def _is_master(node: RedisNode) -> bool:
    return _info(node, "replication").get("role") == "master"


def _sentinel_sees_replica(port: int, password: str) -> bool:
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, password=password,
                         decode_responses=True) as s:
            return len(s.sentinel_slaves(SENTINEL_MASTER)) >= 1
    except redis.RedisError:
        return False


def start_toxiproxy(sup: Supervisor) -> Toxiproxy:
    port = free_port()
    sup.spawn("toxiproxy", [binary("toxiproxy-server"), "-host", "127.0.0.1", "-port", str(port)])
    tp = Toxiproxy(f"http://127.0.0.1:{port}", timeout=3.0)
    tp.wait_ready(timeout=15)
    sup.ledger.write("toxiproxy", api_url=tp.api_url)
    return tp
