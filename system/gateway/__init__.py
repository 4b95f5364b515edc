"""The HTTP API gateway (Flask, served by gunicorn)."""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: `python -m system.gateway` must not import redis-py in the gunicorn master, so that
    # gevent patches the worker before redis-py first imports socket and ssl.
    if name == "create_app":
        from system.gateway.app import create_app

        return create_app
    raise AttributeError(name)
