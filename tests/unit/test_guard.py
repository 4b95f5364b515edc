"""The gateway's access decisions and the secret settings, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from system.config import Settings, redact_url, url_problem
from system.errors import ConfigError
from system.gateway.guard import Forbidden, Guard, HostNotAllowed, Unauthorized, bind_host, host_name, start_message

TOKEN, READ = "w" * 20, "r" * 20


def guard(**changes: object) -> Guard:
    return Guard.from_settings(Settings(gateway_api_token=TOKEN, gateway_read_token=READ).with_overrides(**changes))


def test_levels_by_token() -> None:
    g = guard()
    assert g.access(f"Bearer {TOKEN}") == "write" and g.access(f"bearer {READ}") == "read"
    assert {g.access(h) for h in (None, "", TOKEN, f"Basic {TOKEN}", "Bearer ", f"Bearer {TOKEN}x",
                                  "Bearer \udcff")} == {"none"}
    assert Guard.from_settings(Settings()).access(None) == "write"  # no token configured: open


def test_check_refuses_what_the_level_does_not_allow() -> None:
    g = guard()
    with pytest.raises(Unauthorized):
        g.check("GET", "/tasks", None)
    with pytest.raises(Forbidden):
        g.check("POST", "/tasks", f"Bearer {READ}")
    assert g.check("GET", "/tasks", f"Bearer {READ}") == "read"
    assert g.check("GET", "/health", None) == "none" and g.check("GET", "/openapi.json", "junk") == "none"


def test_host_allow_list() -> None:
    assert host_name("Example.com:5000") == "example.com" and host_name("[::1]:5000") == "[::1]"
    g = guard(gateway_allowed_hosts="gateway, api.example")
    for ok in ("localhost:5000", "127.0.0.1", "[::1]:1", "gateway", "API.example:443"):
        g.check_host(ok)
    for bad in ("evil.example", "", "0.0.0.0", "localhost.evil"):
        with pytest.raises(HostNotAllowed):
            g.check_host(bad)
    guard(gateway_allowed_hosts="*").check_host("anything.example")
    g.check_host("10.1.2.3:5000", "/health")  # probes come by IP
    g.check_host("10.1.2.3:5000", "/")
    with pytest.raises(HostNotAllowed):
        g.check_host("10.1.2.3:5000", "/tasks")


def test_a_token_file_that_was_not_read_fails_closed() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_API_TOKEN_FILE"):
        Guard.from_settings(Settings(gateway_api_token_file="/run/secrets/token"))


def test_bind_address_follows_the_token() -> None:
    assert bind_host(Settings()) == "127.0.0.1" and bind_host(Settings(gateway_api_token=TOKEN)) == "0.0.0.0"
    assert bind_host(Settings(gateway_host="::1")) == "::1"
    with pytest.raises(ConfigError, match="GATEWAY_API_TOKEN"):
        bind_host(Settings(gateway_host="0.0.0.0"))
    assert "WITHOUT access control" in start_message(Settings())
    assert TOKEN not in start_message(Settings(gateway_api_token=TOKEN))


def test_secrets_from_files_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "t").write_text(TOKEN + "\n")
    settings = Settings.from_env({"GATEWAY_API_TOKEN_FILE": str(tmp_path / "t")})
    assert settings.gateway_api_token == TOKEN and TOKEN not in repr(settings)
    assert "GATEWAY_API_TOKEN" not in settings.env()  # children get the file, not the value
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"REDIS_PASSWORD_FILE": str(tmp_path / "missing"), "GATEWAY_API_TOKEN": "short",
                           "GATEWAY_READ_TOKEN_FILE": str(tmp_path / "empty"),
                           "REDIS_SENTINEL_PASSWORD": "x", "REDIS_SENTINEL_PASSWORD_FILE": str(tmp_path / "t")})
    message = str(err.value)
    for part in ("REDIS_PASSWORD_FILE", "GATEWAY_API_TOKEN must be at least 16", "GATEWAY_READ_TOKEN_FILE",
                 "not both"):
        assert part in message
    assert "'short'" not in message


@pytest.mark.parametrize("url", ["redis://host:s3cret", "redis://:s3cret@host:99999/0", "rediss//:s3cret@host",
                                 "redis://:s3cret@[bad/0", "redis:s3cret@host"])
def test_a_malformed_redis_url_is_named_without_its_password(url: str) -> None:
    problem = url_problem(url)
    assert problem and "REDIS_URL" in problem and "s3cret" not in problem
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"REDIS_URL": url})
    assert "s3cret" not in str(err.value)


def test_redaction_keeps_what_helps() -> None:
    assert redact_url("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert url_problem("redis://localhost:6379/0") is None and url_problem("unix:///tmp/r.sock") is None
