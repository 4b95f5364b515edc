"""Backends (substrates) behind one protocol (`base.Backend`): `local` processes, `docker`
(one compose project) or `swarm` (a multi-node Docker Swarm of dind nodes)."""

from __future__ import annotations

from harness.backends.base import Backend, BackendError, Endpoints, SystemSpec, ToxicHandle, UnknownTarget
from harness.ledger import Ledger

BACKEND_NAMES = ("local", "docker", "swarm")


def docker_available(timeout: float = 2.0) -> bool:
    """True when a Docker engine answers (the CLI's default backend is docker then)."""
    try:
        import docker
        client = docker.from_env(timeout=timeout)  # type: ignore[attr-defined]
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "no engine"
        return False


def make_backend(name: str, *, ledger: Ledger) -> Backend:
    if name == "local":
        from harness.backends.local import LocalBackend
        return LocalBackend(ledger=ledger)
    if name == "docker":
        from harness.backends.docker import DockerBackend
        return DockerBackend(ledger=ledger)
    if name == "swarm":
        from harness.backends.swarm import SwarmBackend
        return SwarmBackend(ledger=ledger)
    raise BackendError(f"unknown backend {name!r}; valid: {', '.join(BACKEND_NAMES)}")


def capabilities_of(name: str) -> frozenset[str]:
    """Fault names a backend can do, without starting it (for `harness validate`)."""
    if name == "local":
        from harness.backends.local import LOCAL_CAPABILITIES
        return LOCAL_CAPABILITIES
    if name == "docker":
        from harness.backends.docker import DOCKER_CAPABILITIES
        return DOCKER_CAPABILITIES
    if name == "swarm":
        from harness.backends.swarm import SWARM_CAPABILITIES
        return SWARM_CAPABILITIES
    raise BackendError(f"unknown backend {name!r}; valid: {', '.join(BACKEND_NAMES)}")


__all__ = ["Backend", "BackendError", "Endpoints", "SystemSpec", "ToxicHandle", "UnknownTarget",
           "make_backend", "docker_available", "capabilities_of", "BACKEND_NAMES"]
