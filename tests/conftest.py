"""Shared fixtures: a real redis-server per test session, flushed between tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest

from system.broker import Broker
from system.config import Settings
from tests.support.servers import Process, RedisServer, free_port, wait_for_gateway


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server); tests need a real Redis")
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def settings(redis_server: RedisServer) -> Settings:
    """Fast timings so that recovery paths run in a test's time, not production defaults."""
    return Settings(redis_url=redis_server.url, lease_ttl_ms=1500, heartbeat_interval_ms=300,
                    worker_ttl_ms=1500, reaper_interval_ms=200, leader_ttl_ms=1000,
                    retry_base_ms=50, retry_max_ms=400, shutdown_grace_s=3.0)


@pytest.fixture
def broker(settings: Settings) -> Iterator[Broker]:
    b = Broker(settings)
    b.client.flushall()
    yield b
    b.client.close()


@pytest.fixture
def spawn(settings: Settings) -> Iterator[Callable[..., Process]]:
    """Start gateway/worker processes with the test's settings; all are killed at the end."""
    started: list[Process] = []

    def _spawn(module: str, *args: str, name: str = "", **env_overrides: object) -> Process:
        env = settings.with_overrides(**env_overrides).env() if env_overrides else settings.env()
        proc = Process(module, env, *args, name=name)
        started.append(proc)
        return proc

    yield _spawn
    for proc in started:
        proc.stop()


@pytest.fixture
def gateway_url(spawn: Callable[..., Process]) -> str:
    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_host="127.0.0.1", gateway_workers=1)
    return wait_for_gateway(f"http://127.0.0.1:{port}")
