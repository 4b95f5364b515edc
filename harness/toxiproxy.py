"""The one adapter over toxiproxy-python; nothing else in the harness talks to Toxiproxy.

Why an adapter: toxiproxy-python 0.1.1 (the user's pick, unmaintained since 2019) keeps the
server address on a class (`APIConsumer.host/port`), so one process cannot address two servers;
it calls `requests` without a timeout, so a frozen server would hang the harness; it cannot
change a proxy's upstream (needed after a Redis failover); its errors carry raw bytes. So this
module keeps the package's data model (`Proxy`, `Toxic`) and its status→error mapping
(`validate_response`), but sends every request itself through a per-instance
`requests.Session` with a base URL and timeouts, translates every failure into
`ToxiproxyError` naming the call, and remembers every proxy and toxic it created so that
`cleanup()` removes exactly those (and `cleanup(prefix=...)` whatever a killed run left).
"""

from __future__ import annotations

import time
from typing import Any

import requests
from toxiproxy.api import validate_response
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy
from toxiproxy.toxic import Toxic

# Toxic types Toxiproxy 2.x knows, with the attributes each takes (units as Toxiproxy uses them).
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),            # ms
    "bandwidth": ("rate",),                       # KB/s
    "slow_close": ("delay",),                     # ms
    "timeout": ("timeout",),                      # ms; 0 = hold data until removed (black hole)
    "reset_peer": ("timeout",),                   # ms before the TCP RST
    "slicer": ("average_size", "size_variation", "delay"),  # bytes, bytes, µs
    "limit_data": ("bytes",),                     # bytes, then close
}
STREAMS = ("upstream", "downstream")


class ToxiproxyError(RuntimeError):
    """A Toxiproxy call failed; the message names the call and what the server said."""


class Toxiproxy:
    """A client of one toxiproxy-server, addressed by its own base URL."""

    def __init__(self, api_url: str, *, timeout: float = 3.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self.created_proxies: set[str] = set()
        self.created_toxics: set[tuple[str, str]] = set()

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, json: Any = None) -> requests.Response:
        what = f"{method} {self.api_url}{path}"
        try:
            resp = self._session.request(method, self.api_url + path, json=json,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise ToxiproxyError(f"{what}: Toxiproxy does not answer ({exc.__class__.__name__}); "
                                 "is toxiproxy-server running at that address?") from exc
        try:
            validate_response(resp)
        except (ProxyExists, NotFound, InvalidToxic) as exc:
            raise ToxiproxyError(f"{what}: {exc.__class__.__name__}: "
                                 f"{resp.text.strip()}") from exc
        if resp.status_code >= 400:
            raise ToxiproxyError(f"{what}: HTTP {resp.status_code}: {resp.text.strip()}")
        return resp

    def close(self) -> None:
        self._session.close()

    # -- server -----------------------------------------------------------------------------
    def version(self) -> str:
        return self._call("GET", "/version").text.strip()

    def wait_ready(self, *, timeout: float = 10.0) -> None:
        """Poll /version until the server answers; raise ToxiproxyError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.version()
                return
            except ToxiproxyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic on the server."""
        self._call("POST", "/reset")
        self.created_toxics.clear()

    # -- proxies ----------------------------------------------------------------------------
    def proxies(self) -> dict[str, Proxy]:
        data = self._call("GET", "/proxies").json()
        return {name: _proxy(v) for name, v in data.items()}

    def get_proxy(self, name: str) -> Proxy:
        return _proxy(self._call("GET", f"/proxies/{name}").json())

    def create_proxy(self, name: str, *, upstream: str, listen: str = "127.0.0.1:0") -> Proxy:
        """Create a proxy; `listen` port 0 lets Toxiproxy choose (read it from the result)."""
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": True}
        proxy = _proxy(self._call("POST", "/proxies", json=body).json())
        self.created_proxies.add(name)
        return proxy

    def set_upstream(self, name: str, upstream: str) -> Proxy:
        """Point a proxy at another upstream (keeps its listen address; drops connections)."""
        return _proxy(self._call("POST", f"/proxies/{name}", json={"upstream": upstream}).json())

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Disabled: connections are dropped and new ones refused."""
        self._call("POST", f"/proxies/{name}", json={"enabled": enabled})

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")
        self.created_proxies.discard(name)
        self.created_toxics = {t for t in self.created_toxics if t[0] != name}

    # -- toxics -----------------------------------------------------------------------------
    def toxics(self, proxy: str) -> dict[str, Toxic]:
        data = self._call("GET", f"/proxies/{proxy}/toxics").json()
        return {t["name"]: Toxic(**t) for t in data}

    def add_toxic(self, proxy: str, *, type: str, name: str | None = None,
                  stream: str = "downstream", toxicity: float = 1.0,
                  attributes: dict[str, int] | None = None) -> Toxic:
        """Add a toxic; unknown type, stream or attribute is refused before any request."""
        if type not in TOXIC_ATTRIBUTES:
            raise ToxiproxyError(f"unknown toxic type {type!r}; valid: {sorted(TOXIC_ATTRIBUTES)}")
        if stream not in STREAMS:
            raise ToxiproxyError(f"unknown stream {stream!r}; valid: {list(STREAMS)}")
        unknown = set(attributes or {}) - set(TOXIC_ATTRIBUTES[type])
        if unknown:
            raise ToxiproxyError(f"toxic {type!r} has no attribute(s) {sorted(unknown)}; "
                                 f"valid: {list(TOXIC_ATTRIBUTES[type])}")
        toxic = Toxic(type=type, name=name or f"{type}_{stream}", stream=stream,
                      toxicity=toxicity, attributes=dict(attributes or {}))
        body = {"name": toxic.name, "type": toxic.type, "stream": toxic.stream,
                "toxicity": toxic.toxicity, "attributes": toxic.attributes}
        self._call("POST", f"/proxies/{proxy}/toxics", json=body)
        self.created_toxics.add((proxy, toxic.name))
        return toxic

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        self.created_toxics.discard((proxy, name))

    # -- teardown ---------------------------------------------------------------------------
    def cleanup(self, *, prefix: str | None = None, delete_proxies: bool = True) -> list[str]:
        """Remove what this client created (or, with `prefix`, every matching proxy on the
        server): delete the proxies, or with delete_proxies=False only strip their toxics and
        enable them. Returns what failed; never raises, so teardown goes on."""
        try:
            existing = self.proxies()
        except ToxiproxyError as exc:
            return [str(exc)]
        names = set(self.created_proxies) & set(existing)
        if prefix is not None:
            names |= {n for n in existing if n.startswith(prefix)}
        problems = [] if delete_proxies else self._remove_tracked_toxics(skip=set())
        for name in sorted(names):
            problems += _quietly(lambda n=name: self.delete_proxy(n) if delete_proxies
                                 else self._clear(n, enabled=existing[n].enabled))
        if not delete_proxies:
            problems += self._remove_tracked_toxics(skip=names)
        self.created_toxics.clear()
        if delete_proxies:
            self.created_proxies.clear()
        return problems

    def _remove_tracked_toxics(self, *, skip: set[str]) -> list[str]:
        problems: list[str] = []
        for proxy, toxic in sorted(self.created_toxics):
            if proxy not in skip:
                problems += _quietly(lambda p=proxy, t=toxic: self.remove_toxic(p, t))
        return problems

    def _clear(self, name: str, *, enabled: bool) -> None:
        for toxic_name in self.toxics(name):
            self.remove_toxic(name, toxic_name)
        if not enabled:  # an update may restart the proxy: only when needed
            self.set_enabled(name, True)


def _quietly(action: Any) -> list[str]:
    """Run a teardown step; a NotFound (already gone) is fine, anything else is reported."""
    try:
        action()
    except ToxiproxyError as exc:
        if "NotFound" not in str(exc):
            return [str(exc)]
    return []


def _proxy(data: dict[str, Any]) -> Proxy:
    return Proxy(name=data["name"], upstream=data["upstream"], enabled=data["enabled"],
                 listen=data["listen"])
