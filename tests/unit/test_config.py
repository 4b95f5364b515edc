"""Settings.from_env: parsing, every bad value named, and env() as its exact inverse."""

from __future__ import annotations

from dataclasses import fields

import pytest

from system.config import SETTINGS_DOC, Settings, parse_hostports, settings_table
from system.errors import ConfigError


def test_empty_environment_gives_the_documented_defaults() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.gateway_port == 5000
    assert s.max_payload_bytes == 1024 * 1024
    assert s.durable_ack is False


def test_defaults_recover_a_killed_workers_tasks_within_ten_seconds() -> None:
    s = Settings()
    assert (s.lease_ttl_ms + s.reaper_interval_ms) / 1000 <= 10


def test_values_are_parsed_to_their_types() -> None:
    s = Settings.from_env({
        "REDIS_URL": "redis://db:6380/2", "GATEWAY_PORT": "8080", "REDIS_SOCKET_TIMEOUT": "0.5",
        "DURABLE_ACK": "yes", "REDIS_SENTINELS": "s1:26379, s2:26380,", "WORKER_ID": "worker-3",
        "LEASE_TTL_MS": "4000", "HEARTBEAT_INTERVAL_MS": "1000", "UNRELATED": "ignored",
    })
    assert s.redis_url == "redis://db:6380/2"
    assert s.gateway_port == 8080
    assert s.redis_socket_timeout == 0.5
    assert s.durable_ack is True
    assert s.redis_sentinels == (("s1", 26379), ("s2", 26380))
    assert s.worker_id == "worker-3"
    assert s.lease_ttl_ms == 4000


@pytest.mark.parametrize("raw, expected", [("1", True), ("TRUE", True), ("on", True), ("0", False),
                                           ("false", False), ("No", False), ("off", False)])
def test_booleans(raw: str, expected: bool) -> None:
    assert Settings.from_env({"DURABLE_ACK": raw}).durable_ack is expected


def test_empty_value_means_default() -> None:
    assert Settings.from_env({"GATEWAY_PORT": "", "WORKER_ID": ""}) == Settings()


@pytest.mark.parametrize("name, raw, fragment", [
    ("GATEWAY_PORT", "http", "expected a whole number"),
    ("LEASE_TTL_MS", "1.5", "expected a whole number"),
    ("REDIS_SOCKET_TIMEOUT", "soon", "expected a number"),
    ("DURABLE_ACK", "maybe", "1/0, true/false"),
    ("REDIS_SENTINELS", "s1", "host:port"),
    ("REDIS_SENTINELS", "s1:port", "host:port"),
    ("REDIS_SENTINELS", ":26379", "host:port"),
])
def test_unparseable_value_is_named_with_what_would_be_valid(name: str, raw: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: raw})
    assert name in str(info.value)
    assert repr(raw) in str(info.value)
    assert fragment in str(info.value)


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"GATEWAY_PORT": "x", "WORKER_CONCURRENCY": "many", "DURABLE_ACK": "2",
                           "MAX_BATCH": "0", "RESULT_TTL_S": "-1"})
    message = str(info.value)
    for name in ("GATEWAY_PORT", "WORKER_CONCURRENCY", "DURABLE_ACK", "MAX_BATCH", "RESULT_TTL_S"):
        assert name in message


@pytest.mark.parametrize("env, name", [
    ({"LEASE_TTL_MS": "0"}, "LEASE_TTL_MS"),
    ({"WORKER_CONCURRENCY": "-2"}, "WORKER_CONCURRENCY"),
    ({"MAX_PAYLOAD_BYTES": "0"}, "MAX_PAYLOAD_BYTES"),
    ({"MAX_BATCH": "0"}, "MAX_BATCH"),
    ({"RETRY_BASE_MS": "0"}, "RETRY_BASE_MS"),
    ({"MAX_RETRIES": "-1"}, "MAX_RETRIES"),
    ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT"),
    ({"GATEWAY_PORT": "0"}, "GATEWAY_PORT"),
    ({"LEASE_TTL_MS": "1000", "HEARTBEAT_INTERVAL_MS": "600"}, "HEARTBEAT_INTERVAL_MS"),
    ({"WORKER_TTL_MS": "1000"}, "HEARTBEAT_INTERVAL_MS"),
    ({"REDIS_SOCKET_TIMEOUT": "0"}, "REDIS_SOCKET_TIMEOUT"),
    ({"REDIS_SOCKET_TIMEOUT": "nan"}, "REDIS_SOCKET_TIMEOUT"),
    ({"DEFAULT_TIMEOUT_S": "inf"}, "DEFAULT_TIMEOUT_S"),
    ({"DEFAULT_TIMEOUT_S": "0"}, "DEFAULT_TIMEOUT_S"),
    ({"RESULT_TTL_S": "0"}, "RESULT_TTL_S"),
    ({"DURABLE_ACK_TIMEOUT_MS": "0"}, "DURABLE_ACK_TIMEOUT_MS"),
    ({"SHUTDOWN_GRACE_S": "-1"}, "SHUTDOWN_GRACE_S"),
    ({"PROCESS_WORK_MS": "-5"}, "PROCESS_WORK_MS"),
])
def test_out_of_range_values_are_named(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_env_round_trip_reproduces_the_settings() -> None:
    original = Settings(redis_url="redis://10.0.0.1:7000/3", redis_sentinels=(("a", 1), ("b", 2)),
                        redis_password="p w", durable_ack=True, worker_id="worker-9", key_prefix="t1:",
                        redis_socket_timeout=0.25, lease_ttl_ms=900, heartbeat_interval_ms=300,
                        max_payload_bytes=4096, process_work_ms=7)
    env = original.env()
    assert all(isinstance(v, str) for v in env.values())
    assert Settings.from_env(env) == original


def test_env_of_defaults_round_trips_and_skips_unset_values() -> None:
    env = Settings().env()
    assert "WORKER_ID" not in env and "REDIS_SENTINELS" not in env and "REDIS_PASSWORD" not in env
    assert env["DURABLE_ACK"] == "0"
    assert Settings.from_env(env) == Settings()


def test_parse_hostports() -> None:
    assert parse_hostports("h1:1,h2:2") == (("h1", 1), ("h2", 2))
    assert parse_hostports("") == ()


def test_every_setting_is_documented_in_the_table() -> None:
    names = {f.name for f in fields(Settings)}
    assert set(SETTINGS_DOC) == names
    table = settings_table()
    for name in names:
        assert f"`{name.upper()}`" in table
