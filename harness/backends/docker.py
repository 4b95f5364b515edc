"""The Docker backend: the compose stack, with chaos through the Docker API and Toxiproxy.

Each run is its own compose project (`harness-<id>`) on free host ports. Workers are the
compose replicas `<project>-worker-N`, which name themselves `worker-N` (docker/app/entrypoint.py)
and create their own proxies `redis-worker-N` / `redis-gateway` (system/proxy_link.py). Unlike
the local backend, clients here find the primary through Sentinel and re-point their own proxy
after a failover, so a redis_failover only kills the primary container and waits for Sentinel.
Scaling up clones a worker container under the next number (compose would reuse the numbers of
stopped replicas, breaking the naming rule of harness.schedule.scale_plan); scaling down stops
(SIGTERM) the highest-numbered ones and keeps them, so numbers are never reused.
The harness reads Redis directly at the containers' bridge addresses (Linux hosts).
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import redis
import requests

from harness.backends.base import (
    ALL_FAULTS,
    BackendError,
    Endpoints,
    SystemSpec,
    UnknownTarget,
    service_faults,
)
from harness.backends.compose import (
    COMPOSE_FILE,
    Compose,
    compose_down,
    leftovers,
    prune_old_app_images,
    write_override,
)
from harness.backends.netfaults import ProxiedNetwork
from harness.backends.procs import ProcessError, free_port, wait_until
from harness.ledger import Ledger
from harness.toxiproxy import Toxiproxy
from system.keys import Keys

DOCKER_CAPABILITIES = ALL_FAULTS | service_faults("docker")
DEFAULT_PASSWORD = "taskq-local-only"


FREEZE_ATTEMPTS = 4  # runc gives up after ~1,000 polls of the freezer (a fraction of a second)


def freeze(container: Any, *, attempts: int = FREEZE_ATTEMPTS) -> None:
    """`docker pause`, tried again when runc reports "unable to freeze".

    runc polls the cgroup freezer for a bounded time and, when the cgroup is not frozen by then
    (a busy, shared machine: every thread of the container must be stopped), thaws it and fails
    with "OCI runtime pause failed: unable to freeze"; runc's maintainers leave the retry to the
    caller (opencontainers/runc#4388). Without it a pause fault fails on load alone. The fault's
    effective time stays the moment the pause returned, so a slow freeze shows as a late fault.
    Any other error, or the last attempt's, is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            container.pause()
            return
        except docker.errors.APIError as exc:
            if attempt == attempts or "unable to freeze" not in str(exc):
                raise
        container.reload()
        if container.status == "paused":
            return


class DockerBackend(ProxiedNetwork):
    name = "docker"

    def __init__(self, *, ledger: Ledger, ready_timeout: float = 60.0) -> None:
        self.ledger = ledger
        self.ready_timeout = ready_timeout
        self.project = f"harness-{uuid.uuid4().hex[:8]}"
        try:
            self.client = docker.from_env(timeout=60)  # type: ignore[attr-defined]
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise BackendError(f"no Docker engine answers ({exc}); start Docker or use "
                               "--backend local") from exc
        self.work = Path(tempfile.mkdtemp(prefix="harness-docker-"))
        ledger.write("tempdir", path=str(self.work))
        self.spec = SystemSpec()
        self.compose: Compose | None = None
        self.tp: Toxiproxy | None = None
        self.gateway_port = 0
        self.highest = 0
        self.password = DEFAULT_PASSWORD
        self.token: str | None = None
        self.sentinel_password: str | None = None
        self.primary_service = "redis"
        self.grace = 15
        self._verified_primary: str | None = None  # checked by ready_for_faults, for the first failover

    def capabilities(self) -> frozenset[str]:
        return DOCKER_CAPABILITIES

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, spec: SystemSpec) -> Endpoints:
        self.spec = spec
        self.grace = int(float(spec.config.get("SHUTDOWN_GRACE_S", 10)) + 5)
        self.gateway_port, tp_port = free_port(), free_port()
        override = write_override(self.work / "override.yml", spec.config)
        secrets_dir = self._write_secrets()
        self.compose = Compose(self.project, files=[COMPOSE_FILE, override],
                               env={"GATEWAY_HOST_PORT": str(self.gateway_port),
                                    "TOXIPROXY_HOST_PORT": str(tp_port), "TASKQ_SECRETS_DIR": str(secrets_dir)})
        self.ledger.write("compose_up", project=self.project)
        try:
            self.compose.run("up", "-d", "--build", "--wait", "--scale", f"worker={spec.workers}",
                             timeout=600)
        except (RuntimeError, OSError) as exc:
            raise BackendError(f"docker compose up failed: {exc}") from exc
        prune_old_app_images()
        self.tp = Toxiproxy(f"http://127.0.0.1:{tp_port}", timeout=3.0)
        self.tp.wait_ready(timeout=30)
        self.highest = spec.workers
        for node in self.workers():
            self._wait_ready(node)
        return self.endpoints()

    def _write_secrets(self) -> Path:
        """Fresh secrets per run, as the files docker-compose.yml mounts (TASKQ_SECRETS_DIR). The work
        dir is private (0700); the files are 0644 so the non-root container users can read them."""
        self.password = secrets.token_urlsafe(18)
        self.sentinel_password = secrets.token_urlsafe(18)
        self.token = secrets.token_urlsafe(24)
        directory = self.work / "secrets"
        directory.mkdir(mode=0o700, exist_ok=True)
        for name, value in (("redis_password", self.password), ("redis_sentinel_password", self.sentinel_password),
                            ("gateway_api_token", self.token)):
            (directory / name).write_text(value)
            (directory / name).chmod(0o644)
        directory.chmod(0o755)  # the daemon bind-mounts the files; the work dir above stays 0700
        return directory

    def teardown(self) -> list[str]:
        problems: list[str] = []
        if self.tp is not None:
            problems += self.heal_network()
        try:
            for c in self._containers():
                if c.status == "paused":
                    c.unpause()
        except docker.errors.DockerException as exc:
            problems.append(f"unpause: {exc}")
        problems += compose_down(self.project)
        try:
            left = leftovers(self.project)
            if left:
                problems.append(f"left behind: {', '.join(left)}")
        except docker.errors.DockerException as exc:
            problems.append(f"could not list leftovers: {exc}")
        if not problems:
            self.ledger.write("compose_down", project=self.project)
        if self.tp is not None:
            self.tp.close()
        self.client.close()
        return problems

    def remove_workdir(self) -> None:
        import shutil
        shutil.rmtree(self.work, ignore_errors=True)

    def log_dir(self) -> Path | None:
        """Writes each container's log into the work dir, for the run directory."""
        try:
            for c in self._containers():
                name = c.name.removeprefix(f"{self.project}-")
                (self.work / f"{name}.log").write_bytes(c.logs(tail=2000))
        except docker.errors.DockerException:
            pass
        return self.work

    # -- names ------------------------------------------------------------------------------
    def _containers(self) -> list[Any]:
        return self.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"})

    def _container(self, node: str) -> Any:
        name = f"{self.project}-gateway-1" if node == "gateway" else f"{self.project}-{node}"
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            raise UnknownTarget(f"no node {node!r}; known: gateway, "
                                f"{', '.join(self.known_workers())}") from None

    def known_workers(self) -> list[str]:
        prefix = f"{self.project}-"
        names = [c.name.removeprefix(prefix) for c in self._containers()
                 if c.labels.get("com.docker.compose.service") == "worker"]
        return sorted(names, key=_number)

    def workers(self) -> list[str]:
        prefix = f"{self.project}-"
        names = [c.name.removeprefix(prefix) for c in self._containers()
                 if c.labels.get("com.docker.compose.service") == "worker"
                 and c.status in ("running", "paused")]
        return sorted(names, key=_number)

    def _ip(self, service_container: str) -> str:
        c = self.client.containers.get(f"{self.project}-{service_container}")
        nets = c.attrs["NetworkSettings"]["Networks"]
        return next(iter(nets.values()))["IPAddress"]

    def endpoints(self) -> Endpoints:
        self.primary_service = self._sentinel_primary() or self.primary_service
        ip = self._ip(f"{self.primary_service}-1")
        return Endpoints(gateway_url=f"http://127.0.0.1:{self.gateway_port}",
                         redis_url=f"redis://:{self.password}@{ip}:6379/0", gateway_token=self.token)

    def _wait_ready(self, node: str, *, since: float = 0.0) -> None:
        """Ready when the node answers; a worker when *its own* registration is there: one
        that started at or after `since` (epoch, host clock = container clock), not the entry
        of a dead predecessor that has not expired yet."""
        keys = Keys(prefix=str(self.spec.config.get("KEY_PREFIX", "")))

        def ready() -> bool:
            try:
                if node == "gateway":
                    requests.get(f"http://127.0.0.1:{self.gateway_port}/health", timeout=1)
                    return True
                with redis.Redis.from_url(self.endpoints().redis_url, socket_timeout=1) as r:
                    started = r.hget(keys.worker(node), "started_at")
                    return (started is not None and float(started) >= since - 0.002
                            and bool(r.sismember(keys.workers_active, node)))
            except (requests.RequestException, redis.RedisError, docker.errors.DockerException, ValueError):
                return False
        try:
            wait_until(ready, timeout=self.ready_timeout, what=f"{node} to become ready",
                       interval=0.2)
        except ProcessError as exc:
            raise BackendError(f"{exc} (project {self.project}; see its container log)") from exc

    # -- process faults ---------------------------------------------------------------------
    def kill(self, node: str) -> None:
        container = self._container(node)
        container.kill(signal="SIGKILL")
        self._wait_gone(container, node)

    def _wait_gone(self, container: Any, node: str) -> None:
        """Poll until the container is no longer running: the fault's effective time."""
        def gone() -> bool:
            container.reload()
            return bool(container.status != "running")
        try:
            wait_until(gone, timeout=10, what=f"{node} to be gone after the kill", interval=0.05)
        except ProcessError as exc:
            raise BackendError(str(exc)) from exc

    def terminate(self, node: str) -> None:
        self._container(node).stop(timeout=self.grace)

    def pause(self, node: str) -> None:
        freeze(self._container(node))

    def resume(self, node: str) -> None:
        self._container(node).unpause()

    def pause_replica(self, paused: bool) -> str:
        """docker pause / unpause the Redis service that is not the primary (the replica)."""
        service = "redis-replica" if self.primary_service == "redis" else "redis"
        try:
            container = self.client.containers.get(f"{self.project}-{service}-1")
        except docker.errors.NotFound:
            raise BackendError(f"no {service} container to pause (system.replica must be true)") from None
        if paused:
            freeze(container)
        else:
            container.unpause()
        return service

    def restart(self, node: str) -> None:
        since = time.time()
        self._container(node).restart(timeout=self.grace)
        self._wait_ready(node, since=since)

    def start_node(self, node: str, *, wait: bool = True) -> None:
        c = self._container(node)
        c.reload()
        since = time.time()
        if c.status == "paused":
            c.unpause()
            since = 0.0  # the same process goes on: its registration is its own
        elif c.status != "running":
            c.start()
        if wait:
            self._wait_ready(node, since=since)

    def scale(self, n: int) -> tuple[list[str], list[str]]:
        from harness.schedule import scale_plan
        self.highest = max([self.highest] + [_number(w) for w in self.known_workers()])
        add, remove = scale_plan(self.workers(), n, highest=self.highest)
        stoppers = [threading.Thread(target=self.terminate, args=(w,)) for w in remove]
        for th in stoppers:
            th.start()
        for th in stoppers:
            th.join()
        for node in add:
            self._clone_worker(node)
            self.highest = max(self.highest, _number(node))
        for node in add:
            self._wait_ready(node)
        return list(add), list(remove)

    def _clone_worker(self, node: str) -> None:
        """A new replica `<project>-worker-K` configured like the existing ones, init process
        included: without compose's `init: true` the worker would be PID 1, which a SIGKILL from
        inside its own container cannot end and which reaps no zombies."""
        src = self._container(self.known_workers()[0]).attrs
        cfg, host = src["Config"], src["HostConfig"]
        labels = {**cfg["Labels"], "com.docker.compose.container-number": str(_number(node))}
        network = next(iter(src["NetworkSettings"]["Networks"]))
        self.client.containers.run(
            cfg["Image"], command=cfg["Cmd"], entrypoint=cfg["Entrypoint"], environment=cfg["Env"],
            name=f"{self.project}-{node}", labels=labels, network=network, detach=True,
            restart_policy=host.get("RestartPolicy") or None,
            stop_signal=cfg.get("StopSignal") or None,
            init=host.get("Init"), user=cfg.get("User") or None,
            mounts=_same_mounts(host), volumes=host.get("Binds") or None)

    # -- network faults ---------------------------------------------------------------------
    def _proxy(self, node: str) -> str:
        self._container(node)  # UnknownTarget for a bad name
        return f"redis-{node}"

    def heal_network(self) -> list[str]:
        if self.tp is None:
            return []
        return self.tp.cleanup(prefix="redis-", delete_proxies=False)

    # -- redis ------------------------------------------------------------------------------
    def _sentinel_primary(self) -> str | None:
        """Service name of the primary a majority of Sentinels report."""
        votes: dict[str, int] = {}
        for i in (1, 2, 3):
            try:
                with redis.Redis(host=self._ip(f"sentinel-{i}-1"), port=26379, socket_timeout=1,
                                 password=self.sentinel_password, decode_responses=True) as s:
                    addr = s.sentinel_get_master_addr_by_name("mymaster")
            except (redis.RedisError, docker.errors.DockerException):
                continue
            if addr:
                votes[addr[0]] = votes.get(addr[0], 0) + 1
        best = max(votes.items(), key=lambda kv: kv[1], default=None)
        return self._service_of(best[0]) if best and best[1] >= 2 else None

    def _service_of(self, host: str) -> str | None:
        """`redis` / `redis-replica` for what Sentinel reports: a service name or an address."""
        for service in ("redis", "redis-replica"):
            try:
                if host == service or host == self._ip(f"{service}-1"):
                    return service
            except (docker.errors.DockerException, StopIteration):
                continue
        return None

    def _sentinels_ready(self, primary: str) -> bool:
        """Every Sentinel sees a healthy replica replicating from the primary's address: only
        then can it promote one (else it aborts with "no good slave", seen right after start-up
        while Sentinel still fixes a replica that was set up by hostname)."""
        primary_ip = self._ip(f"{primary}-1")
        for i in (1, 2, 3):
            try:
                with redis.Redis(host=self._ip(f"sentinel-{i}-1"), port=26379, socket_timeout=1,
                                 password=self.sentinel_password, decode_responses=True) as s:
                    replicas = s.sentinel_slaves("mymaster")
            except (redis.RedisError, docker.errors.DockerException):
                return False
            if not any(r.get("master-link-status") == "ok" and r.get("master-host") == primary_ip
                       and not r.get("is_sdown") and not r.get("is_disconnected") for r in replicas):
                return False
        return True

    @staticmethod
    def _wait_unreachable(host: str, port: int = 6379) -> None:
        """Poll until nothing accepts connections at host:port (10 s at most). A plain TCP
        connect: redis-py's retries would hide the moment for seconds."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.02)

    def ready_for_faults(self, faults: frozenset[str]) -> None:
        """Preconditions of the scenario's faults, reached in the steady-state phase (before
        the load starts), so a fault hits at its scheduled time: for redis_failover, every
        Sentinel must see a healthy replica (up to ~15 s after start-up)."""
        if "redis_failover" in faults:
            old = self._sentinel_primary() or self.primary_service
            try:
                wait_until(lambda: self._sentinels_ready(old), timeout=60, interval=0.2,
                           what="every Sentinel to see a good replica (redis_failover precondition)")
            except ProcessError as exc:
                raise BackendError(str(exc)) from exc
            self._verified_primary = old

    def redis_failover(self, *, on_down: Callable[[], None] | None = None) -> str:
        # The first failover uses the primary verified in the steady-state phase; a later one
        # checks again (the old primary must have rejoined as a good replica first).
        old = self._verified_primary or self._sentinel_primary() or self.primary_service
        if self._verified_primary is None:
            wait_until(lambda: self._sentinels_ready(old), timeout=30,
                       what="every Sentinel to see a good replica before the primary is killed")
        self._verified_primary = None
        primary = self.client.containers.get(f"{self.project}-{old}-1")
        address = self._ip(f"{old}-1")
        # `docker kill` returns ~0.5 s after the process died; the primary is gone when its
        # port stops answering, so that is the effective time.
        killer = threading.Thread(target=primary.kill, kwargs={"signal": "SIGKILL"}, daemon=True)
        killer.start()
        self._wait_unreachable(address)
        if on_down is not None:
            on_down()
        killer.join(timeout=30)
        self._wait_gone(primary, old)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            new = self._sentinel_primary()
            if new and new != old:
                self.primary_service = new
                # Start the old primary again right away (it rejoins as a replica). While its
                # address is dead (no TCP RST from a killed container), Toxiproxy's upstream
                # update of each proxy blocks on the hung connections and the clients stay cut
                # off (observed with Toxiproxy 2.9); a returning node resets them.
                self.client.containers.get(f"{self.project}-{old}-1").start()
                return new
            time.sleep(0.2)
        raise BackendError(f"no Sentinel failover within 60s after killing {old}")

    def redis_restart(self, *, aof: bool = True, on_down: Callable[[], None] | None = None) -> None:
        service = self._sentinel_primary() or self.primary_service
        c = self.client.containers.get(f"{self.project}-{service}-1")
        if aof:
            c.stop(timeout=10)
        else:
            c.exec_run(["sh", "-c", "rm -rf /data/appendonlydir /data/dump.rdb"])
            c.kill(signal="SIGKILL")
            self._wait_gone(c, service)
        if on_down is not None:
            on_down()
        c.start()

    def kill_save_child(self, redis_pid: int) -> list[int]:
        """Inside the primary's container: its pid namespace is the one Redis reports."""
        service = self._sentinel_primary() or self.primary_service
        c = self.client.containers.get(f"{self.project}-{service}-1")
        script = (f"kids=$(cat /proc/{redis_pid}/task/{redis_pid}/children); "
                  '[ -n "$kids" ] || exit 3; kill -9 $kids && echo $kids')
        code, out = c.exec_run(["sh", "-c", script])
        if code != 0:
            raise BackendError(f"no background-save child of Redis pid {redis_pid} in {c.name} "
                               f"(exit {code}: {out.decode(errors='replace').strip()})")
        return [int(x) for x in out.split()]

    def clock_skew(self, node: str, offset_s: float | None) -> None:
        raise BackendError("clock_skew needs libfaketime in the worker image; the Docker "
                           "backend does not have it: run with --backend local")

    def redis_start_stopped(self) -> list[str]:
        """Start Redis containers that are down (the old primary rejoins as a replica)."""
        started = []
        for service in ("redis", "redis-replica"):
            c = self.client.containers.get(f"{self.project}-{service}-1")
            if c.status != "running":
                c.start()
                started.append(service)
        return started


def _number(node: str) -> int:
    tail = node.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _same_mounts(host_config: dict[str, Any]) -> list[docker.types.Mount] | None:
    """The mounts of a compose-made container (its secrets are read-only bind mounts of files in
    /run/secrets), for a worker the backend adds itself: without them it cannot read its Redis
    password and exits at start."""
    mounts = [docker.types.Mount(target=m["Target"], source=m.get("Source"), type=m.get("Type", "bind"),
                                 read_only=bool(m.get("ReadOnly")))
              for m in host_config.get("Mounts") or []]
    return mounts or None
