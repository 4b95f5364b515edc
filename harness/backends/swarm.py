"""The Swarm backend: the stack (deploy/swarm/stack.yml, generated) on a multi-node swarm of
Docker-in-Docker nodes (harness.swarm.nodes), with chaos through each node's Docker engine,
Toxiproxy, and the node containers themselves.

Workers are the tasks of service `taskq_worker`; a worker calls itself `worker-<slot>` (the
stack sets WORKER_ID from Swarm's task slot), so a worker Swarm restarts or reschedules keeps its
name. Unlike the docker backend, a killed or stopped worker comes back by itself (restart
policy `any`); `start_node` only waits for that. The Sentinels follow Redis by service name
(the stack sets SENTINEL_HOSTNAMES), so a Redis task that comes back under a new address is still
found; redis_failover holds the killed primary's service at 0 replicas until Sentinel has
promoted the replica, as a `docker kill`ed compose container stays down.
Scaling is `docker service scale`; Swarm picks
the tasks it stops, and `scale` reports which went. Node faults (swarm-only): `node_drain`,
`node_kill` (stop the node's container), `node_partition` (the node's firewall drops all traffic with
the other nodes). The harness reaches the gateway, Redis and Toxiproxy at node-1's address (ports
published in host mode; the routing mesh needs IPVS: docs/swarm.md).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import redis
import requests
import yaml

from harness.backends.base import ALL_FAULTS, BackendError, Endpoints, SystemSpec, ToxicHandle, UnknownTarget
from harness.backends.compose import COMPOSE_FILE, Compose, env_file_values
from harness.backends.docker import DockerBackend
from harness.backends.netfaults import ProxiedNetwork
from harness.backends.procs import ProcessError, wait_until
from harness.ledger import Ledger
from harness.swarm import stack as stackgen
from harness.swarm.nodes import Cluster, Node, SwarmError, run
from harness.swarm.sentinels import Sentinels
from harness.toxiproxy import Toxiproxy
from system.keys import Keys

NODE_FAULTS = ("node_drain", "node_kill", "node_partition")
SWARM_CAPABILITIES = ALL_FAULTS | frozenset(NODE_FAULTS)
# where each Redis service runs (placement labels, harness.swarm.nodes.node_labels): node index
REDIS_NODE = {"redis": 0, "redis-replica": 1}
STACK = "taskq"
APP_IMAGE = "taskq-app:swarm"
LIVE = ("Running", "Starting")  # task states whose container runs


def stack_document(spec: SystemSpec) -> dict:
    """The generated stack with the scenario's settings and worker count (pure)."""
    doc = stackgen.generate(yaml.safe_load(COMPOSE_FILE.read_text()))
    for name in ("gateway", "worker"):
        doc["services"][name]["environment"].update({k: str(v) for k, v in spec.config.items()})
    doc["services"]["worker"]["deploy"]["replicas"] = spec.workers
    for config in doc["configs"].values():
        config["file"] = str((stackgen.STACK_FILE.parent / config["file"]).resolve())
    return doc


class SwarmBackend(ProxiedNetwork):
    name = "swarm"

    def __init__(self, *, ledger: Ledger, nodes: int = 3, ready_timeout: float = 240.0) -> None:
        self.ledger = ledger
        self.ready_timeout = ready_timeout
        self.cluster = Cluster(f"taskq-swarm-{uuid.uuid4().hex[:6]}", count=nodes)
        self.work = Path(tempfile.mkdtemp(prefix="harness-swarm-"))
        ledger.write("tempdir", path=str(self.work))
        self.spec = SystemSpec()
        self.tp: Toxiproxy | None = None
        self.seen: set[str] = set()
        self.timings: dict[str, float] = {}
        self.grace = 15
        self._verified_primary: str | None = None  # checked by ready_for_faults, for the first failover
        self._held: set[str] = set()  # Redis services redis_failover holds at 0 replicas
        self._fanout: dict[ToxicHandle, list[ToxicHandle]] = {}  # gateway toxics on the other replicas
        # fresh per run, as the docker backend does; created as the stack's external secrets
        self.password = secrets.token_urlsafe(18)
        self.secret_values = {"redis_password": self.password,
                              "redis_sentinel_password": secrets.token_urlsafe(18),
                              "gateway_api_token": secrets.token_urlsafe(24)}

    def capabilities(self) -> frozenset[str]:
        return SWARM_CAPABILITIES

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, spec: SystemSpec) -> Endpoints:
        self.spec = spec
        self.grace = int(float(spec.config.get("SHUTDOWN_GRACE_S", 10)) + 5)
        self.ledger.write("swarm_up", cluster=self.cluster.name)
        images = self._images()
        try:
            self.timings.update(self.cluster.up(list(images.values())))
            t0 = time.monotonic()
            self._deploy(spec, images)
            self.tp = Toxiproxy(f"http://{self.cluster.manager.ip}:8474", timeout=3.0)
            self.tp.wait_ready(timeout=self.ready_timeout)
            for node in ["gateway", *(f"worker-{i}" for i in range(1, spec.workers + 1))]:
                self._wait_ready(node)
            self.timings["stack_ready_s"] = round(time.monotonic() - t0, 1)
        except (SwarmError, ProcessError, OSError) as exc:
            raise BackendError(f"swarm start failed ({self.cluster.name}): {exc}") from exc
        return self.endpoints()

    def _images(self) -> dict[str, str]:
        """Build the app image from this tree (compose's build section) -> images to load."""
        offline = env_file_values()
        env = {**{k: v for k, v in offline.items() if k not in os.environ}, "APP_IMAGE": APP_IMAGE}
        try:
            Compose(f"{self.cluster.name}-build", files=[COMPOSE_FILE], env=env).run(
                "build", "gateway", timeout=900)
        except (RuntimeError, OSError) as exc:
            raise BackendError(f"building {APP_IMAGE} failed: {exc}") from exc
        return {"APP_IMAGE": APP_IMAGE,
                "REDIS_IMAGE": os.environ.get("REDIS_IMAGE") or offline.get("REDIS_IMAGE", "redis:7"),
                "TOXIPROXY_IMAGE": os.environ.get("TOXIPROXY_IMAGE")
                or offline.get("TOXIPROXY_IMAGE", "ghcr.io/shopify/toxiproxy:2.9.0")}

    def _deploy(self, spec: SystemSpec, images: dict[str, str]) -> None:
        path = self.work / "stack.yml"
        path.write_text(yaml.safe_dump(stack_document(spec), sort_keys=False))
        m = self.cluster.manager
        for name, value in self.secret_values.items():
            run(m.docker("secret", "create", stackgen.SECRETS[name], "-"), stdin=value.encode())
        # the harness reaches the gateway at node-1's address: a Host the gateway must accept
        env = {**images, "GATEWAY_ALLOWED_HOSTS": m.ip}
        env_argv = ["env", *(f"{k}={v}" for k, v in env.items())]
        run([*env_argv, *m.docker("stack", "deploy", "-c", str(path), STACK)], timeout=180)

    def teardown(self) -> list[str]:
        if self.tp is not None:
            self.tp.close()
        problems = self.cluster.down()
        left = [] if problems else _leftovers(self.cluster.name)
        if left:
            problems.append(f"left behind: {', '.join(left)}")
        if not problems:
            self.ledger.write("swarm_down", cluster=self.cluster.name)
        return problems

    def remove_workdir(self) -> None:
        import shutil
        shutil.rmtree(self.work, ignore_errors=True)

    def log_dir(self) -> Path | None:
        """Each service's log (`docker service logs`) and the timings, for the run directory."""
        (self.work / "swarm-timings.yml").write_text(yaml.safe_dump(self.timings))
        for service in ("gateway", "worker", "redis", "redis-replica", "toxiproxy"):
            try:
                out = run(self.cluster.manager.docker("service", "logs", "--timestamps", "--tail", "2000",
                                                      f"{STACK}_{service}"), check=False, timeout=60)
                (self.work / f"{service}.log").write_text(out.stdout + out.stderr)
            except SwarmError:
                continue
        return self.work

    # -- names ------------------------------------------------------------------------------
    def tasks(self, service: str = "worker") -> list[tuple[str, str, str, str]]:
        """(name, node, task id, state) of the service's tasks meant to run, e.g.
        ('worker-2', 'node-3', 'q1w2..', 'Running 5 seconds ago')."""
        out = run(self.cluster.manager.docker(
            "service", "ps", f"{STACK}_{service}", "--no-trunc", "--filter", "desired-state=running",
            "--format", "{{.Name}}|{{.Node}}|{{.ID}}|{{.CurrentState}}"), timeout=30).stdout
        rows = []
        for line in out.splitlines():
            name, node, task, state = line.split("|", 3)
            rows.append((f"{service}-{name.rsplit('.', 1)[-1]}", node, task, state))
        return rows

    def workers(self) -> list[str]:
        """Worker tasks whose container runs (`Starting` = running, health check pending)."""
        names = {name for name, _node, _task, state in self.tasks() if state.startswith(LIVE)}
        self.seen |= names
        return sorted(names, key=_number)

    def known_workers(self) -> list[str]:
        self.workers()
        return sorted(self.seen, key=_number)

    def workers_on(self, node: str) -> list[str]:
        return sorted({name for name, n, _t, state in self.tasks() if n == node
                       and state.startswith(LIVE)}, key=_number)

    def _locate(self, target: str) -> tuple[Node, str]:
        """(node, container id) of a worker-N / gateway task that runs now."""
        service = "gateway" if target == "gateway" else "worker"
        want = "gateway-1" if target == "gateway" else target
        for name, node, task, _state in self.tasks(service):
            found = self._container(node, task) if name == want else None
            if found:
                return found
        raise UnknownTarget(f"no running task for {target!r}; workers now: {', '.join(self.workers())}")

    def _container(self, node: str, task: str) -> tuple[Node, str] | None:
        """(node, container id) of a Swarm task, None when its container is gone."""
        n = self.cluster.node(node)
        cid = run(n.docker("ps", "-aq", "--filter", f"label=com.docker.swarm.task.id={task}"),
                  timeout=30).stdout.split()
        return (n, cid[0]) if cid else None

    def endpoints(self) -> Endpoints:
        return Endpoints(gateway_url=f"http://{self.cluster.manager.ip}:5000",
                         redis_url=f"redis://:{self.password}@{self._primary_node().ip}:6379/0",
                         gateway_token=self.secret_values["gateway_api_token"])

    def _primary_node(self) -> Node:
        """The node whose published Redis says role:master (node-1 or node-2); node-1 when
        neither answers."""
        return self._master() or self.cluster.manager

    def _master(self) -> Node | None:
        for node in self.cluster.nodes[:2]:
            try:
                with redis.Redis(host=node.ip, port=6379, password=self.password, socket_timeout=1) as r:
                    if r.info("replication").get("role") == "master":
                        return node
            except redis.RedisError:
                continue
        return None

    def _wait_ready(self, node: str) -> None:
        keys = Keys(prefix=str(self.spec.config.get("KEY_PREFIX", "")))

        def ready() -> bool:
            try:
                if node == "gateway":
                    return requests.get(f"{self.endpoints().gateway_url}/health", timeout=2).ok
                with redis.Redis.from_url(self.endpoints().redis_url, socket_timeout=1) as r:
                    return bool(r.sismember(keys.workers_active, node))
            except (requests.RequestException, redis.RedisError):
                return False
        try:
            wait_until(ready, timeout=self.ready_timeout, what=f"{node} to become ready", interval=0.3)
        except ProcessError as exc:
            raise BackendError(f"{exc} (swarm {self.cluster.name}; see the service logs)") from exc

    # -- process faults ---------------------------------------------------------------------
    def _on_task(self, target: str, *args: str) -> None:
        node, cid = self._locate(target)
        run(node.docker(*args, cid), timeout=self.grace + 30)

    def kill(self, node: str) -> None:
        self._on_task(node, "kill", "-s", "KILL")

    def terminate(self, node: str) -> None:
        self._on_task(node, "stop", "-t", str(self.grace))

    def pause(self, node: str) -> None:
        self._on_task(node, "pause")

    def resume(self, node: str) -> None:
        self._on_task(node, "unpause")

    def restart(self, node: str) -> None:
        self._on_task(node, "restart", "-t", str(self.grace))
        self._wait_ready(node)

    def start_node(self, node: str, *, wait: bool = True) -> None:
        """Swarm restarts a dead task by itself (restart policy any): wait for it (or not)."""
        if wait:
            self._wait_ready(node)

    def scale(self, n: int) -> tuple[list[str], list[str]]:
        before = set(self.workers())
        run(self.cluster.manager.docker("service", "scale", "-d", f"{STACK}_worker={n}"), timeout=60)
        wait_until(lambda: len(self.workers()) == n, timeout=self.ready_timeout,
                   what=f"{n} worker tasks running", interval=0.5)
        after = set(self.workers())
        for node in sorted(after - before, key=_number):
            self._wait_ready(node)
        return sorted(after - before, key=_number), sorted(before - after, key=_number)

    # -- network faults ---------------------------------------------------------------------
    def _proxy(self, node: str) -> str:
        return self._proxies(node)[0]

    def _proxies(self, node: str) -> list[str]:
        """A worker's own proxy; for `gateway`, every gateway replica's (`redis-gateway-<slot>`:
        each replica has its own, see harness.swarm.stack), so a fault on the gateway hits them all."""
        if node == "gateway":
            assert self.tp is not None
            names = sorted(p for p in self.tp.proxies() if p.startswith("redis-gateway-"))
            if not names:
                raise BackendError("no gateway proxy (redis-gateway-<slot>) in Toxiproxy yet")
            return names
        if node not in self.known_workers():
            raise UnknownTarget(f"no node {node!r}; known: gateway, {', '.join(self.known_workers())}")
        return [f"redis-{node}"]

    def add_toxic(self, node: str, *, type: str, stream: str, attributes: Mapping[str, int],
                  toxicity: float = 1.0, name: str | None = None) -> ToxicHandle:
        """The toxic on each of the node's proxies; the handle of the first stands for all."""
        assert self.tp is not None
        handles = [ToxicHandle(proxy=p, name=self.tp.add_toxic(p, type=type, stream=stream, toxicity=toxicity,
                                                               attributes=dict(attributes), name=name).name)
                   for p in self._proxies(node)]
        self._fanout[handles[0]] = handles[1:]
        return handles[0]

    def remove_toxic(self, handle: ToxicHandle) -> None:
        assert self.tp is not None
        for h in [handle, *self._fanout.pop(handle, [])]:
            self.tp.remove_toxic(h.proxy, h.name)

    def heal(self, node: str) -> None:
        assert self.tp is not None
        for proxy in self._proxies(node):
            for toxic in self.tp.toxics(proxy):
                self.tp.remove_toxic(proxy, toxic)
            self.tp.set_enabled(proxy, True)

    def heal_network(self) -> list[str]:
        if self.tp is None:
            return []
        return self.tp.cleanup(prefix="redis-", delete_proxies=False)

    # -- redis ------------------------------------------------------------------------------
    def _sentinels(self) -> Sentinels:
        return Sentinels([n.ip for n in self.cluster.nodes[:3]],
                         password=self.secret_values["redis_sentinel_password"],
                         master=str(self.spec.config.get("REDIS_SENTINEL_MASTER", "mymaster")))

    def _redis_task(self, service: str) -> tuple[Node, str]:
        """(node, container id) of the Redis service's running task."""
        for _name, node, task, _state in self.tasks(service):
            found = self._container(node, task)
            if found:
                return found
        raise BackendError(f"no running container of {service}")

    def _wait_sentinels_ready(self, primary: str, timeout: float) -> None:
        try:
            wait_until(lambda: self._sentinels().ready(primary), timeout=timeout, interval=0.3,
                       what=f"every Sentinel to see a good replica of {primary} (redis_failover precondition)")
        except ProcessError as exc:
            raise BackendError(str(exc)) from exc

    def ready_for_faults(self, faults: frozenset[str]) -> None:
        """Before a redis_failover every Sentinel must see a good replica (else Sentinel aborts
        the failover: "no good slave"); reached before the load starts."""
        if "redis_failover" in faults:
            old = self._sentinels().primary() or "redis"
            self._wait_sentinels_ready(old, 60)
            self._verified_primary = old

    def _scale_redis(self, service: str, replicas: int) -> None:
        run(self.cluster.manager.docker("service", "scale", "-d", f"{STACK}_{service}={replicas}"), timeout=60)
        (self._held.add if replicas == 0 else self._held.discard)(service)

    def redis_failover(self, *, on_down: Callable[[], None] | None = None) -> str:
        """SIGKILL the primary's container and hold its service at 0 replicas (Swarm would
        restart it within ~1 s, before Sentinel's down-after ends, and no failover would
        happen); once a majority of Sentinels name the other service, scale it back: it
        returns under a new address, and Sentinel, following the name, makes it a replica."""
        old = self._verified_primary or self._sentinels().primary() or "redis"
        if self._verified_primary is None:
            self._wait_sentinels_ready(old, 30)
        self._verified_primary = None
        node, cid = self._redis_task(old)
        run(node.docker("kill", "-s", "KILL", cid), timeout=30)
        self._scale_redis(old, 0)
        DockerBackend._wait_unreachable(node.ip)
        if on_down is not None:
            on_down()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            new = self._sentinels().primary()
            if new and new != old:
                self._scale_redis(old, 1)
                return new
            time.sleep(0.2)
        raise BackendError(f"no Sentinel failover within 60s after killing {old} on {node.name}")

    def redis_restart(self, *, aof: bool = True, on_down: Callable[[], None] | None = None) -> None:
        """Stop (aof) or SIGKILL with its files removed (no aof) the primary's container;
        Swarm starts a new task (restart policy any, 1 s delay), found again by name."""
        service = self._sentinels().primary() or "redis"
        node, cid = self._redis_task(service)
        if aof:
            run(node.docker("stop", "-t", "10", cid), timeout=40)
        else:
            run(node.docker("exec", cid, "sh", "-c", "rm -rf /data/appendonlydir /data/dump.rdb"), timeout=30)
            run(node.docker("kill", "-s", "KILL", cid), timeout=30)
        if on_down is not None:
            on_down()
        wait_until(lambda: self._answers(node), timeout=self.ready_timeout, interval=0.3,
                   what=f"{service} to run again on {node.name}")

    def _answers(self, node: Node) -> bool:
        try:
            with redis.Redis(host=node.ip, port=6379, password=self.password, socket_timeout=1) as r:
                return bool(r.ping())
        except redis.RedisError:
            return False

    def redis_start_stopped(self) -> list[str]:
        """Scale back a Redis service a failed redis_failover left at 0 replicas."""
        held = sorted(self._held)
        for service in held:
            self._scale_redis(service, 1)
        return held

    def kill_save_child(self, redis_pid: int) -> list[int]:
        raise BackendError("the Redis service faults (harness.faultkit) are not supported on the "
                           "swarm backend; run them with --backend docker or local")

    def clock_skew(self, node: str, offset_s: float | None) -> None:
        raise BackendError("clock_skew needs libfaketime in the worker image; the swarm backend "
                           "does not have it: run with --backend local")

    # -- node faults (swarm-only) -----------------------------------------------------------
    def node_drain(self, node: str) -> list[str]:
        on = self.workers_on(self._node(node).name)
        run(self.cluster.manager.docker("node", "update", "--availability", "drain", node))
        return on

    def node_kill(self, node: str) -> list[str]:
        on = self.workers_on(self._node(node).name)
        run(["docker", "kill", self._node(node).container])
        return on

    def node_partition(self, node: str) -> list[str]:
        """Drop every packet between the node and the other nodes (its own firewall); the host
        still reaches its engine, so the fault can be undone."""
        n = self._node(node)
        on = self.workers_on(n.name)
        for rule in self._partition_rules(n):
            run(["docker", "exec", n.container, "iptables", "-I", *rule])
        return on

    def _partition_rules(self, n: Node) -> list[list[str]]:
        others = [o.ip for o in self.cluster.nodes if o is not n]
        return [r for ip in others for r in (["INPUT", "-s", ip, "-j", "DROP"],
                                             ["OUTPUT", "-d", ip, "-j", "DROP"])]

    def node_heal(self, fault: str, node: str) -> None:
        """Undo a node fault: back to active, started again, or reconnected (same address)."""
        n = self._node(node)
        if fault == "node_drain":
            run(self.cluster.manager.docker("node", "update", "--availability", "active", node))
        elif fault == "node_kill":
            self.cluster.restart_node(n)
        elif fault == "node_partition":
            for rule in self._partition_rules(n):
                run(["docker", "exec", n.container, "iptables", "-D", *rule], check=False)

    def _node(self, node: str) -> Node:
        if node == "node-1":
            raise BackendError("node-1 is the only manager (and holds Redis and Toxiproxy); "
                               "target node-2 or node-3")
        try:
            return self.cluster.node(node)
        except KeyError as exc:
            raise UnknownTarget(str(exc)) from None


def _leftovers(name: str) -> list[str]:
    from harness.swarm.nodes import leftovers
    return leftovers(name)


def _number(node: str) -> int:
    tail = node.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
