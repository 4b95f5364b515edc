"""deploy/swarm/stack.yml is the generator's output from docker-compose.yml, and Docker accepts it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from harness.swarm import stack


def test_committed_stack_file_is_the_generators_output() -> None:
    assert stack.STACK_FILE.read_text() == stack.render(), \
        "deploy/swarm/stack.yml is stale: run python3 -m harness.swarm.stack"


def _doc(**kw: bool) -> dict:
    return stack.generate(yaml.safe_load(stack.COMPOSE_FILE.read_text()), **kw)


def test_swarm_shape_pins_redis_spreads_workers_and_keeps_the_secrets_out_of_the_spec() -> None:
    doc = _doc()
    services = doc["services"]
    compose = yaml.safe_load(stack.COMPOSE_FILE.read_text())
    assert set(services) == {n for n, s in compose["services"].items() if not s.get("profiles")}
    assert "jaeger" not in services  # profile `tracing` only
    secret_values = {p.read_text().strip() for p in (stack.ROOT / "docker" / "secrets").glob("*")
                     if p.name != "README.md"}
    text = yaml.safe_dump(doc)
    assert secret_values and not any(v in text for v in secret_values)  # no password in the spec
    for name, svc in services.items():
        assert not {"build", "depends_on", "restart", "pull_policy", "profiles"} & set(svc), name
        env = svc.get("environment", {})
        assert not {"REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "GATEWAY_API_TOKEN"} & set(env), name
        assert svc.get("secrets", []) == compose["services"][name].get("secrets", []), name
        for secret in svc.get("secrets", []):
            assert env[f"{secret.upper()}_FILE"] == f"/run/secrets/{secret}", name
        assert {"update_config", "rollback_config", "restart_policy"} <= set(svc["deploy"]), name
        assert all(not str(v).startswith("./") for v in svc.get("volumes", [])), name
        assert svc["deploy"]["endpoint_mode"] == "dnsrr", name
        if "healthcheck" in svc:  # Swarm replaces a task whose check fails: tolerant of a loaded host
            assert svc["healthcheck"]["timeout"] == "10s" and svc["healthcheck"]["retries"] == 5, name
    assert services["redis"]["deploy"]["placement"]["constraints"] == ["node.labels.taskq.redis == primary"]
    assert services["redis-replica"]["deploy"]["placement"]["constraints"] == ["node.labels.taskq.redis == replica"]
    assert services["worker"]["deploy"]["placement"] == {"preferences": [{"spread": "node.id"}]}
    assert services["worker"]["environment"]["WORKER_ID"] == "worker-{{.Task.Slot}}"
    assert services["gateway"]["deploy"]["replicas"] == 2
    assert services["gateway"]["ports"][0]["mode"] == "host"
    assert doc["secrets"] == {name: {"external": True, "name": stack.SECRETS[name]}
                              for name in compose["secrets"]}
    assert "secrets" not in services["toxiproxy"]
    # Sentinel by hostname: Swarm gives a restarted Redis task a new address, not a new name
    assert services["redis"]["environment"]["REDIS_ANNOUNCE_HOST"] == "redis"
    assert services["redis-replica"]["environment"]["REDIS_ANNOUNCE_HOST"] == "redis-replica"
    for i in (1, 2, 3):
        assert services[f"sentinel-{i}"]["environment"]["SENTINEL_HOSTNAMES"] == "yes"
        assert services[f"sentinel-{i}"]["environment"]["SENTINEL_ANNOUNCE_HOST"] == f"sentinel-{i}"
    assert "SENTINEL_HOSTNAMES" not in str(compose)  # compose keeps monitoring by address
    # each gateway replica re-points its own proxy after a failover (shared, Toxiproxy disabled it)
    assert services["gateway"]["environment"]["TOXIPROXY_PROXY_NAME"] == "redis-gateway-{{.Task.Slot}}"


def test_routing_mesh_variant_uses_vips_and_ingress() -> None:
    services = _doc(routing_mesh=True)["services"]
    assert "endpoint_mode" not in services["worker"]["deploy"]
    assert services["gateway"]["ports"][0]["mode"] == "ingress"


def test_check_flag_reports_a_stale_file(tmp_path) -> None:
    out = tmp_path / "stack.yml"
    out.write_text("stale\n")
    assert stack.main(["--check", "-o", str(out)]) == 1
    assert stack.main(["-o", str(out)]) == 0
    assert stack.main(["--check", "-o", str(out)]) == 0


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_docker_accepts_the_file_offline() -> None:
    """`docker stack config` (CLI >= 23); Debian's docker.io 20.10 CLI (CI) has no such command,
    so there Compose v2 validates the same file."""
    if "config" in _run("docker", "stack", "--help").stdout.split("Commands:")[-1]:
        proc = _run("docker", "stack", "config", "-c", str(stack.STACK_FILE))
    else:
        proc = _run("docker", "compose", "-f", str(stack.STACK_FILE), "config")
    assert proc.returncode == 0, proc.stderr
    rendered = yaml.safe_load(proc.stdout)
    assert rendered["services"]["worker"]["deploy"]["placement"]["preferences"]
