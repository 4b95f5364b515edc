"""docker-compose.yml -> deploy/swarm/stack.yml: one description of the services, two runtimes.

A pure transform (`generate`) of the compose document: what Swarm ignores or rejects goes
(`build`, `depends_on`, `restart`, `pull_policy`, bind mounts of host folders), what a cluster
needs comes in: replicas, placement by node labels (Redis primary/replica and each Sentinel on
its own labelled node), a spread preference for workers, rolling-update/rollback settings,
restart policies, the Redis scripts as Docker configs. Secrets keep compose's model (each service
lists the secrets it reads from /run/secrets through *_FILE), but as external Swarm secrets the
operator (or the harness's swarm backend) creates: no password is in the spec. Services only in a
compose profile (jaeger, `tracing`) are left out.

Endpoint mode: `dnsrr` and the gateway published in `host` mode by default, because Swarm's
routing mesh and service VIPs need the kernel's IPVS, which some kernels lack (this machine's:
docs/swarm.md has the error). `--routing-mesh` emits the usual VIP + ingress variant.
Usage: python3 -m harness.swarm.stack [--check] [--routing-mesh] [-o FILE]
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
STACK_FILE = ROOT / "deploy" / "swarm" / "stack.yml"
# compose secret -> the external Swarm secret holding it (created by the operator: docs/swarm.md)
SECRETS = {"redis_password": "taskq-redis-password",
           "redis_sentinel_password": "taskq-redis-sentinel-password",
           "gateway_api_token": "taskq-gateway-api-token"}
SCRIPTS = ("redis.sh", "sentinel.sh", "health.sh", "lib.sh")  # every file of docker/redis
DROPPED_KEYS = ("build", "depends_on", "restart", "pull_policy", "container_name", "volumes")
# node label -> services pinned to the nodes that carry it (docs/swarm.md, harness/swarm/nodes.py)
PLACEMENT = {
    "redis": ["node.labels.taskq.redis == primary"],
    "redis-replica": ["node.labels.taskq.redis == replica"],
    "sentinel-1": ["node.labels.taskq.sentinel-1 == true"],
    "sentinel-2": ["node.labels.taskq.sentinel-2 == true"],
    "sentinel-3": ["node.labels.taskq.sentinel-3 == true"],
    "toxiproxy": ["node.labels.taskq.toxiproxy == true"],
    "gateway": ["node.labels.taskq.gateway == true"],
}
HOST_PORTS = {"redis": 6379, "redis-replica": 6379, "sentinel-1": 26379, "sentinel-2": 26379,
              "sentinel-3": 26379, "toxiproxy": 8474, "gateway": 5000}
APP_SERVICES = ("gateway", "worker")
HEALTH_TOLERANCE = {"timeout": "10s", "retries": 5, "start_period": "60s"}
# Sentinel by hostname (docker/redis/sentinel.sh, redis.sh): a Redis or Sentinel task Swarm
# restarts or reschedules gets a new overlay address but keeps its service name.
HOSTNAME_ENV = {"redis": {"REDIS_ANNOUNCE_HOST": "redis"},
                "redis-replica": {"REDIS_ANNOUNCE_HOST": "redis-replica"},
                **{f"sentinel-{i}": {"SENTINEL_HOSTNAMES": "yes", "SENTINEL_ANNOUNCE_HOST": f"sentinel-{i}"}
                   for i in (1, 2, 3)}}
UPDATE = {"parallelism": 1, "delay": "2s", "order": "stop-first", "failure_action": "rollback",
          "monitor": "10s", "max_failure_ratio": 0}
ROLLBACK = {"parallelism": 1, "delay": "1s", "order": "stop-first", "failure_action": "pause",
            "monitor": "10s"}


def _deploy(name: str, replicas: int) -> dict[str, Any]:
    deploy: dict[str, Any] = {
        "replicas": replicas,
        "restart_policy": {"condition": "any", "delay": "1s"},
        "update_config": dict(UPDATE),
        "rollback_config": dict(ROLLBACK),
    }
    if name == "worker":
        deploy["placement"] = {"preferences": [{"spread": "node.id"}]}
    elif name == "gateway":
        deploy["placement"] = {"constraints": PLACEMENT[name], "max_replicas_per_node": 1}
    else:
        deploy["placement"] = {"constraints": PLACEMENT[name]}
        deploy["update_config"] = {**UPDATE, "order": "stop-first"}
    return deploy


def _healthcheck(svc: dict[str, Any], *, app: bool) -> dict[str, Any] | None:
    """Compose's check (or the image's, for the app), with Swarm's tolerance: Swarm *replaces* a
    task whose check fails (compose only marks it), and on a loaded machine (load average ~90
    here) the 3 s timeouts killed healthy Redis, Toxiproxy and gateway tasks (docs/swarm.md)."""
    check = copy.deepcopy(svc.get("healthcheck"))
    if app:  # the image's HEALTHCHECK (it reads the secrets through *_FILE), spelled out
        check = {"test": ["CMD", "python3", "/app/docker/healthcheck.py"], "interval": "3s"}
    if check and not check.get("disable"):
        check.update(HEALTH_TOLERANCE)
    return check


def _service(name: str, svc: dict[str, Any], *, routing_mesh: bool) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in svc.items() if k not in DROPPED_KEYS and k != "deploy"}
    app = name in APP_SERVICES
    env = dict(out.get("environment") or {})
    env = {k: v for k, v in env.items() if k not in ("REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "GATEWAY_API_TOKEN")}
    if name == "worker":
        env["WORKER_ID"] = "worker-{{.Task.Slot}}"  # Swarm's slot: worker-1..N, stable on restart
    elif name == "gateway":  # one proxy per replica: two processes re-pointing one proxy after a
        # failover overlap, and Toxiproxy can leave it disabled (system/proxy_link.py)
        env["TOXIPROXY_PROXY_NAME"] = "redis-gateway-{{.Task.Slot}}"
    env.update(HOSTNAME_ENV.get(name, {}))
    out["environment"] = env
    if not app and "entrypoint" in out:  # the Redis scripts, mounted from the host in compose
        out["configs"] = [{"source": _config(s), "target": f"/opt/taskq/{s}", "mode": 0o555}
                          for s in SCRIPTS]
    volumes = [v for v in svc.get("volumes", []) if not str(v).startswith("./")]
    if volumes:
        out["volumes"] = volumes
    check = _healthcheck(svc, app=app)
    if check:
        out["healthcheck"] = check
    replicas = int((svc.get("deploy") or {}).get("replicas", 2 if name == "gateway" else 1))
    out["deploy"] = _deploy(name, replicas)
    if not routing_mesh:
        out["deploy"]["endpoint_mode"] = "dnsrr"
    if name in HOST_PORTS and (name != "toxiproxy" or "ports" in svc):
        port = HOST_PORTS[name]
        mode = "ingress" if routing_mesh and name == "gateway" else "host"
        out["ports"] = [{"target": port, "published": port, "protocol": "tcp", "mode": mode}]
    return out


def _config(script: str) -> str:
    return "taskq_" + script.replace(".", "_")


def generate(compose: dict[str, Any], *, routing_mesh: bool = False) -> dict[str, Any]:
    """The stack document for `docker stack deploy` (pure)."""
    services = {name: _service(name, svc, routing_mesh=routing_mesh)
                for name, svc in compose["services"].items() if not svc.get("profiles")}
    used = {s if isinstance(s, str) else s["source"] for svc in services.values() for s in svc.get("secrets", [])}
    return {
        "version": "3.8",
        "services": services,
        "networks": {"default": {"driver": "overlay", "attachable": True}},
        "volumes": {name: {} for name in compose.get("volumes", {})},
        "configs": {_config(s): {"file": f"../../docker/redis/{s}"} for s in SCRIPTS},
        "secrets": {name: {"external": True, "name": SECRETS[name]}
                    for name in compose.get("secrets", {}) if name in used},
    }


HEADER = """\
# GENERATED by `python3 -m harness.swarm.stack` from docker-compose.yml -- do not edit by hand.
# Deploy (docs/swarm.md):  label the nodes, then
#   for s in redis_password redis_sentinel_password gateway_api_token; do
#     docker secret create "taskq-${s//_/-}" "docker/secrets/$s"; done   (your own values)
#   docker stack deploy -c deploy/swarm/stack.yml taskq
# Node labels: taskq.redis=primary|replica, taskq.sentinel-1|2|3=true, taskq.toxiproxy=true,
# taskq.gateway=true (one gateway per labelled node, published on port 5000 of that node).
"""


def render(compose_file: Path = COMPOSE_FILE, *, routing_mesh: bool = False) -> str:
    compose = yaml.safe_load(compose_file.read_text())
    doc = generate(compose, routing_mesh=routing_mesh)
    return HEADER + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m harness.swarm.stack", description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", type=Path, default=STACK_FILE)
    p.add_argument("--routing-mesh", action="store_true",
                   help="VIP endpoints and an ingress-published gateway (needs IPVS in the kernel)")
    p.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    args = p.parse_args(argv)
    text = render(routing_mesh=args.routing_mesh)
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python3 -m harness.swarm.stack", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
