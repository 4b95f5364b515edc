"""Access control of the gateway: bearer tokens, the Host allow-list and the bind address.

Pure decisions (`Guard.check`) apart from Flask, so every rule is testable without a server.
Without a token the gateway is open but reachable only on loopback (`bind_host`); with one,
every endpoint but `OPEN_PATHS` needs `Authorization: Bearer <token>`. A read-only token may
only GET. Tokens are compared with `hmac.compare_digest`, so timing does not leak them.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from system.config import Settings
from system.errors import ConfigError, TaskQueueError
from system.gateway.dashboard import STATIC

# probes and discovery (/health hides details), and the dashboard's static page, which holds no data
# (it asks for the token and sends it on /dashboard/stream and every API call)
OPEN_PATHS = frozenset({"/", "/health", "/openapi.json", "/dashboard", *(f"/dashboard/{name}" for name in STATIC)})
PROBE_PATHS = frozenset({"/", "/health"})  # any Host: orchestrators probe by IP (Kubernetes: the pod IP)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class Unauthorized(TaskQueueError):
    code = "unauthorized"
    status = 401


class Forbidden(TaskQueueError):
    code = "forbidden"
    status = 403


class HostNotAllowed(TaskQueueError):
    """A Host the gateway does not serve: DNS rebinding would otherwise reach a loopback gateway."""

    code = "host_not_allowed"
    status = 400


def is_loopback(host: str) -> bool:
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_host(settings: Settings) -> str:
    """The address to bind: without a token only loopback, so an open API never leaves the machine."""
    if not settings.gateway_host:
        return "0.0.0.0" if settings.gateway_api_token else "127.0.0.1"
    if not settings.gateway_api_token and not is_loopback(settings.gateway_host):
        raise ConfigError(f"GATEWAY_HOST={settings.gateway_host} exposes the API beyond this machine without "
                          "access control: set GATEWAY_API_TOKEN (or GATEWAY_API_TOKEN_FILE), or bind 127.0.0.1")
    return settings.gateway_host


def start_message(settings: Settings) -> str:
    """What the gateway says at start about who can reach it (never the token itself)."""
    where = f"{bind_host(settings)}:{settings.gateway_port}"
    if not settings.gateway_api_token:
        return (f"gateway on {where} WITHOUT access control (no GATEWAY_API_TOKEN): loopback only; "
                "set GATEWAY_API_TOKEN to require 'Authorization: Bearer <token>' and bind other addresses")
    read = " and a read-only token" if settings.gateway_read_token else ""
    return f"gateway on {where}: a bearer token{read} is required on every endpoint but {', '.join(sorted(OPEN_PATHS))}"


def host_name(header: str) -> str:
    """'example.com:5000' -> 'example.com'; '[::1]:5000' -> '[::1]'; lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[:header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass(frozen=True)
class Guard:
    api_token: str | None
    read_token: str | None
    allowed_hosts: frozenset[str]   # empty: any Host

    @classmethod
    def from_settings(cls, settings: Settings) -> Guard:
        for name in ("gateway_api_token", "gateway_read_token"):  # fail closed, never open by mistake
            if getattr(settings, name + "_file") and not getattr(settings, name):
                raise ConfigError(f"{name.upper()}_FILE is set but the token was not read from it; "
                                  "build the settings with Settings.from_env()")
        names = {h.strip().lower() for h in settings.gateway_allowed_hosts.split(",") if h.strip()}
        if "*" in names:
            hosts: frozenset[str] = frozenset()
        else:
            bound = bind_host(settings)
            bound = f"[{bound}]" if ":" in bound else bound
            wildcard = bound in ("0.0.0.0", "[::]")  # not a name any client uses
            hosts = frozenset(names | set(LOOPBACK_NAMES) | (set() if wildcard else {bound.lower()}))
        return cls(settings.gateway_api_token or None, settings.gateway_read_token or None, hosts)

    def check_host(self, header: str | None, path: str = "") -> None:
        name = host_name(header or "")
        if self.allowed_hosts and name not in self.allowed_hosts and path not in PROBE_PATHS:
            shown = name if name.isprintable() and len(name) <= 100 else "(unprintable)"
            raise HostNotAllowed(f"Host {shown!r} is not served here; the operator can add it to "
                                 "GATEWAY_ALLOWED_HOSTS")

    def access(self, authorization: str | None) -> str:
        """'write', 'read' or 'none' for an Authorization header; everything is 'write' without a token."""
        if self.api_token is None:
            return "write"
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return "none"
        given_bytes = given.strip().encode("utf-8", "surrogateescape")
        if hmac.compare_digest(given_bytes, self.api_token.encode()):
            return "write"
        if self.read_token is not None and hmac.compare_digest(given_bytes, self.read_token.encode()):
            return "read"
        return "none"

    def check(self, method: str, path: str, authorization: str | None) -> str:
        """Raise when the request may not proceed; return its access level."""
        level = self.access(authorization)
        if path in OPEN_PATHS:
            return level
        if level == "none":
            problem = "missing" if not authorization else "wrong or malformed"
            raise Unauthorized(f"{problem} token: send 'Authorization: Bearer <token>' (GATEWAY_API_TOKEN)")
        if level == "read" and method not in READ_METHODS:
            raise Forbidden(f"the read-only token (GATEWAY_READ_TOKEN) may not {method}; "
                            "use GATEWAY_API_TOKEN")
        return level
