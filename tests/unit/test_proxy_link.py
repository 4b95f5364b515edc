"""Pure parts of system.proxy_link: naming, URL rewriting, listen parsing, the sync decision."""

from __future__ import annotations

import pytest

from system.config import Settings
from system.errors import ConfigError
from system.proxy_link import LinkConfig, listen_port, proxy_name, rewrite_url, sync_action, url_host_port


def test_proxy_names_are_what_the_harness_targets() -> None:
    assert proxy_name(Settings(worker_id="worker-3"), role="worker") == "redis-worker-3"
    assert proxy_name(Settings(worker_id="worker-3"), role="gateway") == "redis-gateway"
    with pytest.raises(ValueError, match="role must be"):
        proxy_name(Settings(), role="reaper")


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://localhost:6379/0", "redis://toxiproxy:40001/0"),
    ("redis://:secret@redis:6380/2", "redis://:secret@toxiproxy:40001/2"),
    ("redis://user:p%40ss@redis/0?socket_timeout=1", "redis://user:p%40ss@toxiproxy:40001/0?socket_timeout=1"),
])
def test_rewrite_url_keeps_credentials_and_db(url: str, expected: str) -> None:
    assert rewrite_url(url, "toxiproxy", 40001) == expected


def test_url_host_port_defaults_and_errors() -> None:
    assert url_host_port("redis://redis/0") == ("redis", 6379)
    assert url_host_port("redis://:pw@10.0.0.5:7000") == ("10.0.0.5", 7000)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        url_host_port("not a url")


@pytest.mark.parametrize(("listen", "port"), [("[::]:43121", 43121), ("0.0.0.0:5", 5), ("127.0.0.1:8474", 8474)])
def test_listen_port(listen: str, port: int) -> None:
    assert listen_port(listen) == port


def test_listen_port_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="listen address"):
        listen_port("[::]:")


def test_sync_action() -> None:
    assert sync_action(None, "redis:6379") == "create"
    assert sync_action({"upstream": "redis:6379", "enabled": False}, "redis:6379") == "none"
    assert sync_action({"upstream": "redis:6379"}, "10.0.0.7:6379") == "update"


def test_link_config_from_env() -> None:
    settings = Settings(worker_id="worker-2")
    assert LinkConfig.from_env(settings, role="worker", env={}) is None
    config = LinkConfig.from_env(settings, role="worker", env={"TOXIPROXY_URL": "http://toxiproxy:8474/"})
    assert config == LinkConfig(api_url="http://toxiproxy:8474", proxy_host="toxiproxy", name="redis-worker-2")
    custom = LinkConfig.from_env(settings, role="gateway", env={
        "TOXIPROXY_URL": "http://127.0.0.1:9000", "TOXIPROXY_HOST": "10.1.1.1",
        "TOXIPROXY_PROXY_NAME": "mine", "TOXIPROXY_SYNC_MS": "250"})
    assert (custom.proxy_host, custom.name, custom.sync_ms) == ("10.1.1.1", "mine", 250)


@pytest.mark.parametrize(("env", "message"), [
    ({"TOXIPROXY_URL": "toxiproxy:8474"}, "expected http://host:port"),
    ({"TOXIPROXY_URL": "http://t:8474", "TOXIPROXY_SYNC_MS": "fast"}, "must be numbers"),
    ({"TOXIPROXY_URL": "http://t:8474", "TOXIPROXY_SYNC_MS": "0"}, "positive"),
])
def test_link_config_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LinkConfig.from_env(Settings(), role="worker", env=env)
