"""Route one process's Redis link through its own Toxiproxy proxy, so chaos can cut just that link.

When `TOXIPROXY_URL` is set (e.g. `http://toxiproxy:8474`), `route_through_toxiproxy` creates
(or re-uses) a proxy named `redis-<WORKER_ID>` (workers) or `redis-gateway`, whose upstream is
the current Redis primary, and returns settings whose `REDIS_URL` points at that proxy. With
Sentinel, the process still asks the Sentinels (directly, never proxied) where the primary is:
a daemon thread re-checks every `TOXIPROXY_SYNC_MS` and re-points the proxy after a failover,
and re-creates the proxy on the same port if Toxiproxy lost it (restart). It never touches
`enabled` or toxics: those belong to whoever injects faults. Plain HTTP (urllib) on purpose:
the app image needs no Toxiproxy client library.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from system.config import Settings, redact_url
from system.errors import ConfigError

log = logging.getLogger(__name__)

HostPort = tuple[str, int]


@dataclass(frozen=True)
class LinkConfig:
    """What `TOXIPROXY_*` variables ask for; `None` from `from_env` means: do not proxy."""

    api_url: str
    proxy_host: str
    name: str
    sync_ms: int = 1000
    start_timeout_s: float = 30.0

    @classmethod
    def from_env(cls, settings: Settings, *, role: str,
                 env: Mapping[str, str] | None = None) -> LinkConfig | None:
        env = os.environ if env is None else env
        api_url = env.get("TOXIPROXY_URL", "").strip().rstrip("/")
        if not api_url:
            return None
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"TOXIPROXY_URL={api_url!r}: expected http://host:port, "
                              "e.g. http://toxiproxy:8474")
        name = env.get("TOXIPROXY_PROXY_NAME") or proxy_name(settings, role=role)
        try:
            sync_ms = int(env.get("TOXIPROXY_SYNC_MS") or 1000)
            timeout = float(env.get("TOXIPROXY_START_TIMEOUT_S") or 30.0)
        except ValueError:
            raise ConfigError("TOXIPROXY_SYNC_MS and TOXIPROXY_START_TIMEOUT_S must be numbers") from None
        if sync_ms <= 0:
            raise ConfigError("TOXIPROXY_SYNC_MS must be a positive number of milliseconds")
        return cls(api_url=api_url, proxy_host=env.get("TOXIPROXY_HOST") or parts.hostname,
                   name=name, sync_ms=sync_ms, start_timeout_s=timeout)


def proxy_name(settings: Settings, *, role: str) -> str:
    """`redis-gateway` for the gateway, `redis-<worker id>` for a worker: the harness targets these."""
    if role == "gateway":
        return "redis-gateway"
    if role != "worker":
        raise ValueError(f"role must be 'gateway' or 'worker', not {role!r}")
    return f"redis-{settings.worker_id or socket.gethostname()}"


# --- pure helpers -----------------------------------------------------------------------------

def url_host_port(url: str) -> HostPort:
    """Host and port a redis:// URL connects to (default port 6379)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"REDIS_URL={redact_url(url)}: expected redis://[:password@]host[:port][/db]")
    return parts.hostname, parts.port or 6379


def rewrite_url(url: str, host: str, port: int) -> str:
    """The same redis:// URL (scheme, credentials, db, query) aimed at host:port instead."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((parts.scheme or "redis", netloc, parts.path, parts.query, parts.fragment))


def listen_port(listen: str) -> int:
    """Port from Toxiproxy's `listen` field: '[::]:43121', '0.0.0.0:43121' or '127.0.0.1:43121'."""
    port = listen.rpartition(":")[2]
    if not port.isdigit():
        raise ValueError(f"unexpected Toxiproxy listen address {listen!r}")
    return int(port)


def sync_action(proxy: Mapping[str, Any] | None, upstream: str) -> str:
    """What to do to make the proxy forward to `upstream`: 'create', 'update' or 'none'."""
    if proxy is None:
        return "create"
    return "none" if proxy.get("upstream") == upstream else "update"


# --- I/O: Toxiproxy API and Sentinel ----------------------------------------------------------

class ToxiproxyApi:
    """The three calls this module needs, over plain HTTP."""

    def __init__(self, base_url: str, *, timeout: float = 2.0, update_timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.update_timeout = update_timeout

    def get(self, name: str) -> dict[str, Any] | None:
        status, body = self._call("GET", f"/proxies/{name}")
        if status == 404:
            return None
        return self._ok(status, body, f"GET /proxies/{name}")

    def create(self, name: str, *, listen: str, upstream: str) -> dict[str, Any]:
        payload = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        status, body = self._call("POST", "/proxies", payload)
        if status == 409:  # created meanwhile by another process of the same client
            existing = self.get(name)
            if existing is not None:
                return existing
        return self._ok(status, body, "POST /proxies")

    def set_upstream(self, name: str, upstream: str) -> dict[str, Any]:
        # Toxiproxy applies an update only after the proxy's pending upstream dial ends, and two
        # overlapping updates can leave the proxy disabled (each copies `enabled` when it arrives).
        # So wait long enough for one update to finish instead of sending another.
        status, body = self._call("PATCH", f"/proxies/{name}", {"upstream": upstream},
                                  timeout=self.update_timeout)
        return self._ok(status, body, f"POST /proxies/{name}")

    def _call(self, method: str, path: str, payload: Any = None, *,
              timeout: float | None = None) -> tuple[int, bytes]:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    @staticmethod
    def _ok(status: int, body: bytes, what: str) -> dict[str, Any]:
        if status >= 300:
            raise RuntimeError(f"Toxiproxy {what} answered {status}: {body[:200]!r}")
        return json.loads(body or b"{}")


class PrimaryFinder:
    """Where the primary is now: asked of the Sentinels (never proxied), or fixed by REDIS_URL."""

    def __init__(self, settings: Settings) -> None:
        self._fixed: HostPort | None = None
        self._sentinel: Any = None
        self._master = settings.redis_sentinel_master
        if not settings.redis_sentinels:
            self._fixed = url_host_port(settings.redis_url)
            return
        from redis.sentinel import Sentinel  # only needed with Sentinel

        self._sentinel = Sentinel(list(settings.redis_sentinels),
                                  sentinel_kwargs={"socket_timeout": settings.redis_socket_timeout,
                                                   "password": settings.redis_sentinel_password})

    def __call__(self) -> HostPort:
        if self._fixed is not None:
            return self._fixed
        host, port = self._sentinel.discover_master(self._master)
        return str(host), int(port)

    def close(self) -> None:
        for client in getattr(self._sentinel, "sentinels", []):
            client.close()


class ProxyLink:
    """Keeps one named proxy pointed at the current primary."""

    def __init__(self, config: LinkConfig, api: ToxiproxyApi, find_primary: PrimaryFinder) -> None:
        self.config = config
        self.api = api
        self.find_primary = find_primary
        self.port: int | None = None
        self.upstream: str | None = None
        self._stop = threading.Event()

    def sync(self) -> str:
        """One reconciliation step; returns the action taken."""
        host, port = self.find_primary()
        upstream = f"{host}:{port}"
        proxy = self.api.get(self.config.name)
        action = sync_action(proxy, upstream)
        if action == "create":
            listen = f"0.0.0.0:{self.port or 0}"
            proxy = self.api.create(self.config.name, listen=listen, upstream=upstream)
        elif action == "update":
            proxy = self.api.set_upstream(self.config.name, upstream)
            log.warning("proxy %s re-pointed from %s to the primary at %s",
                        self.config.name, self.upstream, upstream)
        assert proxy is not None
        self.port = listen_port(str(proxy["listen"]))
        self.upstream = upstream
        return action

    def start_watch(self) -> threading.Thread:
        thread = threading.Thread(target=self._watch, name=f"proxy-link-{self.config.name}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        self.find_primary.close()

    def _watch(self) -> None:
        failing = False
        while not self._stop.wait(self.config.sync_ms / 1000):
            try:
                self.sync()
                if failing:
                    log.warning("proxy %s in sync again (upstream %s)", self.config.name, self.upstream)
                failing = False
            except Exception as exc:  # keep watching: Sentinel or Toxiproxy may be restarting
                if not failing:
                    log.warning("proxy %s sync failed: %s", self.config.name, exc)
                failing = True


def route_through_toxiproxy(settings: Settings, *, role: str = "worker",
                            env: Mapping[str, str] | None = None, watch: bool = True) -> Settings:
    """Settings whose Redis link passes this process's own proxy; unchanged without TOXIPROXY_URL.

    Call once at process start, before connecting (and before gunicorn forks, so one watcher
    serves the whole container). Raises ConfigError if the proxy cannot be set up in time.
    """
    config = LinkConfig.from_env(settings, role=role, env=env)
    if config is None:
        return settings
    link = ProxyLink(config, ToxiproxyApi(config.api_url), PrimaryFinder(settings))
    deadline = time.monotonic() + config.start_timeout_s
    while True:
        try:
            link.sync()
            break
        except Exception as exc:
            if time.monotonic() > deadline:
                link.stop()
                raise ConfigError(f"could not set up Toxiproxy proxy {config.name!r} at "
                                  f"{config.api_url} within {config.start_timeout_s:g} s "
                                  f"(TOXIPROXY_START_TIMEOUT_S): {exc}") from exc
            time.sleep(0.5)
    assert link.port is not None
    log.warning("Redis link through Toxiproxy proxy %s (%s:%d -> %s)",
                config.name, config.proxy_host, link.port, link.upstream)
    if watch:
        link.start_watch()
    else:
        link.stop()
    return settings.with_overrides(redis_url=rewrite_url(settings.redis_url, config.proxy_host, link.port),
                                   redis_sentinels=())
