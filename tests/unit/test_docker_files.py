"""Static checks of the Docker files: what `docker compose config` cannot tell us."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


class _ComposeLoader(yaml.SafeLoader):
    """SafeLoader that knows Compose's `!reset` tag (drops an inherited key)."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def _names(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-")
            out[name] = line
    return out


def test_app_image_requirements_match_the_project_requirements() -> None:
    project = _names(ROOT / "requirements.txt")
    image = _names(ROOT / "docker" / "app" / "requirements.txt")
    missing = {name for name in image if name not in project}
    assert not missing, f"docker/app/requirements.txt has packages that requirements.txt lacks: {missing}"
    differ = {name: (line, project[name]) for name, line in image.items() if line != project[name]}
    assert not differ, f"version bounds differ between docker/app/requirements.txt and requirements.txt: {differ}"


def test_compose_services_are_healthchecked_restarted_and_private() -> None:
    compose = yaml.load((ROOT / "docker-compose.yml").read_text(), Loader=_ComposeLoader)  # noqa: S506
    services = compose["services"]
    assert {"redis", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3", "toxiproxy",
            "gateway", "worker"} <= set(services)
    dockerfile = (ROOT / "system" / "Dockerfile").read_text()
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        has_check = "healthcheck" in service or (service.get("image", "").startswith("${APP_IMAGE")
                                                  and "HEALTHCHECK" in dockerfile)
        if service.get("healthcheck") == {"disable": True}:  # only an optional tool (profile) may go unchecked
            assert service.get("profiles"), f"service {name} disables its health check"
        assert has_check, f"service {name} has no health check"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert "ports" not in services["redis"] and "ports" not in services["redis-replica"]
    assert services["worker"]["deploy"]["replicas"] == 3
    assert set(compose["volumes"]) == {"redis-data", "redis-replica-data"}


def test_public_images_are_the_defaults() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for default in ("${REDIS_IMAGE:-redis:7}", "${TOXIPROXY_IMAGE:-ghcr.io/shopify/toxiproxy:",
                    "${PYTHON_IMAGE:-python:3.12-slim}"):
        assert default in text
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in (ROOT / "system" / "Dockerfile").read_text()


def test_compose_redis_memory_is_bounded_without_eviction() -> None:
    compose = yaml.load((ROOT / "docker-compose.yml").read_text(), Loader=_ComposeLoader)  # noqa: S506
    assert compose["services"]["redis"]["environment"]["REDIS_MAXMEMORY"]
    script = (ROOT / "docker" / "redis" / "redis.sh").read_text()
    assert '--maxmemory "${REDIS_MAXMEMORY:-512mb}" --maxmemory-policy noeviction' in script


def test_local_backend_redis_args_bound_memory(tmp_path: Path) -> None:
    from harness.backends.local_infra import REDIS_MAXMEMORY, RedisCluster

    node = RedisCluster(None, tmp_path, aof=False)._node("redis-1", [])  # type: ignore[arg-type]
    args = " ".join(node.args)
    assert f"--maxmemory {REDIS_MAXMEMORY} --maxmemory-policy noeviction" in args
