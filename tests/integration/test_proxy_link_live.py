"""system.proxy_link against real processes: toxiproxy-server, redis-server x2, redis-sentinel."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from system.config import Settings
from system.proxy_link import LinkConfig, PrimaryFinder, ProxyLink, ToxiproxyApi, route_through_toxiproxy
from tests.support.servers import RedisServer, free_port, wait_until


@pytest.fixture
def toxiproxy() -> Iterator[str]:
    binary = shutil.which("toxiproxy-server")
    if binary is None:
        pytest.fail("toxiproxy-server is not installed; tests need a real Toxiproxy")
    port = free_port()
    proc = subprocess.Popen([binary, "-host", "127.0.0.1", "-port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: ToxiproxyApi(url).get("none") is None, timeout=10, message="toxiproxy-server")
        yield url
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def replicated() -> Iterator[tuple[RedisServer, RedisServer, int]]:
    """A primary, its replica and one Sentinel (quorum 1) watching them."""
    primary = RedisServer()
    replica = RedisServer("--replicaof", "127.0.0.1", str(primary.port))
    conf_dir = tempfile.TemporaryDirectory(prefix="tq-sentinel-")
    port = free_port()
    conf = Path(conf_dir.name) / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {conf_dir.name}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {primary.port} 1\n"
                    "sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 3000\n")
    sentinel = subprocess.Popen(["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, decode_responses=True)
        wait_until(lambda: client.sentinel_slaves("mymaster"), timeout=20, message="Sentinel to see the replica")
        client.close()
        yield primary, replica, port
    finally:
        sentinel.kill()
        sentinel.wait()
        replica.stop()
        primary.stop()
        conf_dir.cleanup()


def served_port(url: str) -> int:
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)
    try:
        return int(client.config_get("port")["port"])
    finally:
        client.close()


def test_without_toxiproxy_url_settings_are_unchanged() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0")
    assert route_through_toxiproxy(settings, env={}) is settings


def test_routes_through_a_named_proxy_and_reuses_it(toxiproxy: str) -> None:
    server = RedisServer()
    try:
        settings = Settings(redis_url=server.url, worker_id="worker-7")
        env = {"TOXIPROXY_URL": toxiproxy}
        routed = route_through_toxiproxy(settings, env=env, watch=False)
        proxy = ToxiproxyApi(toxiproxy).get("redis-worker-7")
        assert proxy is not None and proxy["upstream"] == f"127.0.0.1:{server.port}"
        assert routed.redis_url == f"redis://127.0.0.1:{proxy['listen'].rpartition(':')[2]}/0"
        assert served_port(routed.redis_url) == server.port
        # A restarted worker gets the same proxy (and port) back instead of a second one.
        assert route_through_toxiproxy(settings, env=env, watch=False).redis_url == routed.redis_url
    finally:
        server.stop()


def test_proxy_follows_a_sentinel_failover_and_survives_deletion(
        toxiproxy: str, replicated: tuple[RedisServer, RedisServer, int]) -> None:
    primary, replica, sentinel_port = replicated
    settings = Settings(redis_sentinels=(("127.0.0.1", sentinel_port),), worker_id="worker-1")
    routed = route_through_toxiproxy(settings, env={"TOXIPROXY_URL": toxiproxy}, watch=False)
    assert routed.redis_sentinels == ()
    assert served_port(routed.redis_url) == primary.port

    config = LinkConfig(api_url=toxiproxy, proxy_host="127.0.0.1", name="redis-worker-1", sync_ms=100)
    api = ToxiproxyApi(toxiproxy)
    link = ProxyLink(config, api, PrimaryFinder(settings))
    link.start_watch()
    try:
        sentinel = redis.Redis(port=sentinel_port)
        wait_until(lambda: sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster"), timeout=30,
                   interval=0.5, message="Sentinel to accept a failover (NOGOODSLAVE until it knows the replica)")
        sentinel.close()
        wait_until(lambda: api.get("redis-worker-1")["upstream"] == f"127.0.0.1:{replica.port}",  # type: ignore[index]
                   timeout=20, message="the proxy to follow the failover")
        wait_until(lambda: served_port(routed.redis_url) == replica.port, timeout=10,
                   message="the old URL to reach the new primary")

        api._call("DELETE", "/proxies/redis-worker-1")  # e.g. Toxiproxy restarted and lost it
        wait_until(lambda: api.get("redis-worker-1") is not None, timeout=10, message="the proxy to come back")
        assert served_port(routed.redis_url) == replica.port, "re-created on the same port"
    finally:
        link.stop()
